"""QRESYNC (RFC 7162) against the real daemon: a phone resyncs in its SELECT after a desktop
client changed flags and expunged (also after a restart: the expunged UIDs are in the index),
UID FETCH (CHANGEDSINCE n VANISHED), the BAD cases, [CLOSED], and VANISHED pushed into IDLE
when another session expunges.

The phone is a raw client over TLS (every response seen exactly); the desktop is imaplib."""

import re

from test_imap import imap_login, msg, raw_login, setup_user
from test_imap_condstore import highestmodseq


def uidvalidity(untagged):
    for u in untagged:
        m = re.fullmatch(rb"\* OK \[UIDVALIDITY (\d+)\].*", u)
        if m:
            return int(m.group(1))
    raise AssertionError(untagged)


def phone_login(server, app):
    phone = raw_login(server, "alice", app)
    untagged, _ = phone.ok("ENABLE QRESYNC")
    assert untagged == [b"* ENABLED QRESYNC"]
    return phone


def after_highestmodseq(untagged):
    """The SELECT responses from HIGHESTMODSEQ on (QRESYNC's come after it)."""
    i = [j for j, u in enumerate(untagged) if u.startswith(b"* OK [HIGHESTMODSEQ ")]
    assert len(i) == 1, untagged
    return untagged[i[0]:]


def desktop_changes(server, app):
    """Message 2 flagged (one MODSEQ), 3 and 5 marked and expunged (two more)."""
    desk = imap_login(server, "alice", app)
    desk.select("INBOX")
    assert desk.store("2", "+FLAGS", "(\\Flagged)")[0] == "OK"
    assert desk.store("3,5", "+FLAGS", "(\\Deleted)")[0] == "OK"
    typ, data = desk.expunge()
    assert typ == "OK" and data == [b"5", b"3"], data
    desk.logout()


def test_resync_in_select_and_uid_fetch_vanished(server):
    user, app = setup_user(server, messages=[msg(f"m{i}") for i in range(1, 7)])
    phone = phone_login(server, app)
    untagged, _ = phone.ok("SELECT INBOX")
    v, h = uidvalidity(untagged), highestmodseq(untagged)
    phone.close()
    desktop_changes(server, app)

    expected = [b"* OK [HIGHESTMODSEQ %d] Highest." % (h + 3),
                b"* VANISHED (EARLIER) 3,5",
                b"* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (%d))" % (h + 1)]
    phone = phone_login(server, app)
    untagged, tagged = phone.ok(f"SELECT INBOX (QRESYNC ({v} {h} 1:6))")
    assert tagged.endswith(b" OK [READ-WRITE] Select completed."), tagged
    assert b"* 4 EXISTS" in untagged
    assert after_highestmodseq(untagged) == expected
    untagged, _ = phone.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h} VANISHED)")
    assert untagged == expected[1:]
    untagged, _ = phone.ok(f"UID FETCH 4:6 (FLAGS) (CHANGEDSINCE {h + 1} VANISHED)")
    assert untagged == [b"* VANISHED (EARLIER) 5"]
    phone.close()

    # the record of expunged UIDs is in the index: the same answer after a restart
    server.stop()
    server.proc = None
    server.start()
    phone = phone_login(server, app)
    untagged, _ = phone.ok(f"EXAMINE INBOX (QRESYNC ({v} {h}))")
    assert after_highestmodseq(untagged) == expected
    # a UIDVALIDITY the client kept from elsewhere: nothing but the usual responses
    untagged, _ = phone.ok(f"EXAMINE INBOX (QRESYNC ({v + 1} {h}))")
    assert untagged[0] == b"* OK [CLOSED] Previous mailbox closed."
    assert after_highestmodseq(untagged) == expected[:1]
    phone.close()


def test_bad_uses(server):
    user, app = setup_user(server, messages=[msg("m1")])
    r = raw_login(server, "alice", app)
    untagged, tagged = r.cmd("SELECT INBOX (QRESYNC (1 1))")
    assert untagged == [] and tagged.endswith(b" BAD QRESYNC needs ENABLE QRESYNC."), tagged
    r.ok("SELECT INBOX")
    _, tagged = r.cmd("UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert tagged.endswith(b" BAD VANISHED needs ENABLE QRESYNC."), tagged
    r.ok("ENABLE QRESYNC")
    _, tagged = r.cmd("FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert tagged.endswith(b" BAD VANISHED needs UID FETCH."), tagged
    _, tagged = r.cmd("UID FETCH 1 (FLAGS) (VANISHED)")
    assert tagged.endswith(b" BAD FETCH modifiers need CHANGEDSINCE."), tagged
    _, tagged = r.cmd("SELECT INBOX (QRESYNC (1 1 1:*))")
    assert tagged.endswith(b" BAD Invalid QRESYNC parameters."), tagged
    # a BAD SELECT leaves the selection alone
    untagged, _ = r.ok("NOOP")
    assert untagged == []
    r.close()


def test_vanished_pushed_into_idle(server):
    user, app = setup_user(server, messages=[msg(f"m{i}") for i in range(1, 5)])
    phone = phone_login(server, app)
    phone.ok("SELECT INBOX")
    phone.sock.settimeout(60)
    phone.send(b"i IDLE\r\n")
    assert phone.response() == b"+ idling\r\n"

    desk = imap_login(server, "alice", app)
    desk.select("INBOX")
    desk.store("1", "+FLAGS", "(\\Deleted)")
    typ, data = desk.expunge()
    assert typ == "OK" and data == [b"1"], data
    desk.logout()

    # the flag change may come first, as its own wake-up; never an EXPUNGE
    seen = []
    while True:
        line = phone.response().rstrip(b"\r\n")
        if line == b"* OK Still here":
            continue
        seen.append(line)
        if line.startswith(b"* VANISHED"):
            break
        assert re.fullmatch(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Deleted \\Recent\) MODSEQ \(\d+\)\)",
                            line), seen
    assert line == b"* VANISHED 1", seen
    phone.send(b"DONE\r\n")
    untagged, tagged = phone.until(b"i")
    assert tagged == b"i OK Idle completed.", (untagged, tagged)
    assert untagged in ([], [b"* 3 RECENT"]), untagged
    assert not any(b"EXPUNGE" in u for u in seen + untagged)
    untagged, _ = phone.ok("UID FETCH 1:* (UID)")
    assert untagged == [b"* %d FETCH (UID %d)" % (i, i + 1) for i in range(1, 4)]
    phone.close()
