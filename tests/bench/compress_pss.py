"""Pss per IMAP session in IDLE with COMPRESS=DEFLATE on, beside the same sessions uncompressed
(twofold only; not part of ctest). N users with a small INBOX each; every session logs in,
turns compression on (or not), SELECTs INBOX, FETCHes the headers of every message and IDLEs.
The figure is the sum of smaps_rollup Pss over the daemon's processes with the N sessions
idle, minus the sum with none, divided by N, as bench.py's figure 7.

Usage (as root, after building build/): /usr/bin/python3 tests/bench/compress_pss.py [N] [ROUNDS]
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

import twofold_harness as th  # noqa: E402
from bench import tree_pss_kib  # noqa: E402
from test_compress import Client  # noqa: E402
from test_imap import msg, quote  # noqa: E402


def session(server, user, app, compressed):
    c = Client(server, timeout=60)
    c.ok(f"LOGIN {user} {quote(app)}")
    if compressed:
        _, tagged = c.cmd("COMPRESS DEFLATE")
        assert tagged.endswith(b"OK DEFLATE active"), tagged
        c.compressed()
    c.ok("SELECT INBOX")
    c.ok("FETCH 1:* (FLAGS RFC822.SIZE BODY.PEEK[HEADER])")
    c.send(b"i IDLE\r\n")
    assert c.response() == b"+ idling\r\n"
    return c


def end(c):
    c.send(b"DONE\r\n")
    c.until(b"i")
    c.cmd("LOGOUT")
    c.close()


def measure(server, users, compressed):
    time.sleep(2.0)
    base = tree_pss_kib(server.pid)
    sessions = [session(server, u, a, compressed) for u, a in users]
    time.sleep(2.0)  # past the idle release (0.5 s) of every session
    loaded = tree_pss_kib(server.pid)
    for c in sessions:
        end(c)
    return (loaded - base) / len(users)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    certdir = tempfile.mkdtemp(prefix="twofold-cert-", dir="/tmp")
    cert, key = th.make_cert(certdir)
    server = th.Server(cert, key)
    try:
        server.enable_imap()
        server.configure("server", "max_workers", n + 8)
        server.configure("server", "max_sessions_per_ip", n + 8)
        users = []
        for i in range(n):
            name = f"u{i:03d}"
            server.add_user(name)
            users.append((name, server.apppass(name)))
            for j in range(20):
                server.deliver(name, msg(f"message {j} for {name}", body="Hello.\r\n" * 40))
        server.start()
        figures = {False: [], True: []}
        for _ in range(rounds):
            for compressed in (False, True):
                figures[compressed].append(measure(server, users, compressed))
        for compressed in (False, True):
            f = figures[compressed]
            print(f"{'COMPRESS=DEFLATE' if compressed else 'uncompressed':16s} "
                  f"Pss per IDLE session: {sum(f) / len(f):.0f} KiB "
                  f"(rounds: {', '.join(f'{x:.0f}' for x in f)}; N={n})")
    finally:
        server.stop(check=False)
        server.cleanup()
        shutil.rmtree(certdir, ignore_errors=True)


if __name__ == "__main__":
    main()
