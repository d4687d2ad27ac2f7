"""TLS on the POP3 port of a real twofoldd: versions, strict ALPN, no plaintext, handshake
timeout, session tickets shared by all workers, certificate reload on SIGHUP."""

import hashlib
import os
import socket
import ssl
import time
from pathlib import Path

import pytest

import twofold_harness


def read_line(sock, limit=4096):
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
        assert len(data) < limit
    return data


def read_multiline(sock):
    lines = [read_line(sock)]
    assert lines[0].startswith(b"+OK"), lines[0]
    while lines[-1] != b".\r\n":
        lines.append(read_line(sock))
    return lines


def connect(server, context, session=None, timeout=10):
    raw = socket.create_connection(("127.0.0.1", server.pop3_port), timeout=timeout)
    try:
        return context.wrap_socket(raw, server_hostname="localhost", session=session)
    except BaseException:
        raw.close()
        raise


def greeted(server, context, session=None):
    """A TLS connection whose POP3 greeting has been read (so TLS 1.3 tickets have arrived)."""
    s = connect(server, context, session)
    line = read_line(s)
    assert line.startswith(b"+OK"), line
    return s


def fingerprint(sock):
    return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


def unverified_context():
    """For looking at whichever certificate the server presents."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _hex_addr(port):
    return f"0100007F:{port:04X}"


def serving_worker(server, client_sock):
    """The pid of the worker process holding the server end of client_sock's TCP connection."""
    client_port = client_sock.getsockname()[1]
    local, remote = _hex_addr(server.pop3_port), _hex_addr(client_port)
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[1] == local and f[2] == remote:
            inode = f[9]
    assert inode is not None, "server end of the connection not found in /proc/net/tcp"
    target = f"socket:[{inode}]"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for pid in server.worker_pids():
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return pid
                except OSError:
                    pass
        time.sleep(0.05)
    raise AssertionError(f"no worker holds {target}")


needs_root = pytest.mark.skipif(not twofold_harness.running_as_root(),
                                reason="finding a worker's sockets in /proc needs root")


# --- versions ---------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls11_refused(server):
    server.start()
    ctx = server.ssl_context(min_version=ssl.TLSVersion.TLSv1_1,
                             max_version=ssl.TLSVersion.TLSv1_1)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client really offer TLS 1.1
    with pytest.raises(ssl.SSLError) as e:
        connect(server, ctx)
    # the server's protocol_version alert, not a client-side refusal
    assert e.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", e.value


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls12_and_tls13_accepted(server, version):
    server.start()
    v = getattr(ssl.TLSVersion, version)
    s = greeted(server, server.ssl_context(min_version=v, max_version=v))
    assert s.version() == version.replace("_", ".")
    s.sendall(b"QUIT\r\n")
    assert read_line(s).startswith(b"+OK")
    s.close()


def test_configured_priority_is_used(server):
    server.configure("tls", "priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2")
    server.start()
    s = greeted(server, server.ssl_context())
    assert s.version() == "TLSv1.2"
    s.close()


def test_bad_priority_refused_at_start(server):
    server.configure("tls", "priority", "NORMAL:+NO-SUCH-THING")
    server.start(wait=False)
    assert server.wait_exit() != 0
    assert "priority" in server.log(), server.log()


# --- ALPN -------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpn", ["http/1.1", "imap", ["h2", "http/1.1"]])
def test_alpn_other_protocols_refused(server, alpn):
    server.start()
    with pytest.raises(ssl.SSLError) as e:
        connect(server, server.ssl_context(alpn=alpn))
    assert "no application protocol" in str(e.value).lower().replace("_", " "), e.value


@pytest.mark.parametrize("alpn,selected",
                         [("pop3", "pop3"), (None, None), (["http/1.1", "pop3"], "pop3")])
def test_alpn_pop3_or_none_accepted(server, alpn, selected):
    server.start()
    s = greeted(server, server.ssl_context(alpn=alpn))
    assert s.selected_alpn_protocol() == selected
    s.close()


# --- no plaintext, handshake timeout ----------------------------------------------------------


def test_plaintext_gets_no_greeting(server):
    server.start()
    with socket.create_connection(("127.0.0.1", server.pop3_port), timeout=10) as s:
        s.sendall(b"USER x\r\n")
        data = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:  # closed with our unread bytes in its buffer
                break
            if not chunk:
                break
            data += chunk
    assert b"+OK" not in data and b"-ERR" not in data, data
    assert data == b"" or data[0] == 0x15, data  # nothing, or a TLS alert record
    # the pool is fine afterwards
    greeted(server, server.ssl_context()).close()


def test_handshake_timeout(server):
    server.configure("server", "handshake_timeout", 1)
    server.start()
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.pop3_port), timeout=15) as s:
        assert s.recv(4096) == b""
    assert time.monotonic() - t0 < 5


# --- session tickets ----------------------------------------------------------------------------


@needs_root
@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_session_resumed_on_another_worker(server, version):
    server.start()
    server.wait_workers(2)
    v = getattr(ssl.TLSVersion, version)
    ctx = server.ssl_context(min_version=v, max_version=v)
    first = greeted(server, ctx)  # stays open: its worker is busy
    assert not first.session_reused
    session = first.session
    assert session is not None and session.has_ticket
    second = greeted(server, ctx, session=session)
    assert second.session_reused
    assert second.version() == version.replace("_", ".")
    assert serving_worker(server, first) != serving_worker(server, second)
    for s in (first, second):
        s.sendall(b"QUIT\r\n")
        assert read_line(s).startswith(b"+OK")
        s.close()


