"""IMAP over implicit TLS against the real daemon: logins, limits before login, every command and
extension with exact replies for the tricky parts, untagged updates between sessions, IDLE with
inotify, APPEND limits, UID persistence, byte-identical copies, curl, and POP3 side by side.

Messages made by these tests use CRLF line ends, so the octets IMAP sends (CRLF-converted) are
the file's octets; the byte-identity test compares them unconverted."""

import base64
import imaplib
import os
import re
import select
import shutil
import subprocess
import time

import pytest

AUTH_FAILED = b"NO [AUTHENTICATIONFAILED] Authentication failed."
CAPS = (b"IMAP4rev1 LITERAL+ SASL-IR IDLE UIDPLUS MOVE NAMESPACE ID ENABLE UNSELECT BINARY "
        b"MULTIAPPEND "
        b"SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH CONDSTORE QRESYNC SORT SORT=DISPLAY "
        b"THREAD=ORDEREDSUBJECT THREAD=REFERENCES ESORT CONTEXT=SEARCH CONTEXT=SORT SEARCHRES "
        b"PARTIAL "
        b"APPENDLIMIT=")
SLOW = 40  # failed logins are delayed by the policy


def msg(subject, body="Hello.\r\n", extra=""):
    return (f"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n"
            f"Subject: {subject}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@example.org>\r\n{extra}\r\n{body}").encode()


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Raw:
    """A raw IMAP client over TLS, reading responses with their literals."""

    def __init__(self, server, timeout=10):
        self.sock = server.tls_connect(port=server.imap_port, timeout=timeout)
        self.f = self.sock.makefile("rb")
        self.greeting = self.response()
        self.n = 0

    def send(self, data):
        self.sock.sendall(data)

    def response(self):
        """One response line with any literals inlined (bytes, CRLF kept)."""
        out = b""
        while True:
            line = self.f.readline()
            assert line, "connection closed"
            out += line
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if not m:
                return out
            out += self.f.read(int(m.group(1)))

    def until(self, tag):
        untagged = []
        while True:
            r = self.response()
            if r.startswith(tag + b" "):
                return untagged, r.rstrip(b"\r\n")
            untagged.append(r.rstrip(b"\r\n"))

    def cmd(self, text, tag=None):
        if tag is None:
            self.n += 1
            tag = b"t%d" % self.n
        if isinstance(text, str):
            text = text.encode()
        self.send(tag + b" " + text + b"\r\n")
        return self.until(tag)

    def ok(self, text):
        untagged, tagged = self.cmd(text)
        assert b" OK " in tagged, (text, untagged, tagged)
        return untagged, tagged

    def login(self, name, secret):
        return self.ok(f"LOGIN {quote(name)} {quote(secret)}")

    def eof(self, timeout=5):
        self.sock.settimeout(timeout)
        try:
            return self.f.read() == b""
        except (ConnectionError, OSError):
            return True

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


def start(server, **imap):
    server.enable_imap()
    for k, v in imap.items():
        server.configure("imap", k, v)
    server.start()


def setup_user(server, name="alice", messages=(), **imap):
    user = server.add_user(name)
    app = server.apppass(name)
    for i, m in enumerate(messages):
        server.deliver(name, m)
    start(server, **imap)
    return user, app


def imap_login(server, name, app, timeout=10):
    im = server.imap(timeout=timeout)
    im.login(name, app)
    return im


def raw_login(server, name, app, timeout=10):
    r = Raw(server, timeout=timeout)
    r.login(name, app)
    return r


# --- login and pre-login limits ---------------------------------------------------------------


def test_greeting_login_capability_namespace(server):
    user = server.add_user("alice")
    start(server, append_limit=10485760)
    r = Raw(server)
    assert r.greeting == b"* OK [CAPABILITY " + CAPS + b"10485760 AUTH=PLAIN] twofold ready.\r\n"
    untagged, tagged = r.cmd("CAPABILITY")
    assert untagged == [b"* CAPABILITY " + CAPS + b"10485760 AUTH=PLAIN"]
    # password immediately followed by the current code
    untagged, tagged = r.login("alice", user.password + server.code(user.secret))
    assert tagged.endswith(b"OK [CAPABILITY " + CAPS + b"10485760 COMPRESS=DEFLATE] Logged in.")
    untagged, tagged = r.cmd("CAPABILITY")
    assert untagged == [b"* CAPABILITY " + CAPS + b"10485760 COMPRESS=DEFLATE"]
    assert r.ok("NAMESPACE")[0] == [b'* NAMESPACE (("" ".")) NIL NIL']
    untagged, tagged = r.cmd("LOGOUT")
    assert untagged == [b"* BYE Logging out."]
    assert tagged.endswith(b"OK Logout completed.")
    assert r.eof()


def test_login_failures_look_alike_and_recovery_code(server):
    server.configure("auth", "mfa_grace", 0)
    user = server.add_user("alice")
    codes = server.cli("recovery", "new", "alice").stdout.split()
    start(server)
    good = server.code(user.secret)
    wrong = "000000" if good != "000000" else "111111"
    for name, secret in [("alice", user.password + wrong), ("nobody", "x" + good),
                         ("alice", "wrong" + good)]:
        r = Raw(server, timeout=SLOW)
        _, tagged = r.cmd(f"LOGIN {quote(name)} {quote(secret)}")
        assert tagged.endswith(AUTH_FAILED), tagged
        r.close()
    r = Raw(server, timeout=SLOW)
    r.login("alice", user.password + codes[-1])
    r.close()


