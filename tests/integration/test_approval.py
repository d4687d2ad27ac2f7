"""Held-login approval against the real daemon: a user with a security key logs in from an
IMAP or POP3 client with the password alone, and the login waits until it is approved or denied
with `twofold login approve|deny` (the admin functions the portal calls too), or the wait runs
out. The browser-driven approval is in test_approval_browser, the INBOX notice in
test_approval_notice.

The user's security key is put into the store as a row of its own (the registration ceremony
needs a browser); the hold only asks whether the user has one."""

import imaplib
import poplib
import re
import subprocess
import threading
import time

import twofold_harness

PASSWORD = "Approve-Me-42"


def add_key(server, name):
    """A security key row for name, written as the store's owner (root would leave files the
    auth account cannot open)."""
    sql = ("INSERT INTO webauthn_keys (user_id, cred_id, alg, pubkey, sign_count, label, created) "
           f"SELECT id, randomblob(32), -7, randomblob(64), 0, 'test key', strftime('%s', 'now') "
           f"FROM users WHERE name = '{name}';")
    cmd = ["sqlite3", str(server.state_dir / "auth.db"), sql]
    if twofold_harness.running_as_root():
        cmd = ["runuser", "-u", twofold_harness.AUTH_USER, "--"] + cmd
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    assert "keys=1" in server.cli("user", "list").stdout


def start(server, wait=30, **auth):
    server.enable_imap()
    server.configure("auth", "approval_wait", wait)
    for k, v in auth.items():
        server.configure("auth", k, v)
    server.add_user("alice", PASSWORD, totp=False)
    add_key(server, "alice")
    server.start()


class Login(threading.Thread):
    """One login in the background: .ok (True/False), .elapsed (s), .client (logged in)."""

    def __init__(self, server, proto, secret, client_name=None, timeout=120, source=None):
        super().__init__()
        self.server, self.proto, self.secret = server, proto, secret
        self.source = source
        self.client_name, self.timeout = client_name, timeout
        self.ok = self.elapsed = self.client = self.error = None
        self.start()

    def run(self):
        t0 = time.monotonic()
        try:
            self.ok = self._imap() if self.proto == "imap" else self._pop3()
        except (imaplib.IMAP4.error, poplib.error_proto) as e:
            self.ok, self.error = False, e
        self.elapsed = time.monotonic() - t0

    def _imap(self):
        im = self.server.imap(timeout=self.timeout, source=self.source)
        if self.client_name:
            im.xatom("ID", f'("name" "{self.client_name}")')
        self.client = im
        im.login("alice", self.secret)
        return True

    def _pop3(self):
        pop = self.server.pop3(timeout=self.timeout, source=self.source)
        self.client = pop
        pop.user("alice")
        pop.pass_(self.secret)
        return True

    def result(self):
        self.join(self.timeout + 10)
        assert not self.is_alive(), "login still running"
        return self.ok


def pending(server, count=1, timeout=20):
    """Waits until alice has count pending requests; returns the rows."""
    deadline = time.monotonic() + timeout
    while True:
        rows = server.cli("login", "list", "alice").stdout.splitlines()
        if len(rows) >= count or time.monotonic() > deadline:
            assert len(rows) == count, rows
            return rows
        time.sleep(0.1)


def request_id(row):
    return row.split("\t")[0]


def log_lines(server):
    return server.cli("log", "alice", "--limit", "20").stdout.splitlines()


