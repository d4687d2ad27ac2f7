"""Privilege separation of a real twofoldd (tests/integration/twofold_harness.py): the auth
service and its state under an account of their own, out of the workers' reach; the config
checks that keep the state apart from the mail tree; a daemon that does not claim to have
started when a service cannot start."""

import os
import pwd
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

import twofold_harness
from twofold_harness import running_as_root

needs_root = pytest.mark.skipif(not running_as_root(), reason="the account split needs root")


def run_check(server):
    return subprocess.run([str(twofold_harness.twofoldd_path()), "-t", "-c", str(server.conf)],
                          capture_output=True, text=True, timeout=30)


def line_of(server, key):
    """The line number of `key = ` in the server's config file."""
    for n, line in enumerate(server.conf.read_text().splitlines(), 1):
        if line.startswith(f"{key} ="):
            return n
    raise AssertionError(f"{key} not in {server.conf}")


def as_service_user(code, *args):
    """Runs python code as the workers' account; returns the CompletedProcess."""
    return subprocess.run(["/usr/bin/python3", "-c", code, *map(str, args)],
                          user=twofold_harness.SERVICE_USER, capture_output=True, text=True,
                          timeout=30)


def login(server, user):
    pop = server.pop3()
    pop.user(user.name)
    pop.pass_(user.password + server.code(user.secret))
    return pop


# --- the auth state is the auth account's ------------------------------------------------------

OPEN_PROBE = """
import errno, os, sys
for path in sys.argv[1:]:
    try:
        os.close(os.open(path, os.O_RDONLY))
        print("opened", path)
    except OSError as e:
        print(errno.errorcode[e.errno], path)
"""

# What a compromised worker would try with the maildir fd it holds after login (issue: "openat(
# maildir_fd, '../../state/secret.key')").
OPENAT_PROBE = """
import errno, os, sys
md = os.open(sys.argv[1], os.O_PATH | os.O_DIRECTORY)
for rel in sys.argv[2:]:
    try:
        os.close(os.open(rel, os.O_RDONLY, dir_fd=md))
        print("opened", rel)
    except OSError as e:
        print(errno.errorcode[e.errno], rel)
"""


@needs_root
def test_worker_uid_cannot_read_the_key_or_the_store(server):
    user = server.add_user("alice")
    server.deliver("alice", b"Subject: hi\r\n\r\nbody\r\n")
    server.start()
    pop = login(server, user)
    assert pop.stat()[0] == 1  # mail access works through the split
    pop.quit()
    state = server.state_dir
    r = as_service_user(OPEN_PROBE, state, state / "secret.key", state / "auth.db")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == [f"EACCES {p}" for p in
                                         (state, state / "secret.key", state / "auth.db")]
    md = server.maildir("alice")
    rel = os.path.relpath(state, md)
    r = as_service_user(OPENAT_PROBE, md, f"{rel}/secret.key", f"{rel}/auth.db")
    assert r.returncode == 0, r.stderr
    assert all(line.startswith("EACCES ") for line in r.stdout.split("\n")[:2]), r.stdout


@needs_root
def test_worker_uid_cannot_signal_the_auth_processes(server):
    server.configure("server", "auth_processes", "2")
    server.start()
    auth = server.auth_pids()
    assert len(auth) == 2
    auth += server.key_pids()  # the key process runs as the auth account too
    assert len(auth) == 3
    code = ("import errno, os, sys\n"
            "for pid in map(int, sys.argv[1:]):\n"
            "    try:\n"
            "        os.kill(pid, 0)\n"
            "        print('signalled', pid)\n"
            "    except OSError as e:\n"
            "        print(errno.errorcode[e.errno], pid)\n")
    r = as_service_user(code, *auth)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [x for pid in auth for x in ("EPERM", str(pid))]
    # and a worker's uid is not theirs
    auth_uid = pwd.getpwnam(twofold_harness.AUTH_USER).pw_uid
    for pid in auth:
        status = Path(f"/proc/{pid}/status").read_text()
        assert re.search(rf"^Uid:\s+{auth_uid}\s+{auth_uid}\s+{auth_uid}\s+{auth_uid}$", status,
                         re.M), status
    for pid in server.worker_pids():
        assert f"\t{auth_uid}\t" not in re.search(r"^Uid:.*$",
                                                  Path(f"/proc/{pid}/status").read_text(),
                                                  re.M).group(0)


@needs_root
def test_cli_files_in_state_dir_belong_to_the_auth_account(server):
    user = server.add_user("alice")
    server.start()
    login(server, user).quit()
    auth = pwd.getpwnam(twofold_harness.AUTH_USER)
    st = server.state_dir.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (auth.pw_uid, auth.pw_gid, 0o700)
    files = [p for p in server.state_dir.iterdir() if p.name != "empty"]
    assert {p.name for p in files} >= {"auth.db", "secret.key"}
    for p in files:
        assert p.stat().st_uid == auth.pw_uid, p
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, p
    empty = server.state_dir / "empty"
    assert empty.stat().st_uid == 0


