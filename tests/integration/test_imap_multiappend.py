"""MULTIAPPEND (RFC 3502) against the real daemon: several messages in one APPEND, each streamed
to tmp/, added all at once with one APPENDUID uid-set, or none when any is refused (over the
APPENDLIMIT, bad flags or date, an empty one, too many), with nothing left in tmp/ and the data
of the refused command never read as commands. The worker's peak memory for 100 x 1 MiB stays
that of one message's chunk plus a small record per message."""

import re

from test_append_stream import (MIB, continuation, heap_figures, maildir_files, vm_hwm_kib,
                                wait_tmp_empty)
from test_imap import msg, raw_login, setup_user
from test_memory import session_worker

APPEND_BAD = b"BAD APPEND takes a mailbox, optional flags and date, and a message."


def status_messages(r, box="INBOX"):
    untagged, _ = r.ok(f"STATUS {box} (MESSAGES)")
    return int(re.search(rb"MESSAGES (\d+)", untagged[0]).group(1))


def appenduid(tagged, tag):
    m = re.match(rb"%s OK \[APPENDUID (\d+) ([0-9:,]+)\] Append completed\.$" % tag, tagged)
    assert m, tagged
    return m.group(2)


def test_multiappend_adds_all_with_one_uid_set(server):
    user, app = setup_user(server)
    r = raw_login(server, "alice", app)
    one, two, three = msg("one"), msg("two", body="B" * 5000 + "\r\n"), msg("three")
    # synchronising literals: a "+" for each
    r.send(b'a APPEND Sent (\\Seen) "05-Mar-2024 12:34:56 +0100" {%d}\r\n' % len(one))
    continuation(r)
    r.send(one + b" {%d}\r\n" % len(two))
    continuation(r)
    r.send(two + b' (\\Flagged $Work) {%d}\r\n' % len(three))
    continuation(r)
    r.send(three + b"\r\n")
    _, tagged = r.until(b"a")
    assert appenduid(tagged, b"a") == b"1:3"
    # LITERAL+ and a literal8, appended after them
    r.send(b"b APPEND Sent {%d+}\r\n%s ~{%d+}\r\n%s\r\n" % (len(one), one, len(two), two))
    _, tagged = r.until(b"b")
    assert appenduid(tagged, b"b") == b"4:5"
    assert maildir_files(server, "tmp", ".Sent") == []
    r.ok("SELECT Sent")
    untagged, _ = r.ok("FETCH 1:5 (UID FLAGS INTERNALDATE RFC822.SIZE)")
    assert [re.sub(rb"INTERNALDATE \"[^\"]*\"", b"D", u) for u in untagged] == [
        b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) D RFC822.SIZE %d)" % len(one),
        b"* 2 FETCH (UID 2 FLAGS (\\Recent) D RFC822.SIZE %d)" % len(two),
        b"* 3 FETCH (UID 3 FLAGS (\\Flagged \\Recent $Work) D RFC822.SIZE %d)" % len(three),
        b"* 4 FETCH (UID 4 FLAGS (\\Recent) D RFC822.SIZE %d)" % len(one),
        b"* 5 FETCH (UID 5 FLAGS (\\Recent) D RFC822.SIZE %d)" % len(two),
    ]
    assert b'INTERNALDATE "05-Mar-2024 11:34:56 +0000"' in untagged[0]
    for seq, data in ((1, one), (2, two), (3, three), (5, two)):
        untagged, _ = r.ok(f"FETCH {seq} BODY.PEEK[]")
        assert untagged == [b"* %d FETCH (BODY[] {%d}\r\n%s)" % (seq, len(data), data)]


