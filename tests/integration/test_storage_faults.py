"""When the file system misbehaves under a mailbox: a message file the worker cannot read (left
mode 0600 root by another tool), one that vanishes, a full disk, leftovers in tmp/. The rest of
the mailbox is served, replies say what happened, and the log says it once."""

import errno
import os
import re
import signal
import subprocess

import pytest

from test_confine import wait_until, worker_serving
from test_imap import Raw, msg, start
from twofold_harness import running_as_root

needs_root = pytest.mark.skipif(not running_as_root(), reason="a root-owned file needs root")


def unreadable(path):
    """What another tool running as root leaves behind: the service user cannot read it."""
    os.chown(path, 0, 0)
    os.chmod(path, 0o600)


def place(server, name, i, data, subdir="cur"):
    """Message i in subdir/ under a name without sizes (as other tools leave them), named so
    that the messages' order is i's."""
    md = server.maildir(name)
    base = f"{1700000000 + i}.M{i}P1Q{i}.test"
    path = md / subdir / (base + (":2," if subdir == "cur" else ""))
    path.write_bytes(data)
    os.chown(path, server.uid, server.gid)
    return path


def three_messages(server, name="alice", unreadable_in="cur"):
    """Three messages, the second unreadable (in new/ when unreadable_in is "new")."""
    app = server.apppass(server.add_user(name).name)
    md = server.maildir(name)
    for d in (md, md / "cur", md / "new", md / "tmp"):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(d, server.uid, server.gid)
    paths = [place(server, name, i, msg(f"message {i}", body=f"body {i}\r\n"),
                   unreadable_in if i == 2 else "cur") for i in (1, 2, 3)]
    unreadable(paths[1])
    return app, paths


def error_lines(server):
    return [ln for ln in server.log().splitlines() if ": error: " in ln]


@needs_root
def test_unreadable_message_leaves_imap_mailbox_served(server):
    app, paths = three_messages(server)
    start(server)
    r = Raw(server)
    r.login("alice", app)
    untagged, _ = r.ok("SELECT INBOX")
    assert b"* 3 EXISTS" in untagged
    untagged, tagged = r.cmd("UID FETCH 1:* (FLAGS RFC822.SIZE)")
    assert [u.split(b" (")[0] for u in untagged] == [b"* 1 FETCH", b"* 3 FETCH"], untagged
    assert re.search(rb" NO \[UNAVAILABLE\] ", tagged), tagged
    untagged, tagged = r.cmd("FETCH 1:3 BODY.PEEK[TEXT]")
    assert [b"body 1" in untagged[0], b"body 3" in untagged[1], len(untagged)] == \
        [True, True, 2], untagged
    assert re.search(rb" NO \[UNAVAILABLE\] ", tagged), tagged
    # a BODY[] that could not be sent leaves the message unread
    _, tagged = r.cmd("FETCH 2 BODY[]")
    assert b" NO [UNAVAILABLE] " in tagged, tagged
    untagged, _ = r.ok("FETCH 2 FLAGS")
    assert untagged == [b"* 2 FETCH (FLAGS (\\Recent))"], untagged
    # only its file is missed: the others' flags change, search goes on
    r.ok("STORE 3 +FLAGS (\\Flagged)")
    untagged, _ = r.ok("SEARCH BODY body")
    assert untagged == [b"* SEARCH 1 3"], untagged
    r.ok("LOGOUT")
    lines = [ln for ln in server.log().splitlines() if paths[1].name in ln]
    assert len(lines) == 1 and ": error: " in lines[0], lines
    # readable again: served in full
    os.chown(paths[1], server.uid, server.gid)
    r = Raw(server)
    r.login("alice", app)
    r.ok("SELECT INBOX")
    untagged, _ = r.ok("FETCH 2 (RFC822.SIZE BODY.PEEK[TEXT])")
    assert b"body 2" in untagged[0]
    r.ok("LOGOUT")


