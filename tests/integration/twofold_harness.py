"""The integration test harness: a real twofoldd on loopback, driven by real clients.

A Server lives in its own world-traversable temp dir under /tmp with a generated config, state
dir and maildir root. When the tests run as root the daemon drops to the system users
`twofoldtest` (workers, the mail account) and `twofoldtest-auth` (the auth service and its state),
created here if missing, so chroot, privilege drop and the split between them are really
exercised.
The test certificate (ECDSA P-256, CN localhost, SAN DNS:localhost IP:127.0.0.1) is made once
per session.
"""

import dataclasses
import os
import pwd
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVICE_USER = "twofoldtest"
AUTH_USER = "twofoldtest-auth"
# A start is a second or two; the bound is for sanitizer builds on a machine that is busy.
START_TIMEOUT = 30.0
# The master waits up to 60 s for each service to report ready (an auth process's Argon2
# self-test at a high cost on a busy machine), three times: "started" may take that long.
SERVICES_TIMEOUT = 100.0
STOP_TIMEOUT = 10.0
# [auth] failure_delay/failure_delay_max in tests (milliseconds; shipped: 2000/15000).
TEST_FAILURE_DELAY_MS = 100
TEST_FAILURE_DELAY_MAX_MS = 750
CHILD_EXIT_TIMEOUT = 5.0

# Lines a sanitizer writes when it finds a bug; any of them in a daemon or CLI log fails the test.
SANITIZER_PATTERNS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: MemorySanitizer",
    "ThreadSanitizer:",
)


# What the master logs about a child its seccomp filter killed (server/master.c): in a daemon log
# it fails the test, so the whole suite proves each process kind's allow-list is enough.
SECCOMP_KILL_PATTERN = "forbidden system call"


def build_dir():
    return Path(os.environ.get("TWOFOLD_BUILD_DIR", REPO / "build"))


def twofoldd_path():
    return build_dir() / "server" / "twofoldd"


def helper_path(name):
    """A test helper program built from tests/helpers/."""
    return build_dir() / "tests" / name


def twofold_cli_path():
    return build_dir() / "auth" / "twofold"


def _daemon_wrapper():
    """TWOFOLD_DAEMON_WRAPPER: a command the daemon runs under, for finding out what it does
    (e.g. "strace -ff -qq -o /tmp/trace/t" collects the system calls of every process, which
    the seccomp allow-lists are written from: tests/seccomp/syscalls-by-kind). Never set in
    CI; tests that time things may fail under it."""
    return shlex.split(os.environ.get("TWOFOLD_DAEMON_WRAPPER", ""))


def running_as_root():
    return os.geteuid() == 0


def sanitizer_report(text):
    """The first sanitizer report line in text, or None."""
    for line in text.splitlines():
        if any(p in line for p in SANITIZER_PATTERNS):
            return line
    return None


def ensure_account(name):
    """Creates a system user (root only) unless it exists. Returns (uid, gid)."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        r = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", name],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # exit 9: made meanwhile by another test process
        assert r.returncode in (0, 9), r.stderr
        pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


def ensure_service_user():
    """Creates the system user the workers drop to (root only). Returns (uid, gid)."""
    return ensure_account(SERVICE_USER)


def ensure_auth_user():
    """Creates the system user of the auth service (root only). Returns (uid, gid)."""
    return ensure_account(AUTH_USER)


def wait_until(cond, timeout=10.0, what="condition"):
    """Polls cond() until it returns something true (returned) or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


SOCKET_PROBE = ("import socket,sys\n"
                "s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET); s.settimeout(5)\n"
                "s.connect('\\0' + sys.argv[1])\n"
                "try:\n"
                "    s.send(bytes.fromhex(sys.argv[2]))\n"
                "    sys.exit(0 if s.recv(100)==b'' else 3)\n"
                "except (BrokenPipeError, ConnectionResetError):\n"
                "    sys.exit(0)\n")


