"""Real mail programs that use twofold's IMAP extensions, each driven as its user would and
watched through a recording TLS proxy (imap_tap.py) so the test checks both what the program
showed and what it sent.

Which Debian program sends what (bookworm; seen through the tap, asserted below):
- alpine 2.26 (c-client) sorts and threads on the server: `SORT (SUBJECT) US-ASCII ALL` when its
  sort key is Subject, `THREAD REFERENCES US-ASCII ALL` for its tHread sort. mutt and neomutt
  sort and thread on their own side and never send SORT or THREAD.
- mutt 2.2 with a header cache: `SELECT ... (CONDSTORE)` and, on reopening,
  `UID FETCH 1:n (FLAGS) (CHANGEDSINCE m)` ($imap_condstore), `COMPRESS DEFLATE`
  ($imap_deflate), IDLE ($imap_idle); with $imap_qresync and a server that offers QRESYNC,
  `ENABLE QRESYNC` and `UID FETCH 1:n (FLAGS) (CHANGEDSINCE m VANISHED)` (never SELECT's
  QRESYNC parameter).
- neomutt 20220429 likewise, but Debian builds it without zlib: it has no $imap_deflate.
- mbsync 1.4 sends COMPRESS DEFLATE unasked; offlineimap 8 (offlineimap3) uses none of these.

The interactive programs run in tmux (terminal.py); every wait has a timeout and fails with
the screen. One daemon serves the module, each test has a user of its own.
"""

import os
import re
import shutil
import subprocess
import time

import pytest

from imap_tap import ImapTap
from terminal import Terminal
from twofold_harness import Server

PROGRAMS = ("alpine", "mutt", "neomutt", "mbsync", "offlineimap", "tmux")
SYNC_TIMEOUT = 60


@pytest.fixture(scope="module")
def daemon(tls_cert):
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    assert not missing, f"not installed: {missing} (contrib/install-deps installs them)"
    srv = Server(*tls_cert)
    srv.enable_imap()
    srv.start()
    try:
        yield srv
        srv.stop()
    finally:
        srv.cleanup(keep=bool(os.environ.get("TWOFOLD_KEEP_TMP")))


@pytest.fixture
def tap(daemon, tmp_path):
    """The recording proxy; its record is left in the test's tmp_path as tap.log."""
    with ImapTap(daemon) as t:
        try:
            yield t
        finally:
            t.dump(tmp_path / "tap.log")


class Account:
    """A user of the module's daemon with an app password (what a mail program stores), a
    directory for the program's files, and an imaplib session of "another device"."""

    def __init__(self, daemon, name, workdir):
        self.daemon = daemon
        self.name = name
        daemon.add_user(name)
        self.app = daemon.apppass(name, proto="imap")
        self.dir = workdir
        self.home = workdir / "home"
        self.home.mkdir()

    def other_device(self):
        im = self.daemon.imap()
        im.login(self.name, self.app)
        return im

    def fill(self, messages):
        """Appends messages (header dicts) in order: sequence number i+1 is messages[i]."""
        im = self.other_device()
        for m in messages:
            head = "".join(f"{k}: {v}\r\n" for k, v in m.items())
            assert im.append("INBOX", None, None, (head + "\r\nbody\r\n").encode())[0] == "OK"
        im.logout()


@pytest.fixture
def account(daemon, request, tmp_path):
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().replace("test_", ""))
    return Account(daemon, name.strip("-")[:40], tmp_path)


def capabilities(account):
    """What the server offers after login (the greeting's list is the pre-login one)."""
    im = account.other_device()
    typ, data = im.capability()
    im.logout()
    assert typ == "OK"
    return data[0].decode().upper().split()


# --- alpine: server-side SORT and THREAD ---------------------------------------------------

