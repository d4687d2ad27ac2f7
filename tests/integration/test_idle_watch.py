"""IDLE wake-ups through the watch process: more IDLE sessions than the kernel's default
per-account limit of inotify instances (fs.inotify.max_user_instances = 128; all workers run
under one account) each get `* EXISTS` promptly after a delivery, and the log has no inotify
error. Without the watch process, each session beyond the limit fell back to a 5 s poll and
logged `inotify_init1: Too many open files`.

The machine's limit is not touched: the test needs more sessions than the default allows.
TWOFOLD_IDLE_SESSIONS (default 200) sets how many; the wake-up latencies are printed (pytest -s)
for the README's figure."""

import os
import re
import selectors
import ssl
import threading
import time
from pathlib import Path

from test_imap import Raw, msg, start

SESSIONS = int(os.environ.get("TWOFOLD_IDLE_SESSIONS", "200"))
# Well under the 5 s poll a session without a watch falls back to, with room for a loaded
# machine waking every session at once.
WAKE_BOUND_S = 3.0


def watch_pids(server):
    out = []
    for p in server.children():
        try:
            if Path(f"/proc/{p}/comm").read_text().strip() == "twofoldd-watch":
                out.append(p)
        except OSError:
            pass
    return out


def inotify_fds(pid):
    """How many inotify instances process pid holds."""
    n = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                n += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify"
            except OSError:
                pass
    except OSError:
        pass
    return n


def idle_session(server, app, out, i, box):
    r = Raw(server, timeout=120)
    r.login("alice", app)
    r.ok(f"SELECT {box}")
    r.send(b"i IDLE\r\n")
    assert r.response() == b"+ idling\r\n"
    out[i] = r