@needs_root
def test_unreadable_message_in_new_is_indexed_and_served_later(server):
    app, paths = three_messages(server, unreadable_in="new")
    start(server)
    r = Raw(server)
    r.login("alice", app)
    untagged, _ = r.ok("SELECT INBOX")
    assert b"* 3 EXISTS" in untagged, untagged
    untagged, tagged = r.cmd("UID FETCH 1:* (UID RFC822.SIZE)")
    assert len(untagged) == 2 and b" NO [UNAVAILABLE] " in tagged, (untagged, tagged)
    r.ok("LOGOUT")
    moved = list((server.maildir("alice") / "cur").glob(paths[1].name.split(":")[0] + "*"))
    assert len(moved) == 1, moved
    os.chown(moved[0], server.uid, server.gid)
    r = Raw(server)
    r.login("alice", app)
    r.ok("SELECT INBOX")
    untagged, _ = r.ok("UID FETCH 1:* (UID RFC822.SIZE)")
    assert len(untagged) == 3, untagged
    r.ok("LOGOUT")


@needs_root
def test_unreadable_message_leaves_pop3_maildrop_served(server):
    app, paths = three_messages(server)
    server.start()
    pop = server.pop3()
    pop.user("alice")
    pop.pass_(app)
    count, _ = pop.stat()
    assert count == 3
    uidls = pop.uidl()[1]
    assert len(uidls) == 3
    assert len(pop.list()[1]) == 3
    assert b"body 1" in b"\n".join(pop.retr(1)[1])
    with pytest.raises(Exception) as e:
        pop.retr(2)
    assert "[SYS/TEMP]" in str(e.value)
    assert b"body 3" in b"\n".join(pop.retr(3)[1])
    pop.dele(1)
    pop.quit()
    lines = [ln for ln in server.log().splitlines() if paths[1].name in ln]
    assert len(lines) == 1, lines
    # the same UIDLs next time (the deleted one gone), and the unreadable one still listed
    pop = server.pop3()
    pop.user("alice")
    pop.pass_(app)
    assert [u.split()[1] for u in pop.uidl()[1]] == [u.split()[1] for u in uidls[1:]]
    pop.quit()


def test_vanished_message_is_no_error(server):
    app, paths = three_messages(server)
    os.chown(paths[1], server.uid, server.gid)
    start(server)
    r = Raw(server)
    r.login("alice", app)
    r.ok("SELECT INBOX")
    pop = server.pop3()
    pop.user("alice")
    pop.pass_(app)
    pop.stat()
    paths[1].unlink()
    untagged, tagged = r.cmd("FETCH 1:3 BODY.PEEK[]")
    assert len(untagged) == 2 and b" NO [EXPUNGEISSUED] " in tagged, (untagged, tagged)
    with pytest.raises(Exception):
        pop.retr(2)
    pop.quit()
    r.ok("LOGOUT")
    assert error_lines(server) == []
    assert not [ln for ln in server.log().splitlines() if ": warning: " in ln]


# --- a full disk -------------------------------------------------------------------------------

def run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


