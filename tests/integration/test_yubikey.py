"""YubiKey OTP as the second factor, against the real daemon over real IMAP and POP3 logins, and
the `twofold yubikey` commands. Codes come from yubico_otp.py (the Yubico OTP spec, AES from the
openssl command), never from twofold or libyubikey."""

import imaplib
import poplib
import re
import threading

import pytest

from yubico_otp import YubiKey

PASSWORD = "Yubi-Pass-42!"  # ends in a character that is not modhex
SLOW = 40  # failed logins are delayed by the policy


FAILED, EXPIRED = "failed", "expired"  # the two replies a refused login gets


def imap_login(server, name, secret):
    """True when an IMAP LOGIN with secret succeeds, else FAILED or EXPIRED (the hint a used
    code gets: the user's own client re-sending it)."""
    im = server.imap(timeout=SLOW)
    try:
        im.login(name, secret)
    except imaplib.IMAP4.error as e:
        if "[EXPIRED]" in str(e):
            return EXPIRED
        assert "[AUTHENTICATIONFAILED]" in str(e), e
        return FAILED
    finally:
        try:
            im.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    return True


def pop3_login(server, name, secret):
    """True when a POP3 USER/PASS with secret succeeds, else FAILED or EXPIRED."""
    pop = server.pop3(timeout=SLOW)
    pop.user(name)
    try:
        pop.pass_(secret)
    except poplib.error_proto as e:
        if e.args[0] == b"-ERR [AUTH] Code expired: send password + the current code":
            return EXPIRED
        assert e.args[0] == b"-ERR [AUTH] Authentication failed.", e
        return FAILED
    finally:
        pop.quit()
    return True


def enrol(server, name, key):
    out = server.cli("yubikey", "add", name, *key.cli_args()).stdout
    assert f"enrolled for {name}" in out
    return key


def log_reasons(server, name):
    lines = server.cli("log", name, "--limit", "100").stdout.splitlines()
    return [dict(f.split("=", 1) for f in ln.split("\t")[1:] if "=" in f) | {"line": ln}
            for ln in lines]


def start_yubikey_server(server):
    server.configure("auth", "mfa_grace", 0)  # strict: a code works exactly once
    server.enable_imap()
    server.add_user("alice", PASSWORD, totp=False)
    server.add_user("bob", PASSWORD, totp=False)
    alice, bob = enrol(server, "alice", YubiKey()), enrol(server, "bob", YubiKey())
    server.start()
    return alice, bob