THREADED = [  # sequence numbers 1..7
    {"From": "carol@example.org", "Subject": "Lunch on Friday",
     "Date": "Mon, 1 Jan 2024 09:00:00 +0000", "Message-ID": "<a1@example.org>"},
    {"From": "dave@example.org", "Subject": "Budget 2024",
     "Date": "Mon, 1 Jan 2024 10:00:00 +0000", "Message-ID": "<b1@example.org>"},
    {"From": "erin@example.org", "Subject": "Re: Lunch on Friday",
     "Date": "Tue, 2 Jan 2024 09:00:00 +0000", "Message-ID": "<a2@example.org>",
     "In-Reply-To": "<a1@example.org>", "References": "<a1@example.org>"},
    {"From": "frank@example.org", "Subject": "Re: Budget 2024",
     "Date": "Wed, 3 Jan 2024 09:00:00 +0000", "Message-ID": "<b2@example.org>",
     "References": "<b1@example.org>"},
    {"From": "gina@example.org", "Subject": "Re: Re: Lunch on Friday",
     "Date": "Thu, 4 Jan 2024 09:00:00 +0000", "Message-ID": "<a3@example.org>",
     "References": "<a1@example.org> <a2@example.org>"},
    {"From": "hugo@example.org", "Subject": "[Fwd: Zoo trip]",
     "Date": "Tue, 2 Jan 2024 12:00:00 +0000", "Message-ID": "<c1@example.org>"},
    {"From": "ivan@example.org", "Subject": "RE: Lunch on Friday",
     "Date": "Fri, 5 Jan 2024 09:00:00 +0000", "Message-ID": "<a4@example.org>",
     "References": "<a1@example.org>"},
]
# RFC 5256 base subjects "budget 2024", "lunch on friday", "zoo trip"; ties in sequence order
SORTED_BY_SUBJECT = [2, 4, 1, 3, 5, 7, 6]
# REFERENCES: threads by their first message's date, children by date
THREADS = [(1, 0), (3, 1), (5, 2), (7, 1), (2, 0), (4, 1), (6, 0)]

ALPINE_ROW = re.compile(r"\d\d/\d\d/\d\d .*?\(\d+\) (.*)$")


def alpine_rows(rows):
    return [m.group(1) for m in map(ALPINE_ROW.search, rows) if m]


def untagged(conn, name):
    """The server's untagged `* NAME ...` lines on a tap connection, NAME stripped."""
    prefix = f"* {name} ".encode()
    return [line[len(prefix):].decode() for line in conn.server if line.startswith(prefix)]


def thread_walk(text):
    """RFC 5256 THREAD answer -> [(seq, depth)] depth first: in a list each number is the
    child of the one before it; parenthesised lists are siblings under the last number."""
    tokens = re.findall(r"\(|\)|\d+", text)
    out = []

    def walk(i, depth):
        while i < len(tokens):
            t = tokens[i]
            if t == "(":
                i = walk(i + 1, depth)
            elif t == ")":
                return i + 1
            else:
                out.append((int(t), depth))
                depth += 1
                i += 1
        return i

    walk(0, 0)
    return out


def alpine_tree(subject):
    """(subject, depth) of a row of alpine's "struct" thread display: two columns of marker
    (". " on a message with replies), then per level below the root two columns ("  " or
    "| ") and the row's "\\-" or "|-"."""
    body = subject[2:]
    m = re.fullmatch(r"((?:  |\| )*)[|\\]-(.*)", body)
    if m is None:
        return body, 0
    return m.group(2), len(m.group(1)) // 2 + 1


def start_alpine(account, port, sort_key):
    pinerc = account.dir / "pinerc"
    pinerc.write_text(
        "personal-name=Alice\nuser-domain=example.org\n"
        f"inbox-path={{localhost:{port}/ssl/user={account.name}}}INBOX\n"
        f"sort-key={sort_key}\n"
        "threading-display-style=struct\n"
        "threading-index-style=regular-index-with-expanded-threads\n"
        "feature-list=quit-without-confirm,disable-password-file-saving\n")
    return Terminal(account.dir, ["alpine", "-p", str(pinerc), "-i"],
                    env={"HOME": account.home, "SSL_CERT_FILE": account.daemon.cert})


def alpine_login(term, account):
    """Answers alpine's once-only greeting and its password prompt until the index shows."""
    while True:
        name, _ = term.wait_any({"index": r"Folder: INBOX ", "greeting": r"GREETING TEXT",
                                 "password": r"ENTER PASSWORD:", "cert": r"(?i)certificate"})
        if name == "index":
            return
        if name == "greeting":
            term.keys("E")
        elif name == "password":
            term.type(account.app)
            term.keys("Enter")
            term.wait_until(lambda rows: "ENTER PASSWORD" not in "\n".join(rows),
                            what="the password prompt to go")
        else:
            raise AssertionError("alpine questions the certificate:\n" + term.text())