def test_authenticate_plain_sasl_ir_and_continuation(server):
    server.add_user("alice")
    app = server.apppass("alice")
    start(server)
    token = base64.b64encode(b"\0alice\0" + app.encode())
    r = Raw(server)
    _, tagged = r.cmd(b"AUTHENTICATE PLAIN " + token)
    assert tagged.endswith(b"] Logged in."), tagged
    r.close()
    r = Raw(server)
    r.send(b"a AUTHENTICATE PLAIN\r\n")
    assert r.response() == b"+ \r\n"
    r.send(token + b"\r\n")
    _, tagged = r.until(b"a")
    assert b"a OK [CAPABILITY" in tagged
    r.close()
    r = Raw(server)
    r.send(b"b AUTHENTICATE PLAIN\r\n")
    assert r.response() == b"+ \r\n"
    r.send(b"*\r\n")
    _, tagged = r.until(b"b")
    assert tagged == b"b BAD Authentication cancelled."
    _, tagged = r.cmd("AUTHENTICATE CRAM-MD5")
    assert tagged.endswith(b"NO Unsupported authentication mechanism.")


def test_imaplib_login_and_id_reaches_audit_log(server):
    user = server.add_user("alice")
    start(server)
    r = Raw(server)
    untagged, _ = r.ok('ID ("name" "pytest-imap" "version" "1.0")')
    assert untagged == [b'* ID ("name" "twofold")']
    r.login("alice", user.password + server.code(user.secret))
    r.close()
    out = server.cli("log", "alice").stdout
    assert "client=pytest-imap" in out, out
    im = server.imap()
    with pytest.raises(imaplib.IMAP4.error):
        im.login("alice", "bad")  # imaplib raises on NO


def test_prelogin_literal_refused_and_three_bad_commands(server):
    server.add_user("alice")
    start(server)
    r = Raw(server)
    r.send(b"a LOGIN {5}\r\n")
    _, tagged = r.until(b"a")
    assert tagged == b"a BAD Literals are not allowed before login."
    _, tagged = r.cmd("SELECT INBOX")
    assert tagged.endswith(b"BAD Not logged in.")
    r.send(b"c FOO\r\n")
    assert r.response() == b"c BAD Unknown command.\r\n"
    assert r.response() == b"* BYE Too many invalid commands.\r\n"
    assert r.eof()
    # a non-synchronising literal cannot be skipped: the connection ends
    r = Raw(server)
    r.send(b"a LOGIN {5+}\r\nalice x\r\n")
    _, tagged = r.until(b"a")
    assert tagged == b"a BAD Literals are not allowed before login."
    assert r.response() == b"* BYE Protocol error, closing connection.\r\n"
    assert r.eof()


def test_prelogin_long_line_and_login_timeout(server):
    server.configure("server", "login_timeout", 3)
    server.add_user("alice")
    start(server)
    r = Raw(server)
    r.send(b"a LOGIN " + b"x" * 9000 + b" y\r\n")
    assert r.response() == b"* BAD Command line too long.\r\n"
    assert r.response().startswith(b"* BYE ")
    assert r.eof()
    r = Raw(server)
    t0 = time.monotonic()
    assert r.response() == b"* BYE Login timeout, closing connection.\r\n"
    assert 2 <= time.monotonic() - t0 < 6
    assert r.eof()


# --- mailboxes ------------------------------------------------------------------------------


