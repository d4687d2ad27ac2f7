"""A minimal, fast IMAP client for the benchmark: raw TLS socket, literals skipped by size
(never scanned line by line), untagged data counted rather than parsed.

Only what the benchmark needs: LOGIN, SELECT, UID FETCH / FETCH with a tagged completion,
IDLE, LOGOUT, and the untagged lines of a command without literals. Raises RuntimeError on a tagged NO/BAD.
"""

import socket

RECV = 1 << 20


class Imap:
    def __init__(self, port, ctx, timeout=300):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.buf = bytearray()
        self.tagno = 0
        self.literal_octets = 0
        self.literals = 0
        greeting = self._line()
        if not greeting.startswith(b"* OK"):
            raise RuntimeError(greeting.decode("utf-8", "replace"))

    def _fill(self):
        data = self.sock.recv(RECV)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return out
            self._fill()

    def _skip(self, n):
        """Discards n octets of literal data, most of them straight from the socket."""
        have = min(n, len(self.buf))
        del self.buf[:have]
        n -= have
        scratch = bytearray(RECV) if n else None
        while n:
            got = self.sock.recv_into(scratch, min(n, RECV))
            if not got:
                raise ConnectionError("server closed the connection in a literal")
            n -= got

    def send(self, text):
        self.tagno += 1
        tag = f"B{self.tagno:05d}"
        self.sock.sendall(f"{tag} {text}\r\n".encode())
        return tag.encode()

    def _literal_at(self, end):
        """If the line ending at buf[end] ('}' before CRLF) announces a literal, its size."""
        start = self.buf.rfind(b"{", max(0, end - 24), end)
        if start < 0:
            return None
        digits = bytes(self.buf[start + 1:end]).rstrip(b"+")
        return int(digits) if digits.isdigit() else None

    def wait(self, tag):
        """Reads responses up to the tagged completion of tag; returns (untagged lines ending
        outside a literal, i.e. about one per response). Literals are skipped by size."""
        marker = b"\r\n" + tag + b" "
        self.buf[0:0] = b"\r\n"  # the buffer starts at a line start
        lines = 0
        pos = 0
        while True:
            lit = self.buf.find(b"}\r\n", pos)
            stop = len(self.buf) if lit < 0 else lit
            t = self.buf.find(marker, max(0, pos - 2), stop)
            if t >= 0:
                end = self.buf.find(b"\r\n", t + 2)
                while end < 0:
                    self._fill()
                    end = self.buf.find(b"\r\n", t + 2)
                lines += self.buf.count(b"\r\n", pos, t)
                reply = bytes(self.buf[t + 2:end])
                del self.buf[:end + 2]
                status = reply.split(b" ", 2)[1]
                if status != b"OK":
                    raise RuntimeError(reply.decode("utf-8", "replace"))
                return lines
            if lit < 0:
                keep = max(pos, len(self.buf) - len(marker) - 24)
                lines += self.buf.count(b"\r\n", pos, keep)
                del self.buf[:keep]
                pos = 0
                self._fill()
                continue
            n = self._literal_at(lit)
            lines += self.buf.count(b"\r\n", pos, lit)
            if n is None:
                pos = lit + 1
                continue
            self.literals += 1
            self.literal_octets += n
            after = lit + 3
            if after + n <= len(self.buf):
                pos = after + n
                if pos > RECV:
                    del self.buf[:pos]
                    pos = 0
                continue
            need = n - (len(self.buf) - after)
            del self.buf[:]
            self._skip(need)
            pos = 0

    def cmd(self, text):
        return self.wait(self.send(text))

    def lines(self, text):
        """Sends text and returns its untagged response lines (responses without literals:
        SELECT and the like)."""
        tag = self.send(text)
        out = []
        while True:
            line = self._line()
            if line.startswith(tag + b" "):
                if line.split(b" ", 2)[1] != b"OK":
                    raise RuntimeError(line.decode("utf-8", "replace"))
                return out
            out.append(line)

    def login(self, user, password):
        quoted = password.replace("\\", "\\\\").replace('"', '\\"')
        self.cmd(f'LOGIN {user} "{quoted}"')

    def idle(self):
        """Enters IDLE and waits for the continuation."""
        self.idle_tag = self.send("IDLE")
        while True:
            line = self._line()
            if line.startswith(b"+"):
                return
            if line.startswith(self.idle_tag):
                raise RuntimeError(line.decode("utf-8", "replace"))

    def done(self):
        self.sock.sendall(b"DONE\r\n")
        self.wait(self.idle_tag)

    def logout(self):
        try:
            self.cmd("LOGOUT")
        except (ConnectionError, OSError):
            pass
        self.sock.close()
