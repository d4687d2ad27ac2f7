"""Moving from Dovecot without re-downloads: Debian's real Dovecot indexes and serves maildirs
(keywords set with STORE, messages expunged so UIDs have gaps, a folder, a message it saw only
over POP3), is stopped, and twofold serves the same maildirs: UIDVALIDITY, UIDNEXT, every UID
with its flags and keywords (IMAP) and every UIDL (POP3) are the same before and after; a
message delivered afterwards gets a UID at or above Dovecot's next UID. A version-1
dovecot-uidlist (Courier's format, written by hand) is read by twofold as Dovecot reads it."""

import imaplib
import os
import poplib
import pwd
import re
import signal
import socket
import subprocess
import time

import pytest

from twofold_harness import free_port, running_as_root

PASSWORD = "Dc-Pw-7c1e9a"
STATUS_ITEMS = "(MESSAGES UIDVALIDITY UIDNEXT)"


def login_service(protocol, port):
    """Dovecot's login service for protocol: implicit TLS on port, no plaintext listener."""
    return (f"service {protocol}-login {{\n  inet_listener {protocol} {{\n    port = 0\n  }}\n"
            f"  inet_listener {protocol}s {{\n    port = {port}\n    ssl = yes\n  }}\n}}\n")


class Dovecot:
    """A private Dovecot on loopback (implicit TLS IMAP and POP3 on free ports) serving the
    maildirs of a twofold test server, with its own config, as tests/bench runs it. Its mail
    processes run as twofold's service user, so that both can use the same files."""

    def __init__(self, server):
        self.server = server
        self.dir = server.dir / "dovecot"
        self.dir.mkdir(mode=0o755)
        self.imap_port, self.pop3_port = free_port(), free_port()
        self.conf = self.dir / "dovecot.conf"
        self.log_path = self.dir / "dovecot.log"
        self.passwd = self.dir / "passwd"
        self.proc = None
        self.users = []

    def _accounts(self):
        if running_as_root():
            return "", self.server.uid, self.server.gid
        # unprivileged: every Dovecot process runs as this user
        me = pwd.getpwuid(os.getuid()).pw_name
        return (f"default_internal_user = {me}\ndefault_login_user = {me}\n",
                os.getuid(), os.getgid())

    def write_conf(self):
        accounts, uid, gid = self._accounts()
        srv = self.server
        self.passwd.write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}::::::\n" for u in self.users))
        os.chmod(self.passwd, 0o644)
        self.conf.write_text(f"""\
# private test instance: loopback only, implicit TLS only
base_dir = {self.dir}/run
state_dir = {self.dir}/state
instance_name = twofold-test-dovecot-{os.getpid()}-{self.imap_port}
{accounts}protocols = imap pop3
listen = 127.0.0.1
ssl = required
ssl_cert = <{srv.cert}
ssl_key = <{srv.key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain
log_path = {self.log_path}
mail_location = maildir:{srv.mail_root}/%u
first_valid_uid = {min(uid, 100)}
first_valid_gid = {min(gid, 100)}
passdb {{
  driver = passwd-file
  args = {self.passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={srv.mail_root}/%u
}}
{login_service("imap", self.imap_port)}{login_service("pop3", self.pop3_port)}""")

    def start(self):
        self.write_conf()
        self.stderr = open(self.dir / "stderr.log", "ab")
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=self.stderr,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "dovecot exited:\n" + self.log()
            try:
                for port in (self.imap_port, self.pop3_port):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("dovecot does not listen:\n" + self.log())

    def log(self):
        return "".join(p.read_text(errors="replace")
                       for p in (self.dir / "stderr.log", self.log_path) if p.exists())

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "stderr", None) is not None:
            self.stderr.close()
            self.stderr = None

    def imap(self, user):
        c = imaplib.IMAP4_SSL("127.0.0.1", self.imap_port,
                              ssl_context=self.server.ssl_context(), timeout=30)
        c.login(user, PASSWORD)
        return c

    def pop3(self, user):
        p = poplib.POP3_SSL("127.0.0.1", self.pop3_port, context=self.server.ssl_context(),
                            timeout=30)
        p.user(user)
        p.pass_(PASSWORD)
        return p


