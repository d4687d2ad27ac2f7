"""The Debian package, built, installed, started, logged into and purged as an admin would.

`dpkg-buildpackage -us -uc -b` runs in a copy of the tree (it writes ../*.deb) in a network
namespace with no interface up (the build must need no network), the .deb is
installed with `apt-get install ./twofold_*.deb` (its dependencies are already installed by
contrib/install-deps: no network), and the installed daemon is started the way its unit does:
by systemd when systemd is PID 1, else as root with `twofoldd -f` on the installed config with
free loopback ports. A user is enrolled with the installed `twofold` (password + TOTP) and logs
in over IMAPS with imaplib, trusting only the certificate the package set up. `apt-get purge`
then has to take away the package, its state and the accounts postinst made, and nothing else.

Root on Debian only (it installs and removes a package and system accounts). Runs are
serialised with a lock file, and a machine where twofold is installed or /var/lib/twofold
exists is refused rather than touched. contrib/run-tests runs this as its "package" stage.
"""

import fcntl
import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PKG = "twofold"
CONF = Path("/etc/twofold/twofold.conf")
STATE = Path("/var/lib/twofold")
SNAKEOIL = (Path("/etc/ssl/certs/ssl-cert-snakeoil.pem"),
            Path("/etc/ssl/private/ssl-cert-snakeoil.key"))
ACCOUNTS = ("vmail", "twofold-auth")  # [server] user and auth_user of the shipped config
LOCK = Path("/run/lock/twofold-package-test.lock")
# the package build is one full compile; on a loaded machine it takes minutes
pytestmark = [pytest.mark.timeout(1800),
              pytest.mark.skipif(os.geteuid() != 0 or not Path("/etc/debian_version").exists(),
                                 reason="installs a Debian package: root on Debian only")]


def run(cmd, timeout=600, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check:
        assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout[-4000:]}{r.stderr[-4000:]}"
    return r


def apt_get(*args):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # waits for a dpkg lock another apt holds instead of failing on it
    return run(["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=600", "--no-install-recommends",
                *args], env=env, timeout=1200)


def package_status():
    r = run(["dpkg-query", "-W", "-f=${db:Status-Status}", PKG], check=False)
    return r.stdout.strip() if r.returncode == 0 else "not-installed"


def grp_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def account_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def source_files(root):
    """The tree's files as a checkout has them: git's tracked and untracked-not-ignored files,
    or (no git) everything but build trees, node_modules and the quickstart demo."""
    r = subprocess.run(["git", "-C", str(root), "ls-files", "-co", "--exclude-standard", "-z"],
                       capture_output=True, text=True)
    if r.returncode == 0:
        return [p for p in r.stdout.split("\0") if p and (root / p).is_file()]
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        dirnames[:] = [d for d in dirnames
                       if not (rel == Path(".") and (d.startswith("build") or d in (".git", "demo")))
                       and d not in ("node_modules", "__pycache__", ".pytest_cache")]
        files += [str(rel / f) for f in filenames]
    return files


def copy_tree(src, dst):
    for rel in source_files(src):
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dst / rel, follow_symlinks=False)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_key(text, section, key, value):
    """text with KEY = VALUE in [SECTION], replacing the key's uncommented lines there."""
    out, cur = [], None
    for line in text.splitlines():
        m = re.match(r"\s*\[(\w+)\]", line)
        if m:
            cur = m.group(1)
            out.append(line)
            if cur == section:
                out.append(f"{key} = {value}")
            continue
        if cur == section and re.match(rf"\s*{key}\s*=", line):
            continue
        out.append(line)
    assert f"[{section}]" in text, section
    return "\n".join(out) + "\n"


def conf_values(text, section, key):
    """The values of the uncommented KEY lines in [SECTION]."""
    values, cur = [], None
    for line in text.splitlines():
        m = re.match(r"\s*\[(\w+)\]", line)
        if m:
            cur = m.group(1)
        elif cur == section and (m := re.match(rf"\s*{key}\s*=\s*(.*?)\s*$", line)):
            values.append(m.group(1))
    return " ".join(values).split()


