"""Seccomp allow-lists in the real daemon: every worker, auth, key, portal, notice and watch
process (each of the portal's threads too) runs under its filter with no_new_privs, and a call off its list kills it and is named in the master's log.

The forbidden calls are made for real: gdb makes a running process call socket() or execve()
the way injected code would (the filter sees the call; gdb only sets it up). An allowed call
made the same way leaves the process alive, so the kills are the filter's doing. That each
list is enough is proven by the whole suite: the harness fails any test whose daemon log shows
a child killed by its filter."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from test_imap import Raw, start
from test_portal import Portal, wait_for
from twofold_harness import running_as_root

needs_root = pytest.mark.skipif(not running_as_root(), reason="gdb attaches to the daemon's "
                                "processes as root")


def proc_status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def gdb_print(pid, expr):
    """Makes process pid evaluate expr (a C call) under gdb; returns gdb's stdout+stderr."""
    r = subprocess.run(["gdb", "-nx", "-batch", "-p", str(pid), "-ex", f"print {expr}"],
                       capture_output=True, text=True, timeout=120)
    return r.stdout + r.stderr


def assert_killed_by_filter(server, what, pid, call):
    """The master says that pid died of its filter; the call is named when the kernel log had
    the audit record (it drops them beyond 10 in 5 s)."""
    m = server.wait_log(rf"{what} {pid} killed by SIGSYS: forbidden system call( \S+ \(\d+\))?",
                        timeout=30)
    if m.group(1) is not None:
        assert m.group(1).strip() == call, m.group(0)


def threads(pid):
    return [int(t) for t in os.listdir(f"/proc/{pid}/task")]


def _alive(fn, pids):
    out = []
    for p in pids:
        try:
            if fn(p):
                out.append(p)
        except FileNotFoundError:
            pass  # ended meanwhile
    return out


def notice_pids(server):
    return _alive(lambda p: Path(f"/proc/{p}/comm").read_text().strip() == "twofoldd-notice",
                  server.children())


def watch_pids(server):
    return _alive(lambda p: Path(f"/proc/{p}/comm").read_text().strip() == "twofoldd-watch",
                  server.children())


def logged_in_workers(server):
    """Workers serving a login: the session's filter stacked on the worker's."""
    return _alive(lambda p: int(proc_status(p)["Seccomp_filters"]) >= 2, server.worker_pids())


def test_every_process_runs_under_its_filter(server):
    user = server.add_user("alice")
    app = server.apppass(user.name)
    server.enable_portal()
    start(server)
    r = Raw(server)
    r.login("alice", app)
    r.ok("NOOP")
    assert Portal(server).get("/signin")[0].status == 200
    pids = server.wait_workers(2) + server.auth_pids() + server.key_pids()
    pids += wait_for(server.portal_pids, "a portal process")
    pids += wait_for(lambda: notice_pids(server), "the notice process")
    pids += wait_for(lambda: watch_pids(server), "the watch process")
    assert server.auth_pids() and server.key_pids()
    assert len(wait_for(lambda: logged_in_workers(server), "a logged-in worker")) == 1
    # libmicrohttpd's listening thread at least, started after the filter was loaded
    assert len(threads(server.portal_pids()[0])) >= 2
    for pid in pids:
        for tid in threads(pid):
            try:
                st = proc_status(f"{pid}/task/{tid}")
            except FileNotFoundError:
                continue  # a connection thread that ended meanwhile
            assert st["NoNewPrivs"] == "1", (pid, tid, st)
            assert st["Seccomp"] == "2", (pid, tid, st)  # SECCOMP_MODE_FILTER
            assert int(st["Seccomp_filters"]) >= 1, (pid, tid, st)
    # the master has none: it forks, reloads and reaps, and never reads a client's byte
    assert proc_status(server.pid)["Seccomp"] == "0"
    r.ok("LOGOUT")


@needs_root
def test_allowed_call_in_a_worker_leaves_it_running(server):
    server.add_user("alice")
    start(server)
    pid = server.wait_workers(1)[0]
    out = gdb_print(pid, "(int)getppid()")
    assert re.search(rf"^\$1 = {server.pid}$", out, re.M), out
    assert pid in server.worker_pids()


@needs_root
def test_socket_af_inet_kills_a_worker(server):
    user = server.add_user("alice")
    app = server.apppass(user.name)
    start(server)
    pid = server.wait_workers(1)[0]
    server.forbidden_calls_expected = 1
    out = gdb_print(pid, "(int)socket(2, 1, 0)")  # AF_INET, SOCK_STREAM
    assert "SIGSYS" in out, out
    assert_killed_by_filter(server, "worker", pid, "socket (41)")
    # the pool replaces it and serves on
    r = Raw(server)
    r.login("alice", app)
    r.ok("LOGOUT")


