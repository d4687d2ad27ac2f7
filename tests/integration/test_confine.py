"""Confinement per user: after login a worker reaches only beneath that user's maildir.

Every maildir belongs to the one service uid, so file permissions cannot keep alice's worker out
of bob's mail: Landlock (and the storage's RESOLVE_BENEATH opens) do. The attack is run for
real: gdb makes alice's logged-in worker call openat() on its maildir fd the way injected code
would. Symlinks planted in a maildir lead nowhere over IMAP and POP3, and a worker that served a
login leaves after that session instead of serving another user."""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from test_imap import Raw, msg, start
from twofold_harness import helper_path, running_as_root

needs_root = pytest.mark.skipif(not running_as_root(), reason="the daemon confines as root")


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            assert value, f"timed out waiting for {what}"
            return value
        time.sleep(0.05)


def worker_serving(server, sock, port):
    """The pid of the worker holding the server side of the client socket sock."""
    client_port = sock.getsockname()[1]
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if (int(f[1].split(":")[1], 16) == port and int(f[2].split(":")[1], 16) == client_port):
            inodes.add(f[9])
    for pid in server.worker_pids():
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return pid
        except OSError:
            continue
    raise AssertionError("no worker holds the connection")


def fd_of(pid, path):
    """The lowest fd of process pid that is the directory path."""
    fds = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                fds.append(int(fd))
        except OSError:
            continue
    assert fds, f"process {pid} holds no fd of {path}"
    return min(fds)


def inject_openat(pid, dirfd, relpath):
    """Makes process pid call openat(dirfd, relpath, O_RDONLY) as injected code would, and
    returns (result, errno). gdb stops the process, calls the function, and lets it go on."""
    r = subprocess.run(
        ["gdb", "-nx", "-batch", "-p", str(pid),
         "-ex", f'print (int)openat({dirfd}, "{relpath}", 0)',
         "-ex", "print *((int *(*)(void))__errno_location)()"],
        capture_output=True, text=True, timeout=60)
    values = re.findall(r"^\$\d+ = (-?\d+)$", r.stdout, re.M)
    assert len(values) == 2, f"gdb did not run the calls:\n{r.stdout}\n{r.stderr}"
    return int(values[0]), int(values[1])


def two_users(server):
    alice = server.apppass(server.add_user("alice").name)
    bob = server.apppass(server.add_user("bob").name)
    server.deliver("alice", msg("for alice", body="alice's own\r\n"))
    theirs = server.deliver("bob", msg("for bob", body="bob's secret\r\n"), info="S")
    return alice, bob, theirs


@needs_root
def test_logged_in_worker_cannot_open_another_users_mail(server):
    alice, _, theirs = two_users(server)
    start(server)
    r = Raw(server)
    r.login("alice", alice)
    r.ok("SELECT INBOX")
    pid = worker_serving(server, r.sock, server.imap_port)
    dirfd = fd_of(pid, server.maildir("alice"))
    # the file is the service user's own: only the confinement can refuse it
    assert os.stat(theirs).st_uid == server.uid
    for rel in (f"../bob/cur/{theirs.name}", "../bob/cur", "..", "../../state"):
        fd, err = inject_openat(pid, dirfd, rel)
        assert fd == -1 and err == 13, f"openat(maildir, {rel!r}) = {fd}, errno {err}"
    # its own mail stays reachable, and the session goes on
    fd, err = inject_openat(pid, dirfd, "cur")
    assert fd >= 0, f"openat(maildir, 'cur') failed with errno {err}"
    untagged, _ = r.ok("FETCH 1 BODY.PEEK[TEXT]")
    assert b"alice's own" in untagged[0]
    r.ok("LOGOUT")


def plant_symlinks(server, theirs):
    """alice's maildir gets a message that is a symlink to bob's, and a folder that is a symlink
    to bob's maildir."""
    md = server.maildir("alice")
    link = md / "cur" / "1700000000.M1P1Q1.host:2,S"
    os.symlink(f"../../bob/cur/{theirs.name}", link)
    os.symlink("../bob", md / ".Evil")
    if server.uid is not None:
        os.lchown(link, server.uid, server.gid)
        os.lchown(md / ".Evil", server.uid, server.gid)


