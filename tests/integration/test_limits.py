"""Limits before and after login, per client address and for the whole pool: one address
cannot take every worker (1,000 idle TCP connections and 70 slowloris TLS handshakes from
127.0.0.1 while a client from 127.0.0.2 is greeted within a second), at most
max_prelogin_per_ip / max_sessions_per_ip per address, shorter pre-login timeouts when the pool
is nearly full, and a visible "Server busy" over TLS when it is full."""

import resource
import socket
import ssl
import threading
import time

import pytest

from test_imap import AUTH_FAILED, Raw, quote

GREETING = b"* OK [CAPABILITY "


def tcp(server, port, source="127.0.0.1", timeout=10):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                    source_address=(source, 0))


def tls(server, port, source="127.0.0.1", timeout=10):
    return server.ssl_context().wrap_socket(tcp(server, port, source, timeout),
                                            server_hostname="localhost")


def first_line(sock):
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def hold(server, count):
    """count greeted IMAP connections from 127.0.0.1 that stay before login, a worker each."""
    held = [tls(server, server.imap_port) for _ in range(count)]
    for s in held:
        assert first_line(s).startswith(GREETING)
    return held


def greeted_in(server, source):
    """Seconds from connect to the IMAP greeting, from source."""
    t0 = time.monotonic()
    with tls(server, server.imap_port, source) as s:
        line = first_line(s)
    took = time.monotonic() - t0
    assert line.startswith(GREETING), line
    return took


def refused_without_tls(server, port, source="127.0.0.1"):
    """True when the connection is closed before any TLS reply."""
    try:
        with tls(server, port, source, timeout=5) as s:
            first_line(s)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    return False


class Slowloris:
    """TLS handshakes that never finish: a ClientHello record header, then a byte a second."""

    def __init__(self, server, count):
        self.socks = []
        for _ in range(count):
            try:
                s = tcp(server, server.imap_port)
                s.sendall(b"\x16\x03\x01\x02\x00\x01")
                self.socks.append(s)
            except OSError:
                pass
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.trickle, daemon=True)
        self.thread.start()

    def trickle(self):
        while not self.stop.wait(1.0):
            for s in self.socks:
                try:
                    s.send(b"\x00")
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.thread.join()
        for s in self.socks:
            s.close()


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def test_one_address_cannot_starve_another(server):
    raise_fd_limit(4096)
    server.configure("server", "max_workers", 64)
    server.configure("server", "max_spare", 16)
    server.enable_imap()
    server.start()
    slow = Slowloris(server, 70)
    idle = []
    try:
        for _ in range(1000):
            idle.append(tcp(server, server.imap_port))
        times = []
        for _ in range(5):
            time.sleep(1.0)
            times.append(greeted_in(server, "127.0.0.2"))
        print("greeting from 127.0.0.2 during the attack, s:", [round(t, 3) for t in times])
        assert max(times) < 1.0, times
        server.wait_log(r"refused a connection from 127\.0\.0\.1: it has 32 connections not "
                        r"logged in \(\[server\] max_prelogin_per_ip\)")
    finally:
        slow.close()
        for s in idle:
            s.close()


def test_prelogin_limit_per_address(server):
    server.configure("server", "max_prelogin_per_ip", 3)
    server.enable_imap()
    server.start()
    held = hold(server, 3)
    # POP3 or IMAP: the same address, the same count
    assert refused_without_tls(server, server.pop3_port)
    assert refused_without_tls(server, server.imap_port)
    assert greeted_in(server, "127.0.0.2") < 2
    held.pop().close()
    # room again once the worker has seen the close
    deadline = time.monotonic() + 5
    while True:
        try:
            assert greeted_in(server, "127.0.0.1") < 2
            break
        except (ssl.SSLError, ConnectionError, OSError):
            assert time.monotonic() < deadline, "still refused after a connection closed"
            time.sleep(0.1)
    for s in held:
        s.close()