@needs_root
def test_execve_kills_the_auth_process(server):
    user = server.add_user("alice")
    app = server.apppass(user.name)
    start(server)
    pid = server.auth_pids()[0]
    server.forbidden_calls_expected = 1
    out = gdb_print(pid, '(int)execve("/bin/sh", 0, 0)')
    assert "SIGSYS" in out, out
    assert_killed_by_filter(server, "auth process", pid, "execve (59)")
    # the master starts another; logins go on
    r = Raw(server, timeout=60)
    r.login("alice", app)
    r.ok("LOGOUT")


@needs_root
def test_forbidden_call_fails_a_test_unless_expected(server):
    """The harness's own check: a kill in the log fails the test that did not ask for it."""
    server.add_user("alice")
    start(server)
    pid = server.wait_workers(1)[0]
    gdb_print(pid, "(int)socket(16, 3, 0)")  # AF_NETLINK, SOCK_RAW (ptrace: ASan needs it)
    server.wait_log(rf"worker {pid} killed by SIGSYS", timeout=30)
    with pytest.raises(AssertionError, match="seccomp allow-list"):
        server.check_log()
    server.forbidden_calls_expected = 1
    server.check_log()


@needs_root
def test_opening_a_file_kills_the_key_process(server):
    """The key process holds the TLS key and opens nothing once it has read it."""
    user = server.add_user("alice")
    app = server.apppass(user.name)
    start(server)
    pid = server.key_pids()[0]
    server.forbidden_calls_expected = 1
    out = gdb_print(pid, '(int)openat(-100, "/", 0)')  # AT_FDCWD
    assert "SIGSYS" in out, out
    assert_killed_by_filter(server, "key process", pid, "openat (257)")
    # the master starts another; handshakes are signed again
    r = Raw(server, timeout=60)
    r.login("alice", app)
    r.ok("LOGOUT")


@needs_root
def test_socket_af_inet_kills_the_portal(server):
    """The portal talks HTTPS on the socket it was given and AF_UNIX to the auth and key
    processes; a connection of its own elsewhere is not on its list."""
    server.add_user("alice")
    server.enable_portal()
    start(server)
    portal = Portal(server)
    assert portal.get("/signin")[0].status == 200
    pid = wait_for(server.portal_pids, "a portal process")[0]
    server.forbidden_calls_expected = 1
    out = gdb_print(pid, "(int)socket(2, 1, 0)")  # AF_INET, SOCK_STREAM
    assert "SIGSYS" in out, out
    assert_killed_by_filter(server, "portal", pid, "socket (41)")
    # the master starts another, which serves the pages again
    wait_for(lambda: [p for p in server.portal_pids() if p != pid], "a new portal", timeout=60)
    assert portal.get("/signin")[0].status == 200


@needs_root
def test_new_socket_kills_a_logged_in_worker(server):
    """Before login a worker opens AF_UNIX sockets to reach the auth and key processes; the
    session's filter, stacked at login, takes that away."""
    user = server.add_user("alice")
    app = server.apppass(user.name)
    start(server)
    r = Raw(server)
    r.login("alice", app)
    r.ok("NOOP")
    pid = wait_for(lambda: logged_in_workers(server), "a logged-in worker")[0]
    idle = [p for p in server.worker_pids() if p != pid]
    assert idle and "$1 = " in gdb_print(idle[0], "(int)socket(1, 5, 0)")  # still alive
    server.forbidden_calls_expected = 1
    out = gdb_print(pid, "(int)socket(1, 5, 0)")  # AF_UNIX, SOCK_SEQPACKET
    assert "SIGSYS" in out, out
    assert_killed_by_filter(server, "worker", pid, "socket (41)")


@needs_root
def test_execve_kills_the_notice_process(server):
    """It writes notices into the maildirs it is handed and starts nothing."""
    server.add_user("alice")
    start(server)
    pid = wait_for(lambda: notice_pids(server), "the notice process")[0]
    server.forbidden_calls_expected = 1
    out = gdb_print(pid, '(int)execve("/bin/sh", 0, 0)')
    assert "SIGSYS" in out, out
    assert_killed_by_filter(server, "notice process", pid, "execve (59)")
    wait_for(lambda: [p for p in notice_pids(server) if p != pid], "a new notice process",
             timeout=60)


@needs_root
def test_opening_a_file_kills_the_watch_process(server):
    """It watches the directories workers hand it and opens none itself; IDLE goes on without
    it, and the master starts another."""
    server.add_user("alice")
    start(server)
    pid = wait_for(lambda: watch_pids(server), "the watch process")[0]
    server.forbidden_calls_expected = 1
    out = gdb_print(pid, '(int)openat(-100, "/", 0)')  # AT_FDCWD, O_RDONLY
    assert "SIGSYS" in out, out
    assert_killed_by_filter(server, "watch process", pid, "openat (257)")
    wait_for(lambda: [p for p in watch_pids(server) if p != pid], "a new watch process",
             timeout=60)