def totp_secret(uri):
    m = re.search(r"[?&]secret=([A-Z2-7]+)", uri)
    assert m, uri
    return m.group(1)


def totp_code(secret):
    return run(["oathtool", "--totp", "-b", secret]).stdout.strip()


def snakeoil_hash_links():
    """The links to the snakeoil certificate that make-ssl-cert puts in /etc/ssl/certs
    (HASH.N, OpenSSL's lookup by subject)."""
    return {p for p in SNAKEOIL[0].parent.glob("*.[0-9]*")
            if p.is_symlink() and os.readlink(p) == SNAKEOIL[0].name}


class Machine:
    """What the machine had before the install, so that only what the test made is undone."""

    def __init__(self):
        self.accounts = {a: account_exists(a) for a in ACCOUNTS}
        self.snakeoil = [p.exists() for p in SNAKEOIL]
        self.hash_links = snakeoil_hash_links()
        self.paths = []  # made by the test itself, removed at the end

    def restore(self):
        for p in self.paths:
            shutil.rmtree(p, ignore_errors=True)
        if package_status() != "not-installed":
            apt_get("purge", PKG)
        # postinst made ssl-cert's snakeoil pair for the package (ssl-cert had not): not ours to
        # keep on a machine that had none, nor the hash link make-ssl-cert put beside it
        for link in snakeoil_hash_links() - self.hash_links:
            link.unlink()
        for p, existed in zip(SNAKEOIL, self.snakeoil):
            if not existed and p.exists():
                p.unlink()


@pytest.fixture(scope="module")
def lock():
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # another run of this test (a parallel CI) finishes first
        yield