@pytest.fixture
def dovecot(server):
    dc = Dovecot(server)
    yield dc
    dc.stop()


def ok(reply):
    typ, data = reply
    assert typ == "OK", (typ, data)
    return data


def mailbox_state(imap, folder):
    """(STATUS items, {uid: flags without \\Recent}) of folder."""
    status = ok(imap.status(folder, STATUS_ITEMS))[0].decode()
    items = dict(re.findall(r"(MESSAGES|UIDVALIDITY|UIDNEXT) (\d+)", status))
    ok(imap.select(folder, readonly=True))
    flags = {}
    for item in ok(imap.uid("FETCH", "1:*", "(UID FLAGS)")):
        if item is None:
            continue
        line = item.decode() if isinstance(item, bytes) else item[0].decode()
        uid = int(re.search(r"UID (\d+)", line).group(1))
        names = re.search(r"FLAGS \(([^)]*)\)", line).group(1).split()
        flags[uid] = frozenset(n for n in names if n != "\\Recent")
    ok(imap.close())
    assert len(flags) == int(items["MESSAGES"]), (status, flags)
    return {k: int(v) for k, v in items.items()}, flags


def uidl_list(pop):
    _, lines, _ = pop.uidl()
    return [ln.decode().split() for ln in lines]


def twofold_login(server, user, pop3=False):
    if pop3:
        p = server.pop3(timeout=30)
        p.user(user.name)
        p.pass_(user.password + server.code(user.secret))
        return p
    c = server.imap(timeout=30)
    c.login(user.name, user.password + server.code(user.secret))
    return c


def message(n):
    return (f"From: a{n}@example.org\nTo: mig@example.org\nSubject: message {n}\n"
            f"Message-ID: <{n}.{time.time_ns()}@example.org>\n\nbody {n}\n").encode()


def dovecot_history(dc, server, name):
    """What a Dovecot user's mailbox goes through before the move."""
    for n in range(1, 7):
        server.deliver(name, message(n))
    c = dc.imap(name)
    ok(c.create("Archive"))
    for n in (20, 21, 22):
        ok(c.append("Archive", "(\\Seen)", None, message(n).replace(b"\n", b"\r\n")))
    ok(c.select("INBOX"))  # Dovecot moves new/ to cur/ and gives UIDs 1..6
    ok(c.store("1", "+FLAGS", "($Forwarded Junk \\Seen)"))
    ok(c.store("3", "+FLAGS", "(Junk \\Flagged)"))
    ok(c.store("5", "+FLAGS", "($label1 \\Answered)"))
    ok(c.store("2,6", "+FLAGS", "(\\Deleted)"))
    ok(c.expunge())  # UIDs 1 3 4 5 left, UIDNEXT 7: a gap and a lost top
    ok(c.select("Archive"))
    ok(c.store("2", "+FLAGS", "(NonJunk \\Deleted)"))
    ok(c.expunge())
    c.logout()
    # a message Dovecot gave a UID to over POP3 only (it stays in new/)
    server.deliver(name, message(7))
    p = dc.pop3(name)
    assert len(uidl_list(p)) == 5
    p.quit()