def test_refusal_in_the_middle_leaves_nothing(server):
    user, app = setup_user(server, append_limit=100000)
    r = raw_login(server, "alice", app)
    ok = msg("fits")
    # the third message's lines would be commands if its data were not read as data
    evil = msg("evil", body="x DELETE Sent\r\ny LOGOUT\r\n")
    r.send(b"a APPEND Sent {%d+}\r\n%s {150000+}\r\n%s {%d+}\r\n%s\r\n"
           % (len(ok), ok, b"z" * 150000, len(evil), evil))
    assert r.response() == b"a NO [TOOBIG] Message is larger than the APPENDLIMIT (100000).\r\n"
    r.ok("NOOP")
    assert wait_tmp_empty(server, ".Sent") == []
    assert status_messages(r, "Sent") == 0
    # synchronising: refused before the second message's data, which is never sent
    r.send(b"b APPEND Sent {%d}\r\n" % len(ok))
    continuation(r)
    r.send(ok + b" {150000}\r\n")
    assert r.response() == b"b NO [TOOBIG] Message is larger than the APPENDLIMIT (100000).\r\n"
    r.ok("NOOP")
    # bad flags, a bad date or an empty message after good ones: BAD / NO, nothing added
    for tag, middle, answer in (
            (b"c", b"(\\Bogus) ", b"c BAD Unknown system flag."),
            (b"d", b'"31-Feb-2024 25:00:00 +0000" ', b"d " + APPEND_BAD),
            (b"e", b"", b"e NO Cannot append an empty message."),
            (b"f", b"(\\Seen) x ", b"f " + APPEND_BAD)):
        second = b"" if tag == b"e" else ok
        r.send(b"%s APPEND Sent {%d+}\r\n%s %s{%d+}\r\n%s {%d+}\r\n%s\r\n"
               % (tag, len(ok), ok, middle, len(second), second, len(ok), ok))
        _, tagged = r.until(tag)
        assert tagged.startswith(answer), (tag, tagged)
        assert wait_tmp_empty(server, ".Sent") == []
        assert status_messages(r, "Sent") == 0
    assert maildir_files(server, "cur", ".Sent") == [] and maildir_files(server, "new", ".Sent") == []
    # a mailbox that does not exist: nothing read as a command either
    r.send(b"g APPEND Nowhere {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(evil), evil, len(evil), evil))
    assert r.response() == b"g NO [TRYCREATE] Mailbox does not exist.\r\n"
    r.ok("NOOP")
    # one reply for a command: a syntax error after the refusal adds no BAD
    r.send(b"h APPEND Nowhere {5+}\r\nhello )\r\n")
    assert r.response() == b"h NO [TRYCREATE] Mailbox does not exist.\r\n"
    untagged, _ = r.ok("NOOP")
    assert untagged == []
    assert status_messages(r, "Sent") == 0


def test_message_count_bounded(server):
    user, app = setup_user(server)
    r = raw_login(server, "alice", app, timeout=60)
    m = msg("n")
    one = b" {%d+}\r\n%s" % (len(m), m)
    r.send(b"a APPEND INBOX" + one * 1000 + b"\r\n")
    _, tagged = r.until(b"a")
    assert appenduid(tagged, b"a") == b"1:1000"
    r.send(b"b APPEND INBOX" + one * 1001 + b"\r\n")
    assert r.response() == b"b NO [LIMIT] At most 1000 messages in one APPEND.\r\n"
    r.ok("NOOP")
    assert wait_tmp_empty(server) == []
    assert status_messages(r) == 1000


@heap_figures
def test_multiappend_100_mib_worker_memory(server):
    user, app = setup_user(server)
    r = raw_login(server, "alice", app, timeout=120)
    worker = session_worker(server)
    before = vm_hwm_kib(worker)
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_+=*&^%$#@!~\r\n"
    data = msg("mib") + line * (MIB // len(line))
    r.send(b"a APPEND INBOX" + b"".join(b" {%d+}\r\n" % len(data) + data for _ in range(100))
           + b"\r\n")
    _, tagged = r.until(b"a")
    assert appenduid(tagged, b"a") == b"1:100"
    after = vm_hwm_kib(worker)
    print(f"worker VmHWM before {before} KiB, after an APPEND of 100 x {len(data)} octets "
          f"{after} KiB (+{after - before} KiB)")
    assert after - before < 4 * 1024, (before, after)
    assert len(maildir_files(server, "cur")) == 100 and maildir_files(server, "tmp") == []
