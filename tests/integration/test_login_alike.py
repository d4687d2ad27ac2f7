"""Review (issue #2/#3): over POP3 an unknown user, a wrong password and a wrong code get the
same bytes after the same time. Each attempt comes from its own loopback address, so the
per-IP failure counter does not make later attempts slower, and the password hash is made
expensive enough (most of a second) that a path skipping the Argon2 work would stand out."""

import socket
import time

import twofold_harness

SLOW = 40


def pass_reply(server, name, secret, source_ip):
    """USER/PASS over raw TLS from source_ip; returns (reply line, seconds PASS took)."""
    raw = socket.create_connection(("127.0.0.1", server.pop3_port), timeout=SLOW,
                                   source_address=(source_ip, 0))
    with server.ssl_context().wrap_socket(raw, server_hostname="localhost") as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"+OK")
        s.sendall(b"USER " + name.encode() + b"\r\n")
        assert f.readline().startswith(b"+OK")
        t0 = time.monotonic()
        s.sendall(b"PASS " + secret.encode() + b"\r\n")
        reply = f.readline()
        took = time.monotonic() - t0
        s.sendall(b"QUIT\r\n")
    return reply, took


def test_unknown_user_wrong_password_wrong_code_alike(server):
    server.configure("auth", "pwhash_opslimit", 4)
    server.configure("auth", "pwhash_memlimit", 128 * 1024 * 1024)
    server.configure("auth", "mfa_grace", 0)
    users = [server.add_user(n) for n in ("alice", "bob", "carol", "dave")]
    server.start()

    def wrong_code(u):
        code = server.code(u.secret)
        return u.password + "%06d" % ((int(code) + 500000) % 1000000)

    attempts = [
        ("unknown", "nobody1", users[0].password + server.code(users[0].secret)),
        ("password", "alice", "not-the-password" + server.code(users[0].secret)),
        ("code", "carol", wrong_code(users[2])),
        ("unknown", "nobody2", "whatever-it-is-123456"),
        ("password", "bob", "not-the-password" + server.code(users[1].secret)),
        ("code", "dave", wrong_code(users[3])),
    ]
    replies, times = set(), {"unknown": [], "password": [], "code": []}
    pass_reply(server, "warm-up", "x", "127.0.0.9")  # the first answer pays for cold caches
    for i, (kind, name, secret) in enumerate(attempts):
        reply, took = pass_reply(server, name, secret, f"127.0.0.{10 + i}")
        replies.add(reply)
        times[kind].append(took)
    assert replies == {b"-ERR [AUTH] Authentication failed.\r\n"}
    # the first failure from a fresh address and name: the policy's first delay, plus the work
    # (the faster of two tries: load elsewhere on the machine only ever adds time)
    delay = twofold_harness.TEST_FAILURE_DELAY_MS / 1000
    extra = {k: min(v) - delay for k, v in times.items()}
    assert all(0 <= e < 5.0 for e in extra.values()), times
    # every path pays the Argon2 verify: none is much faster than the others
    slowest = max(extra.values())
    assert slowest > 0.2, times  # the hash cost is visible at all
    assert min(extra.values()) > 0.5 * slowest, times
    assert "whatever-it-is" not in server.log()