def test_list_special_use_and_list_extended(server):
    user, app = setup_user(server)
    r = raw_login(server, "alice", app)
    untagged, _ = r.ok('LIST "" ""')
    assert untagged == [b'* LIST (\\Noselect) "." ""']
    untagged, _ = r.ok('LIST "" "*"')
    assert untagged == [
        b'* LIST (\\HasNoChildren) "." "INBOX"',
        b'* LIST (\\HasNoChildren \\Archive) "." "Archive"',
        b'* LIST (\\HasNoChildren \\Drafts) "." "Drafts"',
        b'* LIST (\\HasNoChildren \\Junk) "." "Junk"',
        b'* LIST (\\HasNoChildren \\Sent) "." "Sent"',
        b'* LIST (\\HasNoChildren \\Trash) "." "Trash"',
    ]
    untagged, _ = r.ok('LIST "" "inbox"')
    assert untagged == [b'* LIST (\\HasNoChildren) "." "INBOX"']
    untagged, _ = r.ok('LIST "" "%"')
    assert len(untagged) == 6
    untagged, _ = r.ok('LIST (SPECIAL-USE) "" "*"')
    assert [u.split(b'"." ')[1] for u in untagged] == [
        b'"Archive"', b'"Drafts"', b'"Junk"', b'"Sent"', b'"Trash"']
    r.ok('CREATE "Projects.2024"')
    r.ok('CREATE "Projects.2025."')
    r.ok('SUBSCRIBE "Projects.2024"')
    r.ok("SUBSCRIBE INBOX")
    untagged, _ = r.ok('LIST "" "Projects%"')
    # a Maildir++ parent implied by its children: no directory, not selectable
    assert untagged == [b'* LIST (\\Noselect \\HasChildren) "." "Projects"']
    untagged, _ = r.ok('LIST "Projects." "%"')
    assert untagged == [b'* LIST (\\HasNoChildren) "." "Projects.2024"',
                        b'* LIST (\\HasNoChildren) "." "Projects.2025"']
    # the special-use folders made for a new user start subscribed
    special = [b"Archive", b"Drafts", b"Junk", b"Sent", b"Trash"]

    def sub(name):
        return b'* LIST (\\HasNoChildren \\Subscribed \\%s) "." "%s"' % (name, name)

    untagged, _ = r.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    assert untagged == [b'* LIST (\\HasNoChildren \\Subscribed) "." "INBOX"'] + \
        [sub(n) for n in special[:3]] + \
        [b'* LIST (\\NonExistent \\HasChildren) "." "Projects" ("CHILDINFO" ("SUBSCRIBED"))'] + \
        [sub(n) for n in special[3:]]
    untagged, _ = r.ok('LIST (SUBSCRIBED) "" "*"')
    assert untagged == [b'* LIST (\\HasNoChildren \\Subscribed) "." "INBOX"'] + \
        [sub(n) for n in special[:3]] + \
        [b'* LIST (\\HasNoChildren \\Subscribed) "." "Projects.2024"'] + \
        [sub(n) for n in special[3:]]
    r.ok('UNSUBSCRIBE "Junk"')
    untagged, _ = r.ok('LSUB "" "*"')
    assert untagged == [b'* LSUB () "." "INBOX"', b'* LSUB () "." "Archive"',
                        b'* LSUB () "." "Drafts"', b'* LSUB () "." "Projects.2024"',
                        b'* LSUB () "." "Sent"', b'* LSUB () "." "Trash"']
    untagged, _ = r.ok('LIST "" ("INBOX" "Sent") RETURN (SUBSCRIBED STATUS (MESSAGES UIDNEXT))')
    assert untagged[0] == b'* LIST (\\HasNoChildren \\Subscribed) "." "INBOX"'
    assert re.fullmatch(rb'\* STATUS "INBOX" \(MESSAGES 0 UIDNEXT \d+\)', untagged[1])
    assert untagged[2] == b'* LIST (\\HasNoChildren \\Subscribed \\Sent) "." "Sent"'
    assert untagged[3].startswith(b'* STATUS "Sent" (MESSAGES 0 ')
    assert len(untagged) == 4
    _, tagged = r.cmd('LIST (RECURSIVEMATCH) "" "*"')
    assert b" BAD " in tagged


def test_create_rename_delete_mutf7(server):
    user, app = setup_user(server)
    r = raw_login(server, "alice", app)
    r.ok('CREATE "Entw&APw-rfe"')
    assert (server.maildir("alice") / ".Entw&APw-rfe" / "cur").is_dir()
    _, tagged = r.cmd('CREATE "Entw&APw-rfe"')
    assert b"NO [ALREADYEXISTS]" in tagged
    _, tagged = r.cmd(b'CREATE "Entw\xc3\xbcrfe"')
    assert b"NO " in tagged
    _, tagged = r.cmd('CREATE "../escape"')
    assert b"NO " in tagged
    assert not (server.maildir("alice").parent / "escape").exists()
    r.ok('RENAME "Entw&APw-rfe" "Old.Drafts"')
    untagged, _ = r.ok('LIST "" "Old*"')
    assert untagged == [b'* LIST (\\Noselect \\HasChildren) "." "Old"',
                        b'* LIST (\\HasNoChildren) "." "Old.Drafts"']
    r.ok('DELETE "Old.Drafts"')
    # RENAME INBOX moves its messages into the new folder and leaves INBOX empty
    server.deliver("alice", msg("inbox mail"))
    r.ok('RENAME INBOX "Saved"')
    untagged, _ = r.ok("STATUS INBOX (MESSAGES)")
    assert untagged == [b'* STATUS "INBOX" (MESSAGES 0)']
    untagged, _ = r.ok("STATUS Saved (MESSAGES)")
    assert untagged == [b'* STATUS "Saved" (MESSAGES 1)']
    _, tagged = r.cmd("DELETE INBOX")
    assert b"NO " in tagged
    _, tagged = r.cmd('SELECT "Nope"')
    assert tagged.endswith(b"NO [NONEXISTENT] Mailbox does not exist.")
    _, tagged = r.cmd('STATUS "Nope" (MESSAGES)')
    assert b"NO [NONEXISTENT]" in tagged


