"""Integration tests of the `twofold` admin CLI: the real binary on a real SQLite store, TOTP codes
from oathtool (an independent implementation), `auth test` running the full login policy.

Binary: $TWOFOLD_BUILD_DIR/auth/twofold (default <repo>/build). Run with /usr/bin/python3 -m pytest.
"""

import base64
import os
import pty
import pwd
import re
import select
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICE_USER = "twofoldtest"
AUTH_USER = "twofoldtest-auth"


def twofold_binary():
    return Path(os.environ.get("TWOFOLD_BUILD_DIR", REPO / "build")) / "auth" / "twofold"


def ensure_account(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", name], capture_output=True)
        return pwd.getpwnam(name)  # another test process may have made it meanwhile


def ensure_service_user():
    return ensure_account(SERVICE_USER)


def as_account(pw_ent, *cmd):
    """Runs cmd as the account pw_ent (no supplementary groups)."""
    return subprocess.run(["setpriv", f"--reuid={pw_ent.pw_uid}", f"--regid={pw_ent.pw_gid}",
                           "--clear-groups", *map(str, cmd)], capture_output=True, text=True)


def one_error_line(r):
    """The CLI's contract for errors: exit 1 and exactly one line on stderr."""
    assert r.returncode == 1, f"exit {r.returncode}, stderr: {r.stderr!r}"
    lines = r.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {r.stderr!r}"
    return lines[0]


class Instance:
    """A config file and state dir in a world-traversable temp dir under /tmp."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="twofold-cli-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.state = self.dir / "state"
        self.db = self.state / "auth.db"
        self.key = self.state / "secret.key"
        self.conf = self.dir / "twofold.conf"
        self.config = {
            "server": {"state_dir": str(self.state)},
            "auth": {"database": str(self.db), "pwhash_opslimit": "1",
                     "pwhash_memlimit": "8192"},
            "storage": {"maildir": f"{self.dir}/mail/%u"},
        }
        self.write()

    def set(self, section, key, value):
        self.config.setdefault(section, {})[key] = str(value)
        self.write()

    def write(self):
        text = ""
        for section, keys in self.config.items():
            text += f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
        self.conf.write_text(text)
        os.chmod(self.conf, 0o644)

    def run(self, *args, input=None, check=False):
        binary = twofold_binary()
        assert binary.exists(), f"{binary} not built (set TWOFOLD_BUILD_DIR)"
        r = subprocess.run([str(binary), "-c", str(self.conf), *map(str, args)], input=input,
                           capture_output=True, text=True, timeout=60,
                           stdin=None if input is not None else subprocess.DEVNULL)
        assert "AddressSanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr
        if check:
            assert r.returncode == 0, f"twofold {args} exited {r.returncode}: {r.stderr}"
        return r

    # helpers on top of the CLI

    def add_user(self, name, password="Correct-Horse-42x"):
        self.run("user", "add", name, input=password + "\n", check=True)
        return password

    def enroll(self, name):
        out = self.run("totp", "enroll", name, check=True).stdout
        return secret_from_uri(out.strip())

    def login(self, name, secret, proto=None, ip=None):
        args = ["auth", "test", name]
        if proto is not None:
            args += ["--proto", proto]
        if ip is not None:
            args += ["--ip", ip]
        r = self.run(*args, input=secret + "\n")
        assert r.returncode in (0, 1), r
        assert "AddressSanitizer" not in r.stderr
        return r.stdout.strip()

    def users(self):
        out = self.run("user", "list", check=True).stdout
        return {ln.split("\t")[0]: ln for ln in out.splitlines() if ln}

    def log(self, *args):
        return self.run("log", *args, check=True).stdout.splitlines()

    def db_bytes(self):
        data = b""
        for suffix in ("", "-wal", "-journal"):
            p = Path(str(self.db) + suffix)
            if p.exists():
                data += p.read_bytes()
        return data


def secret_from_uri(uri):
    assert uri.startswith("otpauth://totp/"), uri
    parts = urllib.parse.urlparse(uri)
    query = urllib.parse.parse_qs(parts.query)
    return query["secret"][0]


def code(secret, at=None):
    cmd = ["oathtool", "--totp", "-b"]
    if at is not None:
        cmd += ["-N", f"@{int(at)}"]
    cmd.append(secret)
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def wrong_code(secret):
    """A 6-digit code that matches no step of the +-1 window now (nor the next step)."""
    now = time.time()
    valid = {code(secret, now + d) for d in (-60, -30, 0, 30, 60)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444", "555555", "666666")
                if c not in valid)


@pytest.fixture
def tf():
    inst = Instance()
    yield inst
    if not os.environ.get("TWOFOLD_KEEP_TMP"):
        shutil.rmtree(inst.dir, ignore_errors=True)


# --- usage, config and input errors -------------------------------------------------------------


@pytest.mark.parametrize("args", [
    [], ["frobnicate"], ["user"], ["user", "add"], ["user", "frob", "alice"],
    ["user", "add", "alice", "bob"], ["user", "list", "extra"],
    ["apppass", "add", "alice", "--bogus", "x"], ["apppass", "add", "alice", "--proto", "smtp"],
    ["apppass", "add", "alice", "--expires", "soon"], ["apppass", "add", "alice", "--label"],
    ["apppass", "revoke", "alice", "abc"], ["log", "--limit", "abc"], ["log", "a", "b"],
    ["auth", "test"], ["auth", "test", "alice", "--proto", "smtp"], ["totp", "enroll"],
])
def test_usage_errors_exit_2(tf, args):
    r = tf.run(*args)
    assert r.returncode == 2, (args, r.returncode, r.stderr)
    assert r.stderr.strip(), "usage error without a message"
    assert r.stdout == ""


def test_help_exits_0(tf):
    r = tf.run("--help")
    assert r.returncode == 0
    assert "user add NAME" in r.stdout and "auth test NAME" in r.stdout


def test_bad_config_file_line_message(tf):
    tf.conf.write_text("[server]\nstate_dir = /tmp\n\n[auth]\nno_such_key = 1\n")
    r = tf.run("user", "list")
    line = one_error_line(r)
    assert line.startswith(f"{tf.conf}:5: "), line
    assert "no_such_key" in line

    tf.conf.write_text("[auth]\nmax_failures = lots\n")
    line = one_error_line(tf.run("user", "list"))
    assert line.startswith(f"{tf.conf}:2: "), line


def test_missing_config_file(tf):
    missing = tf.dir / "nope.conf"
    r = subprocess.run([str(twofold_binary()), "-c", str(missing), "user", "list"],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    line = one_error_line(r)
    assert line.startswith(f"{missing}:"), line


def test_user_add_and_list(tf):
    tf.add_user("alice")
    tf.add_user("bob@example.org")
    users = tf.users()
    assert set(users) == {"alice", "bob@example.org"}
    row = users["alice"]
    assert "\tenabled\t" in row
    assert "no-totp" in row and "apppass=0" in row and "recovery=0" in row
    assert "failures=0" in row and "last-login=never" in row
    assert "STOLEN" not in row


def test_user_add_duplicate(tf):
    tf.add_user("alice")
    line = one_error_line(tf.run("user", "add", "alice", input="Another-Pass-99\n"))
    assert line.startswith("twofold: ") and "exists" in line, line


@pytest.mark.parametrize("name", ["../etc", "bad name", "a/b", ".hidden", "x" * 300, "tab\tname"])
def test_user_add_bad_name(tf, name):
    line = one_error_line(tf.run("user", "add", name, input="Correct-Horse-42x\n"))
    assert line == "twofold: bad user name", line
    assert tf.users() == {}


@pytest.mark.parametrize("password", ["", "abc", "password"])
def test_user_add_empty_or_weak_password(tf, password):
    line = one_error_line(tf.run("user", "add", "alice", input=password + "\n"))
    assert line.startswith("twofold: ") and "password" in line.lower(), line
    assert "alice" not in tf.users()


def test_user_add_no_stdin_is_refused(tf):
    line = one_error_line(tf.run("user", "add", "alice"))  # stdin is /dev/null
    assert "password" in line.lower(), line


@pytest.mark.parametrize("args", [
    ["user", "del", "bob"], ["user", "lock", "bob"], ["user", "unlock", "bob"],
    ["totp", "enroll", "bob"], ["totp", "remove", "bob"], ["apppass", "add", "bob"],
    ["apppass", "list", "bob"], ["apppass", "revoke", "bob", "1"], ["recovery", "new", "bob"],
])
def test_unknown_user_one_line(tf, args):
    tf.add_user("alice")
    line = one_error_line(tf.run(*args))
    assert line.startswith("twofold: ") and "unknown user" in line and "bob" in line, line


def test_user_passwd_and_del(tf):
    tf.set("auth", "second_factor", "optional")  # password alone is enough without a factor
    tf.add_user("alice", "First-Pass-123x")
    assert tf.login("alice", "First-Pass-123x") == "OK"
    tf.run("user", "passwd", "alice", input="Second-Pass-456y\n", check=True)
    assert tf.login("alice", "First-Pass-123x").startswith("FAIL")
    assert tf.login("alice", "Second-Pass-456y") == "OK"
    line = one_error_line(tf.run("user", "passwd", "alice", input="abc\n"))
    assert "password" in line.lower()
    assert tf.login("alice", "Second-Pass-456y") == "OK"
    tf.run("user", "del", "alice", check=True)
    assert "alice" not in tf.users()
    assert tf.login("alice", "Second-Pass-456y").startswith("FAIL")


# --- TOTP ---------------------------------------------------------------------------------------


def test_totp_enroll_prints_uri_alone(tf):
    tf.add_user("alice")
    r = tf.run("totp", "enroll", "alice", check=True)
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout  # not a terminal: no QR code, no prompt
    uri = lines[0]
    parts = urllib.parse.urlparse(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert "alice" in urllib.parse.unquote(parts.path)
    query = urllib.parse.parse_qs(parts.query)
    secret = query["secret"][0]
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) >= 16
    assert query.get("issuer") == ["twofold"]
    assert query.get("digits", ["6"]) == ["6"] and query.get("period", ["30"]) == ["30"]
    assert "totp," in tf.users()["alice"]


def test_password_plus_code_once_then_replay_refused(tf):
    tf.set("auth", "mfa_grace", 0)
    pw = tf.add_user("alice")
    secret = tf.enroll("alice")
    c = code(secret)
    assert tf.login("alice", pw + c) == "OK"
    assert tf.login("alice", pw + c).startswith("FAIL")  # RFC 6238 5.2: never twice
    # A newer code (next step, inside the window) still works.
    assert tf.login("alice", pw + code(secret, time.time() + 30)) == "OK"
    # ...and after it, the older one is refused even though it was never used.
    assert tf.login("alice", pw + code(secret, time.time() - 30)).startswith("FAIL")


def test_device_grace_same_network_only(tf):
    pw = tf.add_user("alice")
    secret = tf.enroll("alice")
    c = code(secret)
    assert tf.login("alice", pw + c, ip="192.0.2.7") == "OK"
    assert tf.login("alice", pw + c, ip="192.0.2.7") == "OK"  # grace (default 8 h)
    assert tf.login("alice", pw + c, ip="192.0.2.8") == "OK"  # a renewed lease: the same /24
    # another network: the code was used, so the client is told to send a new one
    assert tf.login("alice", pw + c, ip="198.51.100.8") == "FAIL delay=2s hint=code-expired"
    factors = [ln for ln in tf.log("alice") if "result=ok" in ln]
    assert any("factor=grace" in ln for ln in factors), factors


def test_wrong_code_and_password_alone_fail(tf):
    pw = tf.add_user("alice")
    secret = tf.enroll("alice")
    r = tf.run("auth", "test", "alice", input=pw + wrong_code(secret) + "\n")
    assert r.returncode == 1
    assert re.fullmatch(r"FAIL delay=\d+s", r.stdout.strip()), r.stdout
    assert tf.login("alice", pw).startswith("FAIL")
    assert tf.login("alice", "Wrong-Password-1" + code(secret)).startswith("FAIL")
    assert tf.login("nobody", pw + code(secret)).startswith("FAIL")


def test_no_second_factor_password_alone_fails(tf):
    pw = tf.add_user("alice")
    assert tf.login("alice", pw).startswith("FAIL")  # second_factor = required (default)
    tf.set("auth", "second_factor", "optional")
    assert tf.login("alice", pw) == "OK"


def test_totp_remove(tf):
    pw = tf.add_user("alice")
    secret = tf.enroll("alice")
    tf.run("totp", "remove", "alice", check=True)
    assert "no-totp" in tf.users()["alice"]
    assert tf.login("alice", pw + code(secret)).startswith("FAIL")


def _pty_run(args, answers, timeout=30):
    """Runs the CLI on a pseudo-terminal; answers: [(prompt regex, text to type)]."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(str(twofold_binary()), [str(twofold_binary()), *args])
    out = b""
    deadline = time.time() + timeout
    pending = list(answers)
    status = None
    try:
        while time.time() < deadline:
            if pending and re.search(pending[0][0].encode(), out.rsplit(b"\x00", 1)[-1]):
                _, text = pending.pop(0)
                os.write(fd, text.encode() + b"\n")
                out += b"\x00"  # marks where this answer went, so one prompt answers once
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    break
                out += data
                continue
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
                break
    finally:
        os.close(fd)
    if status is None:
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def _after_last_marker(out):
    return out.rsplit("\x00", 1)[-1]


def test_totp_enroll_on_terminal_draws_qr_and_confirms(tf):
    pw = tf.add_user("alice")
    secret_box = {}

    def answer_code():
        return code(secret_box["s"])

    # First read the URI, then answer the prompt with a code computed from it.
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(str(twofold_binary()),
                 [str(twofold_binary()), "-c", str(tf.conf), "totp", "enroll", "alice"])
    out = b""
    deadline = time.time() + 30
    answered = False
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
        text = out.decode(errors="replace")
        if not answered and "code" in text.lower() and "otpauth://" in text:
            uri = re.search(r"otpauth://\S+", text).group(0)
            secret_box["s"] = secret_from_uri(uri)
            os.write(fd, answer_code().encode() + b"\n")
            answered = True
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "\u2580" in text or "\u2584" in text or "\u2588" in text, "no QR code drawn"
    assert "activated" in text.lower()
    assert "totp," in tf.users()["alice"]
    # The confirmation code counts as used: the next login needs a newer step.
    assert tf.login("alice", pw + code(secret_box["s"], time.time() + 30)) == "OK"


def test_totp_enroll_on_terminal_wrong_code_stays_pending(tf):
    pw = tf.add_user("alice")
    rc, out = _pty_run(["-c", str(tf.conf), "totp", "enroll", "alice"],
                       [("code", "000000x"), ("code", "000000x"), ("code", "000000x")])
    assert rc == 1, out
    assert "otpauth://" in out
    assert "no-totp" in tf.users()["alice"]
    secret = secret_from_uri(re.search(r"otpauth://\S+", out).group(0))
    assert tf.login("alice", pw + code(secret)).startswith("FAIL")


def test_user_add_on_terminal_prompts_twice_without_echo(tf):
    rc, out = _pty_run(["-c", str(tf.conf), "user", "add", "alice"],
                       [("New password", "Tty-Password-77z"), ("Repeat", "Tty-Password-77z")])
    assert rc == 0, out
    assert "Tty-Password-77z" not in out  # echo was off
    assert "alice" in tf.users()
    rc, out = _pty_run(["-c", str(tf.conf), "user", "add", "bob"],
                       [("New password", "Tty-Password-77z"), ("Repeat", "Tty-Password-78z")])
    assert rc == 1 and "do not match" in _after_last_marker(out), out
    assert "bob" not in tf.users()


# --- app passwords and recovery codes ----------------------------------------------------------


def _apppass_rows(tf, name):
    return tf.run("apppass", "list", name, check=True).stdout.splitlines()


def test_apppass_flow(tf):
    pw = tf.add_user("alice")
    tf.enroll("alice")
    r = tf.run("apppass", "add", "alice", "--label", "phone", "--proto", "imap", check=True)
    ap = r.stdout.splitlines()[-1].strip()
    assert len(ap.replace("-", "").replace(" ", "")) >= 16, ap
    assert tf.login("alice", ap, proto="imap", ip="198.51.100.4") == "OK"
    assert tf.login("alice", ap, proto="pop3").startswith("FAIL")  # scope
    rows = _apppass_rows(tf, "alice")
    assert len(rows) == 1, rows
    ap_id, label = rows[0].split("\t")[:2]
    assert label == "phone" and "proto=imap" in rows[0]
    assert "last-ip=198.51.100.4" in rows[0] and "last-used=never" not in rows[0]
    assert "apppass=1" in tf.users()["alice"]
    # A second, all-protocol password with an expiry.
    r = tf.run("apppass", "add", "alice", "--label", "laptop", "--expires", "30", check=True)
    ap2 = r.stdout.splitlines()[-1].strip()
    assert ap2 != ap
    assert tf.login("alice", ap2, proto="pop3") == "OK"
    assert any("expires=never" not in row and "laptop" in row for row in _apppass_rows(tf, "alice"))
    # Revoke the first: refused from then on, the second still works.
    tf.run("apppass", "revoke", "alice", ap_id, check=True)
    assert tf.login("alice", ap, proto="imap").startswith("FAIL")
    assert tf.login("alice", ap2, proto="imap") == "OK"
    assert [row.split("\t")[1] for row in _apppass_rows(tf, "alice")] == ["laptop"]
    line = one_error_line(tf.run("apppass", "revoke", "alice", ap_id))
    assert line.startswith("twofold: ")
    # The app password never doubles as the account password.
    assert tf.login("alice", pw).startswith("FAIL")


def test_apppass_is_the_way_in_without_totp(tf):
    tf.add_user("alice")
    ap = tf.run("apppass", "add", "alice", check=True).stdout.splitlines()[-1]
    assert tf.login("alice", ap, proto="pop3") == "OK"
    assert tf.login("alice", ap + "x").startswith("FAIL")


def test_recovery_codes_each_work_once(tf):
    tf.set("auth", "mfa_grace", 0)
    pw = tf.add_user("alice")
    tf.enroll("alice")
    r = tf.run("recovery", "new", "alice", check=True)
    codes = r.stdout.split()
    assert len(codes) == len(set(codes)) >= 8, r.stdout
    assert f"recovery={len(codes)}" in tf.users()["alice"]
    assert tf.login("alice", pw + codes[0]) == "OK"
    assert tf.login("alice", pw + codes[0]).startswith("FAIL")
    assert tf.login("alice", pw + codes[1]) == "OK"
    assert f"recovery={len(codes) - 2}" in tf.users()["alice"]
    assert tf.login("alice", "Wrong-Password-1" + codes[2]).startswith("FAIL")
    # New codes replace the old ones.
    fresh = tf.run("recovery", "new", "alice", check=True).stdout.split()
    assert tf.login("alice", pw + codes[3]).startswith("FAIL")
    assert tf.login("alice", pw + fresh[0]) == "OK"


# --- lock, lockout, log -------------------------------------------------------------------------


def test_lock_and_unlock(tf):
    tf.set("auth", "mfa_grace", 0)
    pw = tf.add_user("alice")
    secret = tf.enroll("alice")
    tf.run("user", "lock", "alice", check=True)
    assert "\tlocked\t" in tf.users()["alice"]
    assert tf.login("alice", pw + code(secret)).startswith("FAIL")
    tf.run("user", "unlock", "alice", check=True)
    assert "\tenabled\t" in tf.users()["alice"]
    assert tf.login("alice", pw + code(secret, time.time() + 30)) == "OK"


def test_lockout_after_max_failures_and_unlock(tf):
    tf.set("auth", "max_failures", 3)
    tf.set("auth", "mfa_grace", 0)
    pw = tf.add_user("alice")
    secret = tf.enroll("alice")
    bad = wrong_code(secret)
    delays = []
    for i in range(3):
        out = tf.login("alice", pw + bad)
        m = re.fullmatch(r"FAIL delay=(\d+)s", out)
        assert m, out
        delays.append(int(m.group(1)))
        if i == 1:
            row = tf.users()["alice"]
            assert "failures=2" in row and "\tenabled\t" in row, row
    assert delays[0] >= 1 and delays == sorted(delays), delays
    row = tf.users()["alice"]
    assert "lockout-until=" in row, row  # (the counter restarts towards the next lock)
    assert "STOLEN-PASSWORD?" in row
    # The right credential during the lockout still fails.
    assert tf.login("alice", pw + code(secret)).startswith("FAIL")
    tf.run("user", "unlock", "alice", check=True)
    row = tf.users()["alice"]
    assert "\tenabled\t" in row and "failures=0" in row, row
    assert tf.login("alice", pw + code(secret, time.time() + 30)) == "OK"
    assert "last-login=never" not in tf.users()["alice"]


def test_log_entries_and_stolen_password_mark(tf):
    tf.set("auth", "mfa_grace", 0)
    pw = tf.add_user("alice")
    tf.add_user("bob")
    secret = tf.enroll("alice")
    assert tf.login("alice", pw + code(secret), proto="pop3", ip="203.0.113.9") == "OK"
    assert tf.login("alice", pw + wrong_code(secret), ip="203.0.113.10").startswith("FAIL")
    assert tf.login("bob", "Not-Bobs-Password-1").startswith("FAIL")
    lines = tf.log("alice")
    assert len(lines) == 2, lines
    newest, oldest = lines
    assert "user=alice" in newest and "result=fail" in newest and "ip=203.0.113.10" in newest
    assert "STOLEN-PASSWORD" in newest
    assert "result=ok" in oldest and "factor=totp" in oldest and "proto=pop3" in oldest
    assert "ip=203.0.113.9" in oldest and "STOLEN" not in oldest
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\t", oldest), oldest
    all_lines = tf.log()
    assert len(all_lines) == 3 and "user=bob" in all_lines[0]
    assert "STOLEN" not in all_lines[0]
    assert len(tf.log("--limit", "1")) == 1
    assert "STOLEN-PASSWORD?" in tf.users()["alice"]
    assert "STOLEN" not in tf.users()["bob"]


# --- secrets at rest and file ownership ---------------------------------------------------------


def test_secrets_not_in_database_in_clear(tf):
    pw = tf.add_user("alice", "Distinctive-Pass-31337")
    secret = tf.enroll("alice")
    ap = tf.run("apppass", "add", "alice", check=True).stdout.splitlines()[-1].strip()
    codes = tf.run("recovery", "new", "alice", check=True).stdout.split()
    assert tf.login("alice", pw + code(secret)) == "OK"
    data = tf.db_bytes()
    assert len(data) > 0 and b"alice" in data  # we are looking at the right bytes
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    needles = [pw.encode(), secret.encode(), secret.lower().encode(), seed, ap.encode(),
               ap.replace("-", "").encode()] + [c.encode() for c in codes]
    for needle in needles:
        assert needle not in data, f"secret {needle!r} found in the database"
    if Path(str(tf.db) + "-wal").exists():
        wal = Path(str(tf.db) + "-wal").read_bytes()
        assert not any(n in wal for n in needles)


def test_key_file_is_private(tf):
    tf.add_user("alice")
    tf.enroll("alice")
    assert stat.S_IMODE(os.stat(tf.key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tf.db).st_mode) & 0o077 == 0


def split_accounts(tf):
    """Configures the mail account and the auth account as the daemon runs them as root, with a
    mail tree that belongs to the mail account. Returns (mail, auth) passwd entries."""
    mail, auth = ensure_service_user(), ensure_account(AUTH_USER)
    tf.set("server", "user", SERVICE_USER)
    tf.set("server", "auth_user", AUTH_USER)
    (tf.dir / "mail").mkdir(mode=0o755)
    os.chown(tf.dir / "mail", mail.pw_uid, mail.pw_gid)
    return mail, auth


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")
def test_root_creates_files_owned_by_auth_user(tf):
    mail, auth = split_accounts(tf)
    assert not tf.state.exists()
    pw = tf.add_user("alice")
    secret = tf.enroll("alice")
    assert tf.login("alice", pw + code(secret)) == "OK"
    st = os.stat(tf.state)
    assert (st.st_uid, st.st_gid) == (auth.pw_uid, auth.pw_gid)
    assert stat.S_IMODE(st.st_mode) == 0o700
    for path in [tf.db, tf.key] + [Path(str(tf.db) + s) for s in ("-wal", "-shm")]:
        if path in (tf.db, tf.key) or path.exists():
            assert os.stat(path).st_uid == auth.pw_uid, f"{path} owned by {os.stat(path).st_uid}"
    assert stat.S_IMODE(os.stat(tf.key).st_mode) == 0o600
    # The auth account can use the store directly, as well; the mail account cannot read it.
    r = as_account(auth, twofold_binary(), "-c", tf.conf, "user", "list")
    assert r.returncode == 0 and r.stdout.startswith("alice\t"), r.stderr
    for path in (tf.key, tf.db):
        r = as_account(mail, "cat", path)
        assert r.returncode != 0 and "Permission denied" in r.stderr, r


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")
def test_root_user_add_makes_maildir_as_mail_account(tf):
    mail, _ = split_accounts(tf)
    tf.set("storage", "maildir", f"{tf.dir}/mail/%d/%n")
    tf.add_user("bob@example.org")
    md = tf.dir / "mail" / "example.org" / "bob"
    for d in (md, md / "cur", md / "new", md / "tmp"):
        st = os.stat(d)
        assert (st.st_uid, st.st_gid) == (mail.pw_uid, mail.pw_gid), d
        assert stat.S_IMODE(st.st_mode) == 0o700, d
    # the directory made above it: searchable by the auth account, not listable
    st = os.stat(md.parent)
    assert st.st_uid == mail.pw_uid and stat.S_IMODE(st.st_mode) == 0o711


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")
def test_root_user_add_without_a_mail_tree_says_so(tf):
    ensure_service_user()
    ensure_account(AUTH_USER)
    tf.set("server", "user", SERVICE_USER)
    tf.set("server", "auth_user", AUTH_USER)
    # tf.dir belongs to root: the mail account cannot make mail/ there
    r = tf.run("user", "add", "carol", input="Correct-Horse-42x\n")
    line = one_error_line(r)
    assert "carol added, but not its maildir" in line and "Permission denied" in line, line
    assert "carol" in tf.users()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")
def test_root_database_dir_created_for_auth_user(tf):
    _, auth = split_accounts(tf)
    db_dir = tf.dir / "db"
    tf.set("auth", "database", db_dir / "auth.db")
    tf.add_user("alice")
    assert os.stat(db_dir).st_uid == auth.pw_uid
    assert stat.S_IMODE(os.stat(db_dir).st_mode) == 0o700
    assert os.stat(db_dir / "auth.db").st_uid == auth.pw_uid


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")
def test_root_state_dir_of_another_account_refused(tf):
    mail, _ = split_accounts(tf)
    tf.state.mkdir(mode=0o700)
    (tf.state / "auth.db").write_bytes(b"")
    os.chown(tf.state, mail.pw_uid, mail.pw_gid)
    line = one_error_line(tf.run("user", "list"))
    assert str(tf.state) in line and f"belongs to uid {mail.pw_uid}" in line, line


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")
def test_root_missing_auth_user_is_one_clear_error(tf):
    ensure_service_user()
    tf.set("server", "user", SERVICE_USER)
    tf.set("server", "auth_user", "no-such-auth-tf")
    line = one_error_line(tf.run("user", "list"))
    assert "no-such-auth-tf" in line and "auth_user" in line, line
    assert not tf.state.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")
def test_root_missing_service_user_is_one_clear_error(tf):
    tf.set("server", "user", "no-such-user-tf")
    line = one_error_line(tf.run("user", "list"))
    assert "no-such-user-tf" in line and line.startswith("twofold: "), line
    assert not tf.state.exists()


def test_totp_enroll_refuses_to_replace_without_force(tf):
    pw = tf.add_user("alice")
    old = tf.enroll("alice")
    r = tf.run("totp", "enroll", "alice")
    assert r.returncode == 1 and r.stdout == "", (r.stdout, r.stderr)
    assert r.stderr == ("twofold: alice has TOTP already: a new seed replaces the one in the "
                        "user's app (give --force to do that)\n"), r.stderr
    assert tf.login("alice", pw + code(old)) == "OK"  # the live secret is untouched
    out = tf.run("totp", "enroll", "alice", "--force", check=True).stdout
    new = secret_from_uri(out.strip())
    assert new != old
    assert tf.login("alice", pw + code(new, time.time() + 30)) == "OK"
    assert tf.login("alice", pw + code(old, time.time() + 60)).startswith("FAIL")
    r = tf.run("totp", "enroll", "alice", "--force=yes")
    assert r.returncode == 2 and "takes no value" in r.stderr


QR_HALF = {"\u2588": (1, 1), "\u2580": (1, 0), "\u2584": (0, 1), " ": (0, 0)}


def qr_modules(text):
    """The module matrix of the QR code the CLI drew (1 = dark), from its half-block lines."""
    rows = []
    for line in text.splitlines():
        m = re.search(r"\x1b\[30;107m(.*?)\x1b\[0m", line)
        if not m:
            continue
        pairs = [QR_HALF[ch] for ch in m.group(1)]
        rows.append([p[0] for p in pairs])
        rows.append([p[1] for p in pairs])
    return rows


def test_totp_qr_has_quiet_zone_and_dark_modules_on_white(tf):
    tf.add_user("alice")
    rc, out = _pty_run(["-c", str(tf.conf), "totp", "enroll", "alice"], [("code", "000000x")] * 3)
    rows = qr_modules(out)
    size = len(rows[0]) - 8  # the code's width, inside a 4-module border
    assert size >= 21 and (size - 21) % 4 == 0, size  # a QR version's width
    assert all(len(r) == size + 8 for r in rows)
    assert len(rows) in (size + 8, size + 9)  # the last text line may have an empty lower half
    for r in rows[:4] + rows[4 + size:]:
        assert not any(r), "quiet zone above/below not white"
    for r in rows[4:4 + size]:
        assert not any(r[:4]) and not any(r[4 + size:]), "quiet zone left/right not white"
    # the three finder patterns, dark in the foreground colour: a 7x7 dark ring, a white ring,
    # a dark 3x3 centre
    for top, left in ((4, 4), (4, 4 + size - 7), (4 + size - 7, 4)):
        block = [row[left:left + 7] for row in rows[top:top + 7]]
        assert block[0] == [1] * 7 and block[6] == [1] * 7, block
        assert all(b[0] == 1 and b[6] == 1 for b in block), block
        assert block[1][1:6] == [0] * 5 and block[3][2:5] == [1, 1, 1], block


def test_unblock_lifts_a_source_block(tf):
    tf.set("auth", "max_failures", 3)
    pw = tf.add_user("alice")
    secret = tf.enroll("alice")
    tf.add_user("bob")
    for _ in range(3):  # a stranger to bob from that address
        assert tf.login("bob", "Wrong-Password-9z", ip="192.0.2.50").startswith("FAIL")
    assert tf.login("alice", pw + code(secret), ip="192.0.2.50").startswith("FAIL")
    assert any("reason=locked-source" in ln for ln in tf.log("alice")), tf.log("alice")
    r = tf.run("unblock", "192.0.2.50", check=True)
    assert r.stdout == "failures from 192.0.2.50 forgotten\n"
    assert tf.login("alice", pw + code(secret, time.time() + 30), ip="192.0.2.50") == "OK"
    r = tf.run("unblock", "2001:db8::7", check=True)
    assert r.stdout == "failures from 2001:db8::/64 forgotten\n"
    r = tf.run("unblock", "not-an-ip")
    assert r.returncode == 1 and "'not-an-ip' is not an IPv4 or IPv6 address" in r.stderr
