"""The INBOX notice of a held login (see test_approval): a mail telling the user that a login
waits for approval, delivered into the INBOX as an MTA would, seen by a session in IDLE, and
taken away when the login is decided, when its wait runs out, or with the user's next held login
when the auth process holding it died."""

import os
import re
import signal
import time

from test_approval import PASSWORD, Login, inbox_files, pending, request_id, start


class Idle:
    """An IMAP session of alice's (app password) waiting in IDLE on INBOX."""

    def __init__(self, server, app):
        self.sock = server.tls_connect(port=server.imap_port, timeout=30)
        self.f = self.sock.makefile("rb")
        self.f.readline()
        self.cmd(b"a LOGIN alice " + app.encode())
        self.cmd(b"b SELECT INBOX")
        self.sock.sendall(b"c IDLE\r\n")
        assert self.f.readline().startswith(b"+ ")

    def cmd(self, line):
        self.sock.sendall(line + b"\r\n")
        tag = line.split(b" ")[0]
        while True:
            reply = self.f.readline()
            assert reply, "connection closed"
            if reply.startswith(tag + b" "):
                assert b" OK " in reply, reply
                return
            self.untagged = reply

    def wait_for(self, pattern, timeout=20):
        """The next untagged line matching pattern (bytes regex)."""
        self.sock.settimeout(timeout)
        while True:
            line = self.f.readline()
            assert line, "connection closed"
            if re.search(pattern, line):
                return line

    def done(self):
        self.sock.sendall(b"DONE\r\n")
        self.wait_for(rb"^c OK")
        self.sock.close()


def test_inbox_notice_shown_through_idle_and_removed(server):
    server.configure("portal", "origin", "https://mail.example.org:8443")
    start(server)
    app = server.apppass("alice")
    idle = Idle(server, app)
    login = Login(server, "pop3", PASSWORD)
    row = pending(server)[0]
    # the session already logged in sees the notice arrive
    assert re.match(rb"^\* 1 EXISTS", idle.wait_for(rb"EXISTS"))
    files = inbox_files(server)
    assert len(files) == 1
    text = files[0].read_bytes().decode()
    # stored as an MTA stores mail, with LF line ends
    assert "\nSubject: Approve login from IP 127.0.0.1 (POP3)\n" in text, text
    assert "https://mail.example.org:8443/approvals" in text, text
    assert "Auto-Submitted: auto-generated" in text
    # decided: the notice goes away (the IDLE session sees the expunge)
    server.cli("login", "approve", "alice", request_id(row))
    assert login.result() is True
    login.client.quit()
    idle.wait_for(rb"^\* 1 EXPUNGE")
    idle.done()
    assert inbox_files(server) == []


def test_inbox_notice_removed_when_the_wait_runs_out(server):
    start(server, wait=3)
    login = Login(server, "imap", PASSWORD, client_name='Evil\\"Client\\\\')
    pending(server)
    deadline = time.monotonic() + 10
    while not inbox_files(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    text = inbox_files(server)[0].read_bytes().decode()
    # the client's name is shown reduced, in the body only; no portal: the admin is named
    head, body = text.split("\n\n", 1)
    assert "Evil" not in head and "client    Evil?Client?\n" in body, body
    assert "twofold login approve alice" in body, body
    assert login.result() is False
    deadline = time.monotonic() + 10
    while inbox_files(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert inbox_files(server) == []


def inbox_subjects(server):
    return sorted(re.search(r"\nSubject: ([^\n]*)", p.read_text()).group(1)
                  for p in inbox_files(server))


def wait_inbox(server, want, timeout=20):
    """Waits until the INBOX holds notices with exactly the subjects want; asserts it."""
    deadline = time.monotonic() + timeout
    while inbox_subjects(server) != want and time.monotonic() < deadline:
        time.sleep(0.1)
    assert inbox_subjects(server) == want


def test_notice_of_a_killed_holder_goes_with_the_next_request(server):
    # the auth process holding a login dies: nobody takes its notice away when the request
    # expires; the user's next held login takes the stale notice with it
    server.configure("server", "auth_processes", 1)
    wait = 4
    start(server, wait=wait)
    first = Login(server, "imap", PASSWORD, timeout=30)
    pending(server)
    wait_inbox(server, ["Approve login from IP 127.0.0.1 (IMAP)"])
    [holder] = server.auth_pids()
    os.kill(holder, signal.SIGKILL)
    first.join(40)
    deadline = time.monotonic() + 30
    while server.cli("login", "list", "alice").stdout and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.cli("login", "list", "alice").stdout == "", "the request did not expire"
    time.sleep(wait + 10 + 1)  # the notice's wait and the notice process's slack
    assert len(inbox_files(server)) == 1, "the notice went before the next request"
    second = Login(server, "pop3", PASSWORD)
    pending(server)
    wait_inbox(server, ["Approve login from IP 127.0.0.1 (POP3)"])
    assert second.result() is False
    wait_inbox(server, [])