def test_session_ticket_survives_reload(server):
    server.start()
    ctx = server.ssl_context()
    first = greeted(server, ctx)
    session = first.session
    first.close()
    old_workers = set(server.wait_workers(1))
    server.reload()
    deadline = time.monotonic() + 10
    while old_workers & set(server.worker_pids()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not old_workers & set(server.worker_pids()), "workers not replaced after SIGHUP"
    again = greeted(server, ctx, session=session)
    assert again.session_reused
    again.close()


def rotations(server):
    return server.log().count("new session ticket key: replacing workers")


def wait_rotation(server, count, timeout=15):
    deadline = time.monotonic() + timeout
    while rotations(server) < count:
        assert time.monotonic() < deadline, f"no ticket key rotation #{count}"
        time.sleep(0.05)
    return time.monotonic()


@needs_root
def test_ticket_key_rotated_by_master(server):
    """[tls] ticket_lifetime: the master makes a new ticket key that often and replaces the
    workers. Tickets made after a rotation resume on any worker; a ticket made with the old
    key no longer resumes, even when it is younger than the lifetime."""
    server.configure("tls", "ticket_lifetime", "6")
    server.configure("server", "min_spare", "2")
    server.start()
    server.wait_workers(2)
    ctx = server.ssl_context(min_version=ssl.TLSVersion.TLSv1_2,
                             max_version=ssl.TLSVersion.TLSv1_2)
    old_workers = set(server.worker_pids())
    r1 = wait_rotation(server, 1)
    deadline = time.monotonic() + 10
    while old_workers & set(server.worker_pids()):
        assert time.monotonic() < deadline, "workers not replaced after the new ticket key"
        time.sleep(0.05)
    # resumption across workers with the new key
    first = greeted(server, ctx)
    second = greeted(server, ctx, session=first.session)
    assert second.session_reused
    assert serving_worker(server, first) != serving_worker(server, second)
    first.close()
    second.close()
    # a ticket half a lifetime old when the key changes
    time.sleep(max(0.0, r1 + 3 - time.monotonic()))
    late = greeted(server, ctx)
    session = late.session
    late.close()
    issued = time.monotonic()
    before = set(server.worker_pids())
    wait_rotation(server, 2)
    # an old worker already woken for a connection may still serve that one
    while before & set(server.worker_pids()):
        assert time.monotonic() - issued < 5, "workers not replaced after the new ticket key"
        time.sleep(0.02)
    again = greeted(server, ctx, session=session)
    assert time.monotonic() - issued < 5.5, "too slow to tell rotation from expiry"
    assert not again.session_reused
    again.close()


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_ticket_older_than_lifetime_not_resumed(server, version):
    server.configure("tls", "ticket_lifetime", "3")
    server.start()
    v = getattr(ssl.TLSVersion, version)
    ctx = server.ssl_context(min_version=v, max_version=v)
    first = greeted(server, ctx)
    session = first.session
    first.close()
    young = greeted(server, ctx, session=session)
    young_reused = young.session_reused
    young.close()
    time.sleep(4.5)
    old = greeted(server, ctx, session=session)
    assert not old.session_reused
    old.close()
    # a ticket within its lifetime resumes (unless a rotation fell in between)
    assert young_reused or rotations(server) > 0


# --- certificate reload -------------------------------------------------------------------------


def test_sighup_new_certificate(server, tmp_path):
    user = server.add_user("alice")
    server.deliver("alice", b"Subject: hi\r\n\r\nbody\r\n")
    server.start()
    old_fp = hashlib.sha256(ssl.PEM_cert_to_DER_cert(server.cert.read_text())).hexdigest()

    # a logged-in session in progress on the old certificate
    busy = greeted(server, server.ssl_context())
    assert fingerprint(busy) == old_fp
    busy.sendall(f"USER {user.name}\r\n".encode())
    assert read_line(busy).startswith(b"+OK")
    busy.sendall(f"PASS {user.password}{server.code(user.secret)}\r\n".encode())
    assert read_line(busy).startswith(b"+OK"), server.log()

    certdir = Path(str(tmp_path)) / "newcert"
    cert, key = twofold_harness.make_cert(certdir)
    new_fp = hashlib.sha256(ssl.PEM_cert_to_DER_cert(Path(cert).read_text())).hexdigest()
    assert new_fp != old_fp
    server.configure("tls", "cert", cert)
    server.configure("tls", "key", key)
    server.reload()

    deadline = time.monotonic() + 10
    seen = None
    while time.monotonic() < deadline:
        s = greeted(server, unverified_context())
        seen = fingerprint(s)
        s.close()
        if seen == new_fp:
            break
        time.sleep(0.1)
    assert seen == new_fp, f"new connections still get the old certificate\n{server.log()}"
    fresh = greeted(server, ssl.create_default_context(cafile=str(cert)))
    fresh.close()

    # the old session goes on
    busy.sendall(b"STAT\r\n")
    assert read_line(busy).startswith(b"+OK 1 ")
    busy.sendall(b"RETR 1\r\n")
    assert b"body\r\n" in b"".join(read_multiline(busy))
    busy.sendall(b"QUIT\r\n")
    assert read_line(busy).startswith(b"+OK")
    busy.close()


def test_sighup_bad_certificate_keeps_old(server, tmp_path):
    server.start()
    old_fp = hashlib.sha256(ssl.PEM_cert_to_DER_cert(server.cert.read_text())).hexdigest()
    broken = Path(str(tmp_path)) / "broken.pem"
    broken.write_text("not a certificate\n")
    broken.chmod(0o644)
    server.configure("tls", "cert", str(broken))
    server.reload()
    server.wait_log("reload failed")
    assert server.running()
    s = greeted(server, unverified_context())
    assert fingerprint(s) == old_fp
    s.close()
