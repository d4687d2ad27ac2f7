"""Client bytes before login: a user name with control bytes is refused by the worker (the auth
service sees only a masked marker) yet checked, counted and audited like any failed login, in
IMAP (LOGIN, AUTHENTICATE PLAIN) and POP3 (AUTH PLAIN); and no tag but a plain one (letters,
digits, ".-_") is ever echoed before login."""

import base64
import poplib

import pytest

from test_imap import AUTH_FAILED, Raw, start

SLOW = 40


def audit(server):
    return server.cli("log", "--limit", "50").stdout


def plain(name, secret):
    return base64.b64encode(b"\0" + name + b"\0" + secret).decode()


def test_imap_login_name_with_controls_refused_and_audited(server):
    server.add_user("alice")
    start(server)
    r = Raw(server, timeout=SLOW)
    _, tagged = r.cmd(b'LOGIN "al\x01ice" "secret123456"')
    assert tagged.endswith(AUTH_FAILED), tagged
    _, tagged = r.cmd(b"AUTHENTICATE PLAIN " + plain(b"bob\x1b[2J", b"pw123456").encode())
    assert tagged.endswith(AUTH_FAILED), tagged
    r.close()
    out = audit(server)
    assert "user=al?ice\tproto=imap\tip=127.0.0.1\tfactor=none\tresult=fail" in out, out
    assert "user=bob??2J\tproto=imap" in out, out
    log = server.log()
    assert 'login fail: user="al?ice"' in log, log
    assert "\x01" not in log and "\x1b" not in log


def test_pop3_auth_plain_name_with_controls_audited(server):
    server.add_user("alice")
    server.start()
    pop = server.pop3(timeout=SLOW)
    with pytest.raises(poplib.error_proto) as e:
        pop._shortcmd("AUTH PLAIN " + plain(b"alice\x7f", b"pw123456"))
    assert e.value.args[0] == b"-ERR [AUTH] Authentication failed."
    pop.quit()
    assert "user=alice?\tproto=pop3\tip=127.0.0.1\tfactor=none\tresult=fail" in audit(server)


def test_imap_empty_and_overlong_names_audited(server):
    server.add_user("alice")
    start(server)
    r = Raw(server, timeout=SLOW)
    _, tagged = r.cmd(b'LOGIN "" "secret123456"')
    assert tagged.endswith(AUTH_FAILED), tagged
    _, tagged = r.cmd(b"LOGIN " + b"a" * 300 + b' "secret123456"')
    assert tagged.endswith(AUTH_FAILED), tagged
    r.close()
    out = audit(server)
    assert "user=?\tproto=imap" in out, out
    assert "user=" + "a" * 64 + "?\tproto=imap" in out, out


@pytest.mark.parametrize("tag", [b"<svg/onload=x>", b"a\"b", b"x" * 33, b"a!", b"\xc3\xa9",
                                 b"<svg/onload=alert(1)>"])
def test_prelogin_tags_not_echoed(server, tag):
    start(server)
    r = Raw(server)
    r.send(tag + b" CAPABILITY\r\n")
    reply = r.response()
    assert reply.startswith(b"* BAD "), reply
    assert tag not in reply and b"svg" not in reply, reply
    # the session goes on, with a plain tag echoed
    _, tagged = r.cmd("CAPABILITY", tag=b"A0001.x-1_")
    assert tagged == b"A0001.x-1_ OK Capability completed."
    r.close()


def test_prelogin_bad_tags_count_as_bad_commands(server):
    start(server)
    r = Raw(server)
    for _ in range(3):
        r.send(b"<b> NOOP\r\n")
    assert r.response() == b"* BAD Invalid tag.\r\n"
    assert r.response() == b"* BAD Invalid tag.\r\n"
    assert r.response() == b"* BAD Invalid tag.\r\n"
    assert r.response() == b"* BYE Too many invalid commands.\r\n"
    assert r.eof()


def test_tags_after_login_echoed(server):
    server.add_user("alice")
    app = server.apppass("alice")
    start(server)
    r = Raw(server)
    r.login("alice", app)
    _, tagged = r.cmd("NOOP", tag=b"<odd>")
    assert tagged == b"<odd> OK NOOP completed."
    r.close()
