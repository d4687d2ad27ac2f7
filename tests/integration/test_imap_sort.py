"""SORT and THREAD (RFC 5256), with SORT's DISPLAYFROM/DISPLAYTO (RFC 5957), against the real
daemon through imaplib's sort() and thread(): every criterion, REVERSE, several criteria, both
threading algorithms, UID forms, search programs, the refusals, and the same answers again from
the keys the first command cached in the index."""

import pytest

from test_imap import imap_login, raw_login, setup_user

# Four messages whose keys disagree with each other and with their order in the mailbox. Dates
# are UTC after their zones; the third has no Date: and sorts by its internal date.
MESSAGES = [
    ('From: "Zed" <carol@example.org>\r\nTo: dave@example.org\r\nCc: erin@example.org\r\n'
     "Subject: Re: [list] Apple\r\nDate: Tue, 2 Jan 2024 10:00:00 +0200\r\n",
     200, "05-Jan-2024 12:00:00 +0000"),
    ('From: alice@example.org\r\nTo: "Bob" <bob@example.org>\r\n'
     "Subject: apple (fwd)\r\nDate: 2 Jan 2024 09:00:00 GMT\r\n",
     2000, "03-Jan-2024 12:00:00 +0000"),
    ('From: "Bob B" <bob@example.org>\r\nTo: zoe@example.org\r\nCc: adam@example.org\r\n'
     "Subject: =?UTF-8?Q?Banana?=\r\n",
     800, "01-Jan-2024 12:00:00 +0000"),
    ("From: <mallory@example.org>\r\nSubject: [Fwd: Re: apple]\r\n"
     "Date: Wed, 3 Jan 2024 00:00:00 -0500 (EST)\r\n",
     10, "02-Jan-2024 12:00:00 +0000"),
]

EXPECTED = {
    "(SUBJECT)": "1 2 4 3",  # Apple, apple, Banana, apple: ties in mailbox order
    "(DATE)": "3 1 2 4",
    "(ARRIVAL)": "3 4 2 1",
    "(FROM)": "2 3 1 4",  # alice bob carol mallory
    "(DISPLAYFROM)": "2 3 4 1",  # alice@example.org, Bob B, mallory@example.org, Zed
    "(TO)": "4 2 1 3",  # none first, then bob dave zoe
    "(DISPLAYTO)": "4 2 1 3",  # none, Bob, dave@example.org, zoe@example.org
    "(CC)": "2 4 3 1",
    "(SIZE)": "4 1 3 2",
    "(REVERSE SIZE)": "2 3 1 4",
    "(SUBJECT REVERSE DATE)": "4 2 1 3",
    "(REVERSE ARRIVAL)": "1 2 4 3",
}


def fill(server, messages):
    """alice's INBOX with messages [(header, body octets, internal date)], logged in; a message
    appended and expunged first makes UIDs (2, 3, ...) differ from sequence numbers."""
    _, app = setup_user(server)
    im = imap_login(server, "alice", app)
    im.append("INBOX", None, None, b"Subject: gone\r\n\r\nx\r\n")
    for head, body, date in messages:
        im.append("INBOX", None, f'"{date}"', (head + "\r\n" + "x" * body + "\r\n").encode())
    im.select("INBOX")
    im.store("1", "+FLAGS", "\\Deleted")
    im.expunge()
    return im, app


@pytest.fixture
def mailbox(server):
    im, app = fill(server, MESSAGES)
    yield im, app
    im.logout()


def test_sort_every_criterion(mailbox):
    im, _ = mailbox
    caps = im.capability()[1][0].split()
    assert b"SORT" in caps and b"SORT=DISPLAY" in caps, caps
    for _ in range(2):  # the second time from the keys cached by the first
        for criteria, want in EXPECTED.items():
            typ, data = im.sort(criteria, "UTF-8", "ALL")
            assert typ == "OK" and data == [want.encode()], (criteria, data, want)


def test_uid_sort_and_a_search_program(mailbox):
    im, _ = mailbox
    typ, data = im.uid("SORT", "(SUBJECT)", "UTF-8", "ALL")
    assert data == [b"2 3 5 4"], data
    assert im.sort("(DATE)", "US-ASCII", "NOT", "FROM", "bob")[1] == [b"1 2 4"]
    assert im.sort("(REVERSE DATE)", "UTF-8", "SUBJECT", "apple")[1] == [b"4 2 1"]
    assert im.sort("(SUBJECT)", "UTF-8", "FROM", "nobody")[1] == [b""]


