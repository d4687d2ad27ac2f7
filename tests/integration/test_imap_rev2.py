"""What ENABLE IMAP4rev2 (RFC 9051) changes in a session, with exact responses beside an
IMAP4rev1 session on the same mailbox: no RECENT, no [UNSEEN n] and no \\Recent; the LIST
response of SELECT and EXAMINE; SEARCH answered with ESEARCH; STATUS DELETED. IMAP4rev2 is not
advertised yet (see README for what is left). Then SEARCHRES (RFC 5182)."""

import re

from test_imap import msg, raw_login, setup_user


def modseq_free(lines):
    """The lines with UIDVALIDITY and MODSEQ values as N: they depend on the clock and on how
    many transactions the deliveries took."""
    return [re.sub(rb"(UIDVALIDITY|MODSEQ) \(?\d+", rb"\1 N", line) for line in lines]


def select_lines(r):
    untagged, tagged = r.ok("SELECT INBOX")
    assert tagged.endswith(b"OK [READ-WRITE] Select completed."), tagged
    return modseq_free(untagged)


def test_rev2_session(server):
    _, app = setup_user(server, messages=[msg("one"), msg("two")])
    r = raw_login(server, "alice", app)
    untagged, tagged = r.ok("ENABLE IMAP4rev2")
    assert untagged == [b"* ENABLED IMAP4rev2"] and tagged.endswith(b"OK Enabled.")
    assert r.ok("ENABLE imap4rev2 CONDSTORE")[0] == [b"* ENABLED CONDSTORE"]
    # first to select: the messages are \Recent to this session, which does not say so
    assert select_lines(r) == [
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] "
        b"Flags permitted.",
        b"* 2 EXISTS",
        b"* OK [UIDVALIDITY N] UIDs valid.",
        b"* OK [UIDNEXT 3] Predicted next UID.",
        b"* OK [HIGHESTMODSEQ N] Highest.",
        b'* LIST (\\HasNoChildren) "." "INBOX"',
    ]
    # EXAMINE too, and with the attributes LIST gives the mailbox
    r.ok("CREATE Sent.2024")
    untagged, _ = r.ok("EXAMINE Sent")
    assert untagged[-1] == b'* LIST (\\HasChildren \\Sent) "." "Sent"', untagged
    assert b"* 0 RECENT" not in untagged
    # a name that only holds others cannot be deleted (RFC 9051 6.3.4)
    r.ok("CREATE Projects.A")
    assert r.cmd("DELETE Projects")[1].endswith(
        b"NO [HASCHILDREN] Mailbox has inferior hierarchical names.")
    assert r.cmd("DELETE Nothing")[1].endswith(b"NO [NONEXISTENT] Delete failed: no such mailbox")
    r.ok("SELECT INBOX")
    assert modseq_free(r.ok("FETCH 1:2 (FLAGS)")[0]) == [b"* 1 FETCH (FLAGS () MODSEQ N))",
                                                         b"* 2 FETCH (FLAGS () MODSEQ N))"]
    assert modseq_free(r.ok("STORE 2 +FLAGS (\\Deleted)")[0]) == \
        [b"* 2 FETCH (FLAGS (\\Deleted) MODSEQ N))"]
    untagged, tagged = r.cmd("SEARCH UNDELETED")
    assert untagged == [b'* ESEARCH (TAG "' + tagged.split(b" ")[0] + b'") ALL 1']
    untagged, tagged = r.cmd("UID SEARCH ALL")
    assert untagged == [b'* ESEARCH (TAG "' + tagged.split(b" ")[0] + b'") UID ALL 1:2']
    untagged, tagged = r.cmd("SEARCH SUBJECT nothing")
    assert untagged == [b'* ESEARCH (TAG "' + tagged.split(b" ")[0] + b'")']
    assert r.ok("STATUS INBOX (DELETED MESSAGES UNSEEN)")[0] == \
        [b'* STATUS "INBOX" (DELETED 1 MESSAGES 2 UNSEEN 2)']
    # a new message: EXISTS and nothing about \Recent
    server.deliver("alice", msg("three"))
    assert r.ok("NOOP")[0] == [b"* 3 EXISTS"]
    assert modseq_free(r.ok("FETCH 3 (FLAGS)")[0]) == [b"* 3 FETCH (FLAGS () MODSEQ N))"]
    r.close()


