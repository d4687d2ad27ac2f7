"""ESORT and CONTEXT=SEARCH / CONTEXT=SORT (RFC 5267) against the real daemon, with exact
responses: SORT RETURN (MIN MAX ALL COUNT) in sort order, PARTIAL windows on SEARCH and SORT,
and RETURN (UPDATE) contexts reporting ADDTO / REMOVEFROM for flag changes (this session's and
another's), arrivals, expunges and during IDLE, then CANCELUPDATE, tag reuse and NOUPDATE."""

from test_imap import msg, raw_login
from test_imap_sort import MESSAGES, fill

import pytest

# fill() leaves UIDs 2..5 at sequence numbers 1..4. By DATE the order is 3 1 2 4 (UIDs 4 2 3 5).
# The imaplib session has INBOX selected too, so it, not the raw one, gets a new message's
# \Recent.


@pytest.fixture
def boxes(server):
    im, app = fill(server, MESSAGES)
    r = raw_login(server, "alice", app)
    r.ok("SELECT INBOX")
    yield im, r
    r.close()
    im.logout()


def test_capabilities(boxes):
    _, r = boxes
    caps = r.ok("CAPABILITY")[0][0].split()
    for cap in (b"ESORT", b"CONTEXT=SEARCH", b"CONTEXT=SORT", b"PARTIAL"):
        assert cap in caps, caps


def test_esort_exact(boxes):
    _, r = boxes
    for command, reply in [
        ("SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL", b"MIN 3 MAX 4 COUNT 4"),
        ("UID SORT RETURN (ALL) (DATE) UTF-8 ALL", b"UID ALL 4,2:3,5"),
        ("SORT RETURN () (REVERSE ARRIVAL) UTF-8 ALL", b"ALL 1:2,4,3"),
        ("SORT RETURN (MIN ALL) (SIZE) UTF-8 ALL", b"MIN 4 ALL 4,1,3,2"),
        ("SORT RETURN (COUNT MIN) (SUBJECT) UTF-8 FROM nobody", b"COUNT 0"),
        ("SORT RETURN (PARTIAL 2:3) (DATE) UTF-8 ALL", b"PARTIAL (2:3 1:2)"),
        ("UID SORT RETURN (PARTIAL -1:-2 COUNT) (DATE) UTF-8 ALL", b"UID PARTIAL (-1:-2 3,5) COUNT 4"),
        ("SORT RETURN (PARTIAL 5:9) (DATE) UTF-8 ALL", b"PARTIAL (5:9 NIL)"),
        ("UID SEARCH RETURN (PARTIAL 2:3) ALL", b"UID PARTIAL (2:3 3:4)"),
        ("SEARCH RETURN (PARTIAL -1:-1 MIN) ALL", b"MIN 1 PARTIAL (-1:-1 4)"),
    ]:
        untagged, tagged = r.cmd(command)
        tag = tagged.split(b" ")[0]
        assert untagged == [b'* ESEARCH (TAG "' + tag + b'") ' + reply], (command, untagged)
        assert tagged.endswith(b" completed."), tagged
    for command, reply in [
        ("SORT RETURN (PARTIAL 1:2 ALL) (DATE) UTF-8 ALL",
         b"BAD RETURN cannot have both PARTIAL and ALL"),
        ("SORT RETURN (PARTIAL 0:2) (DATE) UTF-8 ALL", b"BAD PARTIAL needs a range m:n or -m:-n"),
        ("SORT RETURN (FUZZY) (DATE) UTF-8 ALL", b"BAD Unsupported RETURN option"),
        ("SORT RETURN (DATE) UTF-8 ALL", b"BAD SORT needs sort criteria, a charset and search keys."),
        ("SORT RETURN", b"BAD RETURN needs a list of options."),
    ]:
        untagged, tagged = r.cmd(command)
        assert untagged == [] and tagged.split(b" ", 1)[1] == reply, (command, untagged, tagged)
    assert r.cmd("SORT (DATE) UTF-8 ALL")[0] == [b"* SORT 3 1 2 4"]
    # RFC 9394 3.3: UID FETCH's PARTIAL modifier
    assert r.ok("UID FETCH 1:* (UID) (PARTIAL -1:-2)")[0] == [b"* 3 FETCH (UID 4)",
                                                               b"* 4 FETCH (UID 5)"]


def esearch(tag, data):
    return b'* ESEARCH (TAG "' + tag + b'") ' + data


