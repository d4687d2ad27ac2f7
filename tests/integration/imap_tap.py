"""A recording TLS proxy on loopback between a real IMAP client and the daemon.

A client that is not ours (mutt, neomutt, alpine, mbsync) cannot tell us what it sent; the tap
sits in between, terminates the client's TLS with the test certificate, opens its own TLS
connection to the daemon, forwards the bytes unchanged and keeps a decoded copy of both
directions. After a COMPRESS DEFLATE (RFC 4978) that the server accepted, the copy is inflated,
so the record shows the commands of a compressed session as well as the fact that it was
compressed.
"""

import re
import select
import socket
import ssl
import threading
import time
import zlib

# Enough for the few connections of one test; each is a thread and two sockets.
BACKLOG = 16
IO_TIMEOUT = 30.0
COMPRESS_RE = re.compile(rb"^(\S+) COMPRESS DEFLATE\r?$", re.IGNORECASE)


class _Direction:
    """One direction of one connection: splits the stream into lines and, once compression is
    on, inflates before splitting. Literal data is split like lines: the record is for reading
    commands and responses, not for rebuilding messages."""

    def __init__(self):
        self.buf = b""
        self.inflater = None
        self.lines = []

    def feed(self, data):
        if self.inflater is not None:
            data = self.inflater.decompress(data)
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self.lines.append(line.rstrip(b"\r"))
            self._seen(line.rstrip(b"\r"))

    def _seen(self, line):
        pass

    def compress_from_here(self):
        """The rest of the stream (including bytes already buffered) is deflated."""
        self.inflater = zlib.decompressobj(-15)
        rest, self.buf = self.buf, b""
        if rest:
            self.feed(rest)


class Connection:
    """One client connection through the tap: .client and .server are the lines each sent."""

    def __init__(self, number):
        self.number = number
        self.compressed = False
        self._compress_tag = None
        self._c = _Direction()
        self._s = _Direction()
        self._c._seen = self._client_line
        self._s._seen = self._server_line
        self.closed = threading.Event()

    @property
    def client(self):
        return list(self._c.lines)

    @property
    def server(self):
        return list(self._s.lines)

    def _client_line(self, line):
        m = COMPRESS_RE.match(line)
        if m and self._c.inflater is None:
            self._compress_tag = m.group(1)

    def _server_line(self, line):
        tag = self._compress_tag
        if tag is not None and line.startswith(tag + b" "):
            self._compress_tag = None
            if line[len(tag) + 1:].upper().startswith(b"OK"):
                # RFC 4978: the server compresses from the octet after this CRLF, the client
                # from its first command after reading it.
                self.compressed = True
                self._s.compress_from_here()
                self._c.compress_from_here()

    def commands(self):
        """The client's lines as (tag, COMMAND, rest) for those that look like commands; UID
        commands are named 'UID FETCH' and so on."""
        out = []
        for line in self.client:
            parts = line.split(b" ", 2)
            if len(parts) < 2 or not re.fullmatch(rb"[A-Za-z0-9.]+", parts[0]):
                continue
            name = parts[1].upper()
            rest = parts[2] if len(parts) > 2 else b""
            if name == b"UID" and rest:
                sub, _, rest = rest.partition(b" ")
                name = b"UID " + sub.upper()
            out.append((parts[0].decode(), name.decode(), rest.decode(errors="replace")))
        return out


class ImapTap:
    """Listens on 127.0.0.1:port with TLS; each connection is relayed to the daemon's IMAP
    port. Use as a context manager; .connections lists every connection so far."""

    def __init__(self, server):
        self.server = server
        self.connections = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._listen = socket.create_server(("127.0.0.1", 0), backlog=BACKLOG)
        self._listen.settimeout(0.2)
        self.port = self._listen.getsockname()[1]
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(str(server.cert), str(server.key))
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    def __enter__(self):
        self._acceptor.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._stop.set()
        self._acceptor.join(5)
        for t in self._threads:
            t.join(5)
        self._listen.close()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                raw, _ = self._listen.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                conn = Connection(len(self.connections) + 1)
                self.connections.append(conn)
            t = threading.Thread(target=self._relay, args=(raw, conn), daemon=True)
            self._threads.append(t)
            t.start()

    def _relay(self, raw, conn):
        down = up = None
        try:
            raw.settimeout(IO_TIMEOUT)
            down = self._ctx.wrap_socket(raw, server_side=True)
            up = self.server.ssl_context().wrap_socket(
                socket.create_connection(("127.0.0.1", self.server.imap_port), IO_TIMEOUT),
                server_hostname="localhost")
            self._pump(down, up, conn)
        except (OSError, ssl.SSLError):
            pass
        finally:
            for s in (down, up, raw):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass
            conn.closed.set()

    def _pump(self, down, up, conn):
        peers = {down: (up, conn._c), up: (down, conn._s)}
        for s in peers:
            s.setblocking(False)
        while not self._stop.is_set():
            ready = [s for s in peers if s.pending()]
            if not ready:
                ready, _, _ = select.select(list(peers), [], [], 0.2)
            for s in ready:
                other, direction = peers[s]
                try:
                    data = s.recv(65536)
                except (ssl.SSLWantReadError, BlockingIOError):
                    continue
                if not data:
                    return
                direction.feed(data)
                _send_all(other, data)

    def wait_closed(self, count=None, timeout=10.0):
        """Waits until the first count connections (all so far by default) have closed."""
        deadline = time.monotonic() + timeout
        conns = self.connections if count is None else self.connections[:count]
        for c in conns:
            left = deadline - time.monotonic()
            assert c.closed.wait(max(left, 0)), f"connection {c.number} still open"

    def dump(self, path):
        """Writes what each connection carried, client lines "C:" and server lines "S:", to
        path: the record to read when a test of a mail program fails."""
        with open(path, "w", encoding="utf-8", errors="replace") as f:
            for c in self.connections:
                f.write(f"== connection {c.number}{' (compressed)' if c.compressed else ''}\n")
                f.writelines(f"C: {ln.decode(errors='replace')}\n" for ln in c.client)
                f.writelines(f"S: {ln.decode(errors='replace')}\n" for ln in c.server)

    def commands(self):
        """Every connection's commands, in connection order."""
        return [cmd for c in self.connections for cmd in c.commands()]

    def names(self):
        return [name for _, name, _ in self.commands()]


def _send_all(sock, data):
    deadline = time.monotonic() + IO_TIMEOUT
    view = memoryview(data)
    while view:
        try:
            n = sock.send(view)
            view = view[n:]
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            if time.monotonic() > deadline:
                raise TimeoutError("peer does not read")
            select.select([], [sock], [], 0.2)