def alpine_threads(rows):
    """[(subject, depth)] of the index, or None while it is not (yet) a thread display."""
    try:
        return [alpine_tree(s) for s in alpine_rows(rows)]
    except AssertionError:
        return None


def test_alpine_sorts_and_threads_on_the_server(account, tap):
    account.fill(THREADED)
    subjects = {i + 1: m["Subject"] for i, m in enumerate(THREADED)}
    by_subject = [subjects[seq] for seq in SORTED_BY_SUBJECT]
    threads = [(subjects[seq], depth) for seq, depth in THREADS]
    with start_alpine(account, tap.port, "Subject") as term:
        alpine_login(term, account)
        term.wait_until(lambda rows: alpine_rows(rows) == by_subject,
                        what=f"the index sorted by subject {by_subject}")
        conn = tap.connections[-1]
        assert ("SORT", "(SUBJECT) US-ASCII ALL") in [(n, r) for _, n, r in conn.commands()]
        # what it shows is what the server answered
        assert untagged(conn, "SORT") == [" ".join(map(str, SORTED_BY_SUBJECT))]

        term.keys("$")
        term.wait_for(r"Choose type of sort")
        term.keys("H")
        term.wait_until(lambda rows: alpine_threads(rows) == threads,
                        what=f"the index in threads {threads}")
        assert ("THREAD", "REFERENCES US-ASCII ALL") in [(n, r) for _, n, r in conn.commands()]
        answer = untagged(conn, "THREAD")
        assert answer == ["(1 (3 5)(7))(2 4)(6)"]
        assert thread_walk(answer[0]) == THREADS
        term.keys("q")
        assert term.wait_exit() == 0
    # c-client sorted and threaded nothing on its own: one command each, nothing else asked
    assert [n for n in tap.names() if n in ("SORT", "THREAD")] == ["SORT", "THREAD"]


# --- mutt and neomutt: header cache, CONDSTORE, QRESYNC, COMPRESS, IDLE --------------------

PLAIN = [{"From": f"{who}@example.org", "Subject": subject,
          "Date": f"Mon, {day} Jan 2024 09:00:00 +0000",
          "Message-ID": f"<{who}{day}@example.org>"}
         for day, (who, subject) in enumerate([("kim", "first light"), ("lou", "second wind"),
                                               ("max", "third rail"), ("ned", "fourth wall")],
                                              start=1)]
MUTT_ROW = re.compile(r"^ *(\d+) (.{3}) (.*)$")


def mutt_rows(rows):
    """(number, flags, subject) of the index rows; flags: N new, ! flagged (%Z)."""
    return [(int(m.group(1)), m.group(2), m.group(3)) for m in map(MUTT_ROW.match, rows) if m]


def muttrc(account, port, program, condstore=True, qresync=False, deflate=False):
    lines = [
        f'set folder="imaps://{account.name}@127.0.0.1:{port}/"',
        'set spoolfile="+INBOX"',
        f'set imap_pass="{account.app}"',
        f'set certificate_file="{account.daemon.cert}"',
        f'set ssl_ca_certificates_file="{account.daemon.cert}"',
        f'set header_cache="{account.dir}/hcache/"',
        f"set imap_condstore={'yes' if condstore else 'no'}",
        f"set imap_qresync={'yes' if qresync else 'no'}",
        "set imap_idle=yes",
        "set sort=mailbox-order",
        'set index_format="%4C %Z %s"',
        "set ascii_chars=yes help=no mark_old=no quit=yes move=no beep=no",
        # how soon an idle index looks at what IDLE brought (seconds)
        "set timeout=1 mail_check=1",
    ]
    if deflate:
        lines.append("set imap_deflate=yes")
    path = account.dir / f"{program}rc"
    path.write_text("\n".join(lines) + "\n")
    (account.dir / "hcache").mkdir(exist_ok=True)
    return path


def start_mutt(account, program, rc):
    return Terminal(account.dir, [program, "-n", "-F", str(rc)], env={"HOME": account.home})