def test_search_context_updates(boxes):
    im, r = boxes
    im.select("INBOX")
    untagged, _ = r.cmd("UID SEARCH RETURN (UPDATE COUNT) FLAGGED", tag=b"c1")
    assert untagged == [esearch(b"c1", b"UID COUNT 0")]
    # this session's STORE
    untagged, _ = r.ok("STORE 2 +FLAGS (\\Flagged)")
    assert untagged == [b"* 2 FETCH (FLAGS (\\Flagged))", esearch(b"c1", b"UID ADDTO (0 3)")]
    # another session's flag changes, seen at NOOP
    im.store("3", "+FLAGS", "\\Flagged")
    im.store("2", "-FLAGS", "\\Flagged")
    untagged, _ = r.ok("NOOP")
    assert sorted(untagged[:2]) == [b"* 2 FETCH (UID 3 FLAGS ())",
                                    b"* 3 FETCH (UID 4 FLAGS (\\Flagged))"], untagged
    assert untagged[2:] in ([esearch(b"c1", b"UID REMOVEFROM (0 3) ADDTO (0 4)")],
                            [esearch(b"c1", b"UID ADDTO (0 4) REMOVEFROM (0 3)")]), untagged
    # an arrival: ADDTO after EXISTS
    im.append("INBOX", "(\\Flagged)", None, msg("new"))
    untagged, _ = r.ok("NOOP")
    assert untagged == [b"* 5 EXISTS", b"* 0 RECENT", esearch(b"c1", b"UID ADDTO (0 6)")]
    # an expunge: REMOVEFROM before EXPUNGE
    im.store("3", "+FLAGS", "\\Deleted")
    im.expunge()
    untagged, _ = r.ok("NOOP")
    assert untagged[-2:] == [esearch(b"c1", b"UID REMOVEFROM (0 4)"), b"* 3 EXPUNGE"], untagged
    # cancelled: no more updates
    assert r.cmd('CANCELUPDATE "c1"')[1].endswith(b"OK Updates cancelled.")
    im.store("1", "+FLAGS", "\\Flagged")
    assert r.ok("NOOP")[0] == [b"* 1 FETCH (UID 2 FLAGS (\\Flagged))"]
    assert r.cmd('CANCELUPDATE "c1"')[1].endswith(
        b"BAD No search with that tag is being updated.")
    assert r.cmd("CANCELUPDATE")[1].endswith(b"BAD CANCELUPDATE needs the tags of searches.")


def test_sequence_numbers_and_fetch_seen(boxes):
    im, r = boxes
    im.select("INBOX")
    assert r.cmd("SEARCH RETURN (UPDATE) UNSEEN", tag=b"s1")[0] == [esearch(b"s1", b"")[:-1]]
    # FETCH BODY[] sets \Seen: the message leaves the UNSEEN context
    untagged, _ = r.ok("FETCH 2 (BODY[HEADER.FIELDS (X)])")
    assert untagged[-1] == esearch(b"s1", b"REMOVEFROM (0 2)"), untagged
    im.store("2", "-FLAGS", "\\Seen")
    untagged, _ = r.ok("NOOP")
    assert untagged[-1] == esearch(b"s1", b"ADDTO (0 2)"), untagged
    im.store("2", "+FLAGS", "\\Deleted")
    im.expunge()
    untagged, _ = r.ok("NOOP")
    assert untagged[-2:] == [esearch(b"s1", b"REMOVEFROM (0 2)"), b"* 2 EXPUNGE"], untagged


def test_sort_context_positions(boxes):
    im, r = boxes
    im.select("INBOX")
    untagged, _ = r.cmd("UID SORT RETURN (UPDATE ALL) (DATE) UTF-8 UNFLAGGED", tag=b"o1")
    assert untagged == [esearch(b"o1", b"UID ALL 4,2:3,5")]
    im.store("1", "+FLAGS", "\\Flagged")
    assert r.ok("NOOP")[0][-1] == esearch(b"o1", b"UID REMOVEFROM (2 2)")
    im.store("1", "-FLAGS", "\\Flagged")
    assert r.ok("NOOP")[0][-1] == esearch(b"o1", b"UID ADDTO (2 2)")
    # dated 1 Jan 2024 10:00 UTC: before every other message
    im.append("INBOX", None, None, msg("early"))
    untagged, _ = r.ok("NOOP")
    assert untagged == [b"* 5 EXISTS", b"* 0 RECENT", esearch(b"o1", b"UID ADDTO (1 6)")]


def test_updates_during_idle(boxes):
    im, r = boxes
    im.select("INBOX")
    r.cmd("UID SEARCH RETURN (UPDATE) ANSWERED", tag=b"k1")
    r.send(b"i1 IDLE\r\n")
    assert r.response() == b"+ idling\r\n"
    im.store("4", "+FLAGS", "\\Answered")
    lines = []
    while esearch(b"k1", b"UID ADDTO (0 5)") not in lines:
        lines.append(r.response().rstrip(b"\r\n"))
        assert len(lines) < 6, lines
    assert lines == [b"* 4 FETCH (UID 5 FLAGS (\\Answered))", esearch(b"k1", b"UID ADDTO (0 5)")]
    r.send(b"DONE\r\n")
    assert r.until(b"i1")[1] == b"i1 OK Idle completed."


def test_tag_reuse_and_too_many(boxes):
    _, r = boxes
    r.cmd("SEARCH RETURN (UPDATE) ALL", tag=b"x1")
    untagged, tagged = r.cmd("SEARCH RETURN (UPDATE) SEEN", tag=b"x1")
    assert untagged == [] and tagged == b"x1 BAD Tag reuse."
    # reusing a tag without UPDATE is fine
    assert r.cmd("SEARCH RETURN (COUNT) ALL", tag=b"x1")[0] == [esearch(b"x1", b"COUNT 4")]
    for tag in (b"x2", b"x3", b"x4"):
        r.cmd("SORT RETURN (UPDATE) (DATE) UTF-8 ALL", tag=tag)
    untagged, tagged = r.cmd("SEARCH RETURN (UPDATE COUNT) ALL", tag=b"x5")
    assert untagged == [esearch(b"x5", b"COUNT 4"), b'* NO [NOUPDATE "x5"] Too many contexts.']
    assert tagged == b"x5 OK Search completed."
    r.ok('CANCELUPDATE "x1" "x2"')
    assert r.cmd("SEARCH RETURN (UPDATE) ALL", tag=b"x6")[0] == [esearch(b"x6", b"")[:-1]]
    # a new SELECT ends every context
    r.ok("SELECT INBOX")
    assert r.cmd('CANCELUPDATE "x3"')[1].endswith(b"BAD No search with that tag is being updated.")
