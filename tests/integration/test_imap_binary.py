"""BINARY (RFC 3516) against the real daemon: FETCH BINARY / BINARY.PEEK / BINARY.SIZE with exact
responses (a NUL-containing base64 part as a literal8, quoted-printable, partial windows at the
edges of the decoded data, an unknown Content-Transfer-Encoding), \\Seen like BODY[], APPEND of
a literal8 whose binary part keeps its CR and LF octets, and imaplib reading the literal8."""

import re

from test_imap import Raw, raw_login, setup_user, imap_login

MESSAGE = (b"From: Alice <alice@example.org>\r\n"
           b"To: bob@example.org\r\n"
           b"Subject: binary parts\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"b\"\r\n"
           b"\r\n"
           b"--b\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n"
           b"\r\n"
           b"Gr=C3=BC=C3=9Fe soft=\r\n"
           b"break=0Aend\r\n"
           b"line2\r\n"
           b"--b\r\n"
           b"Content-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: base64\r\n"
           b"\r\n"
           b"AGJp\r\n"
           b"bgB0YWls\r\n"
           b"--b\r\n"
           b"Content-Type: application/x-foo\r\n"
           b"Content-Transfer-Encoding: x-uuencode\r\n"
           b"\r\n"
           b"begin 644 x\r\n"
           b"--b--\r\n")

QP = b"Gr\xc3\xbc\xc3\x9fe softbreak\nend\r\nline2"
B64 = b"\x00bin\x00tail"
UNKNOWN_CTE = (b"NO [UNKNOWN-CTE] A part asked for with BINARY has a Content-Transfer-Encoding "
               b"this server cannot decode.")


def selected(server):
    user, app = setup_user(server, messages=[MESSAGE])
    r = raw_login(server, "alice", app)
    r.ok("SELECT INBOX")
    return r, app


def test_fetch_binary_exact(server):
    r, _ = selected(server)
    untagged, _ = r.ok("FETCH 1 (BINARY.PEEK[2])")
    assert untagged == [b"* 1 FETCH (BINARY[2] ~{9}\r\n" + B64 + b")"]
    untagged, _ = r.ok("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])")
    assert untagged == [b"* 1 FETCH (BINARY.SIZE[1] 28 BINARY[1] {28}\r\n" + QP + b")"]
    untagged, _ = r.ok("FETCH 1 (BINARY.SIZE[2] BINARY.SIZE[9] BINARY.PEEK[9])")
    assert untagged == [b"* 1 FETCH (BINARY.SIZE[2] 9 BINARY.SIZE[9] 0 BINARY[9] NIL)"]
    # BODY of the same part is still the encoded text
    untagged, _ = r.ok("FETCH 1 (BODY.PEEK[2])")
    assert untagged == [b"* 1 FETCH (BODY[2] {14}\r\nAGJp\r\nbgB0YWls)"]


def test_partial_boundaries(server):
    r, _ = selected(server)
    cases = [
        ("BINARY.PEEK[2]<0.1>", b"BINARY[2]<0> ~{1}\r\n\x00"),
        ("BINARY.PEEK[2]<1.3>", b"BINARY[2]<1> {3}\r\nbin"),
        ("BINARY.PEEK[2]<1.4>", b"BINARY[2]<1> ~{4}\r\nbin\x00"),
        ("BINARY.PEEK[2]<8.1>", b"BINARY[2]<8> {1}\r\nl"),
        ("BINARY.PEEK[2]<8.100>", b"BINARY[2]<8> {1}\r\nl"),
        ("BINARY.PEEK[2]<9.1>", b"BINARY[2]<9> {0}\r\n"),
        ("BINARY.PEEK[2]<10.1>", b"BINARY[2]<10> {0}\r\n"),
        ("BINARY.PEEK[1]<17.2>", b"BINARY[1]<17> {2}\r\n\ne"),
        ("BINARY.PEEK[1]<27.5>", b"BINARY[1]<27> {1}\r\n2"),
    ]
    for item, want in cases:
        untagged, _ = r.ok(f"FETCH 1 ({item})")
        assert untagged == [b"* 1 FETCH (" + want + b")"], item