class LoopMaildir:
    """alice's maildir on a 16 MiB ext4 file system of its own (10 % reserved for root, like a
    real mail spool), in an image file mounted for the test and removed after."""

    def __init__(self, server):
        self.server = server
        self.img = server.dir / "alice.img"
        self.md = server.maildir("alice")
        self.md.mkdir(parents=True, exist_ok=True)
        run("truncate", "-s", "16M", str(self.img))
        run("mkfs.ext4", "-q", "-m", "10", "-E",
            f"root_owner={server.uid}:{server.gid}", str(self.img))
        self.mount()
        os.chmod(self.md, 0o700)
        for d in ("cur", "new", "tmp"):
            (self.md / d).mkdir(mode=0o700, exist_ok=True)
            os.chown(self.md / d, server.uid, server.gid)

    def mount(self):
        run("mount", "-o", "loop", str(self.img), str(self.md))

    def umount(self):
        run("umount", str(self.md))

    def fill(self):
        """Root takes every free block: the service user finds the disk full."""
        with open(self.md / "filler", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                assert e.errno == errno.ENOSPC, e

    def fill_inodes(self):
        """Root takes every free inode (blocks stay free): no file can be created."""
        d = self.md / "inodes"
        d.mkdir()
        try:
            for i in range(1 << 20):
                (d / str(i)).touch()
        except OSError as e:
            assert e.errno == errno.ENOSPC, e

    def backdate(self, rel, when="20200101000000"):
        """Sets the ctime (and mtime) of rel, which no system call can set back, by editing the
        unmounted file system."""
        self.umount()
        for field in ("ctime", "mtime"):
            run("debugfs", "-w", "-R", f"set_inode_field /{rel} {field} {when}", str(self.img))
        self.mount()


@pytest.fixture
def loop_maildir(server):
    lm = LoopMaildir(server)
    try:
        yield lm
    finally:
        if server.running():
            server.stop(check=False)
        subprocess.run(["umount", str(lm.md)], capture_output=True)
        lm.img.unlink(missing_ok=True)


@needs_root
def test_full_disk_expunge_removes_and_says_so(server, loop_maildir):
    app = server.apppass(server.add_user("alice").name)
    md = loop_maildir.md
    paths = [place(server, "alice", i, msg(f"message {i}")) for i in (1, 2, 3)]
    start(server)
    r = Raw(server)
    r.login("alice", app)
    r.ok("SELECT INBOX")
    r.ok("STORE 1:2 +FLAGS.SILENT (\\Deleted)")
    # another session keeps Sent's index open: a COPY there gets as far as indexing
    other = Raw(server)
    other.login("alice", app)
    other.ok("SELECT Sent")
    loop_maildir.fill()
    untagged, tagged = r.cmd("EXPUNGE")
    assert [u for u in untagged if u.endswith(b"EXPUNGE")] == [b"* 2 EXPUNGE", b"* 1 EXPUNGE"], \
        (untagged, tagged)
    assert b" OK " in tagged, tagged
    assert [p.exists() for p in paths[:2]] == [False, False]
    # what cannot be written says so, and is nothing the server did wrong
    _, tagged = r.cmd("APPEND INBOX {20+}\r\nSubject: x\r\n\r\nbody\r\n")
    assert b" NO [OVERQUOTA] " in tagged, tagged
    _, tagged = r.cmd("CREATE Full")
    assert b" NO [OVERQUOTA] " in tagged, tagged
    _, tagged = r.cmd("COPY 1 Sent")
    assert b" NO [OVERQUOTA] " in tagged, tagged
    _, tagged = r.cmd("MOVE 1 Sent")
    assert b" NO [OVERQUOTA] " in tagged, tagged
    untagged, _ = r.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    assert b"message 3" in untagged[0]
    r.ok("LOGOUT")
    untagged, _ = other.ok("NOOP")
    assert not any(b"EXISTS" in u for u in untagged), untagged
    other.ok("LOGOUT")
    assert b"SERVERBUG" not in server.log().encode()
    # the index agrees once there is room again
    (md / "filler").unlink()
    r = Raw(server)
    r.login("alice", app)
    untagged, _ = r.ok("SELECT INBOX")
    assert b"* 1 EXISTS" in untagged, untagged
    untagged, _ = r.ok("STATUS Sent (MESSAGES)")
    assert untagged == [b'* STATUS "Sent" (MESSAGES 0)'], untagged
    r.ok("LOGOUT")
    assert list((md / ".Sent" / "cur").iterdir()) == []


@needs_root
def test_full_disk_pop3_deletes_at_quit(server, loop_maildir):
    app = server.apppass(server.add_user("alice").name)
    paths = [place(server, "alice", i, msg(f"message {i}")) for i in (1, 2)]
    server.start()
    pop = server.pop3()
    pop.user("alice")
    pop.pass_(app)
    assert pop.stat()[0] == 2
    pop.retr(1)
    pop.dele(1)
    loop_maildir.fill()
    assert pop.quit().startswith(b"+OK")
    assert not paths[0].exists() and paths[1].exists()


def alice_selected(server):
    """alice with one message, logged in over IMAP with INBOX selected."""
    app = server.apppass(server.add_user("alice").name)
    place(server, "alice", 1, msg("message 1"))
    start(server)
    r = Raw(server)
    r.login("alice", app)
    r.ok("SELECT INBOX")
    return app, r


@needs_root
def test_full_disk_midway_through_a_streamed_append(server, loop_maildir):
    """A 2 MiB APPEND on a disk with less room than that: its data streams to tmp/ until the
    disk is full, the reply says so, and nothing of it stays in tmp/ or cur/."""
    _, r = alice_selected(server)
    st = os.statvfs(loop_maildir.md)
    reserved = (st.f_bfree - st.f_bavail) * st.f_frsize
    loop_maildir.fill()
    filler = loop_maildir.md / "filler"
    os.truncate(filler, filler.stat().st_size - reserved - 1024 * 1024)  # 1 MiB for alice
    os.sync()
    assert 0 < os.statvfs(loop_maildir.md).f_bavail * st.f_frsize < 2 * 1024 * 1024
    big = "Subject: big\r\n\r\n" + ("x" * 998 + "\r\n") * 2048
    _, tagged = r.cmd(f"APPEND INBOX {{{len(big)}+}}\r\n{big}")
    assert b" NO [OVERQUOTA] " in tagged, tagged
    assert list((loop_maildir.md / "tmp").iterdir()) == []
    untagged, _ = r.ok("NOOP")
    assert not any(b"EXISTS" in u for u in untagged), untagged
    r.ok("LOGOUT")
    assert len(list((loop_maildir.md / "cur").iterdir())) == 1
    assert "SERVERBUG" not in server.log()


@needs_root
def test_no_inode_left_append_is_overquota(server, loop_maildir):
    """No file can be made in tmp/ (every inode taken): APPEND says the disk is full, as for
    blocks, not that the server failed."""
    _, r = alice_selected(server)
    loop_maildir.fill_inodes()
    _, tagged = r.cmd("APPEND INBOX {20+}\r\nSubject: x\r\n\r\nbody\r\n")
    assert b" NO [OVERQUOTA] " in tagged, tagged
    untagged, _ = r.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    assert b"message 1" in untagged[0]
    r.ok("LOGOUT")
    assert list((loop_maildir.md / "tmp").iterdir()) == []
    assert "SERVERBUG" not in server.log()


# --- leftovers in tmp/ -------------------------------------------------------------------------

@needs_root
def test_tmp_leftovers_older_than_36h_removed_at_sync(server, loop_maildir):
    """A file an APPEND killed midway left in tmp/ 36 hours ago goes at the next sync; a fresh
    one (an APPEND in progress in another session) stays."""
    app = server.apppass(server.add_user("alice").name)
    tmp = loop_maildir.md / "tmp"
    for name in ("1577836800.M1P9Q1.host", "fresh"):
        (tmp / name).write_bytes(b"Subject: half an append\r\n")
        os.chown(tmp / name, server.uid, server.gid)
    loop_maildir.backdate("tmp/1577836800.M1P9Q1.host")
    assert (tmp / "1577836800.M1P9Q1.host").exists()
    start(server)
    r = Raw(server)
    r.login("alice", app)
    untagged, _ = r.ok("SELECT INBOX")
    assert b"* 0 EXISTS" in untagged
    assert sorted(p.name for p in tmp.iterdir()) == ["fresh"]
    r.ok("LOGOUT")
    server.wait_log(r"removed tmp/1577836800\.M1P9Q1\.host")


@needs_root
def test_append_killed_midway_leaves_a_file_removed_36h_later(server, loop_maildir):
    """A worker killed in the middle of an APPEND leaves its half-written file in tmp/ (no
    process is left to remove it); the first sync after its ctime is 36 hours old removes it."""
    app, r = alice_selected(server)
    tmp = loop_maildir.md / "tmp"
    r.send(b"t1 APPEND INBOX {1000000+}\r\n" + b"x" * 200000)
    files = wait_until(lambda: [p for p in tmp.iterdir() if p.stat().st_size > 0], 30,
                       "the APPEND's data in tmp/")
    os.kill(worker_serving(server, r.sock, server.imap_port), signal.SIGKILL)
    r.close()
    server.stop(check=False)
    assert [p.name for p in tmp.iterdir()] == [files[0].name]
    loop_maildir.backdate(f"tmp/{files[0].name}")
    server.start()
    r = Raw(server)
    r.login("alice", app)
    untagged, _ = r.ok("SELECT INBOX")
    assert b"* 1 EXISTS" in untagged, untagged
    assert list(tmp.iterdir()) == []
    r.ok("LOGOUT")
    server.wait_log(r"removed tmp/" + re.escape(files[0].name))