def test_rev1_session_unchanged(server):
    """The same steps without ENABLE IMAP4rev2 keep the IMAP4rev1 responses."""
    _, app = setup_user(server, messages=[msg("one"), msg("two")])
    r = raw_login(server, "alice", app)
    lines = select_lines(r)
    assert lines[2:5] == [b"* 2 EXISTS", b"* 2 RECENT", b"* OK [UNSEEN 1] First unseen."], lines
    assert r.ok("FETCH 1 (FLAGS)")[0] == [b"* 1 FETCH (FLAGS (\\Recent))"]
    untagged, _ = r.ok("SEARCH ALL")
    assert untagged == [b"* SEARCH 1 2"]
    server.deliver("alice", msg("three"))
    assert r.ok("NOOP")[0] == [b"* 3 EXISTS", b"* 3 RECENT"]
    assert r.ok("STATUS INBOX (DELETED)")[0] == [b'* STATUS "INBOX" (DELETED 0)']
    r.close()


def test_searchres(server):
    """SEARCHRES (RFC 5182): RETURN (SAVE) keeps the result for "$" in FETCH, STORE, SEARCH and
    their UID forms; MIN, MAX and PARTIAL keep only what they name; an expunge leaves the set;
    UNSELECT empties it."""
    _, app = setup_user(server, messages=[msg(s) for s in ("a", "b", "c", "d")])
    r = raw_login(server, "alice", app)
    assert b"SEARCHRES" in r.ok("CAPABILITY")[0][0].split()
    r.ok("SELECT INBOX")
    r.ok("STORE 2,4 +FLAGS.SILENT (\\Flagged)")
    assert r.ok("SEARCH RETURN (SAVE) FLAGGED")[0] == []
    assert r.ok("FETCH $ (UID)")[0] == [b"* 2 FETCH (UID 2)", b"* 4 FETCH (UID 4)"]
    untagged, tagged = r.cmd("UID SEARCH RETURN (ALL) NOT $")
    assert untagged == [b'* ESEARCH (TAG "' + tagged.split(b" ")[0] + b'") UID ALL 1,3']
    untagged, tagged = r.cmd("SEARCH RETURN (SAVE MIN) ALL")
    assert untagged == [b'* ESEARCH (TAG "' + tagged.split(b" ")[0] + b'") MIN 1']
    assert r.ok("SEARCH UID $")[0] == [b"* SEARCH 1"]
    # MAX in the sort order: the last of d c b a
    last = r.ok("SORT (REVERSE SUBJECT) UTF-8 ALL")[0][0].split()[-1]
    untagged, tagged = r.cmd("SORT RETURN (SAVE MAX) (REVERSE SUBJECT) UTF-8 ALL")
    assert untagged == [b'* ESEARCH (TAG "' + tagged.split(b" ")[0] + b'") MAX ' + last]
    assert r.ok("SEARCH $")[0] == [b"* SEARCH " + last]
    untagged, tagged = r.cmd("SEARCH RETURN (SAVE PARTIAL 2:3) ALL")
    assert untagged == [b'* ESEARCH (TAG "' + tagged.split(b" ")[0] + b'") PARTIAL (2:3 2:3)']
    assert r.ok("SEARCH $")[0] == [b"* SEARCH 2 3"]
    r.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert r.ok("EXPUNGE")[0][0] == b"* 2 EXPUNGE"
    assert r.ok("SEARCH $")[0] == [b"* SEARCH 2"]
    r.ok("UID STORE $ +FLAGS.SILENT (\\Answered)")
    assert r.ok("SEARCH ANSWERED")[0] == [b"* SEARCH 2"]
    r.ok("UNSELECT")
    r.ok("SELECT INBOX")
    assert r.ok("SEARCH $")[0] == [b"* SEARCH"]
    assert r.ok("FETCH $ (UID)")[0] == []
    r.close()
