"""When the file system misbehaves under a mailbox: a message file the worker cannot read (left
mode 0600 root by another tool), one that vanishes, a full disk, leftovers in tmp/. The rest of
the mailbox is served, replies say what happened, and the log says it once."""

import os
import re
import time

import pytest

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
        d.mkdir(mode=0o700)
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