def probe_socket(name, payload, user=None):
    """Connects to a service socket (abstract name, as service_socket_name returns it) from a
    process that is not a worker, as user, and sends payload; exit 0 when the service closes
    the connection unanswered."""
    return subprocess.run(["/usr/bin/python3", "-c", SOCKET_PROBE, name[1:], payload.hex()],
                          user=user, capture_output=True, text=True, timeout=30)


def _ephemeral_low():
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now. Picked at random below the
    kernel's ephemeral range: a port from bind(0) is one the kernel also hands out as the source
    port of outgoing connections (every client a test opens), and one of those taking it before
    the daemon binds failed tests with "Address already in use" on a busy machine."""
    high = max(_ephemeral_low(), 12000)
    while True:
        port = random.randrange(10000, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def make_cert(directory):
    """Self-signed ECDSA P-256 certificate for localhost / 127.0.0.1. Returns (cert, key)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "30", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o600)
    return cert, key


def _descendants(pid):
    """All descendant pids of pid (children first, then theirs), via /proc children lists."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        try:
            text = Path(f"/proc/{p}/task/{p}/children").read_text()
        except OSError:
            continue
        kids = [int(x) for x in text.split()]
        out.extend(kids)
        todo.extend(kids)
    return out


def _proc_identity(pid):
    """(comm, cmdline) of pid, or None if it is gone."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            "utf-8", "replace").strip()
    except OSError:
        return None
    return comm, cmdline