def test_select_examine_status(server):
    user, app = setup_user(server, messages=[msg("one"), msg("two")])
    server.deliver("alice", msg("three"), info="S")
    r = raw_login(server, "alice", app)
    untagged, tagged = r.ok("STATUS INBOX (MESSAGES RECENT UNSEEN UIDVALIDITY UIDNEXT)")
    m = re.fullmatch(rb'\* STATUS "INBOX" \(MESSAGES 3 RECENT (\d) UNSEEN 2 UIDVALIDITY (\d+) '
                     rb'UIDNEXT 4\)', untagged[0])
    assert m, untagged
    uidvalidity = m.group(2)
    untagged, tagged = r.ok("EXAMINE INBOX")
    assert tagged.endswith(b"OK [READ-ONLY] Examine completed.")
    assert b"* OK [PERMANENTFLAGS ()] Flags permitted." in untagged
    untagged, tagged = r.ok("SELECT INBOX")
    assert tagged.endswith(b"OK [READ-WRITE] Select completed.")
    # the EXAMINEd mailbox is closed first (RFC 7162 3.2.11)
    assert untagged.pop(0) == b"* OK [CLOSED] Previous mailbox closed."
    assert untagged[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
    assert untagged[1] == (b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
                           b"\\Draft \\*)] Flags permitted.")
    assert b"* 3 EXISTS" in untagged
    assert b"* OK [UIDVALIDITY " + uidvalidity + b"] UIDs valid." in untagged
    assert b"* OK [UIDNEXT 4] Predicted next UID." in untagged
    # the seen message sorts by delivery: the first unseen is 1 or 2
    assert any(u.startswith(b"* OK [UNSEEN ") for u in untagged)
    untagged, _ = r.ok("FETCH 1:* (UID FLAGS)")
    assert len(untagged) == 3
    _, tagged = r.cmd("FETCH 4 FLAGS")
    assert b"BAD" in tagged
    r.ok("UNSELECT")
    _, tagged = r.cmd("FETCH 1 FLAGS")
    assert tagged.endswith(b"BAD No mailbox selected.")


def test_enable_check_noop(server):
    user, app = setup_user(server, messages=[msg("one")])
    r = raw_login(server, "alice", app)
    untagged, _ = r.ok("ENABLE X-UNKNOWN")
    assert untagged == [b"* ENABLED"]
    untagged, _ = r.ok("ENABLE CONDSTORE X-UNKNOWN")
    assert untagged == [b"* ENABLED CONDSTORE"]
    r.ok("SELECT INBOX")
    r.ok("CHECK")
    untagged, _ = r.ok("NOOP")
    assert untagged == []


# --- APPEND ---------------------------------------------------------------------------------


def test_append_flags_date_appenduid_keywords(server):
    user, app = setup_user(server)
    im = imap_login(server, "alice", app)
    data = msg("appended")
    typ, resp = im.append("Sent", "(\\Seen $Label1)", '"05-Mar-2024 12:34:56 +0100"', data)
    assert typ == "OK"
    m = re.match(rb"\[APPENDUID (\d+) (\d+)\] Append completed\.", resp[0])
    assert m, resp
    im.select("Sent")
    typ, d = im.uid("FETCH", m.group(2).decode(), "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK"
    head = d[0][0]
    assert b"$Label1" in head and b"\\Seen" in head
    assert b'INTERNALDATE "05-Mar-2024 ' in head
    assert b"RFC822.SIZE %d" % len(data) in head
    assert d[0][1] == data
    typ, resp = im.append("NoSuchBox", None, None, data)
    assert typ == "NO" and resp[0].startswith(b"[TRYCREATE]")


def test_append_20mb(server):
    user, app = setup_user(server)
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_+=*&^%$#@!~\r\n"
    data = msg("big") + line * (20 * 1024 * 1024 // len(line))
    assert len(data) > 20 * 1000 * 1000
    im = imap_login(server, "alice", app, timeout=60)
    typ, resp = im.append("INBOX", None, None, data)
    assert typ == "OK", resp
    uid = re.match(rb"\[APPENDUID \d+ (\d+)\]", resp[0]).group(1).decode()
    im.select("INBOX")
    typ, d = im.uid("FETCH", uid, "(RFC822.SIZE BODY.PEEK[])")
    assert d[0][1] == data
    assert b"RFC822.SIZE %d " % len(data) in d[0][0], d[0][0]
    # stored with LF line ends, as an MTA stores mail; served with CRLF as sent
    files = list((server.maildir("alice") / "cur").iterdir())
    assert [f.read_bytes() == data.replace(b"\r\n", b"\n") for f in files] == [True]


def test_append_over_limit_refused_before_data(server):
    user, app = setup_user(server, append_limit=100000)
    r = raw_login(server, "alice", app)
    # synchronising: refused without the "+" invitation, so the data is never sent
    r.send(b"a APPEND INBOX {200000}\r\n")
    assert r.response() == b"a NO [TOOBIG] Message is larger than the APPENDLIMIT (100000).\r\n"
    # non-synchronising: read and thrown away, the session goes on
    r.send(b"b APPEND INBOX {150000+}\r\n" + b"x" * 150000 + b"\r\n")
    assert r.response() == b"b NO [TOOBIG] Message is larger than the APPENDLIMIT (100000).\r\n"
    untagged, _ = r.ok("STATUS INBOX (MESSAGES APPENDLIMIT)")
    assert untagged == [b'* STATUS "INBOX" (MESSAGES 0 APPENDLIMIT 100000)']
    # at the limit it works, with LITERAL+
    data = msg("fits") + b"y" * (100000 - len(msg("fits")))
    r.send(b"c APPEND INBOX (\\Flagged) {%d+}\r\n" % len(data) + data + b"\r\n")
    _, tagged = r.until(b"c")
    assert tagged.startswith(b"c OK [APPENDUID ")
    assert len(list((server.maildir("alice") / "cur").iterdir())) == 1


# --- flags, copy, move, expunge -----------------------------------------------------------


def test_store_copy_move_expunge(server):
    user, app = setup_user(server, messages=[msg(f"m{i}") for i in range(1, 6)])
    r = raw_login(server, "alice", app)
    r.ok("SELECT INBOX")
    untagged, _ = r.ok("STORE 1 +FLAGS (\\Flagged $Work)")
    # a new keyword is announced (FLAGS, PERMANENTFLAGS) before the FETCH that uses it
    assert untagged == [
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] "
        b"Flags permitted.",
        b"* 1 FETCH (FLAGS (\\Flagged \\Recent $Work))"]
    untagged, _ = r.ok("STORE 1 -FLAGS.SILENT (\\Flagged)")
    assert not any(b"FETCH" in u for u in untagged)
    untagged, _ = r.ok("UID STORE 2 FLAGS (\\Seen)")
    assert untagged == [b"* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent))"]
    untagged, _ = r.ok("FETCH 1:2 (FLAGS)")
    assert untagged == [b"* 1 FETCH (FLAGS (\\Recent $Work))",
                        b"* 2 FETCH (FLAGS (\\Seen \\Recent))"]
    _, tagged = r.cmd("STORE 1 +FLAGS (\\Recent)")
    assert b"BAD" in tagged
    _, tagged = r.ok("COPY 1:2 Archive")
    assert re.search(rb"OK \[COPYUID \d+ 1:2 1:2\] Copy completed\.", tagged), tagged
    untagged, tagged = r.ok("UID MOVE 3:4 Trash")
    assert re.fullmatch(rb"\* OK \[COPYUID \d+ 3:4 1:2\] Moved\.", untagged[0]), untagged
    assert untagged[1:] == [b"* 4 EXPUNGE", b"* 3 EXPUNGE", b"* 3 RECENT"]
    _, tagged = r.cmd("COPY 1 Nowhere")
    assert b"NO [TRYCREATE]" in tagged
    r.ok("STORE 1:3 +FLAGS.SILENT (\\Deleted)")
    untagged, _ = r.ok("UID EXPUNGE 1")
    assert untagged == [b"* 1 EXPUNGE", b"* 2 RECENT"]
    untagged, _ = r.ok("EXPUNGE")
    assert untagged == [b"* 2 EXPUNGE", b"* 1 EXPUNGE", b"* 0 RECENT"]
    untagged, _ = r.ok("SELECT Trash")
    assert b"* 2 EXISTS" in untagged
    r.ok("STORE 1 +FLAGS (\\Deleted)")
    untagged, _ = r.ok("CLOSE")
    assert untagged == []
    untagged, _ = r.ok("STATUS Trash (MESSAGES)")
    assert untagged == [b'* STATUS "Trash" (MESSAGES 1)']
    untagged, _ = r.ok("STATUS Archive (MESSAGES)")
    assert untagged == [b'* STATUS "Archive" (MESSAGES 2)']
    untagged, _ = r.ok("EXAMINE Archive")
    _, tagged = r.cmd("STORE 1 +FLAGS (\\Seen)")
    assert b"NO [READ-ONLY]" in tagged


def test_fetch_and_search(server):
    sent = {"hello world": msg("hello world"),
            "second": msg("second", body="needle in the body\r\n"), "third": msg("third")}
    user, app = setup_user(server, messages=list(sent.values()))
    r = raw_login(server, "alice", app)
    r.ok("SELECT INBOX")
    subjects = {}
    for u in r.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[0]:
        subjects[re.search(rb"Subject: (.*?)\r\n", u).group(1)] = int(u.split()[1])
    first = [k for k, v in subjects.items() if v == 1][0].decode()
    untagged, _ = r.ok("FETCH 1 (UID RFC822.SIZE ENVELOPE)")
    assert untagged[0] == (
        b'* 1 FETCH (UID 1 RFC822.SIZE %d ENVELOPE ("Mon, 1 Jan 2024 10:00:00 +0000" "%s" '
        b'(("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) '
        b'(("Alice" NIL "alice" "example.org")) ((NIL NIL "bob" "example.org")) NIL NIL NIL '
        b'"<%s@example.org>"))' % (len(sent[first]), first.encode(),
                                   first.replace(" ", ".").encode()))
    untagged, _ = r.ok("SEARCH BODY needle")
    assert untagged == [b"* SEARCH %d" % subjects[b"second"]]
    untagged, _ = r.ok("UID SEARCH SUBJECT hello")
    assert untagged == [b"* SEARCH %d" % subjects[b"hello world"]]
    untagged, _ = r.ok("SEARCH RETURN (MIN MAX COUNT ALL) ALL")
    assert re.fullmatch(rb'\* ESEARCH \(TAG "t\d+"\) MIN 1 MAX 3 COUNT 3 ALL 1:3', untagged[0]) \
        or re.fullmatch(rb'\* ESEARCH \(TAG "t\d+"\) MIN 1 MAX 3 ALL 1:3 COUNT 3', untagged[0]), \
        untagged
    _, tagged = r.cmd("SEARCH CHARSET KOI8-R SUBJECT x")
    assert b"NO [BADCHARSET (US-ASCII UTF-8)]" in tagged
    n = subjects[b"second"]
    untagged, _ = r.ok(f"FETCH {n} (BODY[TEXT])")
    # BODY[] without .PEEK sets \\Seen, and the new flags follow
    assert untagged == [b"* %d FETCH (BODY[TEXT] {20}\r\nneedle in the body\r\n)" % n,
                        b"* %d FETCH (UID %d FLAGS (\\Seen \\Recent))" % (n, n)]
    untagged, _ = r.ok(f"FETCH {n} FLAGS")
    assert untagged == [b"* %d FETCH (FLAGS (\\Seen \\Recent))" % n]


def test_nested_parentheses_bad_no_crash(server):
    user, app = setup_user(server, messages=[msg("one")])
    r = raw_login(server, "alice", app)
    r.ok("SELECT INBOX")
    _, tagged = r.cmd(b"FETCH 1 " + b"(" * 10000 + b")" * 10000)
    assert b" BAD " in tagged
    r.ok("NOOP")
    _, tagged = r.cmd(b"SEARCH " + b"(" * 10000 + b"ALL" + b")" * 10000)
    assert b" BAD " in tagged
    r.ok("NOOP")
    # the session went on, and no worker died meanwhile: the master logs each killed child
    assert not re.search(r"worker \d+ killed by signal", server.log()), server.log()


# --- several sessions ---------------------------------------------------------------------


def test_flag_set_by_one_session_seen_by_another(server):
    user, app = setup_user(server, messages=[msg("one"), msg("two")])
    a = raw_login(server, "alice", app)
    b = raw_login(server, "alice", app)
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    a.ok("STORE 2 +FLAGS (\\Flagged)")
    untagged, _ = b.ok("NOOP")
    assert len(untagged) == 1
    assert re.fullmatch(rb"\* 2 FETCH \(UID 2 FLAGS \(\\Flagged( \\Recent)?\)\)", untagged[0]), \
        untagged


def test_expunge_reported_to_idle_and_other_session(server):
    user, app = setup_user(server, messages=[msg("one"), msg("two"), msg("three")])
    a = raw_login(server, "alice", app)
    b = raw_login(server, "alice", app)
    c = raw_login(server, "alice", app)
    for s in (a, b, c):
        s.ok("SELECT INBOX")
    c.send(b"i IDLE\r\n")
    assert c.response() == b"+ idling\r\n"
    # a flag change by another session reaches the IDLE-ing one
    t0 = time.monotonic()
    a.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    assert re.fullmatch(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Flagged( \\Recent)?\)\)\r\n", c.response())
    assert time.monotonic() - t0 < 2.0
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    untagged, _ = a.ok("EXPUNGE")
    assert untagged == [b"* 2 EXPUNGE", b"* 2 RECENT"]
    t0 = time.monotonic()
    got = []
    while b"* 2 EXPUNGE\r\n" not in got:
        got.append(c.response())
    assert time.monotonic() - t0 < 2.0
    c.send(b"DONE\r\n")
    _, tagged = c.until(b"i")
    assert tagged == b"i OK Idle completed."
    # b: not during FETCH (RFC 3501 7.4.1), but after NOOP
    # (b has not been told: message 2 keeps its number, its UID is still known)
    untagged, _ = b.ok("FETCH 1:3 (UID)")
    assert untagged == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 2)", b"* 3 FETCH (UID 3)",
                        b"* 1 FETCH (UID 1 FLAGS (\\Flagged))"]
    untagged, _ = b.ok("NOOP")
    assert b"* 2 EXPUNGE" in untagged
    untagged, _ = b.ok("FETCH 1:* (UID)")
    assert untagged == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 3)"]