@pytest.fixture(scope="module")
def workdir(lock):
    d = Path(tempfile.mkdtemp(prefix="twofold-package-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def deb(workdir):
    """dpkg-buildpackage in a copy of the tree, without network; the .deb it wrote beside
    the copy."""
    src = workdir / "src"
    copy_tree(REPO, src)
    jobs = os.environ.get("JOBS", "2")
    # no -dbgsym package: nothing here installs it, and making it costs CI time
    env = dict(os.environ, DEB_BUILD_OPTIONS=f"nocheck noautodbgsym parallel={jobs}")
    start = time.monotonic()
    # in a network namespace of its own (no interface up): the build needs no network
    r = run(["unshare", "--net", "nice", "dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src,
            env=env, check=False, timeout=1500)
    (workdir / "build.log").write_text(r.stdout + r.stderr)
    assert r.returncode == 0, f"dpkg-buildpackage failed:\n{(r.stdout + r.stderr)[-6000:]}"
    print(f"dpkg-buildpackage: {time.monotonic() - start:.0f} s")
    debs = sorted(workdir.glob(f"{PKG}_*.deb"))
    assert len(debs) == 1, list(workdir.iterdir())
    return debs[0]


@pytest.fixture(scope="module")
def machine(lock):
    assert package_status() == "not-installed", \
        f"{PKG} is installed on this machine: this test installs and purges it, so it will not run"
    assert not STATE.exists(), f"{STATE} exists: purging the package would remove it"
    m = Machine()
    yield m
    m.restore()


@pytest.fixture(scope="module")
def installed(deb, machine):
    apt_get("install", str(deb))
    assert package_status() == "installed"
    return machine


# --- the .deb ----------------------------------------------------------------------------------

def test_deb_holds_the_installed_layout(deb):
    listing = run(["dpkg-deb", "-c", str(deb)]).stdout
    files = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    for f in ("/usr/sbin/twofoldd", "/usr/bin/twofold", "/etc/twofold/twofold.conf",
              "/lib/systemd/system/twofold.service", "/usr/share/man/man8/twofoldd.8.gz",
              "/usr/share/man/man8/twofold.8.gz", "/usr/share/man/man5/twofold.conf.5.gz",
              "/etc/fail2ban/filter.d/twofold.conf", "/etc/fail2ban/jail.d/twofold.conf",
              "/usr/share/doc/twofold/README.md", "/usr/share/doc/twofold/examples/twofold.conf"):
        assert f in files, f"{f} not in the package"
    # the project's own install rules decide the layout: no unit test program slipped in
    assert not any("test-" in f for f in files), files
    conffiles = run(["dpkg-deb", "-I", str(deb), "conffiles"]).stdout.split()
    assert "/etc/twofold/twofold.conf" in conffiles
    assert "/etc/fail2ban/jail.d/twofold.conf" in conffiles
    depends = run(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
    for dep in ("libgnutls30", "libsodium23", "liboath0", "ssl-cert", "adduser"):
        assert dep in depends, depends


# --- install -----------------------------------------------------------------------------------

def test_postinst_makes_accounts_state_and_certificate(installed):
    for name in ACCOUNTS:
        pw = pwd.getpwnam(name)
        assert pw.pw_shell == "/usr/sbin/nologin" and pw.pw_uid < 1000, pw
        assert grp.getgrgid(pw.pw_gid).gr_name == name
    st = STATE.stat()
    assert (st.st_uid, st.st_mode & 0o7777) == (pwd.getpwnam("twofold-auth").pw_uid, 0o700)
    assert os.readlink("/etc/twofold/cert.pem") == str(SNAKEOIL[0])
    assert os.readlink("/etc/twofold/key.pem") == str(SNAKEOIL[1])
    assert Path("/etc/twofold/key.pem").resolve().exists()
    text = CONF.read_text()
    assert text == (REPO / "contrib/twofold.conf").read_text()
    assert "0.0.0.0:993" in conf_values(text, "imap", "listen"), "the shipped config serves IMAPS"


def test_installed_config_passes_the_units_start_check(installed):
    """What ExecStartPre runs, on the installed files as postinst left them."""
    r = run(["/usr/sbin/twofoldd", "-t", "-c", str(CONF)], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    unit = Path("/lib/systemd/system/twofold.service")
    r = run(["systemd-analyze", "verify", str(unit)], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    # the README the unit points to is there as named (dh_compress leaves it uncompressed)
    docs = re.findall(r"^Documentation=.*?file://(\S+)", unit.read_text(), re.M)
    assert docs == ["/usr/share/doc/twofold/README.md"], docs
    assert Path(docs[0]).is_file()


def systemd_is_pid1():
    return Path("/run/systemd/system").is_dir()


def imaps_login(port, user, password, cafile, timeout=60):
    """imaplib over TLS to 127.0.0.1:port trusting cafile only; waits for the server to accept
    up to timeout seconds. Returns the capabilities after login."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.check_hostname = False  # the snakeoil certificate names this machine, not 127.0.0.1
    deadline = time.monotonic() + timeout
    while True:
        try:
            imap = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=30)
            break
        except (ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        typ, _ = imap.login(user, password)
        assert typ == "OK"
        typ, data = imap.select("INBOX")
        assert typ == "OK", data
        return imap.capabilities
    finally:
        try:
            imap.logout()
        except imaplib.IMAP4.error:
            pass


def start_daemon(conf, workdir):
    """twofoldd as the unit starts it (root, foreground) on the test config; its Popen."""
    log = open(workdir / "twofoldd.log", "w")
    proc = subprocess.Popen(["/usr/sbin/twofoldd", "-f", "-c", str(conf)],
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


def stop_daemon(proc, workdir):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("twofoldd did not stop on SIGTERM within 60 s")
    return (workdir / "twofoldd.log").read_text()


def test_installed_daemon_serves_an_imaps_login(installed, workdir):
    domain = f"pkgtest-{os.getpid()}.test"
    user = f"alice@{domain}"
    # the admin makes the domain's directory for the mail account (README, "Installing"):
    # /var/mail is root:mail 2775, where the mail account cannot create it
    maildom = Path("/var/mail") / domain
    installed.paths.append(maildom)
    vmail = pwd.getpwnam("vmail")
    maildom.mkdir()
    os.chown(maildom, vmail.pw_uid, vmail.pw_gid)
    maildom.chmod(0o711)
    if systemd_is_pid1():
        # postinst started the unit (dh_installsystemd); the installed config as it is
        state = run(["systemctl", "is-active", PKG], check=False).stdout.strip()
        journal = run(["journalctl", "-u", PKG, "-n", "40", "--no-pager"], check=False).stdout
        assert state == "active", journal
        conf, port, proc = CONF, 993, None
    else:
        conf = workdir / "twofold.conf"
        port = free_port()
        text = set_key(CONF.read_text(), "imap", "listen", f"127.0.0.1:{port}")
        text = set_key(text, "pop3", "listen", f"127.0.0.1:{free_port()}")
        # /run/twofold is the unit's RuntimeDirectory; this run keeps its socket to itself
        text = set_key(text, "server", "control", str(workdir / "control"))
        conf.write_text(text)
        proc = start_daemon(conf, workdir)
    twofold = ["/usr/bin/twofold", "-c", str(conf)]
    password = "correct horse battery"
    run([*twofold, "user", "add", user], input=password + "\n")
    uri = run([*twofold, "totp", "enroll", user], stdin=subprocess.DEVNULL).stdout
    secret = totp_secret(next(ln for ln in uri.splitlines() if ln.startswith("otpauth://")))
    try:
        code = totp_code(secret)
        wrong = f"{(int(code) + 1) % 1000000:06d}"
        with pytest.raises(imaplib.IMAP4.error):
            imaps_login(port, user, password + wrong, cafile="/etc/twofold/cert.pem")
        caps = imaps_login(port, user, password + code, cafile="/etc/twofold/cert.pem")
        assert "IMAP4REV1" in caps
        maildir = Path("/var/mail") / domain / "alice"
        assert maildir.stat().st_uid == pwd.getpwnam("vmail").pw_uid
    finally:
        if proc is not None:
            log = stop_daemon(proc, workdir)
            print(log[-3000:])
    if proc is not None:
        assert proc.returncode == 0, log[-3000:]


def test_reinstall_keeps_config_state_and_certificate(installed, deb):
    """An admin's edit of the config and the auth store survive the package being installed
    again; postinst changes nothing that exists."""
    edited = CONF.read_text() + "; the admin's own line\n"
    CONF.write_text(edited)
    db = STATE / "auth.db"
    assert db.exists()
    before = db.stat().st_ino, db.stat().st_size
    apt_get("install", "--reinstall", str(deb))
    assert CONF.read_text() == edited
    assert (db.stat().st_ino, db.stat().st_size) == before
    assert os.readlink("/etc/twofold/cert.pem") == str(SNAKEOIL[0])


# --- purge -------------------------------------------------------------------------------------

def test_purge_removes_the_package_state_and_its_accounts_but_not_mail(installed, deb):
    mail = installed.paths[0]  # the maildir of the login test, the mail account's
    assert mail.is_dir()
    apt_get("purge", PKG)
    assert package_status() == "not-installed"
    for gone in ("/usr/sbin/twofoldd", "/usr/bin/twofold", "/etc/twofold",
                 "/lib/systemd/system/twofold.service", STATE):
        assert not os.path.lexists(gone), gone
    assert mail.is_dir(), "purge keeps mail"
    assert account_exists("vmail"), "the mail account stays while it owns mail"
    assert account_exists("twofold-auth") == installed.accounts["twofold-auth"]
    # without mail, a second install and purge take the mail account away too (if postinst
    # made it; one that was there before stays)
    shutil.rmtree(mail)
    installed.paths.remove(mail)
    apt_get("install", str(deb))
    apt_get("purge", PKG)
    for name, existed in installed.accounts.items():
        assert account_exists(name) == existed, f"account {name}: existed before: {existed}"
        assert grp_exists(name) == existed, f"group {name}: existed before: {existed}"
