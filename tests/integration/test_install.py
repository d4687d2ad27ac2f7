"""What `cmake --install` puts where, the systemd unit it installs, the manual pages, --help and
--version, and the daemon's sd_notify messages.

The unit is checked by systemd's own tools (there is no systemd PID 1 here): `systemd-analyze
verify` on the installed file with the installed binary mounted where the unit names it (a
private mount namespace), and `systemd-analyze security --offline` for its exposure score. What
the sandboxing directives mean for the daemon is tried for real where it can be without systemd:
the unit's capability bounding set and NoNewPrivileges (setpriv), and its system call filter
(every call the daemon makes in a login, a reload and a stop, traced with strace, must be in the
set the unit allows).
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

import twofold_harness
from twofold_harness import running_as_root

needs_root = pytest.mark.skipif(not running_as_root(), reason="mount namespaces need root")

MANPAGES = ("man8/twofoldd.8", "man8/twofold.8", "man5/twofold.conf.5")
# Exposure score of the unit (`systemd-analyze security`, 0 = best, 10 = worst): printed, and
# held below this so a directive dropped by accident shows.
SECURITY_SCORE_MAX = 4.0


def cache_value(name):
    """A value from the build's CMakeCache.txt, or None."""
    text = (twofold_harness.build_dir() / "CMakeCache.txt").read_text()
    m = re.search(rf"^{name}:\w+=(.*)$", text, re.M)
    return m.group(1) if m else None


def built_with_systemd():
    return cache_value("TWOFOLD_SYSTEMD") in ("ON", "TRUE", "1", "YES")


