"""CONDSTORE (RFC 7162) against the real daemon: two sessions on one mailbox, MODSEQs that
survive a restart, and a flag change another MUA makes by renaming a file in cur/.

Raw clients over TLS (imaplib has no CONDSTORE helpers), so every untagged response is seen."""

import re

from test_imap import msg, raw_login, setup_user


def highestmodseq(untagged):
    for u in untagged:
        m = re.fullmatch(rb"\* OK \[HIGHESTMODSEQ (\d+)\].*", u)
        if m:
            return int(m.group(1))
    raise AssertionError(untagged)


def fetch_modseq(untagged, seq):
    """The (UID, FLAGS, MODSEQ) of message seq in untagged FETCH responses, or None."""
    for u in untagged:
        if not u.startswith(b"* %d FETCH (" % seq):
            continue
        uid = re.search(rb"UID (\d+)", u)
        flags = re.search(rb"FLAGS \(([^)]*)\)", u)
        modseq = re.search(rb"MODSEQ \((\d+)\)", u)
        return (int(uid.group(1)) if uid else None,
                set(flags.group(1).split()) if flags else None,
                int(modseq.group(1)) if modseq else None)
    return None


def modseqs(session):
    untagged, _ = session.ok("FETCH 1:* (MODSEQ)")
    return [fetch_modseq(untagged, i + 1)[2] for i in range(len(untagged))]


def test_capability_enable_and_two_sessions(server):
    user, app = setup_user(server, messages=[msg(f"m{i}") for i in range(1, 4)])
    a = raw_login(server, "alice", app)
    untagged, _ = a.ok("CAPABILITY")
    assert b" CONDSTORE " in untagged[0] + b" ", untagged
    untagged, _ = a.ok("ENABLE CONDSTORE")
    assert untagged == [b"* ENABLED CONDSTORE"]
    untagged, _ = a.ok("SELECT INBOX (CONDSTORE)")
    h0 = highestmodseq(untagged)
    assert modseqs(a) == [h0, h0, h0]  # delivered together, one transaction

    b = raw_login(server, "alice", app)
    untagged, _ = b.ok("SELECT INBOX")
    assert highestmodseq(untagged) == h0
    untagged, _ = b.ok("STORE 2 +FLAGS (\\Flagged)")
    assert untagged == [b"* 2 FETCH (FLAGS (\\Flagged))"]  # B did not enable CONDSTORE

    untagged, _ = a.ok("NOOP")
    uid, flags, m = fetch_modseq(untagged, 2)
    assert uid == 2 and flags == {b"\\Flagged", b"\\Recent"} and m == h0 + 1, untagged
    untagged, _ = a.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h0})")
    assert untagged == [b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent) MODSEQ (%d))" % m]
    # B changed message 2 after A's h0: A's conditional STORE leaves it alone
    untagged, tagged = a.ok(f"UID STORE 1:2 (UNCHANGEDSINCE {h0}) +FLAGS (\\Seen)")
    assert tagged.endswith(b" OK [MODIFIED 2] Store completed."), tagged
    assert untagged == [b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) MODSEQ (%d))" % (m + 1)]
    untagged, _ = b.ok("NOOP")
    assert untagged == [b"* 1 FETCH (UID 1 FLAGS (\\Seen))"]
    untagged, _ = b.ok("STATUS Archive (HIGHESTMODSEQ)")
    assert re.fullmatch(rb'\* STATUS "?Archive"? \(HIGHESTMODSEQ \d+\)', untagged[0]), untagged
    untagged, _ = a.ok("SEARCH MODSEQ %d" % (m + 1))
    assert untagged == [b"* SEARCH 1 (MODSEQ %d)" % (m + 1)]
    a.close()
    b.close()


def test_modseqs_survive_restart_and_follow_a_rename_on_disk(server):
    user, app = setup_user(server, messages=[msg(f"m{i}") for i in range(1, 4)])
    a = raw_login(server, "alice", app)
    a.ok("SELECT INBOX (CONDSTORE)")
    a.ok("STORE 2 +FLAGS.SILENT (\\Answered)")
    before = modseqs(a)
    untagged, _ = a.ok("NOOP")
    a.close()
    server.stop()
    server.proc = None
    server.start()

    a = raw_login(server, "alice", app)
    untagged, _ = a.ok("SELECT INBOX (CONDSTORE)")
    h = highestmodseq(untagged)
    assert modseqs(a) == before and h == max(before)

    # another MUA marks message 3 seen by renaming its file
    cur = server.maildir("alice") / "cur"
    [name] = [f for f in cur.iterdir() if ",U=3:" in f.name]
    base = name.name.split(":", 1)[0]
    name.rename(cur / (base + ":2,S"))
    untagged, _ = a.ok("NOOP")
    uid, flags, m = fetch_modseq(untagged, 3)
    assert uid == 3 and b"\\Seen" in flags and m == h + 1, untagged

    # a session opened later sees the same MODSEQ: the change is counted once
    b = raw_login(server, "alice", app)
    untagged, _ = b.ok("EXAMINE INBOX")
    assert highestmodseq(untagged) == h + 1
    assert modseqs(b) == before[:2] + [h + 1]
    a.close()
    b.close()


def test_rename_while_no_session_is_open(server):
    user, app = setup_user(server, messages=[msg("m1"), msg("m2")])
    a = raw_login(server, "alice", app)
    untagged, _ = a.ok("SELECT INBOX")
    h = highestmodseq(untagged)
    a.ok("LOGOUT")
    a.close()
    cur = server.maildir("alice") / "cur"
    [name] = [f for f in cur.iterdir() if ",U=1:" in f.name]
    name.rename(cur / (name.name.split(":", 1)[0] + ":2,F"))
    b = raw_login(server, "alice", app)
    untagged, _ = b.ok("SELECT INBOX (CONDSTORE)")
    assert highestmodseq(untagged) == h + 1
    untagged, _ = b.ok(f"FETCH 1:* (UID FLAGS) (CHANGEDSINCE {h})")
    assert untagged == [b"* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ (%d))" % (h + 1)]
    b.close()


def test_fetch_sets_seen_as_one_change(server):
    """A FETCH of message data gives \\Seen to the messages that lack it as one change (one
    MODSEQ, one index commit), not one change per message, and says so for each; messages
    that had \\Seen keep their MODSEQ; BODY.PEEK changes nothing."""
    _, app = setup_user(server, messages=[msg(f"m{i}") for i in range(1, 6)])
    a = raw_login(server, "alice", app)
    a.ok("ENABLE CONDSTORE")
    h0 = highestmodseq(a.ok("SELECT INBOX")[0])
    a.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
    untagged, _ = a.ok("FETCH 1:5 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert modseqs(a) == [h0, h0 + 1, h0, h0, h0]
    untagged, _ = a.ok("FETCH 1:5 (BODY[TEXT])")
    told = {i: fetch_modseq([u for u in untagged if b"FLAGS" in u], i) for i in range(1, 6)}
    assert told[2] is None, untagged  # it had \Seen: nothing to tell
    for i in (1, 3, 4, 5):
        assert told[i][1] == {b"\\Seen", b"\\Recent"} and told[i][2] == h0 + 2, untagged
    assert modseqs(a) == [h0 + 2, h0 + 1, h0 + 2, h0 + 2, h0 + 2]
    b = raw_login(server, "alice", app)
    untagged, _ = b.ok("SELECT INBOX")
    assert highestmodseq(untagged) == h0 + 2
    untagged, _ = b.ok("SEARCH UNSEEN")
    assert untagged == [b"* SEARCH"]
    a.close()
    b.close()
