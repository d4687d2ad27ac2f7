"""twofold vs Dovecot, side by side on this machine in one run (run it through tests/bench/run).

Both servers: loopback high ports, implicit TLS, the same ECDSA P-256 certificate, maildirs,
the same users and the same corpus. Figures:
  1. TLS connect + POP3 login + QUIT per second, 8 parallel clients:
     twofold app password vs Dovecot SHA512-CRYPT
  2. the same with password+TOTP (a fresh code per login: one login per user) vs Dovecot
     ARGON2ID m=65536 t=2 (twofold pwhash_memlimit=67108864 opslimit=2)
  3. POP3S drain (RETR + DELE of every message, QUIT) of the corpus by 8 clients, MB/s
  4. Pss per idle logged-in POP3 connection (sum of smaps_rollup Pss of every process of the
     server with N idle sessions, minus the baseline, / N)
  5. IMAP full initial sync of the corpus in one INBOX: UID FETCH 1:* (FLAGS INTERNALDATE
     RFC822.SIZE BODY.PEEK[]) in chunks of 500 UIDs, MB/s
  6. a 100,000-message INBOX (small MIME messages): first SELECT (the median of 3 sessions, each
     after deleting the server's index files of that mailbox: a single sample on this 2-core box
     swung by +-30 %), then FETCH 1:* (ENVELOPE BODYSTRUCTURE) cold (the server's cache empty;
     the message files read into the page cache just before, for each server alike), and warm
     in a second session; seconds
  7. Pss per IMAP connection in IDLE (INBOX selected), as in 4
  q. a phone's resync of a 10,000-message INBOX after another client changed 1 % of it (\\Flagged
     on 100 messages, 20 expunged): SELECT (QRESYNC (uidvalidity modseq)) after ENABLE QRESYNC
     (q1) against a full resync without it, SELECT + UID FETCH 1:* (FLAGS) (q2); login not
     timed, medians of QRESYNC_ROUNDS alternating sessions; seconds
  8. full TLS 1.3 handshakes per second (connect, handshake, POP3 greeting, close; no
     resumption), 8 clients: twofold signing through its key process vs Dovecot; printed beside
     it, twofold with the key in every worker ([tls] key_process = no: what the hop costs) and
     each server's CPU per handshake
  s. a phone's first page of a date-sorted 10,000-message INBOX: UID SORT RETURN (PARTIAL 1:50
     COUNT) (REVERSE DATE) UTF-8 ALL (ESORT, RFC 5267), in a session that ran it once (the sort
     keys cached), the median of SORT_ROUNDS; seconds
Dovecot runs in two login modes (Debian's default, a login process per connection, and the
high-performance one: service_count = 0, process_min_avail = 2); login figures are taken in both
and the stronger is compared, the rest in the high-performance mode. Corpora are generated once
(fixed seeds) into a cache dir and hard-linked into both servers' maildirs. Before each figure
the bench waits (bounded) for the machine to be nearly idle.
The POP3 client is a minimal reader (chunked reads, no per-line Python work) run in 8 processes;
the IMAP client (imapclient.py) skips literals by size.
"""

import argparse
import base64
import concurrent.futures
import ctypes
import ctypes.util
import hashlib
import hmac
import multiprocessing
import os
import pwd
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
sys.path.insert(0, str(HERE))

import corpus as corpus_mod  # noqa: E402
import imapclient  # noqa: E402
import twofold_harness as th  # noqa: E402

CLIENTS = 8
LOGIN_SECONDS = 5.0
LOGIN_MAX_PER_CLIENT = 5000
TOTP_USERS = 128
IDLE_CONNECTIONS = 40
IMAP_SYNC_USER = "i10k"
IMAP_BIG_USER = "i100k"
IMAP_NAMED_USER = "i100kw"  # the same mailbox, files named with ,S= and ,W=
SYNC_CHUNK = 500
SYNC_ITEMS = "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"
PASSWORD = "Bench-Pw-4f8a2c"
ARGON_OPS, ARGON_MEM = 2, 67108864
FIRST_SELECT_ROUNDS = 3
QRESYNC_ROUNDS = 5
HANDSHAKE_ROUNDS = 3
SORT_ROUNDS = 5
SORT_PAGE = "UID SORT RETURN (PARTIAL 1:50 COUNT) (REVERSE DATE) UTF-8 ALL"
# What makes a SELECT the first one: each server's per-mailbox index files (in the maildir).
TWOFOLD_INDEX_FILES = ("twofold.index", "twofold.index-wal", "twofold.index-shm",
                       "twofold.uidvalidity")
DOVECOT_INDEX_FILES = ("dovecot.index", "dovecot.index.log", "dovecot.index.log.2",
                       "dovecot.index.cache", "dovecot-uidlist")


# --- a small fast POP3 client ------------------------------------------------------------------

class Pop3:
    def __init__(self, port, ctx, timeout=60):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.buf = bytearray()
        self.expect_ok(self.line())

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return out
            self._fill()

    def multiline(self):
        """The body of a multi-line reply (after its +OK line); returns its length."""
        if self.buf.startswith(b".\r\n"):
            del self.buf[:3]
            return 0
        start = 0
        while True:
            i = self.buf.find(b"\r\n.\r\n", start)
            if i >= 0:
                n = i + 2
                del self.buf[:i + 5]
                return n
            start = max(0, len(self.buf) - 4)
            self._fill()

    @staticmethod
    def expect_ok(reply):
        if not reply.startswith(b"+OK"):
            raise RuntimeError(reply.decode("utf-8", "replace"))
        return reply

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.expect_ok(self.line())

    def login(self, user, password):
        self.cmd(f"USER {user}")
        self.cmd(f"PASS {password}")

    def quit(self):
        self.cmd("QUIT")
        self.sock.close()