def test_idle_announces_delivery_within_2s_and_keepalive(server):
    user, app = setup_user(server, messages=[msg("one")], idle_keepalive=10)
    r = raw_login(server, "alice", app, timeout=30)
    r.ok("SELECT INBOX")
    r.send(b"i IDLE\r\n")
    assert r.response() == b"+ idling\r\n"
    time.sleep(0.3)
    t0 = time.monotonic()
    server.deliver("alice", msg("two"))
    resp = r.response()
    assert resp == b"* 2 EXISTS\r\n", resp
    assert time.monotonic() - t0 < 2.0
    assert r.response().startswith(b"* ")  # RECENT
    t0 = time.monotonic()
    assert r.response() == b"* OK Still here\r\n"
    assert 5 < time.monotonic() - t0 < 13
    r.send(b"DONE\r\n")
    _, tagged = r.until(b"i")
    assert tagged == b"i OK Idle completed."


def test_uidvalidity_and_uids_survive_restart_and_index_deletion(server):
    user, app = setup_user(server, messages=[msg(f"m{i}") for i in range(4)])
    r = raw_login(server, "alice", app)
    r.ok("SELECT INBOX")
    r.ok("STORE 2 +FLAGS (\\Deleted)")
    r.ok("EXPUNGE")
    before_sel, _ = r.ok("SELECT INBOX")
    before, _ = r.ok("FETCH 1:* (UID FLAGS)")
    r.close()
    server.stop()
    server.proc = None
    server.start()
    r = raw_login(server, "alice", app)
    after_sel, _ = r.ok("SELECT INBOX")
    after, _ = r.ok("FETCH 1:* (UID FLAGS)")
    validity = [u for u in before_sel if b"UIDVALIDITY" in u]
    assert validity == [u for u in after_sel if b"UIDVALIDITY" in u]
    assert [re.search(rb"UID \d+", u).group(0) for u in before] == \
        [re.search(rb"UID \d+", u).group(0) for u in after] == [b"UID 1", b"UID 3", b"UID 4"]
    r.close()
    server.stop()
    md = server.maildir("alice")
    for f in md.iterdir():
        if f.name.startswith("twofold.index"):
            f.unlink()
    server.proc = None
    server.start()
    r = raw_login(server, "alice", app)
    again_sel, _ = r.ok("SELECT INBOX")
    again, _ = r.ok("FETCH 1:* (UID)")
    assert validity == [u for u in again_sel if b"UIDVALIDITY" in u]
    assert [re.search(rb"UID \d+", u).group(0) for u in again] == [b"UID 1", b"UID 3", b"UID 4"]
    # UIDNEXT may jump after a rebuild (the floor kept beside the index), never go back
    uidnext = [int(re.search(rb"UIDNEXT (\d+)", u).group(1)) for u in again_sel if b"UIDNEXT" in u]
    assert uidnext and uidnext[0] >= 5


