"""What an idle session gives back, and that it still works after: a client silent for
SESSION_IDLE_RELEASE_MS (0.5 s) lets its worker free the connection's buffers, the stack below
and the free heap pages; the next command, an IDLE and its untagged updates work as before."""

import time
from pathlib import Path

import pytest

from test_imap import msg, raw_login
from test_pop3 import login, sanitized_build

# The sanitizers' allocators keep freed memory in quarantine: nothing to see there.
pytestmark = pytest.mark.skipif(sanitized_build(), reason="ASan keeps freed memory")


def session_worker(server):
    """The one worker serving a connection (the others wait in epoll for one)."""
    busy = [p for p in server.worker_pids()
            if Path(f"/proc/{p}/wchan").read_text() != "do_epoll_wait"]
    assert len(busy) == 1, busy
    return busy[0]


def private_dirty_kib(pid):
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Private_Dirty:"):
            return int(line.split()[1])
    raise AssertionError("no Private_Dirty in smaps_rollup")


def big_msg(i, size):
    line = (f"line {i} " + "x" * 70 + "\r\n").encode()
    return msg(f"big {i}", body=(line * (size // len(line))).decode())


def test_pop3_silent_session_releases_memory_and_goes_on(server):
    user = server.add_user("alice")
    delivered = [big_msg(i, 40000) for i in range(60)]
    for m in delivered:
        server.deliver("alice", m)
    server.start()
    pop = login(server, user)
    pop.list()
    worker = session_worker(server)
    busy = private_dirty_kib(worker)  # read well within the 0.5 s
    time.sleep(1.5)
    idle = private_dirty_kib(worker)
    # at least the 32 KiB input buffer, and the trimmed heap
    assert busy - idle >= 24, (busy, idle)
    # the session goes on: a message of 40 KB comes through whole, twice
    for _ in range(2):
        lines = pop.retr(7)[1]
        assert b"\r\n".join(lines) + b"\r\n" in delivered
        time.sleep(0.7)
    pop.quit()


def test_imap_idle_after_big_fetch_and_append_gets_exists(server):
    server.add_user("alice")
    app = server.apppass("alice")
    delivered = [big_msg(i, 300000) for i in range(4)]
    for m in delivered:
        server.deliver("alice", m)
    server.enable_imap()
    server.start()
    r = raw_login(server, "alice", app, timeout=30)
    r.ok("SELECT INBOX")
    # a big literal in, then a big response out
    appended = big_msg(9, 200000)
    r.send(b"a1 APPEND INBOX {%d+}\r\n" % len(appended) + appended + b"\r\n")
    _, tagged = r.until(b"a1")
    assert b"OK" in tagged
    untagged, _ = r.ok("FETCH 1:* BODY.PEEK[]")
    bodies = sorted(u for u in untagged if b"FETCH" in u)
    assert len(bodies) == 5
    worker = session_worker(server)
    busy = private_dirty_kib(worker)
    time.sleep(1.5)
    idle = private_dirty_kib(worker)
    assert busy - idle >= 24, (busy, idle)
    # the same bytes again after the release
    again, _ = r.ok("FETCH 1:* BODY.PEEK[]")
    assert sorted(u for u in again if b"FETCH" in u) == bodies
    assert any(appended in b for b in bodies)
    # IDLE, silent past the release point, still wakes on a delivery within 2 s
    r.send(b"i IDLE\r\n")
    assert r.response() == b"+ idling\r\n"
    time.sleep(1.5)
    t0 = time.monotonic()
    server.deliver("alice", msg("after idle"))
    assert r.response() == b"* 6 EXISTS\r\n"
    assert time.monotonic() - t0 < 2.0
    assert r.response().startswith(b"* ")  # RECENT
    r.send(b"DONE\r\n")
    _, tagged = r.until(b"i")
    assert tagged == b"i OK Idle completed."
    untagged, _ = r.ok("FETCH 6 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    assert b"Subject: after idle" in untagged[0]
    r.close()