def client_context(cert):
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def totp(secret, now=None, digits=6, period=30):
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((now or time.time()) // period)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return f"{value % 10 ** digits:0{digits}d}"


# --- workers run in separate processes -----------------------------------------------------------

def _login_loop(args):
    """Repeats connect+login+QUIT as user until the deadline; returns (ok, failed)."""
    port, cert, user, password, deadline = args
    cpu0 = time.process_time()
    ctx = client_context(cert)
    ok = failed = 0
    for _ in range(LOGIN_MAX_PER_CLIENT):
        if time.time() >= deadline:
            break
        try:
            p = Pop3(port, ctx)
            p.login(user, password)
            p.quit()
            ok += 1
        except (OSError, RuntimeError, ConnectionError):
            failed += 1
    return ok, failed, time.process_time() - cpu0


def _login_once_each(args):
    """One connect+login+QUIT per (user, password-or-secret); fresh TOTP code at login time."""
    port, cert, accounts = args
    cpu0 = time.process_time()
    ctx = client_context(cert)
    ok = failed = 0
    for user, password, secret in accounts:
        try:
            p = Pop3(port, ctx)
            p.login(user, password + (totp(secret) if secret else ""))
            p.quit()
            ok += 1
        except (OSError, RuntimeError, ConnectionError):
            failed += 1
    return ok, failed, time.process_time() - cpu0


def _handshake_loop(args):
    """Full TLS 1.3 handshakes (a new context each time: no ticket to resume with) until the
    deadline, each up to the POP3 greeting; returns (ok, failed, client CPU)."""
    port, cert, deadline = args
    cpu0 = time.process_time()
    ok = failed = 0
    while time.time() < deadline:
        ctx = client_context(cert)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    if tls.recv(64).startswith(b"+OK"):
                        ok += 1
                    else:
                        failed += 1
        except (OSError, ssl.SSLError):
            failed += 1
    return ok, failed, time.process_time() - cpu0


def _drain(args):
    """RETR + DELE every message of the user's maildrop, QUIT; returns octets received."""
    port, cert, user, password = args
    cpu0 = time.process_time()
    p = Pop3(port, client_context(cert), timeout=300)
    p.login(user, password)
    count = int(p.cmd("STAT").split()[1])
    total = 0
    for i in range(1, count + 1):
        p.cmd(f"RETR {i}")
        total += p.multiline()
        p.cmd(f"DELE {i}")
    p.quit()
    return total, time.process_time() - cpu0


def parallel(fn, jobs):
    with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
        return pool.map(fn, jobs)


# --- process memory ------------------------------------------------------------------------------

def tree_cpu_seconds(pid):
    """CPU time of pid, its live descendants and its reaped children (cutime, cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in [pid] + th._descendants(pid):
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(f[11]) + int(f[12]) + (int(f[13]) + int(f[14]) if p == pid else 0)
    return total / tick


def tree_pss_kib(pid):
    """Sum of Pss over pid and all its descendants, KiB."""
    total = 0
    for p in [pid] + th._descendants(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            pass
    return total


# --- the two servers -----------------------------------------------------------------------------

def argon2id_hash(password):
    """$argon2id$v=19$m=65536,t=2,p=1$... from libsodium (doveadm pw enforces t>=3)."""
    lib = ctypes.CDLL(ctypes.util.find_library("sodium"))
    if lib.sodium_init() < 0:
        raise RuntimeError("sodium_init failed")
    out = ctypes.create_string_buffer(128)
    pw = password.encode()
    if lib.crypto_pwhash_argon2id_str(out, pw, ctypes.c_ulonglong(len(pw)),
                                      ctypes.c_ulonglong(ARGON_OPS),
                                      ctypes.c_size_t(ARGON_MEM)) != 0:
        raise RuntimeError("crypto_pwhash_argon2id_str failed")
    return out.value.decode()


class Dovecot:
    MODES = {
        "default": "Debian's defaults: a new login process per connection",
        "performance": "high-performance login: service_count = 0, process_min_avail = 2",
    }

    def __init__(self, root, cert, key, uid, gid):
        self.mode = "default"
        self.cert, self.key = cert, key
        self.dir = Path(root) / "dovecot"
        self.mail = Path(root) / "dovecot-mail"
        for d in (self.dir, self.mail):
            d.mkdir(mode=0o755)
        os.chown(self.mail, uid, gid)
        self.uid, self.gid = uid, gid
        self.pop3_port, self.imap_port = th.free_port(), th.free_port()
        self.conf = self.dir / "dovecot.conf"
        self.passwd = self.dir / "passwd"
        self.log_path = self.dir / "dovecot.log"
        self.proc = None
        self.write_conf()

    def login_service(self, name, listener, port):
        perf = ("  service_count = 0\n  process_min_avail = 2\n"
                if self.mode == "performance" else "")
        return (f"service {name} {{\n{perf}  inet_listener {listener[:-1]} {{\n    port = 0\n  }}\n"
                f"  inet_listener {listener} {{\n    port = {port}\n    ssl = yes\n  }}\n}}\n")

    def write_conf(self):
        cert, key, uid, gid = self.cert, self.key, self.uid, self.gid
        self.conf.write_text(f"""\
# private benchmark instance (tests/bench): loopback only, implicit TLS only
base_dir = {self.dir}/run
state_dir = {self.dir}/state
instance_name = twofold-bench-dovecot
protocols = imap pop3
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain
auth_cache_size = 0
log_path = {self.log_path}
mail_location = maildir:{self.mail}/%u
first_valid_uid = {min(uid, 100)}
first_valid_gid = {min(gid, 100)}
mail_max_userip_connections = 100
passdb {{
  driver = passwd-file
  args = {self.passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.mail}/%u
}}
{self.login_service("imap-login", "imaps", self.imap_port)}\
{self.login_service("pop3-login", "pop3s", self.pop3_port)}\
service imap {{
  process_limit = 1024
}}
protocol pop3 {{
  pop3_uidl_format = %08Xu%08Xv
}}
""")

    def set_users(self, entries):
        """entries: (user, scheme-prefixed hash)."""
        self.passwd.write_text("".join(f"{u}:{h}::::::\n" for u, h in entries))
        os.chmod(self.passwd, 0o644)

    def maildir(self, user):
        return self.mail / user

    def start(self):
        self.log_file = open(self.dir / "stderr.log", "ab")
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=self.log_file,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited:\n" + self.log())
            try:
                socket.create_connection(("127.0.0.1", self.pop3_port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("dovecot does not listen:\n" + self.log())

    @staticmethod
    def version():
        r = subprocess.run(["dovecot", "--version"], capture_output=True, text=True)
        return r.stdout.split()[0] if r.returncode == 0 and r.stdout else "?"

    def log(self):
        out = ""
        for p in (self.dir / "stderr.log", self.log_path):
            if p.exists():
                out += p.read_text(errors="replace")
        return out

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, mode):
        self.stop()
        self.mode = mode
        self.write_conf()
        self.start()


# --- the benchmark -------------------------------------------------------------------------------

def make_maildir(md, uid, gid):
    for d in (md, md / "tmp", md / "new", md / "cur"):
        if not d.exists():
            d.mkdir(mode=0o700)
            os.chown(d, uid, gid)


def cached_corpus(cache, name, corpus, uid, gid):
    """The corpus written once as files 000000, 000001, ... under cache/name (reused by later
    runs: a 'complete' file records count and bytes). Returns (dir, [sizes])."""
    d = Path(cache) / name
    done = d / "complete"
    if done.exists():
        count, _ = (int(x) for x in done.read_text().split())
        if count == corpus.count:
            return d, [(d / f"{i:06d}").stat().st_size for i in range(count)]
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True, mode=0o755)
    sizes = []
    for i, data in enumerate(corpus):
        path = d / f"{i:06d}"
        with open(path, "wb") as f:
            f.write(data)
        os.chown(path, uid, gid)
        os.chmod(path, 0o600)
        sizes.append(len(data))
    done.write_text(f"{corpus.count} {sum(sizes)}\n")
    return d, sizes


def link_messages(src, md, indexes, uid, gid, info=None, sizes=None):
    """Hard-links cached messages into maildir md (new/, or cur/ with ':2,'+info): both
    servers read the same inodes, and neither ever writes into a message file. sizes: per
    message (size, CRLF size) to put into the names as ,S= and ,W= (as Dovecot's LDA and
    twofold name the files they write)."""
    make_maildir(md, uid, gid)
    sub = "new" if info is None else "cur"
    suffix = "" if info is None else ":2," + info
    for i in indexes:
        fields = f",S={sizes[i][0]},W={sizes[i][1]}" if sizes else ""
        os.link(src / f"{i:06d}", md / sub / f"1700000000.M{i}P1.bench{fields}{suffix}")


def crlf_sizes(src, count):
    """(size, size with every LF as CRLF) of each cached message (the corpus uses LF only)."""
    out = []
    for i in range(count):
        data = (src / f"{i:06d}").read_bytes()
        out.append((len(data), len(data) + data.count(b"\n")))
    return out


def cpu_busy(seconds=1.0):
    """Fraction of all CPUs busy during the next seconds (anyone's work)."""
    def sample():
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def wait_quiet(limit=0.25, patience=30):
    """Waits (bounded) until the machine is nearly idle before a measurement; returns the
    busy fraction seen last, which the report prints."""
    deadline = time.monotonic() + patience
    busy = cpu_busy()
    while busy > limit and time.monotonic() < deadline:
        busy = cpu_busy(2.0)
    return busy


class Bench:
    def __init__(self, args):
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="twofold-bench-", dir="/tmp"))
        os.chmod(self.root, 0o755)
        self.cert, self.key = th.make_cert(self.root / "tls")
        self.uid, self.gid = th.ensure_service_user()
        self.results = []
        self.client_cpu = []

    def setup_twofold(self):
        s = th.Server(self.cert, self.key)
        s.configure("server", "min_spare", 8)
        s.configure("server", "max_spare", 16)
        s.configure("server", "max_workers", IDLE_CONNECTIONS + 24)
        # every client of the bench comes from 127.0.0.1
        s.configure("server", "max_prelogin_per_ip", IDLE_CONNECTIONS + 24)
        s.configure("server", "max_sessions_per_ip", IDLE_CONNECTIONS + 24)
        s.enable_imap()
        s.configure("auth", "pwhash_opslimit", ARGON_OPS)
        s.configure("auth", "pwhash_memlimit", ARGON_MEM)
        self.tf = s
        t0 = time.time()
        # The CLI hashes each password with the real Argon2id cost: run one per CPU.
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            users = list(pool.map(lambda i: s.add_user(f"u{i:03d}", password=PASSWORD),
                                  range(max(TOTP_USERS, IDLE_CONNECTIONS))))
            users += list(pool.map(lambda n: s.add_user(n, password=PASSWORD),
                                   (IMAP_SYNC_USER, IMAP_BIG_USER, IMAP_NAMED_USER)))
            names = [f"u{i:03d}" for i in range(max(TOTP_USERS, CLIENTS, IDLE_CONNECTIONS))]
            names += [IMAP_SYNC_USER, IMAP_BIG_USER, IMAP_NAMED_USER]
            apppasses = list(pool.map(lambda n: s.apppass(n, proto="all", label="bench"),
                                      names))
        users = users[:TOTP_USERS]
        self.tf_totp = [(u.name, u.password, u.secret) for u in users]
        self.tf_apppass = dict(zip(names, apppasses))
        print(f"  twofold: {TOTP_USERS} users with TOTP, {len(self.tf_apppass)} app passwords "
              f"({time.time() - t0:.1f} s)", flush=True)

    def setup_dovecot(self):
        d = Dovecot(self.root, self.cert, self.key, self.uid, self.gid)
        sha = subprocess.run(["doveadm", "pw", "-s", "SHA512-CRYPT", "-p", PASSWORD],
                             check=True, capture_output=True, text=True).stdout.strip()
        argon = "{ARGON2ID}" + argon2id_hash(PASSWORD)
        users = [(f"u{i:03d}", sha) for i in range(max(CLIENTS, IDLE_CONNECTIONS))]
        users += [(f"a{i:03d}", argon) for i in range(TOTP_USERS)]
        users += [(IMAP_SYNC_USER, sha), (IMAP_BIG_USER, sha), (IMAP_NAMED_USER, sha)]
        d.set_users(users)
        self.dc = d
        print(f"  dovecot: {len(users)} users (SHA512-CRYPT and {argon.split('$')[3]})",
              flush=True)

    def write_corpus(self):
        t0 = time.time()
        c = corpus_mod.Corpus(count=self.args.messages,
                              target_bytes=int(self.args.megabytes * 1e6))
        src, sizes = cached_corpus(self.args.cache, f"corpus-{c.count}-{c.target}-{c.seed}", c,
                                   self.uid, self.gid)
        self.corpus_sizes = sizes
        for md_of in (self.tf.maildir, self.dc.maildir):
            for k in range(CLIENTS):
                link_messages(src, md_of(f"u{k:03d}"), range(k, c.count, CLIENTS),
                              self.uid, self.gid)
            link_messages(src, md_of(IMAP_SYNC_USER), range(c.count), self.uid, self.gid)
        self.corpus_bytes = sum(sizes)
        print(f"  corpus: {c.count} messages, {self.corpus_bytes / 1e6:.1f} MB, seed {c.seed} "
              f"(POP3: spread over {CLIENTS} users; IMAP: all in {IMAP_SYNC_USER}'s INBOX; "
              f"{time.time() - t0:.1f} s)", flush=True)
        t0 = time.time()
        big = corpus_mod.SmallCorpus(count=self.args.big_messages)
        src, sizes = cached_corpus(self.args.cache, f"small-{big.count}-{big.seed}", big,
                                   self.uid, self.gid)
        named = crlf_sizes(src, big.count)
        self.big_src, self.big_count = src, big.count
        for md_of in (self.tf.maildir, self.dc.maildir):
            link_messages(src, md_of(IMAP_BIG_USER), range(big.count), self.uid, self.gid,
                          info="S")
            link_messages(src, md_of(IMAP_NAMED_USER), range(big.count), self.uid, self.gid,
                          info="S", sizes=named)
        print(f"  big mailbox: {big.count} messages, {sum(sizes) / 1e6:.1f} MB, seed {big.seed}, "
              f"in {IMAP_BIG_USER}'s INBOX as seen mail in cur/, and again in {IMAP_NAMED_USER}'s "
              f"with ,S= ,W= in the names ({time.time() - t0:.1f} s)",
              flush=True)

    def report(self, name, tf, dc, unit, fmt="{:.1f}"):
        ratio = tf / dc if dc else float("nan")
        cpu, self.client_cpu = self.client_cpu, []
        self.results.append((name, tf, dc, unit, ratio))
        print(f"{name:<48} twofold {fmt.format(tf):>9} {unit:<6} dovecot {fmt.format(dc):>9} "
              f"{unit:<6} ratio {ratio:5.2f}", flush=True)
        if cpu:
            print("    (client CPU / wall: " + ", ".join(
                f"{who} {c:.1f}/{w:.1f} s" for who, (c, w) in zip(("twofold", "dovecot"), cpu)) +
                f", of {os.cpu_count()} CPUs)", flush=True)

    # 1 and 2 -------------------------------------------------------------------------------

    def login_rate(self, port, users_passwords):
        # One untimed login per user first: a server's first open of a maildrop (moving and
        # indexing its new mail) is not what a login costs.
        parallel(_login_once_each, [(port, self.cert, [(u, p, None)]) for u, p in users_passwords])
        deadline = time.time() + LOGIN_SECONDS
        t0 = time.time()
        res = parallel(_login_loop, [(port, self.cert, u, p, deadline)
                                     for u, p in users_passwords])
        return self.tally(res, t0)

    def tally(self, res, t0):
        wall = time.time() - t0
        ok, failed = sum(r[0] for r in res), sum(r[1] for r in res)
        self.client_cpu.append((sum(r[2] for r in res), wall))
        return ok / wall, failed

    def bench_apppass(self):
        tf_users = [(f"u{i:03d}", self.tf_apppass[f"u{i:03d}"]) for i in range(CLIENTS)]
        dc_users = [(f"u{i:03d}", PASSWORD) for i in range(CLIENTS)]
        wait_quiet()
        tf, tf_fail = self.login_rate(self.tf.pop3_port, tf_users)
        dc, dc_fail = self.both_modes(lambda: self.login_rate(self.dc.pop3_port, dc_users))
        self.report("1 login/s, 8 clients: apppass vs SHA512-CRYPT", tf, dc, "/s")
        self.note_failures(tf_fail, dc_fail)

    def once_each_rate(self, port, accounts):
        jobs = [(port, self.cert, accounts[i::CLIENTS]) for i in range(CLIENTS)]
        t0 = time.time()
        res = parallel(_login_once_each, jobs)
        return self.tally(res, t0)

    def bench_totp(self):
        # Untimed first logins (app password on twofold, the Argon2 password on Dovecot): a
        # user's first login provisions the mailbox (twofold also creates the five special-use
        # folders, ~0.1 s); Dovecot's second login mode would otherwise see it done already.
        parallel(_login_once_each, [(self.tf.pop3_port, self.cert,
                                     [(u, self.tf_apppass[u], None) for u, _, _ in
                                      self.tf_totp[i::CLIENTS]]) for i in range(CLIENTS)])
        parallel(_login_once_each, [(self.dc.pop3_port, self.cert,
                                     [(f"a{k:03d}", PASSWORD, None)
                                      for k in range(i, TOTP_USERS, CLIENTS)])
                                    for i in range(CLIENTS)])
        wait_quiet()
        tf, tf_fail = self.once_each_rate(self.tf.pop3_port, self.tf_totp)
        dc, dc_fail = self.both_modes(lambda: self.once_each_rate(
            self.dc.pop3_port, [(f"a{i:03d}", PASSWORD, None) for i in range(TOTP_USERS)]))
        self.report("2 login/s, 8 clients: pw+TOTP vs ARGON2ID", tf, dc, "/s")
        self.note_failures(tf_fail, dc_fail)

    def both_modes(self, measure):
        """Measures Dovecot in each login mode (restarting it between them) and keeps the
        stronger figure; prints both. Leaves Dovecot in the performance mode."""
        best = None
        seen = []
        for mode in ("default", "performance"):
            if self.dc.mode != mode:
                self.dc.restart(mode)
                time.sleep(1.0)
            wait_quiet()
            rate, fail = measure()
            cpu = self.client_cpu.pop()
            seen.append(f"{mode} {rate:.1f}/s")
            if best is None or rate > best[0]:
                best = (rate, fail, cpu)
        self.client_cpu.append(best[2])
        print("    (dovecot login modes: " + ", ".join(seen) + "; the stronger is compared)",
              flush=True)
        return best[0], best[1]

    @staticmethod
    def note_failures(tf_fail, dc_fail):
        if tf_fail or dc_fail:
            print(f"    (failed logins: twofold {tf_fail}, dovecot {dc_fail})", flush=True)

    # 3 -------------------------------------------------------------------------------------

    def drain_rate(self, port, passwords):
        t0 = time.time()
        res = parallel(_drain, [(port, self.cert, u, p) for u, p in passwords])
        wall = time.time() - t0
        got = sum(r[0] for r in res)
        self.client_cpu.append((sum(r[1] for r in res), wall))
        return got / 1e6 / wall, got

    def bench_drain(self):
        tf_users = [(f"u{i:03d}", self.tf_apppass[f"u{i:03d}"]) for i in range(CLIENTS)]
        dc_users = [(f"u{i:03d}", PASSWORD) for i in range(CLIENTS)]
        wait_quiet()
        tf, tf_bytes = self.drain_rate(self.tf.pop3_port, tf_users)
        wait_quiet()
        dc, dc_bytes = self.drain_rate(self.dc.pop3_port, dc_users)
        self.report("3 POP3S drain RETR+DELE, 8 clients", tf, dc, "MB/s")
        print(f"    (octets received: twofold {tf_bytes}, dovecot {dc_bytes})", flush=True)
        left = sum(len(list((self.tf.maildir(u) / d).iterdir()))
                   for u, _ in tf_users for d in ("new", "cur"))
        if left:
            print(f"    (twofold left {left} messages after the drain)", flush=True)

    # 4 -------------------------------------------------------------------------------------

    def idle_pss(self, pid, port, passwords):
        ctx = client_context(self.cert)
        warm = Pop3(port, ctx)
        warm.login(*passwords[0])
        warm.quit()
        time.sleep(1.0)
        base = tree_pss_kib(pid)
        conns = []
        try:
            for u, p in passwords:
                c = Pop3(port, ctx)
                c.login(u, p)
                conns.append(c)
            time.sleep(1.0)
            loaded = tree_pss_kib(pid)
        finally:
            for c in conns:
                try:
                    c.quit()
                except (OSError, RuntimeError, ConnectionError):
                    pass
        return (loaded - base) / len(passwords), base

    def bench_idle(self):
        names = [f"u{i:03d}" for i in range(IDLE_CONNECTIONS)]
        tf, tf_base = self.idle_pss(self.tf.pid, self.tf.pop3_port,
                                    [(u, self.tf_apppass[u]) for u in names])
        dc, dc_base = self.idle_pss(self.dc.proc.pid, self.dc.pop3_port,
                                    [(u, PASSWORD) for u in names])
        self.report(f"4 Pss per idle POP3 session (N={IDLE_CONNECTIONS})", tf, dc, "KiB",
                    "{:.0f}")
        print(f"    (baseline Pss: twofold {tf_base} KiB, dovecot {dc_base} KiB)", flush=True)

    # 8 -------------------------------------------------------------------------------------

    def handshake_rate(self, pid, port):
        """Full TLS 1.3 handshakes per second by CLIENTS clients for LOGIN_SECONDS, after a
        second of warm-up; (rate, failed, server CPU seconds per handshake)."""
        parallel(_handshake_loop, [(port, self.cert, time.time() + 1.0)] * CLIENTS)
        wait_quiet()
        cpu0, t0 = tree_cpu_seconds(pid), time.time()
        res = parallel(_handshake_loop, [(port, self.cert, t0 + LOGIN_SECONDS)] * CLIENTS)
        rate, failed = self.tally(res, t0)
        ok = sum(r[0] for r in res)
        return rate, failed, (tree_cpu_seconds(pid) - cpu0) / max(1, ok)

    def restart_twofold(self, key_process):
        self.tf.stop()
        if key_process:
            self.tf.unconfigure("tls", "key_process")
        else:
            self.tf.configure("tls", "key_process", "no")
        self.tf.start()

    def bench_handshakes(self):
        """Twofold in both key modes, alternating HANDSHAKE_ROUNDS times (other work on the
        machine moves single samples by 20 %); medians."""
        tf, inw, fails = [], [], 0
        cpu = None
        for _ in range(HANDSHAKE_ROUNDS):
            for key_process, out in ((True, tf), (False, inw)):
                self.restart_twofold(key_process)
                rate, failed, per = self.handshake_rate(self.tf.pid, self.tf.pop3_port)
                out.append((rate, per))
                fails += failed
                c = self.client_cpu.pop()
                cpu = c if key_process else cpu
        self.restart_twofold(True)
        dc, dc_fail, dc_cpu = self.handshake_rate(self.dc.proc.pid, self.dc.pop3_port)
        self.client_cpu.insert(0, cpu)
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        tf_rate, tf_cpu = med([r for r, _ in tf]), med([c for _, c in tf])
        inw_rate, inw_cpu = med([r for r, _ in inw]), med([c for _, c in inw])
        self.report("8 TLS 1.3 handshakes/s, 8 clients (key proc)", tf_rate, dc, "/s")
        print(f"    (median of {HANDSHAKE_ROUNDS}, alternating: key process "
              f"{' '.join(f'{r:.0f}' for r, _ in tf)}/s, key in every worker "
              f"{' '.join(f'{r:.0f}' for r, _ in inw)}/s; server CPU per handshake: key "
              f"process {tf_cpu * 1e6:.0f} us, key in workers {inw_cpu * 1e6:.0f} us "
              f"(the hop: {(tf_cpu - inw_cpu) * 1e6:+.0f} us, {100 * (tf_rate / inw_rate - 1):+.1f} % "
              f"rate), dovecot {dc_cpu * 1e6:.0f} us)", flush=True)
        self.note_failures(fails, dc_fail)

    # 5, 6, 7: IMAP ---------------------------------------------------------------------------

    def imap_connect(self, port, user, password):
        c = imapclient.Imap(port, client_context(self.cert))
        c.login(user, password)
        return c

    def imap_sync(self, port, password):
        """Full initial sync: SELECT, then UID FETCH of every message in chunks of SYNC_CHUNK
        UIDs; returns (MB/s, octets of BODY[] literals, client CPU, wall)."""
        c = self.imap_connect(port, IMAP_SYNC_USER, password)
        c.cmd("SELECT INBOX")
        count = len(self.corpus_sizes)
        cpu0, t0 = time.process_time(), time.perf_counter()
        for first in range(1, count + 1, SYNC_CHUNK):
            c.cmd(f"UID FETCH {first}:{first + SYNC_CHUNK - 1} {SYNC_ITEMS}")
        wall = time.perf_counter() - t0
        self.client_cpu.append((time.process_time() - cpu0, wall))
        got, n = c.literal_octets, c.literals
        c.logout()
        return got / 1e6 / wall, got, n

    def bench_imap_sync(self):
        wait_quiet()
        tf, tf_bytes, tf_n = self.imap_sync(self.tf.imap_port, self.tf_apppass[IMAP_SYNC_USER])
        wait_quiet()
        dc, dc_bytes, dc_n = self.imap_sync(self.dc.imap_port, PASSWORD)
        self.report(f"5 IMAP sync {len(self.corpus_sizes)} msgs, UID FETCH BODY.PEEK[]", tf, dc,
                    "MB/s")
        print(f"    ({SYNC_CHUNK} UIDs per command, one client; literals received: twofold "
              f"{tf_n} / {tf_bytes} octets, dovecot {dc_n} / {dc_bytes} octets)", flush=True)

    def imap_big(self, port, password):
        """SELECT of the big mailbox (its index fresh from the first-SELECT rounds, no cache yet),
        FETCH 1:* (ENVELOPE BODYSTRUCTURE) in that session (cold), then in a new session a SELECT
        and the same FETCH again (warm); seconds."""
        out = {}
        cpu = 0.0
        for phase in ("cold", "warm"):
            c = self.imap_connect(port, IMAP_BIG_USER, password)
            t0 = time.perf_counter()
            c.cmd("SELECT INBOX")
            out["select " + phase] = time.perf_counter() - t0
            cpu0, t0 = time.process_time(), time.perf_counter()
            out["lines " + phase] = c.cmd("FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
            out["fetch " + phase] = time.perf_counter() - t0
            cpu += time.process_time() - cpu0
            c.logout()
        self.client_cpu.append((cpu, out["fetch cold"] + out["fetch warm"]))
        return out

    def warm_big_corpus(self):
        """Reads every file of the big mailbox (the same inodes in both servers' maildirs) so
        each server's cold FETCH starts with the messages in the page cache: this VM reclaims
        cold page cache within minutes, and whichever server went first read them from disk
        and left them cached for the other."""
        for i in range(self.big_count):
            (self.big_src / f"{i:06d}").read_bytes()

    def first_selects(self, port, user, password, maildir, index_files):
        """FIRST_SELECT_ROUNDS first SELECTs, each in a new session after the index files are
        deleted (no session is open then); (median, samples) in seconds."""
        samples = []
        for _ in range(FIRST_SELECT_ROUNDS):
            for name in index_files:
                try:
                    (maildir / name).unlink()
                except FileNotFoundError:
                    pass
            os.sync()
            wait_quiet()
            samples.append(self.first_select(port, user, password))
        return sorted(samples)[len(samples) // 2], samples

    def bench_first_selects(self, user, label):
        tf, tf_all = self.first_selects(self.tf.imap_port, user, self.tf_apppass[user],
                                        self.tf.maildir(user), TWOFOLD_INDEX_FILES)
        dc, dc_all = self.first_selects(self.dc.imap_port, user, PASSWORD,
                                        self.dc.maildir(user), DOVECOT_INDEX_FILES)
        self.report(label, tf, dc, "s", "{:.2f}")
        print(f"    (median of {FIRST_SELECT_ROUNDS}: twofold "
              f"{' '.join(f'{t:.2f}' for t in tf_all)} s, dovecot "
              f"{' '.join(f'{t:.2f}' for t in dc_all)} s)", flush=True)

    def bench_imap_big(self):
        n = self.args.big_messages
        self.bench_first_selects(IMAP_BIG_USER, f"6a first SELECT, {n} msgs")
        self.warm_big_corpus()
        wait_quiet()
        tf = self.imap_big(self.tf.imap_port, self.tf_apppass[IMAP_BIG_USER])
        self.warm_big_corpus()
        wait_quiet()
        dc = self.imap_big(self.dc.imap_port, PASSWORD)
        cpu = self.client_cpu
        self.client_cpu = []
        self.report("6b FETCH 1:* (ENVELOPE BODYSTRUCTURE) cold", tf["fetch cold"],
                    dc["fetch cold"], "s", "{:.2f}")
        self.client_cpu = cpu
        self.report("6c FETCH 1:* (ENVELOPE BODYSTRUCTURE) warm", tf["fetch warm"],
                    dc["fetch warm"], "s", "{:.2f}")
        self.bench_first_selects(IMAP_NAMED_USER, f"6d first SELECT, {n} msgs named ,S= ,W=")
        print(f"    (second SELECT: twofold {tf['select warm']:.2f} s, dovecot "
              f"{dc['select warm']:.2f} s; response lines: twofold {tf['lines cold']}/"
              f"{tf['lines warm']}, dovecot {dc['lines cold']}/{dc['lines warm']})", flush=True)

    def first_select(self, port, user, password):
        c = self.imap_connect(port, user, password)
        t0 = time.perf_counter()
        c.cmd("SELECT INBOX")
        took = time.perf_counter() - t0
        c.logout()
        return took

    def idle_imap_pss(self, pid, port, passwords):
        self.imap_connect(port, *passwords[0]).logout()
        time.sleep(1.0)
        base = tree_pss_kib(pid)
        conns = []
        try:
            for u, p in passwords:
                c = self.imap_connect(port, u, p)
                c.cmd("SELECT INBOX")
                c.idle()
                conns.append(c)
            time.sleep(1.0)
            loaded = tree_pss_kib(pid)
        finally:
            for c in conns:
                try:
                    c.done()
                    c.logout()
                except (OSError, RuntimeError, ConnectionError):
                    pass
        return (loaded - base) / len(passwords), base

    def bench_imap_idle(self):
        names = [f"u{i:03d}" for i in range(IDLE_CONNECTIONS)]
        tf, tf_base = self.idle_imap_pss(self.tf.pid, self.tf.imap_port,
                                         [(u, self.tf_apppass[u]) for u in names])
        dc, dc_base = self.idle_imap_pss(self.dc.proc.pid, self.dc.imap_port,
                                         [(u, PASSWORD) for u in names])
        self.report(f"7 Pss per IMAP session in IDLE (N={IDLE_CONNECTIONS})", tf, dc, "KiB",
                    "{:.0f}")
        print(f"    (INBOX selected, {IDLE_CONNECTIONS} users; baseline Pss: twofold {tf_base} "
              f"KiB, dovecot {dc_base} KiB)", flush=True)

    # s: ESORT ------------------------------------------------------------------------------------

    def sort_page(self, port, password):
        """SORT_PAGE once (the keys cached), then SORT_ROUNDS times: (median s, samples)."""
        c = self.imap_connect(port, IMAP_SYNC_USER, password)
        c.cmd("SELECT INBOX")
        c.cmd(SORT_PAGE)
        samples = []
        for _ in range(SORT_ROUNDS):
            wait_quiet()
            t0 = time.perf_counter()
            c.cmd(SORT_PAGE)
            samples.append(time.perf_counter() - t0)
        c.logout()
        return sorted(samples)[len(samples) // 2], samples

    def bench_sort_page(self):
        tf, tf_all = self.sort_page(self.tf.imap_port, self.tf_apppass[IMAP_SYNC_USER])
        dc, dc_all = self.sort_page(self.dc.imap_port, PASSWORD)
        self.report(f"s1 SORT page RETURN (PARTIAL 1:50), {len(self.corpus_sizes)} msgs", tf, dc,
                    "s", "{:.3f}")
        print(f"    (median of {SORT_ROUNDS}: twofold {' '.join(f'{t:.3f}' for t in tf_all)} s, "
              f"dovecot {' '.join(f'{t:.3f}' for t in dc_all)} s)", flush=True)

    # q: QRESYNC ---------------------------------------------------------------------------------

    def resync_state(self, port, password):
        """ENABLE QRESYNC, SELECT: the (UIDVALIDITY, HIGHESTMODSEQ) a phone keeps."""
        c = self.imap_connect(port, IMAP_SYNC_USER, password)
        c.lines("ENABLE QRESYNC")
        state = {}
        for line in c.lines("SELECT INBOX"):
            for key in (b"UIDVALIDITY", b"HIGHESTMODSEQ"):
                if line.startswith(b"* OK [" + key + b" "):
                    state[key] = int(line.split(b" ")[3].rstrip(b"]"))
        c.logout()
        return state[b"UIDVALIDITY"], state[b"HIGHESTMODSEQ"]

    def resync_changes(self, port, password):
        """Another client: \\Flagged on 1 % of the messages, 20 others expunged."""
        count = len(self.corpus_sizes)
        flagged = ",".join(str(u) for u in range(1, count + 1, 100))
        gone = ",".join(str(u) for u in range(50, count + 1, count // 20))
        c = self.imap_connect(port, IMAP_SYNC_USER, password)
        c.cmd("SELECT INBOX")
        c.cmd(f"UID STORE {flagged} +FLAGS.SILENT (\\Flagged)")
        c.cmd(f"UID STORE {gone} +FLAGS.SILENT (\\Deleted)")
        c.cmd("EXPUNGE")
        c.logout()

    def resync_once(self, port, password, state):
        """One resync in a new session, login not timed: (q1 QRESYNC s, its lines, q2 full s,
        its lines)."""
        out = []
        for qresync in (True, False):
            c = self.imap_connect(port, IMAP_SYNC_USER, password)
            wait_quiet()
            t0 = time.perf_counter()
            if qresync:
                c.cmd("ENABLE QRESYNC")
                lines = c.cmd(f"SELECT INBOX (QRESYNC ({state[0]} {state[1]}))")
            else:
                lines = c.cmd("SELECT INBOX") + c.cmd("UID FETCH 1:* (FLAGS)")
            out += [time.perf_counter() - t0, lines]
            c.logout()
        return out

    def bench_qresync(self):
        servers = {"twofold": (self.tf.imap_port, self.tf_apppass[IMAP_SYNC_USER]),
                   "dovecot": (self.dc.imap_port, PASSWORD)}
        states = {k: self.resync_state(*v) for k, v in servers.items()}
        for port, password in servers.values():
            self.resync_changes(port, password)
        runs = {k: [] for k in servers}
        for _ in range(QRESYNC_ROUNDS):
            for k, (port, password) in servers.items():
                runs[k].append(self.resync_once(port, password, states[k]))
        med = {k: [sorted(r[i] for r in v)[len(v) // 2] for i in range(4)]
               for k, v in runs.items()}
        tf, dc = med["twofold"], med["dovecot"]
        n = len(self.corpus_sizes)
        self.report(f"q1 QRESYNC resync, {n} msgs, 1 % changed", tf[0], dc[0], "s", "{:.3f}")
        self.report("q2 full resync: SELECT + UID FETCH 1:* (FLAGS)", tf[2], dc[2], "s",
                    "{:.3f}")
        print(f"    (median of {QRESYNC_ROUNDS}; QRESYNC is {tf[2] / tf[0]:.1f}x faster than a full "
              f"resync on twofold, {dc[2] / dc[0]:.1f}x on dovecot; response lines QRESYNC/full: "
              f"twofold {tf[1]}/{tf[3]}, dovecot {dc[1]}/{dc[3]}; samples q1: twofold "
              f"{' '.join(f'{r[0]:.3f}' for r in runs['twofold'])} s, dovecot "
              f"{' '.join(f'{r[0]:.3f}' for r in runs['dovecot'])} s)", flush=True)

    def run(self):
        print(f"== setup in {self.root}", flush=True)
        self.setup_twofold()
        self.setup_dovecot()
        self.write_corpus()
        self.tf.start()
        self.dc.start()
        print(f"== measuring ({os.cpu_count()} CPUs; client and servers share them; Dovecot "
              f"{self.dc.version()}, maildir, its default index and cache settings; login "
              f"figures in both of its login modes ({'; '.join(Dovecot.MODES.values())}), the "
              f"rest in the performance mode)", flush=True)
        steps = {"1": self.bench_apppass, "2": self.bench_totp, "3": self.bench_drain,
                 "4": self.bench_idle, "5": self.bench_imap_sync, "6": self.bench_imap_big,
                 "7": self.bench_imap_idle, "8": self.bench_handshakes, "s": self.bench_sort_page,
                 "q": self.bench_qresync}
        for step in self.args.only or sorted(steps):
            if step not in ("1", "2") and self.dc.mode != "performance":
                self.dc.restart("performance")
            steps[step]()
        self.summary()

    TARGETS = {"1": (">=", 2.0), "2": (">=", 1.8), "3": (">=", 1.5), "4": ("<=", 0.5),
               "5": (">=", 1.5), "6a": ("<=", 1.0), "6b": ("<=", 1.0), "6c": ("<=", 1.0),
               "6d": ("<=", 1.0),
               "7": ("<=", 0.5), "8": (">=", 1.0), "s1": ("<=", 1.0),
               "q1": ("<=", 1.0), "q2": ("<=", 1.5)}

    def summary(self):
        print("== summary (ratio = twofold / dovecot)", flush=True)
        print(f"{'figure':<48} {'twofold':>9} {'dovecot':>9} {'unit':<5} {'ratio':>6} "
              f"{'target':>7}  met", flush=True)
        for name, tf, dc, unit, ratio in self.results:
            op, want = self.TARGETS[name.split()[0]]
            met = ratio >= want if op == ">=" else ratio <= want
            print(f"{name:<48} {tf:>9.2f} {dc:>9.2f} {unit:<5} {ratio:>6.2f} {op}{want:<5}  "
                  f"{'yes' if met else 'NO'}", flush=True)

    def cleanup(self):
        try:
            if getattr(self, "dc", None) is not None:
                self.dc.stop()
        finally:
            if getattr(self, "tf", None) is not None:
                self.tf.cleanup(keep=self.args.keep)
            if not self.args.keep:
                shutil.rmtree(self.root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--megabytes", type=float, default=170)
    ap.add_argument("--big-messages", type=int, default=100000)
    ap.add_argument("--only", nargs="*", choices=("1", "2", "3", "4", "5", "6", "7", "8", "s", "q"))
    ap.add_argument("--cache", default="/var/tmp/twofold-bench-cache",
                    help="where generated corpora are kept between runs")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs and logs")
    ap.add_argument("--totp-users", type=int, default=TOTP_USERS,
                    help="users for the password+TOTP login figure (one login each)")
    args = ap.parse_args()
    globals()["TOTP_USERS"] = args.totp_users
    if os.geteuid() != 0:
        sys.exit("bench: run as root (both servers drop to a service user)")
    pwd.getpwnam("dovenull")
    b = Bench(args)
    try:
        b.run()
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