def install(destdir, prefix="/usr"):
    """cmake --install of the build into destdir with prefix; returns its output."""
    env = dict(os.environ, DESTDIR=str(destdir))
    r = subprocess.run(["cmake", "--install", str(twofold_harness.build_dir()), "--prefix", prefix],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def tree():
    """One install into a DESTDIR with prefix /usr, shared by the tests that only read it."""
    d = Path(tempfile.mkdtemp(prefix="twofold-install-", dir="/tmp"))
    install(d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def destdir():
    d = Path(tempfile.mkdtemp(prefix="twofold-install-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def unit_path(root):
    unitdir = cache_value("TWOFOLD_SYSTEMD_UNITDIR") or "lib/systemd/system"
    base = Path(unitdir) if unitdir.startswith("/") else Path("/usr") / unitdir
    return Path(str(root) + str(base)) / "twofold.service"


def unit_values(text, key):
    return [ln.split("=", 1)[1] for ln in text.splitlines() if ln.startswith(key + "=")]


# --- the installed tree --------------------------------------------------------------------

def test_install_puts_everything_a_package_would(tree):
    files = sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file())
    expected = {
        "usr/sbin/twofoldd", "usr/bin/twofold",
        "etc/twofold/twofold.conf",
        "etc/fail2ban/filter.d/twofold.conf", "etc/fail2ban/jail.d/twofold.conf",
        "usr/share/doc/twofold/README.md", "usr/share/doc/twofold/examples/twofold.conf",
        str(unit_path(tree).relative_to(tree)),
        *(f"usr/share/man/{m}" for m in MANPAGES),
    }
    assert expected <= set(files), f"missing: {expected - set(files)}"
    for exe in ("usr/sbin/twofoldd", "usr/bin/twofold"):
        assert os.access(tree / exe, os.X_OK)
    conf = tree / "etc/twofold/twofold.conf"
    assert conf.stat().st_mode & 0o777 == 0o644
    assert conf.read_text() == (twofold_harness.REPO / "contrib/twofold.conf").read_text()


def test_config_installed_only_when_absent(destdir):
    install(destdir)
    conf = destdir / "etc/twofold/twofold.conf"
    jail = destdir / "etc/fail2ban/jail.d/twofold.conf"
    conf.write_text("; the admin's own\n")
    jail.write_text("[twofold]\nenabled = false\n")
    out = install(destdir)
    assert conf.read_text() == "; the admin's own\n"
    assert jail.read_text() == "[twofold]\nenabled = false\n"
    assert f"Keeping: {conf}" in out


def test_unit_paths_follow_the_install_prefix(tree, destdir):
    text = unit_path(tree).read_text()
    assert unit_values(text, "ExecStart") == ["/usr/sbin/twofoldd -f -c /etc/twofold/twofold.conf"]
    assert unit_values(text, "ExecStartPre") == [
        "/usr/sbin/twofoldd -t -c /etc/twofold/twofold.conf"]
    assert "file:///usr/share/doc/twofold/README.md" in text
    # another prefix at install time (not the configured one): the unit names that one
    install(destdir, prefix="/opt/twofold")
    assert (destdir / "opt/twofold/sbin/twofoldd").exists()
    other = next(destdir.rglob("twofold.service")).read_text()
    assert unit_values(other, "ExecStart") == [
        "/opt/twofold/sbin/twofoldd -f -c /etc/twofold/twofold.conf"]
    assert "@" not in "".join(unit_values(other, "ExecStart") + unit_values(other, "Type"))


def test_unit_type_matches_the_build(tree):
    text = unit_path(tree).read_text()
    want = "notify" if built_with_systemd() else "simple"
    assert unit_values(text, "Type") == [want]


def test_unit_keeps_home_and_state_writable(tree):
    text = unit_path(tree).read_text()
    assert unit_values(text, "ProtectHome") in ([], ["no"]), "maildirs under /home must work"
    rw = " ".join(unit_values(text, "ReadWritePaths")).split()
    for path in ("-/var/lib/twofold", "-/var/mail", "-/home"):
        assert path in rw, rw
    # no StateDirectory=: systemd would chown the auth account's state dir to root
    assert not unit_values(text, "StateDirectory")


def test_every_sandboxing_directive_says_why(tree):
    """Each directive of the unit's sandboxing part has a comment block right above it (or is
    one of a block of directives under one comment)."""
    lines = unit_path(tree).read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("# --- what the master needs"))
    block_has_comment = False
    for ln in lines[start:]:
        if ln.startswith("["):
            break
        if ln.startswith("#"):
            block_has_comment = True
        elif ln.strip() == "":
            block_has_comment = False
        else:
            assert block_has_comment, f"no comment says why: {ln}"


def analyze_verify(tree, sbin):
    """systemd-analyze verify of the installed unit, in a mount namespace where sbin is mounted
    on /usr/sbin (where the unit names the binary) and the installed pages are on MANPATH."""
    script = (f"mount --bind {shlex.quote(str(sbin))} /usr/sbin && "
              f"exec systemd-analyze verify {shlex.quote(str(unit_path(tree)))}")
    env = dict(os.environ, MANPATH=str(tree / "usr/share/man"))
    return subprocess.run(["unshare", "--mount", "sh", "-c", script], env=env,
                          capture_output=True, text=True, timeout=120)


@needs_root
def test_systemd_analyze_verify_passes(tree):
    """The installed unit, with the installed binary where the unit names it and the installed
    manual pages on MANPATH (verify runs `man` on each Documentation= page)."""
    r = analyze_verify(tree, tree / "usr/sbin")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr.strip() == "", r.stderr


@needs_root
def test_systemd_analyze_verify_fails_without_the_binary(tree, destdir):
    """The check above can fail: the same unit without the binary where it says."""
    r = analyze_verify(tree, destdir)
    assert r.returncode != 0 and "twofoldd" in r.stderr, r.stderr


def test_systemd_analyze_security_score(tree):
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                        str(unit_path(tree))], capture_output=True, text=True, timeout=120)
    text = r.stdout + r.stderr
    m = re.search(r"Overall exposure level for twofold\.service: (\d+\.\d+)", text)
    assert m, text
    score = float(m.group(1))
    print(f"systemd-analyze security: exposure {score} (0 best, 10 worst)")
    assert score <= SECURITY_SCORE_MAX, text


# --- manual pages --------------------------------------------------------------------------

