"""IMAP correctness where sessions meet on one mailbox, and RFC 3501 details that only the real
daemon shows (chroot, several processes): each test here failed before its fix.

Sessions are raw clients over TLS (Raw from test_imap), so every untagged response is seen."""

import re

from test_imap import msg, raw_login, setup_user


def flags_of(untagged, seq):
    """The FLAGS of message seq in the untagged FETCH responses, or None."""
    for u in untagged:
        m = re.fullmatch(rb"\* %d FETCH \(.*FLAGS \(([^)]*)\).*\)" % seq, u)
        if m:
            return set(m.group(1).split())
    return None


def two_sessions(server, count=2):
    user, app = setup_user(server, messages=[msg(f"m{i}") for i in range(1, count + 1)])
    a = raw_login(server, "alice", app)
    b = raw_login(server, "alice", app)
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    return a, b, app


# --- flag changes of another session ------------------------------------------------------------


def flag_change_reported_after(server, command):
    """B flags message 1; A runs command, then NOOP: A is told of the flag exactly then."""
    a, b, _ = two_sessions(server)
    b.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    untagged, tagged = a.cmd(command)
    assert b" OK " in tagged, tagged
    noop, _ = a.ok("NOOP")
    told = flags_of(untagged, 1) or flags_of(noop, 1)
    assert told is not None and b"\\Flagged" in told, (untagged, noop)


def test_flag_change_reported_after_copy(server):
    flag_change_reported_after(server, "COPY 1 Archive")


def test_flag_change_reported_after_fetch_of_other_data(server):
    flag_change_reported_after(server, "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")


def test_flag_change_reported_after_fetch_of_another_message(server):
    flag_change_reported_after(server, "FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")


def test_flag_change_reported_after_uid_move_of_another_message(server):
    flag_change_reported_after(server, "UID MOVE 2 Archive")


# --- \Recent --------------------------------------------------------------------------------------


def test_recent_follows_expunges_down(server):
    user, app = setup_user(server, messages=[msg(f"m{i}") for i in range(1, 4)])
    a = raw_login(server, "alice", app)
    b = raw_login(server, "alice", app)
    untagged, _ = a.ok("SELECT INBOX")
    assert b"* 3 EXISTS" in untagged and b"* 3 RECENT" in untagged
    b.ok("EXAMINE INBOX")
    untagged, _ = b.ok("NOOP")
    a.ok("STORE 1:2 +FLAGS.SILENT (\\Deleted)")
    untagged, _ = a.ok("EXPUNGE")
    assert untagged == [b"* 2 EXPUNGE", b"* 1 EXPUNGE", b"* 1 RECENT"]
    # a session that did not claim them (EXAMINE) sees none as recent, and is told so again
    # only when the number changes
    untagged, _ = b.ok("NOOP")
    assert untagged == [b"* 2 EXPUNGE", b"* 1 EXPUNGE"]
    # an expunge by another session lowers it too
    c = raw_login(server, "alice", app)
    c.ok("SELECT INBOX")
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    untagged, _ = a.ok("NOOP")
    assert untagged == [b"* 1 EXPUNGE", b"* 0 RECENT"]
