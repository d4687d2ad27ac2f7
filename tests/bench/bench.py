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
The client is a minimal POP3 reader (chunked reads, no per-line Python work) run in 8 processes.
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
import twofold_harness as th  # noqa: E402

CLIENTS = 8
LOGIN_SECONDS = 5.0
LOGIN_MAX_PER_CLIENT = 5000
TOTP_USERS = 128
IDLE_CONNECTIONS = 40
PASSWORD = "Bench-Pw-4f8a2c"
ARGON_OPS, ARGON_MEM = 2, 67108864


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
    def __init__(self, root, cert, key, uid, gid):
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
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {self.imap_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = {self.pop3_port}
    ssl = yes
  }}
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


# --- the benchmark -------------------------------------------------------------------------------

def deliver_maildir(md, data, n, uid, gid):
    for d in (md, md / "tmp", md / "new", md / "cur"):
        if not d.exists():
            d.mkdir(mode=0o700)
            os.chown(d, uid, gid)
    name = f"1700000000.M{n}P1.bench"
    path = md / "new" / name
    with open(path, "wb") as f:
        f.write(data)
    os.chown(path, uid, gid)


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
        s.configure("auth", "pwhash_opslimit", ARGON_OPS)
        s.configure("auth", "pwhash_memlimit", ARGON_MEM)
        self.tf = s
        t0 = time.time()
        # The CLI hashes each password with the real Argon2id cost: run one per CPU.
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            users = list(pool.map(lambda i: s.add_user(f"u{i:03d}", password=PASSWORD),
                                  range(TOTP_USERS)))
            names = [f"u{i:03d}" for i in range(max(CLIENTS, IDLE_CONNECTIONS))]
            apppasses = list(pool.map(lambda n: s.apppass(n, proto="pop3", label="bench"),
                                      names))
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
        d.set_users(users)
        self.dc = d
        print(f"  dovecot: {len(users)} users (SHA512-CRYPT and {argon.split('$')[3]})",
              flush=True)

    def write_corpus(self):
        t0 = time.time()
        c = corpus_mod.Corpus(count=self.args.messages,
                              target_bytes=int(self.args.megabytes * 1e6))
        total = 0
        for i, data in enumerate(c):
            user = f"u{i % CLIENTS:03d}"
            self.tf.deliver(user, data)
            deliver_maildir(self.dc.maildir(user), data, i, self.uid, self.gid)
            total += len(data)
        self.corpus_bytes = total
        print(f"  corpus: {c.count} messages, {total / 1e6:.1f} MB, seed {c.seed} "
              f"({time.time() - t0:.1f} s)", flush=True)

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
        tf_users = [(u, self.tf_apppass[u]) for u in sorted(self.tf_apppass)[:CLIENTS]]
        dc_users = [(f"u{i:03d}", PASSWORD) for i in range(CLIENTS)]
        tf, tf_fail = self.login_rate(self.tf.pop3_port, tf_users)
        dc, dc_fail = self.login_rate(self.dc.pop3_port, dc_users)
        self.report("1 login/s, 8 clients: apppass vs SHA512-CRYPT", tf, dc, "/s")
        self.note_failures(tf_fail, dc_fail)

    def once_each_rate(self, port, accounts):
        jobs = [(port, self.cert, accounts[i::CLIENTS]) for i in range(CLIENTS)]
        t0 = time.time()
        res = parallel(_login_once_each, jobs)
        return self.tally(res, t0)

    def bench_totp(self):
        tf, tf_fail = self.once_each_rate(self.tf.pop3_port, self.tf_totp)
        dc, dc_fail = self.once_each_rate(
            self.dc.pop3_port, [(f"a{i:03d}", PASSWORD, None) for i in range(TOTP_USERS)])
        self.report("2 login/s, 8 clients: pw+TOTP vs ARGON2ID", tf, dc, "/s")
        self.note_failures(tf_fail, dc_fail)

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
        tf, tf_bytes = self.drain_rate(self.tf.pop3_port, tf_users)
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

    def run(self):
        print(f"== setup in {self.root}", flush=True)
        self.setup_twofold()
        self.setup_dovecot()
        self.write_corpus()
        self.tf.start()
        self.dc.start()
        print(f"== measuring ({os.cpu_count()} CPUs; client and servers share them; Dovecot "
              f"{self.dc.version()} with Debian's defaults: a login process per connection)",
              flush=True)
        for step in self.args.only or ("1", "2", "3", "4"):
            {"1": self.bench_apppass, "2": self.bench_totp, "3": self.bench_drain,
             "4": self.bench_idle}[step]()

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
    ap.add_argument("--only", nargs="*", choices=("1", "2", "3", "4"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs and logs")
    args = ap.parse_args()
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
