"""IMAP correctness where sessions meet on one mailbox, and RFC 3501 details that only the real
daemon shows (chroot, several processes): each test here failed before its fix.

Sessions are raw clients over TLS (Raw from test_imap), so every untagged response is seen."""

import os
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


# --- COPY / MOVE against another session's EXPUNGE ---------------------------------------------


def error_lines(server):
    return [line for line in server.log().splitlines() if ": error: " in line]


def expunge_in(session, seq):
    session.ok(f"STORE {seq} +FLAGS.SILENT (\\Deleted)")
    session.ok("EXPUNGE")


def messages_in(session, name):
    untagged, _ = session.ok(f"STATUS {name} (MESSAGES)")
    return int(re.search(rb"MESSAGES (\d+)", untagged[0]).group(1))


def test_copy_of_a_set_with_a_message_expunged_meanwhile_copies_nothing(server):
    a, b, _ = two_sessions(server, 3)
    expunge_in(b, 2)
    untagged, tagged = a.cmd("COPY 1:3 Archive")
    assert tagged.endswith(b"NO [EXPUNGEISSUED] Some of the messages no longer exist."), tagged
    # the client is told why, so that its retry can succeed
    assert b"* 2 EXPUNGE" in untagged
    assert messages_in(b, "Archive") == 0
    _, tagged = a.ok("COPY 1:2 Archive")
    assert re.search(rb"OK \[COPYUID \d+ 1,3 1:2\] Copy completed\.", tagged), tagged
    assert messages_in(b, "Archive") == 2
    assert error_lines(server) == []


def test_move_of_a_set_with_a_message_expunged_meanwhile_moves_nothing(server):
    a, b, _ = two_sessions(server, 3)
    expunge_in(b, 3)
    untagged, tagged = a.cmd("UID MOVE 1:3 Archive")
    assert tagged.endswith(b"NO [EXPUNGEISSUED] Some of the messages no longer exist."), tagged
    assert b"* 3 EXPUNGE" in untagged
    assert messages_in(b, "Archive") == 0 and messages_in(b, "INBOX") == 2
    untagged, tagged = a.ok("UID MOVE 1:3 Archive")
    assert re.fullmatch(rb"\* OK \[COPYUID \d+ 1:2 1:2\] Moved\.", untagged[0]), untagged
    assert messages_in(b, "Archive") == 2 and messages_in(b, "INBOX") == 0
    assert error_lines(server) == []


def test_copy_takes_a_flag_change_made_meanwhile(server):
    a, b, _ = two_sessions(server, 3)
    b.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
    _, tagged = a.ok("COPY 1:3 Archive")
    assert re.search(rb"OK \[COPYUID \d+ 1:3 1:3\] Copy completed\.", tagged), tagged
    b.ok("SELECT Archive")
    untagged, _ = b.ok("FETCH 1:3 (FLAGS)")
    assert [b"\\Flagged" in u for u in untagged] == [False, True, False], untagged
    assert error_lines(server) == []


# --- STORE against another session's EXPUNGE ----------------------------------------------------


def test_store_on_a_set_with_an_expunged_message_applies_to_the_rest(server):
    """RFC 2180 4.2.1: the rest is stored and the answer is OK."""
    a, b, _ = two_sessions(server, 3)
    expunge_in(b, 2)
    untagged, tagged = a.cmd("STORE 1:3 +FLAGS (\\Seen)")
    assert tagged.endswith(b"OK Store completed."), tagged
    assert flags_of(untagged, 1) >= {b"\\Seen"} and flags_of(untagged, 3) >= {b"\\Seen"}
    assert flags_of(untagged, 2) is None
    b.ok("NOOP")
    untagged, _ = b.ok("FETCH 1:2 (FLAGS)")
    assert all(b"\\Seen" in u for u in untagged), untagged


# --- RFC 3501 details, as the daemon answers them ----------------------------------------------


def test_uid_4294967295_is_not_star_and_fetch_store_syntax(server):
    user, app = setup_user(server, messages=[msg("one"), msg("two")])
    r = raw_login(server, "alice", app)
    r.ok("SELECT INBOX")
    untagged, _ = r.ok("UID STORE 4294967295 +FLAGS (\\Flagged)")
    assert untagged == []
    untagged, _ = r.ok("UID SEARCH UID 3:4294967295")
    assert untagged == [b"* SEARCH"]
    untagged, _ = r.ok("UID SEARCH UID 3:*")
    assert untagged == [b"* SEARCH 2"]
    _, tagged = r.cmd("FETCH 1 (2 FLAGS)")
    assert b" BAD " in tagged, tagged
    untagged, _ = r.ok("STORE 1 +FLAGS NIL")
    assert flags_of(untagged, 1) == {b"\\Recent", b"NIL"}, untagged


def test_body_parts_of_a_top_level_message_rfc822(server):
    inner = b"Subject: inner\r\n\r\ninner body\r\n"
    outer = b"Subject: fwd\r\nContent-Type: message/rfc822\r\n\r\n" + inner
    user, app = setup_user(server, messages=[outer])
    r = raw_login(server, "alice", app)
    r.ok("SELECT INBOX")
    untagged, _ = r.ok("FETCH 1 (BODY.PEEK[1] BODY.PEEK[1.HEADER] BODY.PEEK[1.TEXT])")
    assert untagged == [b"* 1 FETCH (BODY[1] {30}\r\n" + inner +
                        b" BODY[1.HEADER] {18}\r\nSubject: inner\r\n\r\n"
                        b" BODY[1.TEXT] {12}\r\ninner body\r\n)"]


