"""contrib/quickstart, the README's first command: --imap-port/--pop3-port/--portal-port, a port
in use refused with one line before anything is installed or built, and printed instructions
that work as printed (the ports it really uses, curl --cacert instead of -k)."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

import twofold_harness

QUICKSTART = twofold_harness.REPO / "contrib" / "quickstart"


@pytest.fixture
def demo_dir():
    # the demo's accounts must reach it (a 0700 pytest tmp dir would send the demo's state
    # to /var/lib/twofold-demo)
    d = Path(tempfile.mkdtemp(prefix="twofold-quickstart-"))
    os.chmod(d, 0o755)
    yield d / "demo"
    shutil.rmtree(d, ignore_errors=True)


def quickstart(demo, build, *args, **kw):
    env = dict(os.environ, TWOFOLD_DEMO_DIR=str(demo), TWOFOLD_BUILD_DIR=str(build))
    return subprocess.Popen(["bash", str(QUICKSTART), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.parametrize("option,name", [("--imap-port", "IMAPS"), ("--pop3-port", "POP3S"),
                                         ("--portal-port", "portal")])
def test_port_in_use_refused_before_the_build(demo_dir, option, name):
    build = demo_dir.parent / "never-built"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        others = [a for o in ("--imap-port", "--pop3-port", "--portal-port") if o != option
                  for a in (o, twofold_harness.free_port())]
        p = quickstart(demo_dir, build, option, port, *others)
        out, err = p.communicate(timeout=60)
    assert p.returncode == 1, (out, err)
    assert err == (f"quickstart: port {port} ({name}) on 127.0.0.1 is in use; choose another "
                   f"with {option} N\n"), err
    assert out == ""
    assert not build.exists() and not demo_dir.exists()


def test_bad_port_argument_is_a_usage_error(demo_dir):
    p = quickstart(demo_dir, demo_dir.parent / "never-built", "--imap-port", "99999")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "--imap-port wants a port number" in err, err
    assert not demo_dir.exists()


def instructions(p):
    """stdout of a running quickstart up to the line announcing the start."""
    lines = []
    for line in p.stdout:
        lines.append(line)
        if line.startswith("== Starting twofoldd"):
            return "".join(lines)
    raise AssertionError("quickstart ended early:\n" + "".join(lines) + p.stderr.read())


def test_instructions_work_as_printed_on_the_chosen_ports(demo_dir):
    imap, pop3, portal = (twofold_harness.free_port() for _ in range(3))
    p = quickstart(demo_dir, twofold_harness.build_dir(), "--imap-port", imap, "--pop3-port",
                   pop3, "--portal-port", portal)
    try:
        text = instructions(p)
        assert "curl -k" not in text
        assert (f"on 127.0.0.1:{imap} (IMAPS), :{pop3} (POP3S) and "
                f"https://localhost:{portal}") in text, text
        commands = re.findall(r"^  (curl --cacert .*)$", text, re.M)
        assert len(commands) == 5, text
        app = [c for c in commands if "pop3s://demo:" in c and "oathtool" not in c]
        assert len(app) == 1 and f"@127.0.0.1:{pop3}/1" in app[0], commands
        imaps = [c for c in commands if "INBOX;UID=1" in c]
        assert len(imaps) == 1 and f"@127.0.0.1:{imap}/" in imaps[0], commands
        twofold_harness.wait_until(lambda: probe(pop3), timeout=60, what="POP3S port")
        for command in app + imaps:
            r = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                               timeout=60)
            assert r.returncode == 0, (command, r.stderr)
            assert "Subject: Welcome to twofold" in r.stdout, r.stdout
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)


def probe(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False