def test_full_mailbox_copy_is_byte_identical(server):
    bodies = [msg(f"m{i}", body="line\r\n" * i) + b"\x00binary\xff\r\n" for i in range(1, 8)]
    bodies.append(b"Subject: no final newline\r\n\r\nlast line")
    user, app = setup_user(server)
    paths = [server.deliver("alice", b) for b in bodies]
    im = imap_login(server, "alice", app)
    im.select("INBOX", readonly=True)
    typ, data = im.uid("FETCH", "1:*", "(BODY.PEEK[])")
    got = [d[1] for d in data if isinstance(d, tuple)]
    # UIDs follow the order sync found the files in: compare as sets of exact octets. A message
    # without a final line end is sent as it is (CRLF conversion changes nothing here).
    assert sorted(got) == sorted(bodies)
    files = sorted((server.maildir("alice") / "cur").iterdir())
    assert sorted(f.read_bytes() for f in files) == sorted(bodies)
    assert len(paths) == len(files)


def test_pop3_and_imap_see_each_others_deletions(server):
    user, app = setup_user(server, messages=[msg("one"), msg("two"), msg("three")])
    r = raw_login(server, "alice", app)
    r.ok("SELECT INBOX")
    last = r.ok("FETCH 3 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[0][0]
    last = re.search(rb"Subject: .*?\r\n", last).group(0)
    pop = server.pop3()
    pop.user("alice")
    pop.pass_(app)
    assert pop.stat()[0] == 3
    pop.dele(1)
    pop.quit()
    untagged, _ = r.ok("NOOP")
    assert b"* 1 EXPUNGE" in untagged
    r.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    untagged, _ = r.ok("EXPUNGE")
    assert untagged == [b"* 1 EXPUNGE", b"* 1 RECENT"]
    pop = server.pop3()
    pop.user("alice")
    pop.pass_(app)
    assert pop.stat()[0] == 1
    lines = pop.retr(1)[1]
    assert last.rstrip(b"\r\n") in lines
    pop.quit()


def test_curl_lists_folders_and_fetches(server):
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    data = msg("for curl")
    user, app = setup_user(server, messages=[data])
    base = f"imaps://127.0.0.1:{server.imap_port}/"
    common = ["curl", "-sS", "--cacert", str(server.cert), "-u", f"alice:{app}",
              "--max-time", "20"]
    out = subprocess.run(common + [base], capture_output=True, check=True).stdout
    assert b'* LIST (\\HasNoChildren) "." INBOX' in out or b'"INBOX"' in out, out
    assert b"Sent" in out and b"Trash" in out
    out = subprocess.run(common + [base + "INBOX;UID=1"], capture_output=True,
                         check=True).stdout
    assert out == data


def test_message_removed_behind_the_sessions_back(server):
    """RFC 2180 4.1.2: a FETCH of a message whose file vanished gives NO [EXPUNGEISSUED]; its
    number stays valid until an EXPUNGE is allowed (NOOP), never during FETCH or SEARCH."""
    user, app = setup_user(server, messages=[msg("one"), msg("two")])
    r = raw_login(server, "alice", app)
    r.ok("SELECT INBOX")
    victim = r.ok("UID FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[0][0]
    subject = re.search(rb"Subject: (\w+)", victim).group(1).decode()
    for f in (server.maildir("alice") / "cur").iterdir():
        if f"Subject: {subject}".encode() in f.read_bytes():
            f.unlink()
    untagged, tagged = r.cmd("FETCH 2 (BODY.PEEK[])")
    assert untagged == []
    assert tagged.endswith(b"NO [EXPUNGEISSUED] Some of the messages no longer exist.")
    untagged, _ = r.ok("SEARCH ALL")
    assert not any(b"EXPUNGE" in u for u in untagged)
    untagged, _ = r.ok("NOOP")
    assert untagged == [b"* 2 EXPUNGE", b"* 1 RECENT"]
    untagged, _ = r.ok("FETCH 1:* (UID)")
    assert untagged == [b"* 1 FETCH (UID 1)"]


def test_long_copyuid_is_not_truncated(server):
    user, app = setup_user(server, messages=[b"Subject: %d\r\n\r\nx\r\n" % i for i in range(400)])
    r = raw_login(server, "alice", app)
    r.ok("SELECT INBOX")
    odd = ",".join(str(i) for i in range(1, 400, 2))
    _, tagged = r.ok(f"UID COPY {odd} Archive")
    m = re.fullmatch(rb"t\d+ OK \[COPYUID \d+ ([\d,:]+) 1:200\] Copy completed\.", tagged)
    assert m, tagged[:200]
    assert m.group(1).decode() == odd


# Random command lines built from IMAP tokens (a fixed seed, so a failure repeats): every one
# gets its tagged answer, the session survives or ends with BYE, and the worker never crashes.
FUZZ_COMMANDS = ["FETCH", "UID FETCH", "STORE", "UID STORE", "COPY", "UID COPY", "MOVE",
                 "UID MOVE", "SEARCH", "UID SEARCH", "LIST", "LSUB", "STATUS", "SELECT", "EXAMINE",
                 "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "APPEND", "EXPUNGE",
                 "UID EXPUNGE", "CHECK", "NOOP", "ENABLE", "ID", "NAMESPACE", "CLOSE", "UNSELECT",
                 "CAPABILITY", "UID", "LOGIN", "IDLE"]
FUZZ_TOKENS = ["1", "*", "1:*", "2:3", "0", "4294967295", "1,2,3", "INBOX", '"Sent"', "Trash",
               "()", "(", ")", "FLAGS", "+FLAGS", "-FLAGS.SILENT", "(\\Seen)", "(\\Deleted $x)",
               "\\Recent", "NIL", '""', "BODY[]", "BODY.PEEK[1.2.MIME]<0.10>", "(FLAGS UID)",
               "ALL", "OR", "NOT", "RETURN", "(MIN MAX)", "CHARSET", "UTF-8", "{3}", "{0}", "%",
               "*.*", "&AGE-", "a.b", "..", "/", "(MESSAGES UNSEEN SIZE)",
               "(SUBSCRIBED RECURSIVEMATCH)", "(STATUS (MESSAGES))", "\x01", '"unterminated',
               "BODY[HEADER.FIELDS (From)]", "HEADER", "Subject", "x" * 300]


def fuzz_one(r, rnd, i):
    """Sends one random command; returns its last response (tagged, or a BYE)."""
    parts = [rnd.choice(FUZZ_COMMANDS)] + [rnd.choice(FUZZ_TOKENS)
                                           for _ in range(rnd.randint(0, 5))]
    line = " ".join(parts).encode("latin-1")
    tag = b"f%d" % i
    r.send(tag + b" " + line + b"\r\n")
    literal = re.search(rb"\{(\d+)\}$", line)
    while True:
        resp = r.response()
        if resp.startswith(tag + b" ") or resp.startswith(b"* BYE"):
            return resp
        if resp.startswith(b"+ ") and literal:
            r.send(b"x" * int(literal.group(1)) + b"\r\n")
            literal = None
        elif resp.startswith(b"+ "):
            r.send(b"DONE\r\n")


def test_random_commands_never_crash(server):
    import random
    user, app = setup_user(server, messages=[msg(f"m{i}") for i in range(5)])
    rnd = random.Random(20261129)
    r = raw_login(server, "alice", app)
    r.ok("SELECT INBOX")
    for i in range(3000):
        if fuzz_one(r, rnd, i).startswith(b"* BYE"):
            r.close()
            r = raw_login(server, "alice", app)
            r.ok("SELECT INBOX")
    r.ok("NOOP")
    r.close()
    server.stop()
    assert "fatal" not in server.log().lower()


def search_uids(r, criteria):
    found = set()
    for line in r.ok(f"UID SEARCH {criteria}")[0]:
        if line.startswith(b"* SEARCH"):
            found |= {int(x) for x in line.split()[2:]}
    return found


def test_sizes_of_files_other_tools_put_into_cur(server):
    """Files another tool put into cur/ without ,S= ,W= (bare LF, CRLF, mixed, no final
    newline): their sizes are measured when first asked for, and RFC822.SIZE is the octet count
    BODY[] sends, SEARCH LARGER/SMALLER and STATUS SIZE agree with it, also in a later session
    (sizes kept in the index) and after the files' flags change behind the session's back."""
    bodies = [b"Subject: lf\n\nline one\nline two\n",
              b"Subject: crlf\r\n\r\nline one\r\nline two\r\n",
              b"Subject: mixed\r\n\nbare\nand crlf\r\nend",
              b"Subject: nonl\n\nno final newline",
              b"Subject: big\n\n" + b"x" * 70 + b"\n" * 3000]
    user, app = setup_user(server)
    for b in bodies:
        server.deliver("alice", b, info="S")
    cur = server.maildir("alice") / "cur"
    assert all(",W=" not in f.name and ",S=" not in f.name for f in cur.iterdir())
    sent = {}
    for session in range(2):
        r = raw_login(server, "alice", app)
        r.ok("SELECT INBOX")
        untagged, _ = r.ok("FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])")
        assert len(untagged) == 5
        for u in untagged:
            m = re.match(rb"\* (\d+) FETCH \(UID (\d+) RFC822\.SIZE (\d+) BODY\[\] \{(\d+)\}\r\n",
                         u)
            assert m, u[:200]
            literal = u[m.end():m.end() + int(m.group(4))]
            assert int(m.group(3)) == int(m.group(4)) == len(literal)
            assert b"\n" not in literal.replace(b"\r\n", b"")
            assert sent.setdefault(int(m.group(2)), len(literal)) == len(literal)
        assert sorted(sent.values()) == sorted(len(b) + b.count(b"\n") - b.count(b"\r\n")
                                               for b in bodies)
        for uid, size in sent.items():
            found = search_uids(r, f"LARGER {size - 1} SMALLER {size + 1}")
            assert uid in found and all(sent[u] == size for u in found)
        assert search_uids(r, "LARGER 1000") == {u for u, s in sent.items() if s > 1000}
        assert search_uids(r, "SMALLER 50") == {u for u, s in sent.items() if s < 50}
        untagged, _ = r.ok("STATUS INBOX (MESSAGES SIZE)")
        assert untagged[0] == b'* STATUS "INBOX" (MESSAGES 5 SIZE %d)' % sum(sent.values())
        r.ok("LOGOUT")
        r.close()
        if session == 0:
            # another tool changes flags: the names change, the sizes do not
            for f in list(cur.iterdir()):
                f.rename(f.with_name(f.name.split(":2,")[0] + ":2,FS"))