def imap_login(server, source, name, secret):
    s = tls(server, server.imap_port, source)
    assert first_line(s).startswith(GREETING)
    s.sendall(f"a LOGIN {quote(name)} {quote(secret)}\r\n".encode())
    line = first_line(s)
    while line.startswith(b"* "):
        line = first_line(s)
    return s, line.rstrip(b"\r\n")


def test_session_limit_per_address(server):
    server.configure("server", "max_sessions_per_ip", 2)
    server.add_user("alice")
    app = server.apppass("alice")
    server.enable_imap()
    server.start()
    a, r1 = imap_login(server, "127.0.0.1", "alice", app)
    b, r2 = imap_login(server, "127.0.0.1", "alice", app)
    assert r1.startswith(b"a OK ") and r2.startswith(b"a OK "), (r1, r2)
    c, r3 = imap_login(server, "127.0.0.1", "alice", app)
    assert r3 == b"a NO [UNAVAILABLE] Temporary authentication failure, try again later."
    # the auth service was not asked: two logins in the audit log, not three
    rows = [ln for ln in server.cli("log", "alice").stdout.splitlines() if "result=" in ln]
    assert len(rows) == 2, rows
    server.wait_log(r"refused a login from 127\.0\.0\.1: it has 2 sessions "
                    r"\(\[server\] max_sessions_per_ip\)")
    d, r4 = imap_login(server, "127.0.0.2", "alice", app)
    assert r4.startswith(b"a OK "), r4
    # a wrong password from the limited address is refused the same way, unchecked
    e, r5 = imap_login(server, "127.0.0.1", "alice", "wrong")
    assert r5.startswith(b"a NO [UNAVAILABLE]"), r5
    a.close()
    deadline = time.monotonic() + 5
    while True:
        f, r6 = imap_login(server, "127.0.0.1", "alice", app)
        if r6.startswith(b"a OK ") or time.monotonic() > deadline:
            break
        f.close()
        time.sleep(0.2)
    assert r6.startswith(b"a OK "), r6
    for s in (b, c, d, e, f):
        s.close()


def test_pool_full_answers_busy_and_logs(server):
    server.configure("server", "max_workers", 2)
    server.configure("server", "min_spare", 1)
    server.enable_imap()
    server.start()
    held = hold(server, 2)
    t0 = time.monotonic()
    with tls(server, server.imap_port, "127.0.0.2") as s:
        assert first_line(s) == b"* BYE [UNAVAILABLE] Server busy\r\n"
    with tls(server, server.pop3_port, "127.0.0.3") as s:
        assert first_line(s) == b"-ERR [SYS/TEMP] Server busy\r\n"
    assert time.monotonic() - t0 < 3  # after a second of no worker finishing a session
    server.wait_log(r"all 2 workers busy \(\[server\] max_workers\): 1 connection answered "
                    r"\"Server busy\"")
    # once a worker is free, clients are served again
    held.pop().close()
    deadline = time.monotonic() + 5
    while True:
        with tls(server, server.imap_port, "127.0.0.2") as s:
            line = first_line(s)
        if line.startswith(GREETING) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert line.startswith(GREETING), line
    held[0].close()


def test_pressure_shortens_prelogin_timeouts(server):
    server.configure("server", "max_workers", 4)
    server.configure("server", "min_spare", 1)
    server.configure("server", "handshake_timeout", 30)
    server.configure("server", "login_timeout", 60)
    server.enable_imap()
    server.start()
    held = hold(server, 3)
    # 3 of 4 busy: a client that sends nothing gets 5 s for its handshake, not 30
    s = tcp(server, server.imap_port, "127.0.0.2", timeout=40)
    t0 = time.monotonic()
    assert s.recv(100) == b""
    assert 3 < time.monotonic() - t0 < 10
    s.close()
    # and 15 s to log in, not 60
    s = tls(server, server.imap_port, "127.0.0.2", timeout=70)
    t0 = time.monotonic()
    assert first_line(s).startswith(GREETING)
    assert first_line(s) == b"* BYE Login timeout, closing connection.\r\n"
    assert 12 < time.monotonic() - t0 < 20
    s.close()
    for h in held:
        h.close()
