"""COMPRESS=DEFLATE (RFC 4978) against the real daemon over TLS: a client doing raw deflate with
Python's zlib on an ssl socket logs in, turns compression on, selects, fetches, IDLEs through a
delivery; the capability is offered only after login; a second COMPRESS and an unknown
mechanism are refused; a decompression bomb ends in the line limit's error, not in memory; a
corrupt stream ends the connection."""

import time
import zlib

from test_append_stream import vm_hwm_kib
from test_imap import Raw, msg, setup_user
from test_memory import session_worker

WINDOW = -15  # raw deflate, the largest window: what the RFC lets a client send


class Wire:
    """The reading end of a connection, as Raw reads it (readline, read), inflating once
    inflate is set; counts the octets that came over the wire."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.inflate = None
        self.octets = 0

    def compressed(self):
        self.inflate = zlib.decompressobj(WINDOW)
        # anything read past the OK's CRLF is compressed already
        rest, self.buf = self.buf, b""
        self.buf = self.inflate.decompress(rest)

    def _more(self):
        data = self.sock.recv(65536)
        if not data:
            return False
        self.octets += len(data)
        self.buf += self.inflate.decompress(data) if self.inflate is not None else data
        return True

    def readline(self):
        while b"\r\n" not in self.buf:
            if not self._more():
                out, self.buf = self.buf, b""
                return out
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read(self, n=-1):
        while n < 0 or len(self.buf) < n:
            if not self._more():
                break
        n = len(self.buf) if n < 0 else n
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def close(self):
        pass


class Client(Raw):
    """Raw IMAP over TLS that deflates what it sends and inflates what it reads once
    compressed() was called (after the tagged OK of COMPRESS)."""

    def __init__(self, server, timeout=10):
        self.sock = server.tls_connect(port=server.imap_port, timeout=timeout)
        self.f = Wire(self.sock)
        self.deflate = None
        self.greeting = self.response()
        self.n = 0

    def compressed(self):
        self.deflate = zlib.compressobj(6, zlib.DEFLATED, WINDOW)
        self.f.compressed()

    def send(self, data):
        if self.deflate is not None:
            data = self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def line(self):
        line = self.f.readline()
        assert line, "connection closed"
        return line


def login_compressed(server, app, timeout=10):
    c = Client(server, timeout=timeout)
    c.login("alice", app)
    _, tagged = c.cmd("COMPRESS DEFLATE")
    assert tagged == b"t2 OK DEFLATE active"
    c.compressed()
    return c


def test_capability_after_login_only_and_refusals(server):
    _, app = setup_user(server, append_limit=10485760)
    c = Client(server)
    assert b"COMPRESS" not in c.greeting
    untagged, _ = c.ok("CAPABILITY")
    assert b"COMPRESS" not in untagged[0]
    _, tagged = c.cmd("COMPRESS DEFLATE")
    assert tagged == b"t2 BAD Not logged in."
    _, tagged = c.login("alice", app)
    assert tagged.endswith(b"APPENDLIMIT=10485760 COMPRESS=DEFLATE] Logged in.")
    untagged, _ = c.ok("CAPABILITY")
    assert untagged[0].endswith(b" COMPRESS=DEFLATE")
    _, tagged = c.cmd("COMPRESS GZIP")
    assert tagged == b"t5 BAD Unknown compression mechanism."
    _, tagged = c.cmd("COMPRESS")
    assert tagged == b"t6 BAD COMPRESS needs a mechanism."
    # still uncompressed: a refused COMPRESS turns nothing on
    c.ok("NOOP")
    _, tagged = c.cmd("COMPRESS deflate")
    assert tagged == b"t8 OK DEFLATE active"
    c.compressed()
    _, tagged = c.cmd("COMPRESS DEFLATE")
    assert tagged == b"t9 NO [COMPRESSIONACTIVE] DEFLATE is active already."
    c.ok("NOOP")
    c.close()


def test_select_fetch_idle_compressed(server):
    body = "".join(f"line {i} of a long and rather repetitive message body\r\n"
                   for i in range(3000))
    big = msg("big", body=body)
    _, app = setup_user(server, messages=[big], idle_keepalive=60)
    c = login_compressed(server, app, timeout=30)
    untagged, tagged = c.ok("SELECT INBOX")
    assert b"* 1 EXISTS" in untagged
    assert tagged == b"t3 OK [READ-WRITE] Select completed."
    before = c.f.octets
    untagged, _ = c.ok("FETCH 1 (BODY.PEEK[])")
    assert untagged == [b"* 1 FETCH (BODY[] {%d}\r\n" % len(big) + big + b")"]
    # the daemon really compressed it (the body compresses to well under a tenth)
    assert c.f.octets - before < len(big) // 5, (c.f.octets - before, len(big))
    # IDLE: a delivery reaches the client while compressed, without waiting for more input
    c.send(b"i IDLE\r\n")
    assert c.response() == b"+ idling\r\n"
    time.sleep(1.0)  # past the idle release: the deflate state was given back
    server.deliver("alice", msg("two"))
    assert c.response() == b"* 2 EXISTS\r\n"
    assert c.response() == b"* 2 RECENT\r\n"
    c.send(b"DONE\r\n")
    _, tagged = c.until(b"i")
    assert tagged == b"i OK Idle completed."
    untagged, _ = c.ok("UID FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert untagged == [b"* 2 FETCH (UID 2 BODY[HEADER.FIELDS (SUBJECT)] {16}\r\n"
                        b"Subject: two\r\n\r\n)"]
    untagged, tagged = c.cmd("LOGOUT")
    assert untagged == [b"* BYE Logging out."]
    assert tagged.endswith(b"OK Logout completed.")
    assert c.eof()


def test_commands_sent_with_compress_and_in_small_pieces(server):
    _, app = setup_user(server, messages=[msg("one")])
    c = Client(server)
    c.login("alice", app)
    # a client that does not wait for the OK: its next command is compressed already
    d = zlib.compressobj(6, zlib.DEFLATED, WINDOW)
    c.sock.sendall(b"z COMPRESS DEFLATE\r\n" + d.compress(b"y SELECT INBOX\r\n") +
                   d.flush(zlib.Z_SYNC_FLUSH))
    assert c.line() == b"z OK DEFLATE active\r\n"
    c.compressed()
    c.deflate = d
    untagged, tagged = c.until(b"y")
    assert tagged == b"y OK [READ-WRITE] Select completed."
    # a command whose compressed bytes arrive one at a time
    data = d.compress(b"x FETCH 1 (FLAGS)\r\n") + d.flush(zlib.Z_SYNC_FLUSH)
    for i in range(len(data)):
        c.sock.sendall(data[i:i + 1])
        time.sleep(0.01)
    untagged, tagged = c.until(b"x")
    assert len(untagged) == 1 and untagged[0].startswith(b"* 1 FETCH (FLAGS (")
    assert tagged == b"x OK Fetch completed."


def bomb(c, prefix, size=15 << 20, suffix=b""):
    """prefix and then size octets of one byte, deflated: ~15 KB, one TLS record, so the
    daemon has read all of it when it answers (a close with our octets unread would reset
    the connection under its answer)."""
    data = c.deflate.compress(prefix + b"x" * size + suffix)
    data += c.deflate.flush(zlib.Z_SYNC_FLUSH)
    assert len(data) < 16384
    return data


def test_decompression_bomb_hits_the_line_limit(server):
    _, app = setup_user(server)
    c = login_compressed(server, app, timeout=30)
    c.ok("NOOP")
    t0 = time.monotonic()
    c.sock.sendall(bomb(c, b"a NOOP "))
    # answered at the limit (64 KiB), not at the end of the line
    assert c.response() == b"* BAD Command line too long.\r\n"
    assert c.response() == b"* BYE Protocol error, closing connection.\r\n"
    assert c.eof()
    assert time.monotonic() - t0 < 10


def test_decompression_bomb_in_a_literal_is_read_in_bounded_chunks(server):
    _, app = setup_user(server, append_limit=100000)
    c = login_compressed(server, app, timeout=30)
    c.ok("NOOP")
    worker = session_worker(server)
    hwm = vm_hwm_kib(worker)
    # a non-synchronising literal over APPENDLIMIT is read and dropped: 15 MiB inflated
    c.sock.sendall(bomb(c, b"a APPEND INBOX {%d+}\r\n" % (15 << 20), suffix=b"\r\n"))
    assert c.response() == b"a NO [TOOBIG] Message is larger than the APPENDLIMIT (100000).\r\n"
    untagged, _ = c.ok("STATUS INBOX (MESSAGES)")
    assert untagged == [b'* STATUS "INBOX" (MESSAGES 0)']
    # the worker never held it
    assert vm_hwm_kib(worker) - hwm < 4096, (hwm, vm_hwm_kib(worker))


def test_corrupt_stream_ends_the_connection(server):
    _, app = setup_user(server)
    c = login_compressed(server, app)
    c.sock.sendall(b"\xff" * 64)  # a reserved block type
    assert c.eof()
    server.wait_log(r"compress: corrupt deflate stream from the client")
    # the daemon goes on
    c = login_compressed(server, app)
    c.ok("NOOP")