def logged(server, field, timeout=20):
    """Waits for alice's newest log line to have field; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        lines = log_lines(server)
        if lines and field in lines[0].split("\t"):
            return lines[0]
        assert time.monotonic() < deadline, lines
        time.sleep(0.1)


def inbox_files(server, name="alice"):
    md = server.maildir(name)
    return [p for sub in ("new", "cur") for p in (md / sub).iterdir()]


def test_imap_login_held_until_approved(server):
    start(server)
    login = Login(server, "imap", PASSWORD, client_name="Test Mail 1.0")
    row = pending(server)[0]
    assert "\tproto=imap\tip=127.0.0.1\tclient=Test Mail 1.0\t" in row, row
    # the waiting login is in the log already, not only once decided
    waiting = logged(server, "result=pending")
    assert {"proto=imap", "factor=approval", "reason=approval-wait"} <= set(waiting.split("\t"))
    assert login.ok is None, "answered before the decision"
    server.cli("login", "approve", "alice", request_id(row))
    assert login.result() is True, login.error
    # a real session follows
    typ, data = login.client.select("INBOX")
    assert typ == "OK", data
    login.client.logout()
    assert "factor=approval" in log_lines(server)[0]
    assert log_lines(server)[1] == waiting
    assert server.cli("login", "list", "alice").stdout == ""


def test_pop3_login_held_until_approved(server):
    start(server)
    login = Login(server, "pop3", PASSWORD)
    row = pending(server)[0]
    assert "\tproto=pop3\t" in row, row
    server.cli("login", "approve", "alice", request_id(row))
    assert login.result() is True, login.error
    assert login.client.stat()[0] == 0
    login.client.quit()
    # device grace: the next password-only login from this IP is not held
    t0 = time.monotonic()
    again = Login(server, "pop3", PASSWORD)
    assert again.result() is True and time.monotonic() - t0 < 20  # the wait is 30 s
    again.client.quit()
    assert "factor=grace" in log_lines(server)[0]


def test_deny_fails_as_wrong_password_and_alarms(server):
    wait = 8
    start(server, wait=wait)
    login = Login(server, "imap", PASSWORD)
    server.cli("login", "deny", "alice", request_id(pending(server)[0]))
    assert login.result() is False
    assert "AUTHENTICATIONFAILED" in str(login.error), login.error
    # answered only when the wait would have run out: an early "no" would tell the client
    # that the password was right
    assert login.elapsed >= wait - 0.5, login.elapsed
    newest = log_lines(server)[0]
    assert "reason=approval-denied" in newest and "STOLEN-PASSWORD" in newest, newest
    assert "failures=1" in server.cli("user", "list").stdout


def test_timeout_and_wrong_password_wait_alike(server):
    wait = 4
    start(server, wait=wait)
    right = Login(server, "pop3", PASSWORD)
    pending(server)
    assert right.result() is False
    wrong = Login(server, "pop3", "Not-The-Password-1")
    assert wrong.result() is False
    assert right.error.args[0] == wrong.error.args[0] == b"-ERR [AUTH] Authentication failed."
    for login in (right, wrong):
        assert wait - 0.5 <= login.elapsed < wait + 15, (login.elapsed, wait)
    reasons = [re.search(r"reason=(\S+)", ln).group(1) for ln in log_lines(server)[:2]]
    assert reasons == ["bad-password", "approval-timeout"], reasons


def test_preapproval_lets_parallel_logins_through(server):
    # no device grace: only the pre-approval can let the other two through
    start(server, mfa_grace=0)
    logins = [Login(server, "imap", PASSWORD) for _ in range(3)]
    rows = pending(server)  # one request for the three: at most one per user
    time.sleep(1)
    assert len(server.cli("login", "list", "alice").stdout.splitlines()) == 1
    server.cli("login", "approve", "alice", request_id(rows[0]), "--preapprove", "10")
    assert [login.result() for login in logins] == [True, True, True]
    for login in logins:
        login.client.logout()
    factors = sorted(re.search(r"factor=(\S+)", ln).group(1) for ln in log_lines(server)[:3])
    assert factors == ["approval", "grace", "grace"], factors


def test_without_preapproval_only_the_approved_one_passes(server):
    start(server, wait=6, mfa_grace=0)
    logins = [Login(server, "pop3", PASSWORD) for _ in range(2)]
    server.cli("login", "approve", "alice", request_id(pending(server)[0]))
    assert sorted(login.result() for login in logins) == [False, True]


def test_other_logins_go_on_while_one_is_held(server):
    server.configure("server", "auth_processes", 1)
    start(server)
    bob = server.add_user("bob")
    held = Login(server, "imap", PASSWORD)
    row = pending(server)[0]
    t0 = time.monotonic()
    im = server.imap()
    im.login("bob", bob.password + server.code(bob.secret))
    assert time.monotonic() - t0 < 20  # not queued behind the 30 s hold
    im.logout()
    server.cli("login", "approve", "alice", request_id(row))
    assert held.result() is True
    held.client.logout()


def test_hold_outlasts_the_login_timeout(server):
    # the login timeout counts the client's time, not the wait for the user's decision
    server.configure("server", "login_timeout", 4)
    wait = 12
    start(server, wait=wait)
    login = Login(server, "imap", PASSWORD)
    row = pending(server)[0]
    time.sleep(6)
    assert login.ok is None, login.error
    server.cli("login", "approve", "alice", request_id(row))
    assert login.result() is True, login.error
    typ, data = login.client.select("INBOX")
    assert typ == "OK", data
    login.client.logout()
    # a held login that fails leaves the client its own time for another try
    login = Login(server, "pop3", "Not-The-Password-2")
    assert login.result() is False and login.elapsed >= wait - 0.5, login.elapsed
    login.client.user("alice")
    try:
        login.client.pass_("Not-The-Password-3x")
    except poplib.error_proto as e:
        assert e.args[0] == b"-ERR [AUTH] Authentication failed.", e
    else:
        raise AssertionError("a wrong password passed")


def test_held_logins_count_toward_the_address_caps(server):
    # a held login fills 127.0.0.3's one session; a second login from there is refused without
    # a wait, while another address still logs in
    server.configure("server", "max_sessions_per_ip", 1)
    start(server, wait=30)
    bob = server.add_user("bob")
    held = Login(server, "pop3", PASSWORD, source="127.0.0.3")
    row = pending(server)[0]
    second = Login(server, "pop3", PASSWORD, source="127.0.0.3", timeout=60)
    assert second.result() is False
    assert second.elapsed < 15, second.elapsed  # refused, not held for the 30 s
    assert b"[SYS/TEMP]" in second.error.args[0], second.error
    pop = server.pop3(source="127.0.0.4")
    pop.user("bob")
    pop.pass_(bob.password + server.code(bob.secret))
    pop.quit()
    server.cli("login", "approve", "alice", request_id(row))
    assert held.result() is True
    held.client.quit()


def test_client_gone_gives_the_hold_up(server):
    # a client that hangs up while held: the request and its notice go at once, not after the
    # wait, and nobody can approve a login that no one waits for
    start(server, wait=60)
    sock = server.tls_connect(port=server.imap_port, timeout=30)
    f = sock.makefile("rb")
    assert f.readline().startswith(b"* OK")
    sock.sendall(f"a LOGIN alice {PASSWORD}\r\n".encode())
    row = pending(server)[0]
    deadline = time.monotonic() + 10
    while not inbox_files(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(inbox_files(server)) == 1
    f.close()  # the socket closes with its last file
    sock.close()
    deadline = time.monotonic() + 15
    while server.cli("login", "list", "alice").stdout and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.cli("login", "list", "alice").stdout == ""
    assert "reason=approval-cancelled" in log_lines(server)[0]
    r = server.cli("login", "approve", "alice", request_id(row), check=False)
    assert r.returncode == 1 and "no pending login" in r.stderr, r
    deadline = time.monotonic() + 10
    while inbox_files(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert inbox_files(server) == []


def test_cli_refusals(server):
    start(server)
    r = server.cli("login", "approve", "alice", "12345", check=False)
    assert r.returncode == 1 and "no pending login 12345" in r.stderr, r
    r = server.cli("login", "approve", "alice", "x", check=False)
    assert r.returncode == 2, r
    r = server.cli("login", "approve", "alice", "1", "--preapprove", "100", check=False)
    assert r.returncode == 1 and "at most 60 minutes" in r.stderr, r
    r = server.cli("login", "preapprove", "alice", "300.1.2.3", "5", check=False)
    assert r.returncode == 1 and "not an IP address" in r.stderr, r
    server.cli("login", "preapprove", "alice", "127.0.0.1", "5")
    # pre-approved: not held
    login = Login(server, "imap", PASSWORD)
    assert login.result() is True and login.elapsed < 20  # the wait is 30 s
    login.client.logout()


def test_wait_does_not_tell_who_has_a_key(server):
    # a user without a key and an unknown name wait as long as alice: the wait does not say
    # which accounts exist or have a key; a secret ending like a code is never held
    wait = 4
    start(server, wait=wait)
    server.add_user("bob")
    for user in ("bob", "nobody"):
        t0 = time.monotonic()
        pop = server.pop3(timeout=60)
        pop.user(user)
        try:
            pop.pass_("Not-The-Password-1")
            raise AssertionError("logged in")
        except poplib.error_proto as e:
            assert e.args[0] == b"-ERR [AUTH] Authentication failed."
        assert wait - 0.5 <= time.monotonic() - t0 < wait + 15
    # carol's password (set before her key) ends in digits: refused at once, not held
    server.add_user("carol", "Carol-Pass-123456", totp=False)
    add_key(server, "carol")
    pop = server.pop3(timeout=60)
    pop.user("carol")
    try:
        pop.pass_("Carol-Pass-123456")
        raise AssertionError("logged in")
    except poplib.error_proto as e:
        assert e.args[0] == b"-ERR [AUTH] Authentication failed."
    assert server.cli("login", "list", "carol").stdout.strip() == ""
    last = server.cli("log", "carol", "--limit", "1").stdout
    assert "reason=code-shaped-password" in last, last