def symlinks_not_served_over_imap(server, alice, theirs):
    """Symlinks planted in alice's maildir (see plant_symlinks) lead nowhere over IMAP."""
    r = Raw(server)
    r.login("alice", alice)
    r.ok("SELECT INBOX")  # alice's maildir exists now
    r.ok("LOGOUT")
    plant_symlinks(server, theirs)
    r = Raw(server)
    r.login("alice", alice)
    untagged, _ = r.ok('LIST "" "*"')
    assert not any(b"Evil" in u for u in untagged), untagged
    _, tagged = r.cmd("SELECT Evil")
    assert b" NO " in tagged, tagged
    _, tagged = r.cmd('STATUS Evil (MESSAGES)')
    assert b" NO " in tagged, tagged
    untagged, _ = r.ok("SELECT INBOX")
    assert b"* 1 EXISTS" in untagged, untagged
    untagged, _ = r.ok("FETCH 1:* (UID BODY.PEEK[])")
    assert len(untagged) == 1 and b"alice's own" in untagged[0], untagged
    untagged, _ = r.ok("SEARCH TEXT secret")
    assert untagged == [b"* SEARCH"], untagged
    r.ok("LOGOUT")


def test_symlinks_out_of_the_maildir_not_served_over_imap(server):
    alice, _, theirs = two_users(server)
    start(server)
    symlinks_not_served_over_imap(server, alice, theirs)


def test_symlinks_out_of_the_maildir_not_served_over_pop3(server):
    alice, _, theirs = two_users(server)
    server.start()
    pop = server.pop3()
    pop.user("alice")
    pop.pass_(alice)
    pop.quit()
    plant_symlinks(server, theirs)
    pop = server.pop3()
    pop.user("alice")
    pop.pass_(alice)
    assert pop.stat()[0] == 1
    assert len(pop.uidl()[1]) == 1
    assert b"alice's own" in b"\n".join(pop.retr(1)[1])
    pop.quit()


def test_kernel_without_landlock_is_said_and_served(server):
    """On a kernel without Landlock (made so for the daemon by a seccomp filter that answers
    ENOSYS, as such a kernel does) the daemon says once at start that workers run unconfined,
    and serves as before; the storage's RESOLVE_BENEATH opens still keep planted symlinks from
    leading out."""
    alice, _, theirs = two_users(server)
    server.wrapper = [str(helper_path("kernel-without")), "landlock"]
    start(server)
    symlinks_not_served_over_imap(server, alice, theirs)
    log = server.log()
    assert len(re.findall(r"warning: sandbox: the kernel has no Landlock: workers are not "
                          r"confined by Landlock after login", log)) == 1, log
    assert "Landlock ABI" not in log and "landlock:" not in log, log


def test_worker_leaves_after_a_login_session(server):
    server.configure("server", "min_spare", "1")
    server.configure("server", "max_spare", "2")
    alice = server.apppass(server.add_user("alice").name)
    bob = server.apppass(server.add_user("bob").name)
    server.start()
    server.wait_workers(1)
    # a session that never logs in: its worker goes back to the pool
    pop = server.pop3()
    idle = worker_serving(server, pop.sock, server.pop3_port)
    pop.user("alice")
    with pytest.raises(Exception):
        pop.pass_("wrong")
    pop.quit()
    time.sleep(0.5)
    assert idle in server.worker_pids(), "a worker without a login must stay in the pool"
    # a logged-in session: its worker is gone once the session ends
    pop = server.pop3()
    first = worker_serving(server, pop.sock, server.pop3_port)
    pop.user("alice")
    pop.pass_(alice)
    pop.quit()
    wait_until(lambda: first not in server.worker_pids(), 10, "the logged-in worker to exit")
    # and the next user is served by another process
    pop = server.pop3()
    second = worker_serving(server, pop.sock, server.pop3_port)
    pop.user("bob")
    pop.pass_(bob)
    assert second != first
    pop.quit()
    assert "killed by signal" not in server.log() and "exited with status" not in server.log()