def open_idle_sessions(server, app, boxes):
    """A session in IDLE on each of boxes, opened 16 at a time."""
    sessions = [None] * len(boxes)
    errors = []

    def run(indices):
        for i in indices:
            try:
                idle_session(server, app, sessions, i, boxes[i])
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"session {i}: {e!r}")

    threads = [threading.Thread(target=run, args=(range(k, len(boxes), 16),))
               for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    return sessions


def watches(pid):
    """The inotify watches of process pid (its fdinfo lists one line per watch)."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            n += Path(f"/proc/{pid}/fdinfo/{fd}").read_text().count("inotify wd:")
        except OSError:
            pass
    return n


def wait_watches(pid, count):
    deadline = time.monotonic() + 30
    while watches(pid) != count:
        assert time.monotonic() < deadline, f"{watches(pid)} watches, expected {count}"
        time.sleep(0.05)


def ms(times):
    done = sorted(times)
    return f"median {done[len(done) // 2] * 1000:.0f} ms, max {done[-1] * 1000:.0f} ms"


def wait_exists(sessions, t0, line):
    """Each session's time from t0 until it read line (None: not within the bound). One
    selector loop reads them all, so the figures are the server's, not thread scheduling's."""
    sel = selectors.DefaultSelector()
    took, bufs = [None] * len(sessions), [b""] * len(sessions)
    for i, r in enumerate(sessions):
        r.sock.setblocking(False)
        sel.register(r.sock, selectors.EVENT_READ, i)
    left, deadline = len(sessions), t0 + WAKE_BOUND_S + 10
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            i, data = key.data, b"?"
            try:
                while True:
                    data = key.fileobj.recv(4096)
                    bufs[i] += data
                    if not data or not key.fileobj.pending():
                        break
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
            if line in bufs[i] or not data:
                if line in bufs[i]:
                    took[i] = time.monotonic() - t0
                sel.unregister(key.fileobj)
                left -= 1
    sel.close()
    for r in sessions:
        r.sock.setblocking(True)
    return took


def deliver_to(server, folder, data):
    """A message into a folder's new/, as an MDA writes it (tmp/ then rename)."""
    name = f"{time.time_ns()}.P{os.getpid()}.watchtest"
    tmp = folder / "tmp" / name
    tmp.write_bytes(data)
    if server.uid is not None:
        os.chown(tmp, server.uid, server.gid)
    os.rename(tmp, folder / "new" / name)


def configure_many(server, count):
    server.configure("server", "max_workers", count + 16)
    server.configure("server", "min_spare", 8)
    server.configure("server", "max_sessions_per_ip", count + 16)
    server.configure("server", "max_prelogin_per_ip", count + 16)


def test_idle_sessions_beyond_the_inotify_instance_limit_wake_at_once(server):
    """Half the sessions on one INBOX (one pair of watches, shared), half each on a folder of
    its own (a pair each): a delivery to INBOX wakes all of the first half, a delivery to a
    folder its one session; watches go away with the sessions."""
    server.add_user("alice")
    app = server.apppass("alice")
    server.deliver("alice", msg("first"))
    configure_many(server, SESSIONS)
    start(server)
    own = [f"f{i}" for i in range(SESSIONS - SESSIONS // 2)]
    r = Raw(server, timeout=120)
    r.login("alice", app)
    for box in own:
        r.ok(f"CREATE {box}")
    r.ok("LOGOUT")
    r.close()
    boxes = ["INBOX"] * (SESSIONS // 2) + own
    sessions = open_idle_sessions(server, app, boxes)
    inbox, apart = sessions[:SESSIONS // 2], sessions[SESSIONS // 2:]
    # no session holds an inotify instance of its own: one, in the watch process, serves all
    assert sum(inotify_fds(p) for p in server.worker_pids()) == 0
    watchers = watch_pids(server)
    assert len(watchers) == 1 and inotify_fds(watchers[0]) == 1
    wait_watches(watchers[0], 2 * (1 + len(own)))

    t0 = time.monotonic()
    server.deliver("alice", msg("second"))
    took = wait_exists(inbox, t0, b"* 2 EXISTS\r\n")
    late = [i for i, t in enumerate(took) if t is None or t > WAKE_BOUND_S]
    assert not late, f"{len(late)} of {len(inbox)} INBOX sessions not woken in {WAKE_BOUND_S} s"
    alone = []
    for i in range(0, len(own), max(1, len(own) // 20)):
        folder = server.maildir("alice") / f".{own[i]}"
        t0 = time.monotonic()
        deliver_to(server, folder, msg(f"to {own[i]}"))
        t = wait_exists([apart[i]], t0, b"* 1 EXISTS\r\n")[0]
        assert t is not None and t < WAKE_BOUND_S, (own[i], t)
        alone.append(t)
    print(f"\n{SESSIONS} IDLE sessions: a delivery to a mailbox {len(inbox)} of them watch: "
          f"{ms([t for t in took if t is not None])}; to a mailbox one of them watches "
          f"({len(alone)} deliveries): {ms(alone)}")
    log = server.log()
    assert not re.search(r"inotify|watch:|IDLE polls", log), log[-3000:]

    for r in apart:
        r.close()
    wait_watches(watchers[0], 2)
    for r in inbox:
        r.close()
    wait_watches(watchers[0], 0)


def test_watch_process_restarted_and_sessions_fall_back(server):
    """The watch process killed: IDLE sessions notice, watch by themselves, and are still woken;
    the master starts a new one, which serves the sessions that come next."""
    server.add_user("alice")
    app = server.apppass("alice")
    server.deliver("alice", msg("first"))
    start(server)
    before = open_idle_sessions(server, app, ["INBOX"] * 2)
    old = watch_pids(server)
    assert len(old) == 1
    os.kill(old[0], 9)
    server.wait_log(r"watch process \d+ .*(killed|signal)", timeout=30)
    deadline = time.monotonic() + 30
    while not [p for p in watch_pids(server) if p not in old]:
        assert time.monotonic() < deadline, "no new watch process"
        time.sleep(0.1)
    server.wait_log(r"the watch process went away: IDLE watches by itself", timeout=30)
    after = open_idle_sessions(server, app, ["INBOX"])
    t0 = time.monotonic()
    server.deliver("alice", msg("second"))
    took = wait_exists(before + after, t0, b"* 2 EXISTS\r\n")
    assert all(t is not None and t < WAKE_BOUND_S for t in took), took
    # the new session is the new watch process's, not an instance of its own
    assert sum(inotify_fds(p) for p in server.worker_pids()) == 2
    for r in before + after:
        r.close()


def test_reload_keeps_idle_sessions_woken(server):
    """A reload starts a new watch process for new sessions; the old one goes on serving the
    sessions it has and leaves with the last of them."""
    server.add_user("alice")
    app = server.apppass("alice")
    server.deliver("alice", msg("first"))
    start(server)
    before = open_idle_sessions(server, app, ["INBOX"])
    old = watch_pids(server)
    assert len(old) == 1
    server.reload()
    deadline = time.monotonic() + 30
    while not [p for p in watch_pids(server) if p not in old]:
        assert time.monotonic() < deadline, "no new watch process"
        time.sleep(0.1)
    after = open_idle_sessions(server, app, ["INBOX"])
    assert watch_pids(server).count(old[0]) == 1  # lingering for its session
    t0 = time.monotonic()
    server.deliver("alice", msg("second"))
    took = wait_exists(before + after, t0, b"* 2 EXISTS\r\n")
    assert all(t is not None and t < WAKE_BOUND_S for t in took), took
    assert sum(inotify_fds(p) for p in server.worker_pids()) == 0
    before[0].close()
    deadline = time.monotonic() + 30
    while old[0] in watch_pids(server):
        assert time.monotonic() < deadline, "the old watch process stays"
        time.sleep(0.1)
    after[0].close()
    assert "IDLE watches by itself" not in server.log()
