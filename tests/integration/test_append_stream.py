"""Literal data counts: APPEND streams its message literal into the mailbox's tmp/ as it arrives
(a 20 MB APPEND costs its worker no memory for its size), every other literal is bounded per
command (IMAP_MAX_COMMAND_SIZE), and an APPEND that does not complete leaves no message and no
file in tmp/. APPEND's semantics stay: flags, date, APPENDUID, LITERAL+, TOOBIG, TRYCREATE before
the data."""

import re
import time
from pathlib import Path

import pytest

from test_imap import Raw, msg, raw_login, setup_user
from test_memory import session_worker
from test_pop3 import sanitized_build

MIB = 1024 * 1024
heap_figures = pytest.mark.skipif(sanitized_build(), reason="ASan's allocator keeps freed memory")



def lf(data):
    """What the maildir holds of an APPENDed message: its CRLF line ends as LF."""
    return data.replace(b"\r\n", b"\n")

def vm_hwm_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def big_message(size):
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_+=*&^%$#@!~\r\n"
    return msg("big") + line * (size // len(line))


def maildir_files(server, sub, box=""):
    d = server.maildir("alice") / box / sub
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def wait_tmp_empty(server, box=""):
    deadline = time.monotonic() + 10
    while maildir_files(server, "tmp", box) and time.monotonic() < deadline:
        time.sleep(0.05)
    return maildir_files(server, "tmp", box)


def continuation(r):
    line = r.f.readline()
    assert line.startswith(b"+ "), line


@heap_figures
def test_append_20mb_streams_worker_memory_bounded(server):
    user, app = setup_user(server)
    r = raw_login(server, "alice", app, timeout=60)
    worker = session_worker(server)
    before = vm_hwm_kib(worker)
    data = big_message(20 * MIB)
    r.send(b"a APPEND INBOX (\\Seen) \"05-Mar-2024 12:34:56 +0100\" {%d}\r\n" % len(data))
    continuation(r)
    r.send(data + b"\r\n")
    _, tagged = r.until(b"a")
    m = re.match(rb"a OK \[APPENDUID (\d+) (\d+)\] Append completed\.", tagged)
    assert m, tagged
    after = vm_hwm_kib(worker)
    print(f"worker VmHWM before {before} KiB, after a {len(data)}-octet APPEND {after} KiB")
    # the old code held the literal twice (the parser's buffer and its argument copy): +40 MiB
    assert after - before < 4 * 1024, (before, after)
    files = maildir_files(server, "cur")
    assert len(files) == 1 and files[0].endswith(":2,S"), files
    # stored with LF line ends, as an MTA stores mail
    assert (server.maildir("alice") / "cur" / files[0]).read_bytes() == lf(data)
    assert maildir_files(server, "tmp") == []
    r.ok("SELECT INBOX")
    untagged, _ = r.ok("UID FETCH %s (FLAGS INTERNALDATE RFC822.SIZE)" % m.group(2).decode())
    assert b'INTERNALDATE "05-Mar-2024 11:34:56 +0000"' in untagged[0], untagged
    assert b"RFC822.SIZE %d" % len(data) in untagged[0]
    r.close()


@heap_figures
def test_noop_literals_bounded_per_command(server):
    user, app = setup_user(server)
    r = raw_login(server, "alice", app, timeout=60)
    worker = session_worker(server)
    before = vm_hwm_kib(worker)
    chunk = b"x" * MIB
    # synchronising: two literals of 1 MiB fit, the third is refused before its data
    r.send(b"a NOOP {%d}\r\n" % MIB)
    continuation(r)
    r.send(chunk + b" {%d}\r\n" % MIB)
    continuation(r)
    r.send(chunk + b" {%d}\r\n" % MIB)
    assert r.response() == b"a BAD Literal too large.\r\n"
    r.ok("NOOP")
    # read while the session lasts: a worker that served a login exits when it ends
    after = vm_hwm_kib(worker)
    assert after - before < 8 * 1024, (before, after)
    # non-synchronising: the third ends the connection (its data cannot be told from commands)
    r.send(b"b NOOP" + b"".join(b" {%d+}\r\n" % MIB + chunk for _ in range(2)) +
           b" {%d+}\r\n" % MIB)
    assert r.response() == b"b BAD Literal too large.\r\n"
    assert r.response() == b"* BYE Protocol error, closing connection.\r\n"
    assert r.eof()


def test_append_dropped_mid_literal_leaves_nothing(server):
    user, app = setup_user(server)
    r = raw_login(server, "alice", app, timeout=60)
    r.send(b"a APPEND Sent {1000000}\r\n")
    continuation(r)
    r.send(b"z" * 400000)
    deadline = time.monotonic() + 10
    while not maildir_files(server, "tmp", ".Sent") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(maildir_files(server, "tmp", ".Sent")) == 1  # it streams as it arrives
    r.close()
    assert wait_tmp_empty(server, ".Sent") == []
    assert maildir_files(server, "cur", ".Sent") == []


def test_append_bad_arguments_after_message_removed(server):
    user, app = setup_user(server)
    r = raw_login(server, "alice", app)
    r.send(b"a APPEND INBOX {5}\r\n")
    continuation(r)
    r.send(b"hello extra\r\n")
    _, tagged = r.until(b"a")
    assert tagged.startswith(b"a BAD APPEND takes"), tagged
    r.send(b"b APPEND INBOX {0}\r\n")
    continuation(r)
    r.send(b"\r\n")
    _, tagged = r.until(b"b")
    assert tagged == b"b NO Cannot append an empty message."
    assert maildir_files(server, "tmp") == [] and maildir_files(server, "cur") == []
    # and the next APPEND streams again
    data = msg("after")
    r.send(b"c APPEND INBOX (\\Flagged $Work) {%d+}\r\n" % len(data) + data + b"\r\n")
    _, tagged = r.until(b"c")
    assert tagged.startswith(b"c OK [APPENDUID "), tagged
    files = maildir_files(server, "cur")
    assert len(files) == 1
    assert (server.maildir("alice") / "cur" / files[0]).read_bytes() == lf(data)


def test_append_trycreate_before_data(server):
    user, app = setup_user(server)
    r = raw_login(server, "alice", app)
    # synchronising: no "+", the data is never sent
    r.send(b"a APPEND NoSuchBox {100000}\r\n")
    assert r.response() == b"a NO [TRYCREATE] Mailbox does not exist.\r\n"
    # LITERAL+: read and thrown away, the session goes on
    r.send(b"b APPEND NoSuchBox {100000+}\r\n" + b"q" * 100000 + b"\r\n")
    assert r.response() == b"b NO [TRYCREATE] Mailbox does not exist.\r\n"
    r.ok("NOOP")
    r.send(b"c APPEND \"bad&name\" {10}\r\n")
    assert r.response() == b"c NO [CANNOT] Mailbox name is not valid modified UTF-7.\r\n"
    r.ok("NOOP")