def test_unknown_cte_and_bad_syntax(server):
    r, _ = selected(server)
    for item in ("BINARY.PEEK[3]", "BINARY.SIZE[3]", "(BINARY.PEEK[1] BINARY[3])"):
        untagged, tagged = r.cmd(f"FETCH 1 {item}")
        assert untagged == [] and tagged == b"t%d " % r.n + UNKNOWN_CTE, (item, tagged)
    # the refused BINARY[3] did not set \Seen
    untagged, _ = r.ok("FETCH 1 (FLAGS)")
    assert untagged == [b"* 1 FETCH (FLAGS (\\Recent))"]
    for item in ("BINARY[1.MIME]", "BINARY[HEADER]", "BINARY.SIZE[1]<0.1>", "BINARY[1]<0.0>"):
        _, tagged = r.cmd(f"FETCH 1 {item}")
        assert tagged.startswith(b"t%d BAD " % r.n), (item, tagged)


def test_binary_sets_seen_and_peek_does_not(server):
    r, _ = selected(server)
    untagged, _ = r.ok("FETCH 1 (BINARY.PEEK[2]<0.1> BINARY.SIZE[2])")
    assert untagged == [b"* 1 FETCH (BINARY[2]<0> ~{1}\r\n\x00 BINARY.SIZE[2] 9)"]
    untagged, _ = r.ok("FETCH 1 (FLAGS)")
    assert untagged == [b"* 1 FETCH (FLAGS (\\Recent))"]
    untagged, _ = r.ok("FETCH 1 (BINARY[2]<1.3>)")
    assert untagged == [b"* 1 FETCH (BINARY[2]<1> {3}\r\nbin)",
                        b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))"]


def test_append_literal8_keeps_binary_octets(server):
    user, app = setup_user(server)
    data = (b"Subject: raw\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"z\"\r\n\r\n"
            b"--z\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: binary\r\n\r\n"
            b"\x00\r\n\n\r\r\n\xff\x00"
            b"\r\n--z--\r\n")
    r = raw_login(server, "alice", app)
    r.send(b"a APPEND INBOX ~{%d}\r\n" % len(data))
    assert r.f.readline() == b"+ OK\r\n"
    r.send(data + b"\r\n")
    _, tagged = r.until(b"a")
    assert re.match(rb"a OK \[APPENDUID \d+ 1\] Append completed\.$", tagged), tagged
    # and with LITERAL+
    r.send(b"b APPEND INBOX ~{%d+}\r\n" % len(data) + data + b"\r\n")
    _, tagged = r.until(b"b")
    assert re.match(rb"b OK \[APPENDUID \d+ 2\] Append completed\.$", tagged), tagged
    # stored as sent: the binary part's CR and LF octets are data
    files = sorted((server.maildir("alice") / "cur").iterdir())
    assert [f.read_bytes() for f in files] == [data, data]
    r.ok("SELECT INBOX")
    untagged, _ = r.ok("FETCH 1:2 (BINARY.PEEK[1] RFC822.SIZE)")
    part = b"\x00\r\n\n\r\r\n\xff\x00"
    want = b"BINARY[1] ~{%d}\r\n%s RFC822.SIZE %d)" % (len(part), part, len(data) + 1)
    assert untagged == [b"* 1 FETCH (" + want, b"* 2 FETCH (" + want]
    # a literal8 is only a message: elsewhere it is not a string
    r.send(b"c SELECT ~{5+}\r\nINBOX\r\n")
    _, tagged = r.until(b"c")
    assert tagged.startswith(b"c BAD "), tagged
    r.ok("NOOP")


def test_imaplib_reads_literal8(server):
    user, app = setup_user(server, messages=[MESSAGE])
    im = imap_login(server, "alice", app)
    assert "BINARY" in im.capabilities
    im.select("INBOX")
    typ, d = im.fetch("1", "(BINARY.PEEK[2] BINARY.PEEK[1])")
    assert typ == "OK"
    assert d[0][0] == b"1 (BINARY[2] ~{9}" and d[0][1] == B64, d
    assert d[1][0] == b" BINARY[1] {28}" and d[1][1] == QP, d
    im.logout()