def wait_index(term, count, what, cond=lambda rows: True):
    def ready(rows):
        got = mutt_rows(rows)
        if any(re.search(r"(?i)\(r\)eject|certificate", r) for r in rows):
            raise AssertionError("the certificate is questioned:\n" + "\n".join(rows))
        return got if len(got) == count and cond(got) else None
    return term.wait_until(ready, what=what)


def run_once(account, tap, program, rc, count, cond=lambda rows: True, what="the index"):
    """Opens INBOX in program, waits for its index, quits; returns (rows, tap connection)."""
    before = len(tap.connections)
    with start_mutt(account, program, rc) as term:
        rows = wait_index(term, count, what, cond)
        term.keys("q")
        status = term.wait_exit()
        assert status == 0, f"{program} ended with {status}; screen:\n{term.text()}"
    tap.wait_closed()
    conns = tap.connections[before:]
    assert len(conns) == 1, [c.commands() for c in conns]
    return rows, conns[0]


def highestmodseq(conn):
    found = [int(m.group(1)) for line in conn.server
             for m in [re.match(rb"\* OK \[HIGHESTMODSEQ (\d+)\]", line)] if m]
    assert found, conn.server
    return found[-1]


def tagged_command(conn, name, rest_re):
    """The tag of the client's first command name whose arguments match rest_re."""
    for tag, n, rest in conn.commands():
        if n == name and re.fullmatch(rest_re, rest):
            return tag
    raise AssertionError(f"no {name} {rest_re} in {conn.commands()}")


def responses_to(conn, tag):
    """The server's untagged lines between the previous tagged answer and tag's own."""
    out = []
    for line in conn.server:
        if line.startswith(tag.encode() + b" "):
            return out
        if re.match(rb"[A-Za-z0-9.]+ (OK|NO|BAD)", line):
            out = []
        else:
            out.append(line)
    raise AssertionError(f"no answer to {tag}")


def flag_changes(conn, tag):
    out = {}
    for line in responses_to(conn, tag):
        m = re.match(rb"\* \d+ FETCH \((?=.*UID (\d+))(?=.*FLAGS \(([^)]*)\))", line)
        if m:
            out[int(m.group(1))] = set(m.group(2).decode().split())
    return out


def header_fetches(conn):
    return [r for _, n, r in conn.commands()
            if n in ("FETCH", "UID FETCH") and "HEADER.FIELDS" in r.upper()]


def reopen_after_flag_changes(account, tap, program, rc):
    """The scenario both programs are held to: open INBOX (headers fetched, cached), quit;
    another device marks message 2 read and flags message 3; open again: the index shows
    both changes and the program asked only for flags changed since the MODSEQ it knew."""
    account.fill(PLAIN)
    first_rows, first = run_once(account, tap, program, rc, 4, what="4 new messages",
                                 cond=lambda rows: all(f[0] == "N" for _, f, _ in rows))
    assert [s for _, _, s in first_rows] == [m["Subject"] for m in PLAIN]
    tagged_command(first, "SELECT", r'"?INBOX"? \(CONDSTORE\)')
    assert header_fetches(first), first.commands()
    known = highestmodseq(first)

    other = account.other_device()
    other.select("INBOX")
    assert other.uid("STORE", "2", "+FLAGS", r"(\Seen)")[0] == "OK"
    assert other.uid("STORE", "3", "+FLAGS", r"(\Flagged)")[0] == "OK"
    other.logout()

    rows, second = run_once(
        account, tap, program, rc, 4, what="message 2 read and message 3 flagged",
        cond=lambda rows: rows[1][1][0] != "N" and "!" in rows[2][1])
    assert rows[0][1][0] == "N" and "!" not in rows[0][1]
    assert rows[3][1][0] == "N" and "!" not in rows[3][1]
    tagged_command(second, "SELECT", r'"?INBOX"? \(CONDSTORE\)')
    tag = tagged_command(second, "UID FETCH", rf"1:4 \(FLAGS\) \(CHANGEDSINCE {known}\)")
    assert flag_changes(second, tag) == {2: {r"\Seen"}, 3: {r"\Flagged"}}
    # the headers came from the cache, not from the server
    assert header_fetches(second) == []
    return first, second