def test_uidvalidity_never_repeats_after_delete_and_create(server):
    """RFC 3501 2.3.1.1: UIDs restart at 1, so UIDVALIDITY must change, even within a second."""
    user, app = setup_user(server)
    r = raw_login(server, "alice", app)
    seen = []
    for _ in range(3):
        r.ok("CREATE Again")
        untagged, _ = r.ok("STATUS Again (UIDVALIDITY)")
        seen.append(int(re.search(rb"UIDVALIDITY (\d+)", untagged[0]).group(1)))
        r.ok("DELETE Again")
    assert seen == sorted(set(seen)), seen


# --- LSUB and LIST (SUBSCRIBED RECURSIVEMATCH) ---------------------------------------------------


def subscriptions(server):
    """Fruit (not subscribed) with subscribed Fruit.Apple and Fruit.Tropical.Mango (Tropical is
    only implied by its child), Veg and Veg.Carrot both subscribed, and a stale subscription
    Gone.Child."""
    user, app = setup_user(server)
    r = raw_login(server, "alice", app)
    for name in ("Fruit", "Fruit.Apple", "Fruit.Tropical.Mango", "Veg", "Veg.Carrot"):
        r.ok(f"CREATE {name}")
    for name in ("Fruit.Apple", "Fruit.Tropical.Mango", "Veg", "Veg.Carrot", "Gone.Child"):
        r.ok(f"SUBSCRIBE {name}")
    for name in ("Archive", "Drafts", "Junk", "Sent", "Trash"):
        r.ok(f"UNSUBSCRIBE {name}")
    return r


def test_lsub_percent_gives_unsubscribed_parents_as_noselect(server):
    """RFC 3501 6.3.9: LSUB with % returns the unsubscribed parent of a subscribed child
    as \\Noselect."""
    r = subscriptions(server)
    untagged, _ = r.ok('LSUB "" "Fruit.%"')
    assert untagged == [b'* LSUB () "." "Fruit.Apple"',
                        b'* LSUB (\\Noselect) "." "Fruit.Tropical"']
    untagged, _ = r.ok('LSUB "" "%"')
    assert untagged == [b'* LSUB (\\Noselect) "." "Fruit"',
                        b'* LSUB (\\Noselect) "." "Gone"',
                        b'* LSUB () "." "Veg"']
    untagged, _ = r.ok('LSUB "" "*"')
    assert untagged == [b'* LSUB () "." "Fruit.Apple"',
                        b'* LSUB () "." "Fruit.Tropical.Mango"',
                        b'* LSUB (\\Noselect) "." "Gone.Child"',
                        b'* LSUB () "." "Veg"', b'* LSUB () "." "Veg.Carrot"']


def test_list_subscribed_recursivematch_childinfo(server):
    """RFC 5258 3.5: CHILDINFO for a mailbox with a subscribed child, also when that child is
    in the same response; an unsubscribed parent only when one of its subscribed children is
    not."""
    r = subscriptions(server)
    childinfo = b' ("CHILDINFO" ("SUBSCRIBED"))'
    untagged, _ = r.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    assert untagged == [b'* LIST (\\HasChildren) "." "Fruit"' + childinfo,
                        b'* LIST (\\NonExistent \\HasChildren) "." "Gone"' + childinfo,
                        b'* LIST (\\HasChildren \\Subscribed) "." "Veg"' + childinfo]
    untagged, _ = r.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "*"')
    assert untagged == [b'* LIST (\\HasNoChildren \\Subscribed) "." "Fruit.Apple"',
                        b'* LIST (\\HasNoChildren \\Subscribed) "." "Fruit.Tropical.Mango"',
                        b'* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "." "Gone.Child"',
                        b'* LIST (\\HasChildren \\Subscribed) "." "Veg"' + childinfo,
                        b'* LIST (\\HasNoChildren \\Subscribed) "." "Veg.Carrot"']


# --- charsets in the chrooted worker -------------------------------------------------------------


def test_search_charsets_in_the_chrooted_worker(server):
    """iconv's modules are files the chroot does not hold: what conversion needs is loaded
    before the chroot. Root (CI) runs the workers chrooted; the test checks that it is so."""
    latin1 = (b"From: a@example.org\r\nSubject: =?ISO-8859-1?Q?K=F6ln?=\r\n"
              b"Content-Type: text/plain; charset=iso-8859-1\r\n"
              b"Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 cr=E8me\r\n")
    koi8 = (b"From: b@example.org\r\nSubject: =?KOI8-R?B?8NLJ18XU?=\r\n\r\nx\r\n")
    user, app = setup_user(server, messages=[latin1, koi8])
    r = raw_login(server, "alice", app)
    if os.geteuid() == 0:
        worker_roots = {os.readlink(f"/proc/{p}/root") for p in server.worker_pids()}
        assert "/" not in worker_roots, worker_roots
    r.ok("SELECT INBOX")
    seq = {}
    for u in r.ok("FETCH 1:2 (BODY.PEEK[HEADER.FIELDS (FROM)])")[0]:
        seq[re.search(rb"From: (\w)", u).group(1)] = int(u.split()[1])
    untagged, _ = r.ok(b"SEARCH CHARSET UTF-8 SUBJECT {5+}\r\nK\xc3\xb6ln")
    assert untagged == [b"* SEARCH %d" % seq[b"a"]]
    untagged, _ = r.ok(b"SEARCH CHARSET UTF-8 BODY {5+}\r\ncaf\xc3\xa9")
    assert untagged == [b"* SEARCH %d" % seq[b"a"]]
    # "Привет" in KOI8-R
    untagged, _ = r.ok(b"SEARCH CHARSET UTF-8 SUBJECT {12+}\r\n"
                       b"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82")
    assert untagged == [b"* SEARCH %d" % seq[b"b"]]
