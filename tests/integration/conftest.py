"""pytest fixtures for the integration tests; the machinery is in twofold_harness.py.

    def test_retr(server):
        user = server.add_user("alice")
        server.deliver("alice", b"Subject: hi\r\n\r\nbody\r\n")
        server.start()
        pop = server.pop3()
        pop.user("alice")
        pop.pass_(user.password + server.code(user.secret))

Set TWOFOLD_BUILD_DIR to test another build (default <repo>/build) and TWOFOLD_KEEP_TMP=1 to
keep each test's temp dir (config, state, maildirs, twofoldd.log).
"""

import os
import shutil
import tempfile

import pytest

import twofold_harness
from twofold_harness import Server, User  # noqa: F401  (re-exported for tests)


@pytest.fixture(scope="session")
def tls_cert():
    """(cert, key) paths: ECDSA P-256, CN localhost, SAN DNS:localhost IP:127.0.0.1."""
    d = tempfile.mkdtemp(prefix="twofold-cert-", dir="/tmp")
    os.chmod(d, 0o755)
    cert, key = twofold_harness.make_cert(d)
    yield cert, key
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def server(tls_cert):
    """A Server not yet started, in its own temp dir. Stopped in teardown; a sanitizer report
    in its log or a child left running fails the test."""
    srv = Server(*tls_cert)
    try:
        yield srv
        if srv.proc is not None:
            if srv.proc.poll() is None:
                srv.stop()
            else:
                srv.stop(check=False)
                srv.check_log()
    finally:
        srv.cleanup(keep=bool(os.environ.get("TWOFOLD_KEEP_TMP")))


@pytest.fixture
def server_factory(tls_cert):
    """Makes extra Servers (e.g. two instances in one test); all are stopped in teardown."""
    made = []

    def make():
        srv = Server(*tls_cert)
        made.append(srv)
        return srv

    yield make
    errors = []
    for srv in made:
        try:
            if srv.proc is not None and srv.proc.poll() is None:
                srv.stop()
            elif srv.proc is not None:
                srv.stop(check=False)
                srv.check_log()
        except AssertionError as e:
            errors.append(str(e))
        finally:
            srv.cleanup(keep=bool(os.environ.get("TWOFOLD_KEEP_TMP")))
    assert not errors, "\n".join(errors)