def test_neomutt_header_cache_condstore(account, tap):
    rc = muttrc(account, tap.port, "neomutt")
    reopen_after_flag_changes(account, tap, "neomutt", rc)


def test_neomutt_has_no_deflate():
    """Why the COMPRESS case below is mutt's: Debian's neomutt is built without zlib."""
    r = subprocess.run(["neomutt", "-n", "-F", "/dev/null", "-Q", "imap_deflate"],
                       capture_output=True, text=True, timeout=30)
    assert "No such variable" in r.stdout + r.stderr


def wait_idling(conn, timeout=20.0):
    """Until the client has sent IDLE and the server has answered it with a continuation."""
    deadline = time.monotonic() + timeout
    while not ("IDLE" in [n for _, n, _ in conn.commands()]
               and any(ln.startswith(b"+ ") for ln in conn.server)):
        assert time.monotonic() < deadline, f"no IDLE: {conn.commands()}"
        time.sleep(0.05)


def test_mutt_deflate_condstore_idle(account, tap):
    rc = muttrc(account, tap.port, "mutt", deflate=True)
    first, second = reopen_after_flag_changes(account, tap, "mutt", rc)
    for conn in (first, second):
        assert conn.compressed
        names = [n for _, n, _ in conn.commands()]
        assert names.index("COMPRESS") < names.index("SELECT")

    # left open in IDLE: what another device does shows up without a key pressed
    before = len(tap.connections)
    with start_mutt(account, "mutt", rc) as term:
        wait_index(term, 4, "the index")
        conn = tap.connections[before]
        wait_idling(conn)
        other = account.other_device()
        other.select("INBOX")
        assert other.uid("STORE", "1", "+FLAGS", r"(\Flagged)")[0] == "OK"
        assert other.append("INBOX", None, None,
                            b"From: oz@example.org\r\nSubject: fifth element\r\n\r\nx\r\n")[0] \
            == "OK"
        other.logout()
        rows = wait_index(term, 5, "message 1 flagged and a fifth message",
                          cond=lambda rows: "!" in rows[0][1])
        assert rows[4][1][0] == "N" and rows[4][2] == "fifth element"
        term.keys("q")
        assert term.wait_exit() == 0
    tap.wait_closed()
    assert conn.compressed
    # what the server said while mutt idled (it may have idled more than once)
    during = [ln for tag, n, _ in conn.commands() if n == "IDLE"
              for ln in responses_to(conn, tag)]
    assert any(re.match(rb"\* 1 FETCH \(.*FLAGS \([^)]*\\Flagged", ln) for ln in during), during
    assert b"* 5 EXISTS" in during


@pytest.mark.parametrize("program", ["neomutt", "mutt"])
def test_qresync_reopen(account, tap, program):
    if "QRESYNC" not in capabilities(account):
        pytest.skip("the server does not offer QRESYNC")
    rc = muttrc(account, tap.port, program, qresync=True)
    account.fill(PLAIN)
    _, first = run_once(account, tap, program, rc, 4, what="4 new messages")
    other = account.other_device()
    other.select("INBOX")
    assert other.uid("STORE", "2", "+FLAGS", r"(\Flagged)")[0] == "OK"
    assert other.uid("STORE", "3", "+FLAGS", r"(\Deleted)")[0] == "OK"
    assert other.expunge()[0] == "OK"
    other.logout()
    rows, second = run_once(account, tap, program, rc, 3, what="3 messages, the second flagged",
                            cond=lambda rows: "!" in rows[1][1])
    assert [s for _, _, s in rows] == [PLAIN[0]["Subject"], PLAIN[1]["Subject"],
                                       PLAIN[3]["Subject"]]
    assert any(n == "ENABLE" and "QRESYNC" in r.upper() for _, n, r in second.commands())
    # both resync with the VANISHED modifier of UID FETCH (RFC 7162 §3.2.6) after a CONDSTORE
    # SELECT, not with SELECT's QRESYNC parameter
    tagged_command(second, "SELECT", r'"?INBOX"? \(CONDSTORE\)')
    tag = tagged_command(second, "UID FETCH",
                         rf"1:4 \(FLAGS\) \(CHANGEDSINCE {highestmodseq(first)} VANISHED\)")
    answer = responses_to(second, tag)
    assert b"* VANISHED (EARLIER) 3" in answer, answer
    assert flag_changes(second, tag) == {2: {r"\Flagged"}}
    # No header of a message before the gap is fetched again. neomutt fetches the one that
    # moved into sequence number 3: it numbers its cached messages 1..EXISTS before applying
    # VANISHED, so number 3 stands empty after it.
    assert all(r.startswith("3 ") for r in header_fetches(second)), header_fetches(second)