def test_dovecot_maildir_taken_over(server, dovecot):
    server.enable_imap()
    user = server.add_user("mig")
    dovecot.users = ["mig"]
    dovecot.start()
    dovecot_history(dovecot, server, "mig")

    c = dovecot.imap("mig")
    before = {f: mailbox_state(c, f) for f in ("INBOX", "Archive")}
    c.logout()
    p = dovecot.pop3("mig")
    uidls_before = uidl_list(p)
    p.quit()
    dovecot.stop()

    md = server.maildir("mig")
    assert (md / "dovecot-uidlist").read_text().startswith("3 V")
    assert "Junk" in (md / "dovecot-keywords").read_text()
    assert any(":2," in n and re.search(r":2,[A-Z]*[a-z]", n) for n in os.listdir(md / "cur"))
    assert before["INBOX"][0]["UIDNEXT"] == 8 and sorted(before["INBOX"][1]) == [1, 3, 4, 5, 7]
    assert before["INBOX"][1][1] >= {"$Forwarded", "Junk", "\\Seen"}
    uidvalidity = before["INBOX"][0]["UIDVALIDITY"]
    assert [u for _, u in uidls_before] == [f"{uid:08x}{uidvalidity:08x}"
                                             for uid in (1, 3, 4, 5, 7)]

    server.start()
    c = twofold_login(server, user)
    after = {f: mailbox_state(c, f) for f in ("INBOX", "Archive")}
    c.logout()
    assert after == before
    p = twofold_login(server, user, pop3=True)
    assert uidl_list(p) == uidls_before
    p.quit()

    # a delivery after the move: a UID at or above Dovecot's next UID, a UIDL of the same form
    server.deliver("mig", message(8))
    c = twofold_login(server, user)
    state, flags = mailbox_state(c, "INBOX")
    c.logout()
    new_uid = max(flags)
    assert new_uid >= before["INBOX"][0]["UIDNEXT"]
    assert state["UIDVALIDITY"] == uidvalidity and state["UIDNEXT"] == new_uid + 1
    p = twofold_login(server, user, pop3=True)
    uidls = uidl_list(p)
    p.quit()
    assert uidls[:-1] == uidls_before
    assert uidls[-1][1] == f"{new_uid:08x}{uidvalidity:08x}"


def put(path, data, owner):
    path.write_bytes(data)
    if owner[0] is not None:
        os.chown(path, *owner)


def v1_maildir(server, name):
    """A maildir with a version-1 dovecot-uidlist (Courier's courierimapuiddb format, as
    Dovecot 1.0 wrote it) and a dovecot-keywords, written by hand."""
    md = server.maildir(name)
    owner = (server.uid, server.gid)
    for d in (md, md / "cur", md / "new", md / "tmp"):
        d.mkdir(mode=0o700, exist_ok=True)
        if owner[0] is not None:
            os.chown(d, *owner)
    m17 = message(17)
    put(md / "dovecot-uidlist",
        b"1 1262304000 42\n"
        b"3 1262304003.M3P1.oldhost:2,S\n"
        b"17 1262304017.M17P1.oldhost,S=%d:2,RS\n"
        b"40 1262304040.M40P1.oldhost\n" % len(m17), owner)
    put(md / "dovecot-keywords", b"0 $Forwarded\n1 Work\n", owner)
    put(md / "cur" / "1262304003.M3P1.oldhost:2,Sa", message(3), owner)
    put(md / "cur" / f"1262304017.M17P1.oldhost,S={len(m17)}:2,RSb", m17, owner)
    put(md / "cur" / "1262304040.M40P1.oldhost:2,", message(40), owner)


def test_uidlist_v1(server, dovecot):
    """twofold first (it leaves Dovecot's files and the cur/ names alone), then Dovecot on the
    same maildir: both say the same."""
    server.enable_imap()
    user = server.add_user("old")
    v1_maildir(server, "old")
    server.start()
    c = twofold_login(server, user)
    after = mailbox_state(c, "INBOX")
    c.logout()
    p = twofold_login(server, user, pop3=True)
    uidls_after = uidl_list(p)
    p.quit()
    server.stop()
    assert after[0] == {"MESSAGES": 3, "UIDVALIDITY": 1262304000, "UIDNEXT": 42}
    assert after[1] == {3: {"\\Seen", "$Forwarded"}, 17: {"\\Answered", "\\Seen", "Work"},
                        40: set()}
    assert uidls_after == [["1", "000000034b3d3b00"], ["2", "000000114b3d3b00"],
                           ["3", "000000284b3d3b00"]]

    dovecot.users = ["old"]
    dovecot.start()
    c = dovecot.imap("old")
    before = mailbox_state(c, "INBOX")
    c.logout()
    p = dovecot.pop3("old")
    assert uidl_list(p) == uidls_after
    p.quit()
    assert before == after
