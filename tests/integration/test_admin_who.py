"""`twofold who` and `twofold kick NAME`: the running daemon's logged-in sessions, from the
master's scoreboard over its control socket ([server] control)."""

import json
import os
import re
import socket
import stat
import time

import pytest

import twofold_harness


@pytest.fixture(autouse=True)
def own_control_socket(server):
    """Each test daemon its own socket (the harness sets one; kept here should it not)."""
    server.config["server"].setdefault("control", str(server.dir / "control"))
    server.configure("server", "control", server.config["server"]["control"])


def login_pop3(server, user):
    pop = server.pop3()
    pop.user(user.name)
    pop.pass_(user.password + server.code(user.secret))
    return pop


def login_imap(server, user):
    imap = server.imap()
    imap.login(user.name, user.apppass if hasattr(user, "apppass") else
               user.password + server.code(user.secret))
    return imap


def who_rows(server):
    r = server.cli("who")
    lines = r.stdout.splitlines()
    assert re.match(r"^USER +PROTO +IP +SINCE +PID$", lines[0]), r.stdout
    return [line.split() for line in lines[1:]]


def wait_rows(server, count):
    rows = []
    deadline = time.monotonic() + twofold_harness.SERVICES_TIMEOUT
    while time.monotonic() < deadline:
        rows = who_rows(server)
        if len(rows) == count:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"expected {count} sessions, twofold who shows {rows}")


def test_who_lists_logged_in_sessions_and_kick_ends_them(server):
    alice = server.add_user("alice")
    bob = server.add_user("bob")
    server.enable_imap()
    server.start()
    assert who_rows(server) == []
    pop = login_pop3(server, alice)
    imap = server.imap()
    imap.login(bob.name, server.apppass("bob"))
    not_logged_in = server.imap()  # connected, no login: not a session
    rows = wait_rows(server, 2)
    by_user = {r[0]: r for r in rows}
    assert by_user["alice"][1] == "pop3" and by_user["alice"][2] == "127.0.0.1"
    assert by_user["bob"][1] == "imap" and by_user["bob"][2] == "127.0.0.1"
    for r in rows:
        assert re.match(r"\d{4}-\d\d-\d\d$", r[3]) and re.match(r"\d\d:\d\d:\d\d$", r[4]), r
        assert int(r[5]) in server.worker_pids()
    js = json.loads(server.cli("who", "--json").stdout)
    assert sorted((s["user"], s["protocol"], s["ip"]) for s in js) == [
        ("alice", "pop3", "127.0.0.1"), ("bob", "imap", "127.0.0.1")]
    assert all(abs(s["since"] - time.time()) < 600 for s in js)

    r = server.cli("kick", "bob")
    assert r.stdout.splitlines()[-1] == "1 session of bob ended", r.stdout
    server.wait_log(r"kick bob: 1 session ended")
    # the client sees the server close the connection
    with pytest.raises((imaplib_abort(), OSError, EOFError)):
        for _ in range(50):
            imap.noop()
            time.sleep(0.1)
    rows = wait_rows(server, 1)
    assert rows[0][0] == "alice"
    pop.stat()  # alice's session goes on
    assert server.cli("kick", "carol").stdout.strip() == "0 sessions of carol ended"
    pop.quit()
    wait_rows(server, 0)
    not_logged_in.logout()


def imaplib_abort():
    import imaplib
    return imaplib.IMAP4.abort


def test_who_json_empty(server):
    server.start()
    assert json.loads(server.cli("who", "--json").stdout) == []


def test_control_socket_is_root_only(server):
    server.start()
    path = server.config["server"]["control"]
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()


def test_who_without_daemon_says_why(server):
    r = server.cli("who", check=False)
    assert r.returncode == 1
    assert f"cannot reach the daemon at {server.config['server']['control']}" in r.stderr


def test_second_daemon_on_the_same_control_socket_keeps_the_first_ones(server, server_factory):
    server.start()
    other = server_factory()
    other.configure("server", "control", server.config["server"]["control"])
    other.start()
    other.wait_log(r"is in use by another running twofoldd: twofold who/kick will not reach")
    assert server.cli("who").returncode == 0
    other.stop()
    assert server.cli("who").returncode == 0  # the second daemon left the first one's socket


def test_bad_requests_get_an_error(server):
    server.start()
    for request in (b"shutdown\n", b"kick\n", b"who extra\n", b"\x01\n"):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(server.config["server"]["control"])
            s.sendall(request)
            assert s.recv(4096).startswith(b"ERR\t"), request