# --- mbsync and offlineimap: whole-mailbox sync, unaffected by the extensions -------------

def maildir_flags(folder):
    """{Subject: maildir info flags} of a local maildir."""
    out = {}
    for sub in ("new", "cur"):
        for f in (folder / sub).iterdir():
            subject = re.search(rb"(?m)^Subject: (.*?)\r?$", f.read_bytes()).group(1).decode()
            out[subject] = f.name.rsplit(":2,", 1)[1] if ":2," in f.name else ""
    return out


def server_flags(account):
    im = account.other_device()
    im.select("INBOX", readonly=True)
    typ, data = im.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    im.logout()
    out = {}
    for item in data:
        if isinstance(item, tuple):
            flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode()
            subject = item[1].decode().split(":", 1)[1].strip()
            out[subject] = set(flags.split()) - {r"\Recent"}
    return out


def run_sync(cmd, account):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=SYNC_TIMEOUT,
                       env={"HOME": str(account.home), "PATH": os.environ["PATH"]},
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{cmd[0]} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def two_way_sync(account, tap, sync, local_inbox):
    """Pull, a change on each side, sync again: both sides agree."""
    account.fill(PLAIN)
    sync()
    assert maildir_flags(local_inbox) == {m["Subject"]: "" for m in PLAIN}
    other = account.other_device()
    other.select("INBOX")
    assert other.uid("STORE", "1", "+FLAGS", r"(\Flagged)")[0] == "OK"
    other.logout()
    # the local reader reads "second wind": maildir S flag
    for f in (local_inbox / "new").iterdir():
        if b"second wind" in f.read_bytes():
            name = f.name if ":2," in f.name else f.name + ":2,"
            f.rename(local_inbox / "cur" / (name + "S"))
    sync()
    local = maildir_flags(local_inbox)
    assert local["first light"] == "F" and local["second wind"] == "S"
    assert local["third rail"] == "" and local["fourth wall"] == ""
    assert server_flags(account) == {"first light": {r"\Flagged"}, "second wind": {r"\Seen"},
                                     "third rail": set(), "fourth wall": set()}


def test_mbsync(account, tap):
    local = account.dir / "Mail"
    local.mkdir()
    rc = account.dir / "mbsyncrc"
    rc.write_text(f"""IMAPAccount tf
Host localhost
Port {tap.port}
User {account.name}
Pass {account.app}
SSLType IMAPS
CertificateFile {account.daemon.cert}

IMAPStore remote
Account tf

MaildirStore local
Path {local}/
Inbox {local}/INBOX

Channel tf
Far :remote:INBOX
Near :local:INBOX
Create Near
SyncState *
""")
    two_way_sync(account, tap, lambda: run_sync(["mbsync", "-c", str(rc), "tf"], account),
                 local / "INBOX")
    names = tap.names()
    assert "COMPRESS" in names and all(c.compressed for c in tap.connections)
    assert not {"SORT", "THREAD"} & set(names)


def test_offlineimap(account, tap):
    local = account.dir / "Mail"
    rc = account.dir / "offlineimaprc"
    rc.write_text(f"""[general]
accounts = tf
metadata = {account.dir}/offlineimap
ui = basic

[Account tf]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {local}

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {tap.port}
remoteuser = {account.name}
remotepass = {account.app}
ssl = yes
sslcacertfile = {account.daemon.cert}
folderfilter = lambda name: name == 'INBOX'
""")
    two_way_sync(account, tap,
                 lambda: run_sync(["offlineimap", "-c", str(rc), "-o", "-u", "basic"], account),
                 local / "INBOX")
    assert "SELECT" in tap.names() or "EXAMINE" in tap.names()