@pytest.mark.parametrize("page", MANPAGES)
def test_man_page_lints_clean(tree, page):
    r = subprocess.run(["mandoc", "-Tlint", "-Wwarning", str(tree / "usr/share/man" / page)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("page", MANPAGES)
def test_man_page_renders(tree, page):
    r = subprocess.run(["mandoc", "-Tascii", str(tree / "usr/share/man" / page)],
                       capture_output=True, text=True, timeout=60)
    text = re.sub(".\x08", "", r.stdout)  # overstrike bold and underline
    assert r.returncode == 0 and "DESCRIPTION" in text and "SEE ALSO" in text, r.stderr


# --- --help and --version ------------------------------------------------------------------

def run(*cmd):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def test_daemon_help_and_version():
    version = cache_value("CMAKE_PROJECT_VERSION")
    d = twofold_harness.twofoldd_path()
    for flag in ("--version", "-V"):
        r = run(d, flag)
        assert r.returncode == 0 and r.stdout == f"twofoldd {version}\n", r
    r = run(d, "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: twofoldd"), r
    for opt in ("--config", "--foreground", "--test", "--help", "--version"):
        assert opt in r.stdout
    r = run(d, "--bogus")
    assert r.returncode == 2 and "usage: twofoldd" in r.stderr and r.stdout == ""


def test_cli_help_and_version():
    version = cache_value("CMAKE_PROJECT_VERSION")
    c = twofold_harness.twofold_cli_path()
    r = run(c, "--version")
    assert r.returncode == 0 and r.stdout == f"twofold {version}\n"
    r = run(c, "--help")
    assert r.returncode == 0 and "twofold [-c FILE] user add NAME" in r.stdout
    assert "COMMAND --help" in r.stdout


def test_cli_per_command_help_needs_no_config():
    c = twofold_harness.twofold_cli_path()
    r = run(c, "-c", "/nonexistent/twofold.conf", "user", "--help")
    assert r.returncode == 0, r.stderr
    usages = re.findall(r"^twofold \[-c FILE\] (user \S+)", r.stdout, re.M)
    assert {"user add", "user list", "user unlock"} <= set(usages), r.stdout
    r = run(c, "-c", "/nonexistent/twofold.conf", "user", "unlock", "--help")
    assert r.returncode == 0
    assert re.findall(r"^twofold \[-c FILE\] (.*)$", r.stdout, re.M) == ["user unlock NAME"]
    assert "stolen-password alarm" in r.stdout
    r = run(c, "-c", "/nonexistent/twofold.conf", "log", "-h")
    assert r.returncode == 0 and "log [NAME] [--limit N]" in r.stdout
    # after "--" it is an argument, not a request for help
    r = run(c, "-c", "/nonexistent/twofold.conf", "user", "add", "--", "--help")
    assert r.returncode == 1 and "nonexistent" in r.stderr


def test_cli_every_command_has_help():
    c = twofold_harness.twofold_cli_path()
    r = run(c, "--help")
    commands = re.findall(r"^  twofold \[-c FILE\] ((?:[a-z]+ )?[a-z]+)\b", r.stdout, re.M)
    assert len(commands) > 10, r.stdout
    for command in commands:
        h = run(c, "-c", "/nonexistent/twofold.conf", *command.split(), "--help")
        assert h.returncode == 0, (command, h.stderr)
        lines = h.stdout.splitlines()
        assert len(lines) >= 2 and lines[1].startswith("    "), (command, h.stdout)


# --- sd_notify -----------------------------------------------------------------------------

class NotifySocket:
    """The datagram socket systemd would listen on (NOTIFY_SOCKET)."""

    def __init__(self, directory):
        self.path = str(Path(directory) / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(twofold_harness.SERVICES_TIMEOUT)

    def next(self):
        return self.sock.recv(4096).decode()

    def close(self):
        self.sock.close()


@pytest.mark.skipif(not built_with_systemd(), reason="built without libsystemd (Type=simple)")
def test_notify_ready_reloading_stopping(server, monkeypatch):
    user = server.add_user("alice")
    ns = NotifySocket(server.dir)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", ns.path)
        server.start()
        msg = ns.next()
        assert msg.startswith("READY=1\n") and "STATUS=serving" in msg, msg
        # READY only once the services serve: a login works now
        pop = server.pop3()
        pop.user(user.name)
        pop.pass_(user.password + server.code(user.secret))
        pop.quit()
        server.reload()
        msg = ns.next()
        assert re.match(r"RELOADING=1\nMONOTONIC_USEC=\d+$", msg), msg
        msg = ns.next()
        assert msg.startswith("READY=1\n") and "reloaded" in msg, msg
        # a reload that fails still ends in READY (the old configuration serves)
        server.configure("server", "min_spare", "lots")
        server.reload()
        assert ns.next().startswith("RELOADING=1")
        msg = ns.next()
        assert msg.startswith("READY=1\n") and "reload failed" in msg, msg
        server.signal(signal.SIGTERM)
        assert ns.next() == "STOPPING=1"
        assert server.wait_exit(30) == 0
    finally:
        ns.close()


@pytest.mark.skipif(not built_with_systemd(), reason="built without libsystemd (Type=simple)")
def test_notify_status_names_why_start_failed(server, monkeypatch):
    server.add_user("alice")
    key = server.state_dir / "secret.key"
    os.chmod(key, 0o644)
    ns = NotifySocket(server.dir)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", ns.path)
        server.start(wait=False)
        assert server.wait_exit(60) == 1
        msgs = []
        ns.sock.settimeout(1)
        try:
            while True:
                msgs.append(ns.next())
        except socket.timeout:
            pass
        assert not any(m.startswith("READY=1") for m in msgs), msgs
        assert any(m.startswith("STATUS=") and "secret.key" in m for m in msgs), msgs
    finally:
        ns.close()