@needs_root
def test_fresh_root_owned_state_dir_is_handed_to_the_auth_account(server):
    """A state_dir that root made (systemd's StateDirectory=, mkdir) and that holds nothing yet
    becomes the auth account's at start."""
    os.chown(server.state_dir, 0, 0)
    os.chmod(server.state_dir, 0o755)
    server.start()
    st = server.state_dir.stat()
    assert st.st_uid == pwd.getpwnam(twofold_harness.AUTH_USER).pw_uid
    assert stat.S_IMODE(st.st_mode) == 0o700


# --- config checks --------------------------------------------------------------------------

@needs_root
@pytest.mark.parametrize("key", ["user", "auth_user"])
def test_missing_account_refused_with_file_and_line(server, key):
    server.configure("server", key, "no-such-account-tf")
    r = run_check(server)
    assert r.returncode == 1
    assert re.match(rf"{re.escape(str(server.conf))}:{line_of(server, key)}: \[server\] {key}: "
                    rf"no such user 'no-such-account-tf'", r.stderr), r.stderr
    server.start(wait=False)
    assert server.wait_exit(10) == 1
    assert "no such user 'no-such-account-tf'" in server.log()


@needs_root
def test_auth_user_same_as_user_refused(server):
    server.configure("server", "auth_user", twofold_harness.SERVICE_USER)
    r = run_check(server)
    assert r.returncode == 1
    assert re.match(rf"{re.escape(str(server.conf))}:{line_of(server, 'auth_user')}: "
                    r"\[server\] auth_user must be another account than user", r.stderr), r.stderr


@needs_root
def test_state_dir_of_another_account_refused(server):
    uid, gid = twofold_harness.ensure_service_user()
    (server.state_dir / "auth.db").write_bytes(b"")
    os.chown(server.state_dir, uid, gid)
    r = run_check(server)
    assert r.returncode == 1
    assert re.match(rf"{re.escape(str(server.conf))}:{line_of(server, 'state_dir')}: "
                    rf"\[server\] state_dir: {re.escape(str(server.state_dir))} belongs to uid "
                    rf"{uid}, not to the auth account", r.stderr), r.stderr


@pytest.mark.parametrize("layout", ["state in mail", "mail in state"])
def test_state_dir_reachable_from_a_maildir_refused(server, layout):
    if layout == "state in mail":
        server.configure("server", "state_dir", server.mail_root / "state")
    else:
        server.configure("storage", "maildir", f"{server.state_dir}/mail/%u")
    r = run_check(server)
    assert r.returncode == 1
    assert re.match(rf"{re.escape(str(server.conf))}:{line_of(server, 'maildir')}: "
                    r"\[storage\] maildir: the mail tree .* and the auth service's directory .* "
                    r"contain one another", r.stderr), r.stderr


# --- a service that cannot start -------------------------------------------------------------

def make_key_unreadable_for_auth(server):
    key = server.state_dir / "secret.key"
    assert key.exists()
    if running_as_root():
        os.chown(key, 0, 0)  # mode 0600: the auth account may not read it
    else:
        os.chmod(key, 0)
    return key


def test_auth_service_that_cannot_start_stops_the_daemon(server):
    server.add_user("alice")
    key = make_key_unreadable_for_auth(server)
    t0 = time.monotonic()
    server.start(wait=False)
    assert server.wait_exit(30) == 1
    log = server.log()
    assert f"auth service cannot start: key file {key}: Permission denied" in log, log
    # a bounded retry, then the reason, and never "started"
    assert log.count("trying again in") == 2, log
    assert re.search(r"master: error: cannot start: auth service cannot start: key file", log)
    assert " started" not in log
    assert time.monotonic() - t0 < 15


def test_daemon_mode_start_failure_exits_non_zero_with_the_reason(server):
    server.add_user("alice")
    key = make_key_unreadable_for_auth(server)
    r = subprocess.run([str(twofold_harness.twofoldd_path()), "-c", str(server.conf)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert f"twofoldd: auth service cannot start: key file {key}: Permission denied" in r.stderr
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", str(server.conf)], capture_output=True, text=True)
    assert left.stdout.strip() == "", f"processes left: {left.stdout}"


def test_reload_whose_auth_service_cannot_start_keeps_the_old_one(server):
    user = server.add_user("alice")
    server.start()
    auth = server.auth_pids()
    make_key_unreadable_for_auth(server)
    server.reload()
    server.wait_log(r"reload failed, keeping the old configuration: auth service cannot start")
    assert sorted(server.auth_pids()) == sorted(auth)
    login(server, user).quit()
