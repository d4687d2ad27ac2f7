"""The systemd unit's sandboxing directives, tried on the real daemon without systemd.

systemd applies CapabilityBoundingSet= and NoNewPrivileges= with the same kernel interfaces
setpriv(1) uses, so the daemon started under `setpriv` with the unit's values must do all it
does under systemd: bind, hand over the state dir, drop privileges, chroot, serve logins, replace
its workers on a reload and stop them (which takes CAP_KILL: they run under other uids).
SystemCallFilter= is a seccomp filter systemd would install; here strace records every system
call of every twofoldd process through the same paths, and each must be in the set the unit
allows (systemd's own expansion of its groups, from `systemd-analyze syscall-filter`).
"""

import os
import re
import shlex
import signal
import stat
import subprocess
from pathlib import Path

import pytest

import twofold_harness
from twofold_harness import running_as_root, wait_until

pytestmark = pytest.mark.skipif(not running_as_root(), reason="the unit runs the daemon as root")

UNIT_IN = twofold_harness.REPO / "contrib" / "twofold.service.in"


def unit_values(key):
    text = UNIT_IN.read_text()
    return [ln.split("=", 1)[1] for ln in text.splitlines() if ln.startswith(key + "=")]


def wrap(server, monkeypatch, *prefix):
    """Makes the harness start the daemon as `PREFIX... twofoldd` (exec'd: same pid)."""
    script = server.dir / "twofoldd-wrapped"
    real = twofold_harness.twofoldd_path()
    # LeakSanitizer cannot run under ptrace (strace): in the sanitizer build it would abort
    # every process at exit; the other sanitizers stay on
    env = ('export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"\n'
           if prefix and prefix[0] == "strace" else "")
    script.write_text("#!/bin/sh\n" + env + "exec " +
                      " ".join(shlex.quote(str(p)) for p in prefix) +
                      f" {shlex.quote(str(real))} \"$@\"\n")
    script.chmod(0o755)
    monkeypatch.setattr(twofold_harness, "twofoldd_path", lambda: script)


def setpriv_prefix(caps):
    bounding = ",".join(["-all"] + ["+" + c.lower().removeprefix("cap_") for c in caps])
    return ["setpriv", f"--bounding-set={bounding}", "--inh-caps=-all", "--no-new-privs"]


def login_both(server, user):
    pop = server.pop3()
    pop.user(user.name)
    pop.pass_(user.password + server.code(user.secret))
    assert pop.stat()[0] == 1
    pop.quit()
    im = server.imap()
    im.login(user.name, server.apppass(user.name))
    assert im.select("INBOX")[0] == "OK"
    im.logout()


def exercise(server):
    """Fresh state dir handed over, login, reload replacing the workers, stop."""
    os.chown(server.state_dir, 0, 0)  # a fresh, root-owned state dir, as a package makes it
    for p in server.state_dir.iterdir():
        subprocess.run(["rm", "-rf", str(p)], check=True)
    user = server.add_user("alice")
    server.deliver("alice", b"Subject: hi\r\n\r\nbody\r\n")
    server.enable_imap()
    server.start()
    login_both(server, user)
    old = set(server.wait_workers(1))
    server.reload()
    server.wait_log(r"configuration reloaded")
    # the old generation leaves (SIGUSR1 from root to another uid: CAP_KILL)
    wait_until(lambda: not (old & set(server.worker_pids())), 30, "old workers to leave")
    login_both(server, user)
    assert server.stop() == 0


def test_capabilities_of_the_unit_are_enough(server, monkeypatch):
    caps = unit_values("CapabilityBoundingSet")[0].split()
    assert unit_values("NoNewPrivileges") == ["yes"]
    wrap(server, monkeypatch, *setpriv_prefix(caps))
    exercise(server)
    st = server.state_dir.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (server.auth_uid, 0o700)


def test_without_cap_kill_the_master_cannot_replace_its_workers(server, monkeypatch):
    """The check above can fail: the same bounding set without CAP_KILL."""
    caps = [c for c in unit_values("CapabilityBoundingSet")[0].split() if c != "CAP_KILL"]
    wrap(server, monkeypatch, *setpriv_prefix(caps))
    user = server.add_user("alice")
    server.start()
    old = set(server.wait_workers(1))
    server.reload()
    server.wait_log(r"configuration reloaded")
    with pytest.raises(AssertionError):
        wait_until(lambda: not (old & set(server.worker_pids())), 5, "old workers to leave")
    # it cannot stop them either; the harness ends them
    server.signal(signal.SIGTERM)
    with pytest.raises(subprocess.TimeoutExpired):
        server.wait_exit(3)
    server.proc.kill()
    server.proc.wait()
    for pid in server.children():
        os.kill(pid, signal.SIGKILL)
    del user


def expand_filter(tokens):
    """The system calls a SystemCallFilter= list allows, as systemd expands its @groups."""
    out, todo, seen = set(), list(tokens), set()
    while todo:
        t = todo.pop()
        if not t.startswith("@"):
            out.add(t)
            continue
        if t in seen:
            continue
        seen.add(t)
        r = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", t],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        for ln in r.stdout.splitlines()[1:]:
            ln = ln.strip()
            if ln and not ln.startswith("#"):
                todo.append(ln)
    return out


def traced_calls(path):
    calls = set()
    for ln in Path(path).read_text(errors="replace").splitlines():
        m = re.match(r"^\d+\s+(\w+)\(", ln)
        if m:
            calls.add(m.group(1))
    return calls


def test_system_call_filter_of_the_unit_allows_what_the_daemon_calls(server, monkeypatch):
    allowed = expand_filter(unit_values("SystemCallFilter")[0].split())
    assert "setresuid" in allowed  # from @setuid: the groups were expanded
    trace = server.dir / "strace.out"
    # -D: strace runs as a grandchild, so the daemon keeps the pid the harness signals
    wrap(server, monkeypatch, "strace", "-D", "-f", "-qq", "-o", trace)
    exercise(server)
    calls = traced_calls(trace)
    assert {"accept4", "chroot", "setresuid", "execve"} & calls, "nothing traced"
    # execve is strace starting the daemon, before any filter of the unit would apply
    missing = sorted(calls - allowed - {"execve"})
    assert not missing, f"called by twofoldd but refused by the unit's filter: {missing}"