def test_otp_logs_in_once_and_refusals(server):
    alice, bob = start_yubikey_server(server)
    first = alice.code()
    assert imap_login(server, "alice", PASSWORD + first) is True
    second = alice.code()
    assert pop3_login(server, "alice", PASSWORD + second) is True
    stranger = YubiKey(public_id=alice.public_id)  # alice's public id, another AES key
    attempts = [
        ("replay over IMAP", imap_login, PASSWORD + first, EXPIRED),
        ("replay over POP3", pop3_login, PASSWORD + second, EXPIRED),
        ("older code", imap_login, PASSWORD + alice.code(session=1, use=0), FAILED),
        ("bad CRC", pop3_login, PASSWORD + alice.code(session=1, use=9, crc_delta=1), FAILED),
        ("another key's code", imap_login, PASSWORD + bob.code(), FAILED),
        ("same public id, other AES key", pop3_login, PASSWORD + stranger.code(), FAILED),
        ("truncated code", imap_login, PASSWORD + alice.code(session=1, use=9)[:-1], FAILED),
    ]
    results = {}

    # in parallel: each refusal is delayed by the policy, and the delays grow with failures
    def run(label, login, secret, _):
        results[label] = login(server, "alice", secret)

    threads = [threading.Thread(target=run, args=a) for a in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(SLOW + 10)
    assert results == {label: reply for label, _, _, reply in attempts}
    # nothing was used up or locked: the key's next code works
    assert imap_login(server, "alice", PASSWORD + alice.code()) is True
    entries = log_reasons(server, "alice")
    oks = [e for e in entries if e["result"] == "ok"]
    assert [e["factor"] for e in oks] == ["yubikey"] * 3
    assert {e["proto"] for e in oks} == {"imap", "pop3"}
    reasons = sorted(e["reason"] for e in entries if e["result"] == "fail")
    # a used code again is the user's own client re-sending it (stale-code); an older code
    # the key made is a replay; neither is an alarm. A code never valid for the user with the
    # right password is a sign of a stolen password.
    assert reasons == sorted(["stale-code", "stale-code", "replay", "bad-code", "bad-code",
                              "unknown-yubikey", "bad-password"]), entries
    alarms = {"bad-code", "unknown-yubikey"}
    for e in entries:
        if e["result"] == "fail":
            assert ("STOLEN-PASSWORD" in e["line"]) == (e["reason"] in alarms), e["line"]


def test_caps_lock_and_grace(server):
    server.enable_imap()
    server.add_user("alice", PASSWORD, totp=False)
    key = enrol(server, "alice", YubiKey())
    server.start()
    code = key.code()
    # typed with caps lock on: the same code, folded
    assert imap_login(server, "alice", PASSWORD + code.upper()) is True
    # device grace (default on): the same code again from the same IP, for clients that
    # re-send their stored password on every connection
    assert pop3_login(server, "alice", PASSWORD + code) is True
    assert "factor=grace" in server.cli("log", "alice", "--limit", "1").stdout


def test_add_generates_ykpersonalize_command(server):
    server.configure("auth", "mfa_grace", 0)
    server.enable_imap()
    server.add_user("alice", PASSWORD, totp=False)
    out = server.cli("yubikey", "add", "alice").stdout
    cmd = out.strip().splitlines()[-1]
    m = re.fullmatch(r"ykpersonalize -2 -ofixed=(vv[cbdefghijklnrtuv]{10}) -ouid=([0-9a-f]{12}) "
                     r"-a([0-9a-f]{32}) -o-static-ticket -o-strong-pw1 -o-strong-pw2 "
                     r"-o-man-update", cmd)
    assert m, out
    key = YubiKey.from_hex(m.group(3), m.group(2), m.group(1))
    listed = server.cli("yubikey", "list", "alice").stdout
    assert listed.startswith(key.public_id + "\t") and "last-used=never" in listed
    assert "yubikey=1" in server.cli("user", "list").stdout
    server.start()
    assert imap_login(server, "alice", PASSWORD + key.code()) is True
    assert "last-used=never" not in server.cli("yubikey", "list", "alice").stdout
    # removed: its codes are refused
    server.cli("yubikey", "remove", "alice", key.public_id)
    assert server.cli("yubikey", "list", "alice").stdout == ""
    assert pop3_login(server, "alice", PASSWORD + key.code()) == FAILED


AES = "00112233445566778899aabbccddeeff"
UID = "0a0b0c0d0e0f"
PUB = "vvcbdefghijk"


@pytest.mark.parametrize("args,message", [
    (["--aes-key", AES[:-1], "--private-id", UID, "--public-id", PUB], "AES key must be 32 hex"),
    (["--aes-key", AES + "0", "--private-id", UID, "--public-id", PUB], "AES key must be 32 hex"),
    (["--aes-key", "x" * 32, "--private-id", UID, "--public-id", PUB], "AES key must be 32 hex"),
    (["--aes-key", AES, "--private-id", UID[:-1], "--public-id", PUB], "private id must be 12"),
    (["--aes-key", AES, "--private-id", "0a0b0c0d0e0g", "--public-id", PUB],
     "private id must be 12"),
    (["--aes-key", AES, "--private-id", UID, "--public-id", "vvcbdefghija"],
     "public id must be 12 modhex"),
    (["--aes-key", AES, "--private-id", UID, "--public-id", "0123456789ab"],
     "public id must be 12 modhex"),
    (["--aes-key", AES, "--private-id", UID], "go together"),
    (["--aes-key", AES], "go together"),
])
def test_add_refuses_bad_formats(server, args, message):
    server.add_user("alice", PASSWORD, totp=False)
    r = server.cli("yubikey", "add", "alice", *args, check=False)
    assert r.returncode == 2, r
    assert len(r.stderr.splitlines()) == 1 and message in r.stderr, r.stderr
    assert server.cli("yubikey", "list", "alice").stdout == ""


def test_cli_errors(server):
    server.add_user("alice", PASSWORD, totp=False)
    key = YubiKey()
    r = server.cli("yubikey", "add", "nobody", *key.cli_args(), check=False)
    assert r.returncode == 1 and "unknown user" in r.stderr, r
    enrol(server, "alice", key)
    r = server.cli("yubikey", "add", "alice", *key.cli_args(), check=False)
    assert r.returncode == 1 and "enrolled already" in r.stderr, r
    r = server.cli("yubikey", "remove", "alice", "vvcccccccccc", check=False)
    assert r.returncode == 1 and "no YubiKey" in r.stderr, r
    r = server.cli("yubikey", "remove", "alice", check=False)
    assert r.returncode == 2, r
    # upper case (caps lock) is the same public id
    server.cli("yubikey", "remove", "alice", key.public_id.upper())
    assert "yubikey=0" in server.cli("user", "list").stdout
