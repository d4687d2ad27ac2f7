"""The daemon's process machinery: config check, privilege separation, the worker pool,
the auth service, signals. Runs the real twofoldd (tests/integration/twofold_harness.py)."""

import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

import twofold_harness
from twofold_harness import running_as_root, wait_until

needs_root = pytest.mark.skipif(not running_as_root(), reason="privilege drop needs root")


def run_check(server):
    return subprocess.run([str(twofold_harness.twofoldd_path()), "-t", "-c", str(server.conf)],
                          capture_output=True, text=True, timeout=30)


def greeting(server, timeout=10):
    """TLS handshake on the POP3 port and the first line the server sends."""
    with server.tls_connect(timeout=timeout) as s:
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(512)
            if not chunk:
                break
            data += chunk
        s.sendall(b"QUIT\r\n")
        return data


def proc_uids(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return [int(x) for x in re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()]


def proc_fds(pid):
    out = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            out.append(os.readlink(fd))
        except OSError:
            pass
    return out


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not twofold_harness.Server._is_zombie(pid)


def greeting_from_worker(server, timeout=10.0):
    """A greeting, once the pool's one worker is free: on a loaded machine it may still be
    finishing the harness's start-up probe, and then the overflow process rightly answers
    "Server busy" (which uses up no session of the worker)."""
    deadline = time.monotonic() + timeout
    while True:
        data = greeting(server)
        if not data.startswith(b"-ERR [SYS/TEMP] Server busy") or time.monotonic() > deadline:
            return data
        time.sleep(0.2)


def idle_pool(server, count, timeout=10.0):
    """Waits until the pool has at least count workers. (The harness's start-up probe of the
    port briefly makes one busy, so the master may have started one more.)"""
    return wait_until(lambda: (p := server.worker_pids()) and len(p) >= count and p,
                      timeout, f"{count} workers")


def auth_socket_name(server):
    return server.service_socket_name("auth")


# --- twofoldd -t --------------------------------------------------------------------------

def test_check_good_config(server):
    r = run_check(server)
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout


def test_check_bad_config_names_file_and_line(server):
    server.configure("server", "min_spare", "lots")
    r = run_check(server)
    assert r.returncode == 1
    lines = server.conf.read_text().splitlines()
    lineno = next(i + 1 for i, ln in enumerate(lines) if ln.startswith("min_spare"))
    assert re.match(rf"^{re.escape(str(server.conf))}:{lineno}: ", r.stderr), r.stderr


def test_check_bad_certificate(server):
    # the private key where the certificate should be: a classic slip. (A garbled PEM
    # certificate block would do too, but GnuTLS 3.7 leaks memory parsing one, which fails
    # the ASan build.)
    server.configure("tls", "cert", str(server.key))
    r = run_check(server)
    assert r.returncode == 1
    assert str(server.conf) in r.stderr and "[tls]" in r.stderr, r.stderr


def test_imap_listen_accepted_and_bad_imap_address_names_its_line(server):
    server.enable_imap()
    r = run_check(server)
    assert r.returncode == 0, r.stderr
    server.configure("imap", "listen", "localhost:993")
    r = run_check(server)
    assert r.returncode == 1
    lines = server.conf.read_text().splitlines()
    section = lines.index("[imap]")
    lineno = next(i + 1 for i, ln in enumerate(lines) if i > section and ln.startswith("listen"))
    assert r.stderr.startswith(f"{server.conf}:{lineno}: [imap] listen: "), r.stderr


def test_usage_exit_2():
    r = subprocess.run([str(twofold_harness.twofoldd_path()), "-x"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2
    assert "usage" in r.stderr


def test_bind_failure_is_reported(server):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", server.pop3_port))
        s.listen()
        server.start(wait=False)
        assert server.wait_exit(10) == 1
    assert f"127.0.0.1:{server.pop3_port}" in server.log()


# --- privilege separation ------------------------------------------------------------------

@needs_root
def test_workers_chrooted_and_unprivileged(server):
    server.start()
    workers = server.wait_workers(2)
    uid = pwd.getpwnam(twofold_harness.SERVICE_USER).pw_uid
    chroot = server.state_dir / "empty"
    assert proc_uids(server.pid)[0] == 0
    for pid in workers:
        assert proc_uids(pid) == [uid] * 4, pid
        assert os.readlink(f"/proc/{pid}/root") == str(chroot)
        gid_line = re.search(r"^Groups:\s*(.*)$", Path(f"/proc/{pid}/status").read_text(), re.M)
        assert gid_line.group(1).split() == [str(pwd.getpwnam("twofoldtest").pw_gid)]
    st = chroot.stat()
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o755
    assert list(chroot.iterdir()) == []
    auth = server.auth_pids()
    assert auth, server.log()
    auth_uid = pwd.getpwnam(twofold_harness.AUTH_USER).pw_uid
    assert auth_uid != uid
    for pid in auth:
        assert proc_uids(pid) == [auth_uid] * 4
        assert os.readlink(f"/proc/{pid}/root") == "/"


def test_idle_worker_holds_no_store_or_mail(server):
    server.start()
    workers = server.wait_workers(2)
    for pid in workers:
        for target in proc_fds(pid):
            assert str(server.state_dir) not in target or target == str(server.state_dir / "empty")
            assert str(server.mail_root) not in target
            assert "auth.db" not in target


# --- the pool ------------------------------------------------------------------------------

def test_min_spare_idle_workers(server):
    server.configure("server", "min_spare", "3")
    server.configure("server", "max_spare", "4")
    server.start()
    idle_pool(server, 3)
    time.sleep(1.5)
    pids = server.worker_pids()
    assert 3 <= len(pids) <= 4
    time.sleep(2)
    assert sorted(server.worker_pids()) == sorted(pids), "pool changed while idle"


def test_pool_grows_while_busy_and_shrinks_to_max_spare(server):
    server.configure("server", "min_spare", "1")
    server.configure("server", "max_spare", "2")
    server.start()
    idle_pool(server, 1)
    time.sleep(1.5)  # the start-up probe's extra worker is retired down to max_spare
    conns = [server.pop3() for _ in range(4)]
    try:
        wait_until(lambda: len(server.worker_pids()) >= 5, 10, "pool to grow to 4 busy + 1 idle")
    finally:
        for c in conns:
            c.quit()
    # 5 idle now: the master retires them one per second down to max_spare
    wait_until(lambda: len(server.worker_pids()) == 2, 15, "pool to shrink to max_spare")


# struct scoreboard_slot: pid state sessions generation retiring, client seq phase key[2]
SLOT = struct.Struct("<iIIIIII4xQQ")
SLOT_IDLE = 2
HEAD = 64  # struct scoreboard_shared, before the slots


def scoreboard_mapping(pid):
    """(address, size) of the master's shared scoreboard (MAP_SHARED|MAP_ANONYMOUS)."""
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[5] == "/dev/zero":
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if hi - lo >= 65536 * SLOT.size:
                return lo, hi - lo
    raise AssertionError("scoreboard mapping not found")


def forge_scoreboard(server, victim):
    """Does what any compromised worker can: rewrites the shared scoreboard so that every
    worker slot, and a spare idle one, names the pid of an unrelated process. Root reaches the
    shared pages through /proc/<master>/mem."""
    addr, _ = scoreboard_mapping(server.pid)
    workers = set(server.worker_pids())
    with open(f"/proc/{server.pid}/mem", "r+b", buffering=0) as mem:
        addr += HEAD
        mem.seek(addr)
        raw = mem.read(64 * SLOT.size)
        slots = [SLOT.unpack_from(raw, i * SLOT.size) for i in range(64)]
        used = [i for i, sl in enumerate(slots) if sl[0] in workers]
        assert used, "no worker pid in the scoreboard"
        generation = slots[used[0]][3]
        spare = next(i for i, sl in enumerate(slots) if sl[0] == 0)
        for i in used:
            mem.seek(addr + i * SLOT.size)
            mem.write(struct.pack("<i", victim))
        mem.seek(addr + spare * SLOT.size)
        mem.write(SLOT.pack(victim, SLOT_IDLE, 0, generation, 0, 0, 0, 0, 0))


@needs_root
def test_forged_scoreboard_pids_are_never_signalled(server):
    """The master signals only pids it forked (its private table), never pids read from the
    scoreboard, which every worker can write (cf. Apache CVE-2007-3304)."""
    server.configure("server", "min_spare", "1")
    server.configure("server", "max_spare", "1")
    server.start()
    idle_pool(server, 1)
    victim = subprocess.Popen(["sleep", "300"])
    try:
        forge_scoreboard(server, victim.pid)
        old = set(server.worker_pids())
        time.sleep(2.5)  # pool upkeep: a forged idle slot must not be retired via kill()
        assert victim.poll() is None, "master signalled a forged pid while trimming the pool"
        server.reload()
        server.wait_log(r"configuration reloaded")
        # SIGHUP still replaces the real workers, which the forged pids did not hide
        wait_until(lambda: not (old & set(server.worker_pids())) and server.worker_pids(), 15,
                   "old workers replaced")
        assert victim.poll() is None, "master signalled a forged pid on SIGHUP"
        assert greeting(server).startswith(b"+OK")
        server.stop()
        assert victim.poll() is None, "master signalled a forged pid on SIGTERM"
    finally:
        victim.kill()
        victim.wait()


def test_sighup_then_pool_shrinks_to_max_spare(server):
    """After a reload the new generation grows while busy and is trimmed back to max_spare; the
    old generation is gone."""
    server.configure("server", "min_spare", "1")
    server.configure("server", "max_spare", "1")
    server.start()
    old = set(idle_pool(server, 1))
    server.reload()
    server.wait_log(r"configuration reloaded")
    wait_until(lambda: not (old & set(server.worker_pids())), 15, "old generation gone")
    conns = [server.pop3() for _ in range(3)]
    try:
        wait_until(lambda: len(server.worker_pids()) >= 4, 10, "pool to grow to 3 busy + 1 idle")
    finally:
        for c in conns:
            c.quit()
    wait_until(lambda: len(server.worker_pids()) == 1, 15, "pool to shrink to max_spare")
    assert greeting(server).startswith(b"+OK")


def test_killed_worker_is_logged_and_replaced(server):
    server.configure("server", "max_spare", "2")
    server.start()
    before = wait_until(lambda: len(p := server.worker_pids()) == 2 and p, 10, "2 workers")
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    server.wait_log(rf"worker {victim} killed by signal 9")
    wait_until(lambda: len(set(server.worker_pids()) - set(before)) >= 1, 10, "a new worker")
    assert server.running()
    assert greeting(server).startswith(b"+OK")


def test_killed_auth_process_is_replaced(server):
    server.configure("server", "auth_processes", "2")
    server.start()
    auth = wait_until(lambda: len(p := server.auth_pids()) == 2 and p, 10, "2 auth processes")
    os.kill(auth[0], signal.SIGKILL)
    server.wait_log(rf"auth process {auth[0]} killed by signal 9")
    wait_until(lambda: len(p := server.auth_pids()) == 2 and auth[0] not in p, 10,
               "a replacement auth process")
    assert server.running()


def test_sessions_per_worker_recycles(server):
    server.configure("server", "min_spare", "1")
    server.configure("server", "max_spare", "1")
    server.configure("server", "max_workers", "1")
    server.configure("server", "sessions_per_worker", "2")
    server.start()
    first = idle_pool(server, 1)[0]
    assert greeting_from_worker(server).startswith(b"+OK")
    assert greeting_from_worker(server).startswith(b"+OK")
    wait_until(lambda: not alive(first), 10, "worker to exit after 2 sessions")
    second = wait_until(lambda: server.worker_pids(), 10, "replacement")[0]
    assert second != first
    assert greeting(server).startswith(b"+OK")
    assert "killed by signal" not in server.log()


def test_parallel_connections_beyond_spare_all_served(server):
    server.configure("server", "min_spare", "2")
    server.configure("server", "max_workers", "8")
    server.start()
    server.wait_workers(2)
    results, errors = [], []

    def one():
        try:
            p = server.pop3(timeout=60)
            results.append(p.getwelcome())
            time.sleep(0.3)
            p.quit()
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=one) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not errors, errors
    assert len(results) == 40
    assert all(w.startswith(b"+OK") for w in results)
    assert len(server.worker_pids()) <= 8


# --- login through the auth service --------------------------------------------------------

def test_login_gets_maildir_from_auth_service(server):
    user = server.add_user("alice")
    server.deliver("alice", b"Subject: one\r\n\r\nbody\r\n")
    server.start()
    pop = server.pop3()
    pop.user("alice")
    pop.pass_(user.password + server.code(user.secret))
    assert pop.stat()[0] == 1
    pop.quit()
    # the policy logs each login in the auth process
    assert re.search(r"auth: info: login ok: user=<?alice>? proto=pop3", server.log()), \
        server.log()


def test_user_add_makes_the_maildir_for_the_mail_account(server):
    user = server.add_user("bob")
    md = server.maildir("bob")
    for sub in ("", "cur", "new", "tmp"):
        st = (md / sub).stat()
        assert st.st_mode & 0o777 == 0o700
        if running_as_root():
            assert st.st_uid == pwd.getpwnam(twofold_harness.SERVICE_USER).pw_uid
    server.start()
    pop = server.pop3()
    pop.user("bob")
    pop.pass_(user.password + server.code(user.secret))
    assert pop.stat()[0] == 0
    pop.quit()


def test_missing_maildir_at_login(server):
    """Started as root, the auth service runs as an account of its own, which must not make
    maildirs (they would be its own): a login whose maildir is gone fails temporarily and says
    why. Without root everything is one account and the auth service makes it, as before."""
    user = server.add_user("bob")
    md = server.maildir("bob")
    shutil.rmtree(md)
    server.start()
    pop = server.pop3()
    pop.user("bob")
    if running_as_root():
        with pytest.raises(Exception, match="-ERR"):
            pop.pass_(user.password + server.code(user.secret))
        server.wait_log(rf"{md} does not exist \(`twofold user add` makes it")
        assert not md.exists()
        return
    pop.pass_(user.password + server.code(user.secret))
    assert pop.stat()[0] == 0
    pop.quit()
    for sub in ("", "cur", "new", "tmp"):
        assert (md / sub).stat().st_mode & 0o777 == 0o700


def test_failed_login_logged_without_secret(server):
    user = server.add_user("carol")
    server.start()
    pop = server.pop3()
    pop.user("carol")
    with pytest.raises(Exception):
        pop.pass_(user.password + "000000x")
    server.wait_log(r"auth: info: login fail\w*: user=<?carol>? proto=pop3")
    assert user.password not in server.log()


def auth_probe(name, payload, user=None):
    """Connects to the auth socket from a process that is not a worker, sends payload;
    exit 0 when the auth service closes the connection unanswered."""
    return twofold_harness.probe_socket(name, payload, user)


def login_request(user, secret):
    """An IPC_LOGIN_REQUEST as a worker sends it (common/ipc.c: big-endian, strings with a
    length and their NUL)."""
    body = b"".join(struct.pack(">I", len(f)) + f.encode() + b"\0"
                    for f in (user, secret, "pop3", "127.0.0.1", ""))
    return struct.pack(">BBHI", 1, 1, len(body), 1) + body


def test_non_worker_refused_by_auth_service(server):
    """Only the master's workers may reach the auth service: this test process (root, or the
    daemon's own uid when not root) is neither, and gets no answer even to a well-formed login
    request; the service goes on serving the workers."""
    server.configure("server", "auth_processes", "1")
    user = server.add_user("dave")
    server.start()
    auth = wait_until(lambda: server.auth_pids(), 10, "auth process")
    name = auth_socket_name(server)
    r = auth_probe(name, login_request("dave", user.password + server.code(user.secret)))
    assert r.returncode == 0, r.stderr
    server.wait_log(r"refused IPC connection from pid \d+ uid \d+: not a twofoldd worker")
    assert "login" not in server.log().split("not a twofoldd worker")[-1]
    assert server.auth_pids() == auth
    pop = server.pop3()
    pop.user("dave")
    pop.pass_(user.password + server.code(user.secret))
    pop.quit()


@needs_root
def test_auth_socket_refuses_same_uid_non_worker(server):
    """A process of the service user that is not one of our workers (a cron job, a CGI, a
    worker's own child) is refused: the uid alone is not enough."""
    user = server.add_user("erin")
    server.start()
    wait_until(lambda: server.auth_pids(), 10, "auth process")
    name = auth_socket_name(server)
    r = auth_probe(name, login_request("erin", user.password + server.code(user.secret)),
                   user=twofold_harness.SERVICE_USER)
    assert r.returncode == 0, r.stderr
    uid = pwd.getpwnam(twofold_harness.SERVICE_USER).pw_uid
    server.wait_log(rf"refused IPC connection from pid \d+ uid {uid}: not a twofoldd worker")
    assert not re.search(r"login \w+: user=<?erin", server.log())


@needs_root
def test_auth_socket_refuses_other_uids(server):
    server.start()
    wait_until(lambda: server.auth_pids(), 10, "auth process")
    name = auth_socket_name(server)
    code = ("import socket,sys\n"
            "s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET); s.settimeout(5)\n"
            f"s.connect({name!r})\n"
            "try:\n"
            "    s.send(b'\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x01')\n"
            "    sys.exit(0 if s.recv(100)==b'' else 3)\n"
            "except (BrokenPipeError, ConnectionResetError):\n"
            "    sys.exit(0)\n")
    r = subprocess.run(["/usr/bin/python3", "-c", code], user="nobody", capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    server.wait_log(r"refused IPC connection from pid \d+ uid 65534")


# --- signals -------------------------------------------------------------------------------

def test_sighup_with_broken_config_keeps_serving(server):
    server.start()
    before = sorted(server.wait_workers(2))
    server.configure("server", "no_such_key", "1")
    server.reload()
    server.wait_log(r"reload failed, keeping the old configuration: .*no_such_key")
    assert greeting(server).startswith(b"+OK")
    assert set(before) <= set(server.worker_pids()), "no worker may be replaced"
    assert server.running()


def test_sighup_with_broken_certificate_keeps_serving(server):
    server.start()
    before = sorted(server.wait_workers(2))
    server.configure("tls", "cert", str(server.key))
    server.reload()
    server.wait_log(r"reload failed, keeping the old configuration: \[tls\]")
    assert greeting(server).startswith(b"+OK")
    assert set(before) <= set(server.worker_pids()), "no worker may be replaced"


def test_sighup_replaces_workers_and_sessions_finish(server):
    server.configure("server", "min_spare", "2")
    server.start()
    server.wait_workers(2)
    time.sleep(1)
    before = set(server.worker_pids())
    auth_before = set(server.auth_pids())
    busy = server.pop3()
    server.configure("server", "min_spare", "3")
    server.reload()
    server.wait_log(r"configuration reloaded")
    new = wait_until(lambda: len(p := set(server.worker_pids()) - before) >= 3 and p, 10,
                     "3 new workers")
    # the busy worker still serves its session on the old configuration
    assert busy.capa(), "the session in progress stopped answering"
    # idle old workers exit on their own schedule: wait for them, then the busy one must remain
    old_left = wait_until(lambda: len(p := set(server.worker_pids()) & before) <= 1 and p, 10,
                          "idle old workers to exit")
    assert len(old_left) == 1, "idle old workers should be gone, the busy one should stay"
    busy.quit()
    wait_until(lambda: not (set(server.worker_pids()) & before), 10, "the busy old worker to exit")
    wait_until(lambda: not (set(server.auth_pids()) & auth_before) and server.auth_pids(), 10,
               "auth processes replaced")
    assert new and greeting(server).startswith(b"+OK")
    assert "killed by signal" not in server.log()


def test_sigterm_ends_sessions_and_exits_cleanly(server):
    server.start()
    server.wait_workers(2)
    pop = server.pop3()
    t0 = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - t0 < 8
    # the session was ended: the server said goodbye or closed
    pop.sock.settimeout(5)
    try:
        rest = pop.sock.recv(1024)
    except (OSError, ValueError):
        rest = b""
    assert rest == b"" or rest.startswith(b"-ERR") or rest.startswith(b"+OK")
    assert "stopped" in server.log()


# --- addresses and running without root ----------------------------------------------------

def test_listens_on_ipv4_and_ipv6(server):
    port = server.pop3_port
    server.configure("pop3", "listen", f"127.0.0.1:{port} [::1]:{port}")
    server.start()
    assert greeting(server).startswith(b"+OK")
    ctx = server.ssl_context()
    with socket.create_connection(("::1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.recv(512).startswith(b"+OK")


def test_host_without_ipv6_leaves_the_wildcard_out(server):
    """On a host booted without IPv6 (made so for the daemon by a seccomp filter: socket() of
    AF_INET6 fails with EAFNOSUPPORT, as there) the [::] wildcard the example config lists
    beside 0.0.0.0 is left out with a warning, and the daemon serves on IPv4."""
    port = server.pop3_port
    server.configure("pop3", "listen", f"127.0.0.1:{port} [::]:{port}")
    server.wrapper = [str(twofold_harness.helper_path("kernel-without")), "ipv6"]
    server.start()
    assert greeting(server).startswith(b"+OK")
    assert f"pop3: not listening on [::]:{port}: this host has no IPv6" in server.log()


def test_host_without_ipv6_refuses_an_ipv6_only_setup(server):
    """Only IPv6 to listen on, or a specific IPv6 address: no start, and the log says why."""
    port = server.pop3_port
    server.wrapper = [str(twofold_harness.helper_path("kernel-without")), "ipv6"]
    server.configure("pop3", "listen", f"[::]:{port}")
    server.start(wait=False)
    assert server.wait_exit(10) == 1
    assert "pop3: none of the listen addresses can be used: this host has no IPv6" in server.log()
    server.configure("pop3", "listen", f"127.0.0.1:{port} [::1]:{port}")
    server.start(wait=False)
    assert server.wait_exit(10) == 1
    assert f"socket for [::1]:{port}: Address family not supported" in server.log()


@needs_root
def test_without_root_runs_unconfined_with_one_warning(server):
    nobody = pwd.getpwnam("nobody")
    for p in (server.state_dir, server.mail_root):
        os.chown(p, nobody.pw_uid, nobody.pw_gid)
    key = server.dir / "nobody-key.pem"
    key.write_bytes(Path(server.key).read_bytes())
    os.chown(key, nobody.pw_uid, nobody.pw_gid)
    os.chmod(key, 0o600)
    server.configure("tls", "key", str(key))
    server.unconfigure("server", "user")
    log = open(server.dir / "nobody.log", "wb")
    proc = subprocess.Popen([str(twofold_harness.twofoldd_path()), "-f", "-c", str(server.conf)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            user="nobody", cwd="/")
    try:
        server.proc = proc  # lets worker_pids() and the fixture's teardown see it
        server.log_path = server.dir / "nobody.log"
        workers = server.wait_workers(2, timeout=10)
        assert greeting(server).startswith(b"+OK")
        for pid in workers:
            assert proc_uids(pid)[0] == nobody.pw_uid
            assert os.readlink(f"/proc/{pid}/root") == "/"
        assert server.log().count("not started as root") == 1, server.log()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        log.close()


def test_sigterm_does_not_wait_for_a_stalled_handshake(server):
    server.start()
    server.wait_workers(2)
    stalled = socket.create_connection(("127.0.0.1", server.pop3_port), timeout=10)
    try:
        # a worker has taken the connection and waits for a ClientHello that never comes
        wait_until(lambda: any(Path(f"/proc/{p}/stat").exists() for p in server.worker_pids()),
                   5, "workers")
        time.sleep(0.5)
        t0 = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - t0 < 5, "stop waited for the handshake timeout"
    finally:
        stalled.close()


def test_sighup_with_new_listen_address_needs_restart(server):
    server.start()
    server.wait_workers(2)
    old_port = server.pop3_port
    server.configure("pop3", "listen", f"127.0.0.1:{twofold_harness.free_port()}")
    server.reload()
    server.wait_log(r"listen addresses changed: restart twofoldd to apply them")
    server.pop3_port = old_port
    assert greeting(server).startswith(b"+OK")
