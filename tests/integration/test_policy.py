"""The login policy at the real daemon: the [EXPIRED] hint for a code re-sent after grace (IMAP
and POP3), no stolen-password alarm for it, and a stranger's wrong passwords from other loopback
addresses (127.0.0.2, ...) that do not lock out a device familiar from 127.0.0.1.

The policy's delays are real here (2 s for a first failure, up to 15 s): the attempts run in
parallel, and the stranger's are not waited for (the auth service logs them before the worker
sleeps out the delay)."""

import imaplib
import poplib
import re
import socket
import threading
import time

from test_log_fields import fail2ban_regex

EXPIRED_IMAP = b"[EXPIRED] Code expired: send password + the current code"
EXPIRED_POP3 = b"-ERR [AUTH] Code expired: send password + the current code"


def wrong_code(server, user):
    return "%06d" % ((int(server.code(user.secret)) + 500000) % 1000000)


def in_parallel(*calls):
    """Runs the calls in threads; returns their results (or exceptions) in order."""
    out = [None] * len(calls)

    def run(i, f):
        try:
            out[i] = f()
        except Exception as e:  # noqa: BLE001 - the caller checks what it got
            out[i] = e

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def imap_login_error(server, user, secret, source):
    c = server.imap(source=source, timeout=30)
    try:
        c.login(user, secret)
    except imaplib.IMAP4.error as e:
        msg = e.args[0]
        return msg if isinstance(msg, bytes) else msg.encode()
    finally:
        c.shutdown()
    return b"logged in"


def pop3_login_error(server, user, secret, source):
    c = server.pop3(source=source, timeout=30)
    try:
        c.user(user)
        c.pass_(secret)
    except poplib.error_proto as e:
        return e.args[0]
    finally:
        c.close()
    return b"logged in"


def test_resent_code_after_grace_expired_hint_no_alarm(server):
    server.enable_imap()
    server.configure("auth", "mfa_grace", 1)
    server.use_real_delays()
    alice, bob, carol = (server.add_user(n) for n in ("alice", "bob", "carol"))
    server.start()
    a = alice.password + server.code(alice.secret)
    b = bob.password + server.code(bob.secret)
    imap = server.imap()
    imap.login("alice", a)
    imap.logout()
    pop = server.pop3()
    pop.user("bob")
    pop.pass_(b)
    pop.quit()
    time.sleep(2.1)  # grace (1 s) is over
    imap_reply, pop3_reply, wrong = in_parallel(
        lambda: imap_login_error(server, "alice", a, "127.0.0.2"),
        lambda: pop3_login_error(server, "bob", b, "127.0.0.3"),
        lambda: imap_login_error(server, "carol", carol.password + wrong_code(server, carol),
                                 "127.0.0.4"))
    assert imap_reply == EXPIRED_IMAP, imap_reply
    assert pop3_reply == EXPIRED_POP3, pop3_reply
    # a code never valid: the plain failure, and the alarm
    assert wrong == b"[AUTHENTICATIONFAILED] Authentication failed.", wrong
    log = server.cli("log").stdout
    stale = [ln for ln in log.splitlines() if "reason=stale-code" in ln]
    assert len(stale) == 2 and not any("STOLEN" in ln for ln in stale), log
    assert any("user=carol" in ln and "STOLEN-PASSWORD?" in ln for ln in log.splitlines()), log
    users = {ln.split("\t")[0]: ln for ln in server.cli("user", "list").stdout.splitlines()}
    assert "STOLEN" not in users["alice"] and "STOLEN" not in users["bob"], users
    assert "STOLEN-PASSWORD?" in users["carol"], users
    lines = server.log().splitlines()
    stale_lines = [ln for ln in lines if "reason=stale-code" in ln]
    assert len(stale_lines) == 2 and "STOLEN" not in "".join(stale_lines), stale_lines
    # fail2ban does not ban the address of the user's own stale client; it does count carol's
    fail, ignore = fail2ban_regex(), fail2ban_regex("ignoreregex")
    assert all(fail.search(ln) and ignore.search(ln) for ln in stale_lines), stale_lines
    carol_line = [ln for ln in lines if "login fail: user=carol" in ln]
    assert carol_line and fail.search(carol_line[0]) and not ignore.search(carol_line[0])
    # `user unlock` clears the alarm
    server.cli("user", "unlock", "carol")
    assert "STOLEN" not in server.cli("user", "list").stdout


def send_pass(server, user, secret, source):
    """USER/PASS over POP3 from source without waiting for the answer; returns the socket."""
    raw = socket.create_connection(("127.0.0.1", server.pop3_port), timeout=30,
                                   source_address=(source, 0))
    s = server.ssl_context().wrap_socket(raw, server_hostname="localhost")
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    s.sendall(b"USER " + user.encode() + b"\r\n")
    assert f.readline().startswith(b"+OK")
    s.sendall(b"PASS " + secret.encode() + b"\r\n")
    return s


def wait_fail_lines(server, pattern, count, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        found = re.findall(pattern, server.log())
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, f"{len(found)} of {count} {pattern!r}:\n{server.log()}"
            return found
        time.sleep(0.05)


def test_stranger_cannot_lock_out_familiar_device(server):
    strangers = 6
    server.configure("auth", "max_failures", 3)
    server.configure("server", "max_workers", 24)
    server.use_real_delays()
    alice = server.add_user("alice")
    ap = server.apppass("alice", proto="pop3")
    server.start()
    secret = alice.password + server.code(alice.secret)
    pop = server.pop3()  # the familiar device, from 127.0.0.1
    pop.user("alice")
    pop.pass_(secret)
    pop.quit()
    held = [send_pass(server, "alice", f"not-her-password-{i}", f"127.0.0.{2 + i}")
            for i in range(strangers)]
    try:
        wait_fail_lines(server, r"login fail: user=alice proto=pop3 ip=127\.0\.0\.\d+ ",
                        strangers)
        assert "unfamiliar-lockout-until=" in server.cli("user", "list").stdout
        # the right credential from an address alice never used: refused unchecked
        held.append(send_pass(server, "alice", secret, "127.0.0.50"))
        wait_fail_lines(server, r"ip=127\.0\.0\.50 factor=none reason=locked-unfamiliar", 1)
        # the familiar device: its password+code again (device grace) logs in at once
        t0 = time.monotonic()
        pop = server.pop3()
        pop.user("alice")
        pop.pass_(secret)
        pop.quit()
        assert time.monotonic() - t0 < 2.0
        # and an app password works from anywhere
        pop = server.pop3(source="127.0.0.60")
        pop.user("alice")
        pop.pass_(ap)
        pop.quit()
    finally:
        for s in held:
            s.close()
    users = server.cli("user", "list").stdout
    assert "STOLEN" not in users and "\tlockout-until=" not in users, users