def _proc_start_time(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _classify_text(text):
    text = text.lower()
    if "auth" in text:
        return "auth"
    if "key" in text:
        return "key"
    if "portal" in text:
        return "portal"
    if any(w in text for w in ("worker", "pop3", "imap")):
        return "worker"
    return None


def classify_process(pid):
    """'auth', 'key', 'portal', 'worker' or None, from the name the daemon gives its children
    (prctl PR_SET_NAME: twofoldd-auth, twofoldd-key, twofoldd-portal, twofoldd-worker), else
    from the command line."""
    ident = _proc_identity(pid)
    if ident is None:
        return None
    comm, cmdline = ident
    kind = _classify_text(comm)
    if kind is None and not cmdline.startswith(str(twofoldd_path())):
        kind = _classify_text(cmdline)
    return kind


def _from_source(client_class, source):
    """client_class (imaplib.IMAP4_SSL or poplib.POP3_SSL) connecting from the local address
    source: any 127.x.y.z works on Linux loopback once the client socket is bound to it."""

    class FromSource(client_class):
        def _create_socket(self, timeout):
            sock = socket.create_connection((self.host, self.port), timeout,
                                            source_address=(source, 0))
            ctx = getattr(self, "ssl_context", None) or self.context
            return ctx.wrap_socket(sock, server_hostname=self.host)

    return FromSource


@dataclasses.dataclass
class User:
    name: str
    password: str
    secret: str | None  # base32 TOTP seed from the otpauth URI, None without TOTP


class Server:
    """One twofoldd instance in its own temp dir. Not started until start()."""

    def __init__(self, cert, key):
        self.dir = Path(tempfile.mkdtemp(prefix="twofold-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.cert, self.key = Path(cert), Path(key)
        self.state_dir = self.dir / "state"
        self.mail_root = self.dir / "mail"
        self.conf = self.dir / "twofold.conf"
        self.log_path = self.dir / "twofoldd.log"
        self.state_dir.mkdir(mode=0o700)
        self.mail_root.mkdir(mode=0o755)
        self.uid = self.gid = self.auth_uid = self.auth_gid = None
        if running_as_root():
            self.uid, self.gid = ensure_service_user()
            self.auth_uid, self.auth_gid = ensure_auth_user()
            os.chown(self.state_dir, self.auth_uid, self.auth_gid)
            os.chown(self.mail_root, self.uid, self.gid)
        self.pop3_port = free_port()
        self.imap_port = None
        self.portal_port = None
        self.proc = None
        self.wrapper = []  # a program + arguments that execs twofoldd, e.g. kernel-without
        self._master_pid = None
        self._log_file = None
        self._children_seen = {}
        self.forbidden_calls_expected = 0  # seccomp kills a test provokes on purpose
        self.config = {
            "server": {"state_dir": str(self.state_dir), "min_spare": "2",
                       "max_workers": "8", "control": str(self.dir / "control")},
            "tls": {"cert": str(self.cert), "key": str(self.key)},
            "pop3": {"listen": f"127.0.0.1:{self.pop3_port}"},
            # A twentieth of the policy's delays (2, 4, 8, 15 s): tests of other things do not
            # sleep through them; use_real_delays() restores them where a test is about them.
            "auth": {"pwhash_opslimit": "1", "pwhash_memlimit": "8192",
                     "failure_delay": str(TEST_FAILURE_DELAY_MS),
                     "failure_delay_max": str(TEST_FAILURE_DELAY_MAX_MS)},
            "storage": {"maildir": f"{self.mail_root}/%u"},
        }
        if running_as_root():
            self.config["server"]["user"] = SERVICE_USER
            self.config["server"]["auth_user"] = AUTH_USER
        self._write_config()

    # --- configuration ---------------------------------------------------------------------

    def configure(self, section, key, value):
        """Sets or overrides a config key (before start, or before reload)."""
        if isinstance(value, bool):
            value = "yes" if value else "no"
        self.config.setdefault(section, {})[key] = str(value)
        self._write_config()

    def use_real_delays(self):
        """The policy's shipped failure delays (2 s doubling up to 15 s) instead of the tests'."""
        self.unconfigure("auth", "failure_delay")
        self.unconfigure("auth", "failure_delay_max")

    def unconfigure(self, section, key):
        self.config.get(section, {}).pop(key, None)
        self._write_config()

    def enable_imap(self):
        """Adds an [imap] listen address on a free port (IMAP is not configured by default)."""
        if self.imap_port is None:
            self.imap_port = free_port()
        self.configure("imap", "listen", f"127.0.0.1:{self.imap_port}")
        return self.imap_port

    def enable_portal(self):
        """Adds [portal] listen on a free port of 127.0.0.1 and origin https://localhost:PORT
        (a host name: browsers refuse an IP address as a WebAuthn RP ID)."""
        if self.portal_port is None:
            self.portal_port = free_port()
        self.configure("portal", "listen", f"127.0.0.1:{self.portal_port}")
        self.configure("portal", "origin", self.portal_origin)
        return self.portal_port

    @property
    def portal_origin(self):
        return f"https://localhost:{self.portal_port}"

    def _write_config(self):
        lines = ["; generated by tests/integration/twofold_harness.py"]
        for section, keys in self.config.items():
            if not keys:
                continue
            lines.append(f"[{section}]")
            lines.extend(f"{k} = {v}" for k, v in keys.items())
            lines.append("")
        self.conf.write_text("\n".join(lines) + "\n")
        os.chmod(self.conf, 0o644)
        listen = self.config.get("imap", {}).get("listen")
        if listen and self.imap_port is None:
            m = re.search(r":(\d+)\s*$", listen.split()[0])
            self.imap_port = int(m.group(1)) if m else None

    # --- the daemon --------------------------------------------------------------------------

    @property
    def pid(self):
        """The master's pid (under TWOFOLD_DAEMON_WRAPPER: the wrapper's child)."""
        if self.proc is None:
            return None
        if not _daemon_wrapper():
            return self.proc.pid
        if self._master_pid is None:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                kids = _descendants(self.proc.pid)
                if kids or self.proc.poll() is not None or time.monotonic() >= deadline:
                    break
                time.sleep(0.01)
            assert kids, f"no daemon under {_daemon_wrapper()}:\n{self.log()}"
            self._master_pid = kids[0]
        return self._master_pid

    def _signal_master(self, signum):
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait=True):
        """Runs `twofoldd -f -c CONF` and waits until the listening ports accept connections."""
        assert not self.running(), "server already running"
        self._children_seen = {}
        binary = twofoldd_path()
        assert binary.exists(), f"{binary} not built (set TWOFOLD_BUILD_DIR)"
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log_file = open(self.log_path, "ab")
        self._master_pid = None
        self.proc = subprocess.Popen([*_daemon_wrapper(), *self.wrapper, str(binary), "-f",
                                      "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        if wait:
            for port in self._ports():
                self._wait_port(port)
            self._wait_started()
        return self

    def _wait_started(self):
        """The master logs "started" once its services have reported ready."""
        deadline = time.monotonic() + SERVICES_TIMEOUT
        while not re.search(r"twofoldd \S+ started", self.log()[self._log_start:]):
            if self.proc.poll() is not None:
                raise AssertionError(f"twofoldd exited with {self.proc.returncode} while "
                                     f"starting:\n{self.log()}")
            assert time.monotonic() < deadline, (f"twofoldd not started after "
                                                 f"{SERVICES_TIMEOUT:.0f} s:\n{self.log()}")
            time.sleep(0.05)

    def _ports(self):
        ports = []
        if self.config.get("pop3", {}).get("listen"):
            ports.append(self.pop3_port)
        if self.config.get("imap", {}).get("listen") and self.imap_port is not None:
            ports.append(self.imap_port)
        if self.config.get("portal", {}).get("listen") and self.portal_port is not None:
            ports.append(self.portal_port)
        return ports

    def _wait_port(self, port):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"twofoldd exited with {self.proc.returncode} before "
                                     f"listening on {port}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"twofoldd not accepting on port {port} after "
                             f"{START_TIMEOUT:.0f} s:\n{self.log()}")

    def restart(self):
        """stop() then start(): same config, state and maildirs; the log keeps growing."""
        self.stop()
        return self.start()

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Waits for the master to exit by itself; returns its exit status."""
        return self.proc.wait(timeout=timeout)

    def stop(self, check=True):
        """SIGTERM, wait up to 10 s, then SIGKILL. Fails on sanitizer reports or leftover
        children when check is true. Returns the master's exit status."""
        if self.proc is None:
            return None
        self._remember_children()
        if self.proc.poll() is None:
            self._signal_master(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if check:
                    self._close_log()
                    self._reap_children()
                    raise AssertionError(f"twofoldd ignored SIGTERM for {STOP_TIMEOUT:.0f} s:\n"
                                         f"{self.log()}")
        status = self.proc.returncode
        leftovers = self._reap_children()
        self._close_log()
        if check:
            self.check_log()
            assert not leftovers, (f"daemon children still running after the master exited: "
                                   f"{leftovers}\n{self.log()}")
        return status

    def _remember_children(self):
        if self.running():
            for p in _descendants(self.proc.pid):
                self._children_seen[p] = _proc_start_time(p)

    def _reap_children(self):
        """Waits for the daemon's children to go; SIGKILLs stragglers. Returns their pids."""
        deadline = time.monotonic() + CHILD_EXIT_TIMEOUT
        alive = list(self._children_seen)
        while True:
            alive = [p for p in alive if _proc_start_time(p) == self._children_seen[p]
                     and not self._is_zombie(p)]
            if not alive or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        for p in alive:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return alive

    @staticmethod
    def _is_zombie(pid):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        return stat.rsplit(")", 1)[1].split()[0] == "Z"

    def _close_log(self):
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def reload(self):
        """SIGHUP: re-read config and certificates."""
        assert self.running(), "server not running"
        self._remember_children()
        self._signal_master(signal.SIGHUP)

    def signal(self, signum):
        assert self.running(), "server not running"
        self._signal_master(signum)

    def children(self):
        """All live descendants of the master."""
        if not self.running():
            return []
        kids = _descendants(self.proc.pid)
        for p in kids:
            self._children_seen[p] = _proc_start_time(p)
        return kids

    def worker_pids(self):
        return [p for p in self.children() if classify_process(p) == "worker"]

    def auth_pids(self):
        return [p for p in self.children() if classify_process(p) == "auth"]

    def key_pids(self):
        return [p for p in self.children() if classify_process(p) == "key"]

    def service_socket_name(self, kind):
        """The abstract name of the master's "auth" or "key" socket, from /proc/net/unix."""
        want = f"@twofold-{kind}-{self.pid}-"
        for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 8 and parts[7].startswith(want):
                return "\0" + parts[7][1:]
        raise AssertionError(f"{kind} socket not found in /proc/net/unix")

    def portal_pids(self):
        return [p for p in self.children() if classify_process(p) == "portal"]

    def wait_workers(self, count=1, timeout=5.0):
        """Waits until at least count workers run (the port accepts before the pool is up)."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids()
            if len(pids) >= count or time.monotonic() >= deadline:
                assert len(pids) >= count, (f"{len(pids)} workers after {timeout} s, expected "
                                            f">= {count}:\n{self.log()}")
                return pids
            time.sleep(0.05)

    def log(self):
        """The daemon's stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def check_log(self):
        """Fails if a sanitizer reported anything in the daemon log, or if a child was killed
        by its seccomp filter (more often than the test provoked: forbidden_calls_expected)."""
        text = self.log()
        line = sanitizer_report(text)
        assert line is None, f"sanitizer report in twofoldd log: {line}\n{text}"
        kills = [ln for ln in text.splitlines() if SECCOMP_KILL_PATTERN in ln]
        assert len(kills) <= self.forbidden_calls_expected, (
            f"a daemon process made a system call its seccomp allow-list does not have "
            f"(server/sandbox-seccomp.c):\n" + "\n".join(kills) + f"\n{text}")

    def wait_log(self, pattern, timeout=5.0):
        """Waits until the regex pattern appears in the log; returns the match."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.log())
            if m or time.monotonic() >= deadline:
                assert m, f"{pattern!r} not in twofoldd log after {timeout} s:\n{self.log()}"
                return m
            time.sleep(0.05)

    # --- the admin CLI -----------------------------------------------------------------------

    def cli(self, *args, input=None, check=True, timeout=60):
        """Runs `twofold -c CONF ARGS...`; returns the CompletedProcess (text)."""
        binary = twofold_cli_path()
        assert binary.exists(), f"{binary} not built (set TWOFOLD_BUILD_DIR)"
        r = subprocess.run([str(binary), "-c", str(self.conf), *map(str, args)], input=input,
                           capture_output=True, text=True, timeout=timeout,
                           stdin=None if input is not None else subprocess.DEVNULL)
        line = sanitizer_report(r.stderr)
        assert line is None, f"sanitizer report from twofold {args}: {line}\n{r.stderr}"
        if check:
            assert r.returncode == 0, (f"twofold {' '.join(map(str, args))} exited "
                                       f"{r.returncode}: {r.stderr.strip()}")
        return r

    def add_user(self, name, password=None, totp=True):
        """Creates a user (and enrols TOTP unless totp=False). Returns a User."""
        if password is None:
            password = "Pw-" + secrets.token_urlsafe(12)
        self.cli("user", "add", name, input=password + "\n")
        secret = self.enroll_totp(name) if totp else None
        return User(name, password, secret)

    def enroll_totp(self, name):
        """`twofold totp enroll NAME`; returns the base32 secret from the otpauth URI."""
        out = self.cli("totp", "enroll", name).stdout
        uris = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("otpauth://")]
        assert len(uris) == 1, f"expected one otpauth:// line, got:\n{out}"
        query = urllib.parse.parse_qs(urllib.parse.urlparse(uris[0]).query)
        assert "secret" in query, f"no secret in {uris[0]}"
        return query["secret"][0]

    def code(self, secret, at=None):
        """The TOTP code for secret now (or at the Unix time `at`), from oathtool."""
        auth = self.config.get("auth", {})
        cmd = ["oathtool", "--totp", "-b", "-d", auth.get("totp_digits", "6"),
               "-s", auth.get("totp_period", "30") + "s"]
        if at is not None:
            cmd += ["-N", f"@{int(at)}"]
        cmd.append(secret)
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()

    def apppass(self, name, proto="all", label="test"):
        """`twofold apppass add`; returns the new app password (the last line printed)."""
        out = self.cli("apppass", "add", name, "--label", label, "--proto", proto).stdout
        lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
        assert lines, "apppass add printed nothing"
        return lines[-1]

    # --- mail --------------------------------------------------------------------------------

    def maildir(self, name):
        """The maildir of user name, from the [storage] maildir template."""
        template = self.config["storage"]["maildir"]
        local, _, domain = name.partition("@")
        out, i = [], 0
        while i < len(template):
            c = template[i]
            if c == "%" and i + 1 < len(template):
                out.append({"u": name, "n": local, "d": domain, "%": "%"}[template[i + 1]])
                i += 2
            else:
                out.append(c)
                i += 1
        return Path("".join(out))

    _deliveries = 0

    def deliver(self, name, data, subdir="new", info=None):
        """Writes one message into the user's maildir (tmp/ then rename, like an MDA).
        info: the maildir flags after ':2,' (e.g. 'S'); such messages go to cur/."""
        assert subdir in ("new", "cur")
        md = self.maildir(name)
        for d in (md.parent, md, md / "tmp", md / "new", md / "cur"):
            if not d.exists():
                d.mkdir(mode=0o700)
                if self.uid is not None:
                    os.chown(d, self.uid, self.gid)
        Server._deliveries += 1
        base = (f"{int(time.time())}.M{time.time_ns() % 1000000}P{os.getpid()}"
                f"Q{Server._deliveries}.{socket.gethostname()}")
        if info is not None:
            subdir = "cur"
            base += f":2,{info}"
        tmp = md / "tmp" / base
        with open(tmp, "wb") as f:
            f.write(data)
        if self.uid is not None:
            os.chown(tmp, self.uid, self.gid)
        os.chmod(tmp, 0o600)
        dest = md / subdir / base
        os.rename(tmp, dest)
        return dest

    # --- clients -----------------------------------------------------------------------------

    def ssl_context(self, alpn=None, min_version=None, max_version=None):
        """A client context that trusts only the test certificate."""
        ctx = ssl.create_default_context(cafile=str(self.cert))
        if alpn is not None:
            ctx.set_alpn_protocols([alpn] if isinstance(alpn, str) else list(alpn))
        if min_version is not None:
            ctx.minimum_version = min_version
        if max_version is not None:
            ctx.maximum_version = max_version
        return ctx

    def pop3(self, timeout=10, source=None):
        """A poplib client; source: the loopback address to connect from (127.0.0.2, ...:
        the daemon counts failures and familiarity per client address)."""
        import poplib
        cls = poplib.POP3_SSL if source is None else _from_source(poplib.POP3_SSL, source)
        return cls("127.0.0.1", self.pop3_port, context=self.ssl_context(), timeout=timeout)

    def imap(self, timeout=10, source=None):
        """An imaplib client; source as for pop3()."""
        import imaplib
        assert self.imap_port is not None, "IMAP not configured (call enable_imap())"
        cls = imaplib.IMAP4_SSL if source is None else _from_source(imaplib.IMAP4_SSL, source)
        return cls("127.0.0.1", self.imap_port, ssl_context=self.ssl_context(), timeout=timeout)

    def tls_connect(self, port=None, context=None, timeout=10):
        """A raw TLS socket to the POP3 port (or port)."""
        ctx = context or self.ssl_context()
        sock = socket.create_connection(("127.0.0.1", port or self.pop3_port), timeout=timeout)
        return ctx.wrap_socket(sock, server_hostname="localhost")

    # --- teardown ----------------------------------------------------------------------------

    def cleanup(self, keep=False):
        """Stops the daemon if needed; removes the temp dir unless keep."""
        try:
            if self.proc is not None and self.proc.returncode is None:
                self.stop(check=False)
        finally:
            self._close_log()
            if not keep:
                shutil.rmtree(self.dir, ignore_errors=True)