def test_sort_refusals(server, mailbox):
    """Exact replies to a SORT the server cannot run, each leaving the session usable."""
    r = raw_login(server, "alice", mailbox[1])
    r.ok("SELECT INBOX")
    for command, reply in [
        ("SORT (FOO) UTF-8 ALL", b"BAD Unknown sort criterion."),
        ("SORT () UTF-8 ALL", b"BAD SORT needs a list of sort criteria."),
        ("SORT (REVERSE) UTF-8 ALL", b"BAD REVERSE must be followed by a sort criterion."),
        ("SORT (REVERSE REVERSE DATE) UTF-8 ALL", b"BAD Unknown sort criterion."),
        ("SORT (\"DATE\") UTF-8 ALL", b"BAD Sort criteria are atoms."),
        ("SORT DATE UTF-8 ALL", b"BAD SORT needs a list of sort criteria."),
        ("SORT (DATE) UTF-8", b"BAD SORT needs sort criteria, a charset and search keys."),
        ("SORT (" + " ".join(["DATE"] * 17) + ") UTF-8 ALL", b"BAD Too many sort criteria."),
        ("SORT (DATE) KOI8-R ALL", b"NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset."),
    ]:
        untagged, tagged = r.cmd(command)
        assert untagged == [] and tagged.split(b" ", 1)[1] == reply, (command, untagged, tagged)
    assert r.cmd("SORT (DATE) UTF-8 ALL")[0] == [b"* SORT 3 1 2 4"]
    r.close()


# A conversation and a lunch: replies by In-Reply-To, by References (a quoted msg-id among
# them), and one by its "Re:" subject alone.
CONVERSATION = [
    ("Message-ID: <a@x>\r\nSubject: Plan\r\nDate: 1 Jan 2024 10:00:00 +0000\r\n",
     10, "01-Jan-2024 10:00:00 +0000"),
    ("Message-ID: <b@x>\r\nIn-Reply-To: <a@x>\r\nSubject: Re: Plan\r\n"
     "Date: 1 Jan 2024 11:00:00 +0000\r\n", 10, "01-Jan-2024 11:00:00 +0000"),
    ("Message-ID: <c@x>\r\nReferences: <a@x>\r\n <b@x>\r\nSubject: Re: Plan\r\n"
     "Date: 1 Jan 2024 12:00:00 +0000\r\n", 10, "01-Jan-2024 12:00:00 +0000"),
    ("Message-ID: <d@x>\r\nSubject: Lunch\r\nDate: 1 Jan 2024 09:00:00 +0000\r\n",
     10, "01-Jan-2024 09:00:00 +0000"),
    ('Message-ID: <e@x>\r\nReferences: <"a"@x>\r\nSubject: Re: Plan\r\n'
     "Date: 1 Jan 2024 13:00:00 +0000\r\n", 10, "01-Jan-2024 13:00:00 +0000"),
    ("Subject: Re: Lunch\r\nDate: 1 Jan 2024 14:00:00 +0000\r\n",
     10, "01-Jan-2024 14:00:00 +0000"),
]


def test_thread_both_algorithms(server):
    im, app = fill(server, CONVERSATION)
    caps = im.capability()[1][0].split()
    assert b"THREAD=REFERENCES" in caps and b"THREAD=ORDEREDSUBJECT" in caps, caps
    for _ in range(2):  # the second time from the keys cached by the first
        assert im.thread("REFERENCES", "UTF-8", "ALL") == ("OK", [b"(4 6)(1 (2 3)(5))"])
        assert im.thread("ORDEREDSUBJECT", "UTF-8", "ALL") == ("OK", [b"(4 6)(1 (2)(3)(5))"])
    assert im.uid("THREAD", "REFERENCES", "UTF-8", "ALL") == ("OK", [b"(5 7)(2 (3 4)(6))"])
    assert im.thread("REFERENCES", "US-ASCII", "SUBJECT", "plan") == \
        ("OK", [b"(1 (2 3)(5))"])
    r = raw_login(server, "alice", app)
    r.ok("SELECT INBOX")
    for command, reply in [
        ("THREAD FOO UTF-8 ALL", b"BAD Unknown threading algorithm."),
        ("THREAD (REFERENCES) UTF-8 ALL", b"BAD Unknown threading algorithm."),
        ("THREAD REFERENCES UTF-8", b"BAD THREAD needs an algorithm, a charset and search keys."),
        ("THREAD REFERENCES KOI8-R ALL", b"NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset."),
    ]:
        untagged, tagged = r.cmd(command)
        assert untagged == [] and tagged.split(b" ", 1)[1] == reply, (command, untagged, tagged)
    assert r.cmd("THREAD REFERENCES UTF-8 ALL")[0] == [b"* THREAD (4 6)(1 (2 3)(5))"]
    assert r.cmd("THREAD REFERENCES UTF-8 SUBJECT nothing")[0] == [b"* THREAD"]
    r.close()
    im.logout()
