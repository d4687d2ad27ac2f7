"""The key process of a real twofoldd: the one process that holds the TLS private key and signs
handshakes for the workers. Handshakes of every kind go through it, no worker's memory holds the
key, its death costs only the handshakes in flight, and reloads bring a new one."""

import os
import pwd
import re
import signal
import ssl
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

import twofold_harness
from twofold_harness import running_as_root, wait_until

needs_root = pytest.mark.skipif(not running_as_root(),
                                reason="reading other processes' memory needs root")


def make_cert(directory, kind):
    """A self-signed certificate for localhost with an ECDSA P-256, RSA-2048 or Ed25519 key."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    args = {"ecdsa": ["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
            "rsa": ["rsa:2048"], "ed25519": ["ed25519"]}[kind]
    cert, key = directory / f"{kind}-cert.pem", directory / f"{kind}-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", *args, "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o600)
    return cert, key


def use_cert(server, cert, key):
    server.configure("tls", "cert", cert)
    server.configure("tls", "key", key)
    server.cert = Path(cert)


def greet(server, version=None, timeout=10):
    """A full handshake (no resumption) and the POP3 greeting; returns (version, greeting)."""
    ctx = server.ssl_context(min_version=version, max_version=version)
    with server.tls_connect(context=ctx, timeout=timeout) as s:
        return s.version(), s.recv(100)


def signed_count(server):
    return len(re.findall(r"key: debug: signed \d+ bytes", server.log()))


# --- handshakes through the key process -------------------------------------------------------

@pytest.mark.parametrize("kind", ["ecdsa", "rsa", "ed25519"])
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_handshake_signed_by_the_key_process(server, tmp_path, kind, version):
    cert, key = make_cert(tmp_path, kind)
    use_cert(server, cert, key)
    server.configure("server", "debug", "yes")
    server.start()
    before = signed_count(server)
    got, line = greet(server, version)
    assert got == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    assert line.startswith(b"+OK")
    wait_until(lambda: signed_count(server) > before, 5, "the key process's signature")


def test_tls12_rsa_pkcs1_signature(server, tmp_path):
    """A TLS 1.2 client that takes only PKCS#1 v1.5 RSA signatures (no PSS)."""
    cert, key = make_cert(tmp_path, "rsa")
    use_cert(server, cert, key)
    server.start()
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{server.pop3_port}",
                        "-tls1_2", "-sigalgs", "RSA+SHA256", "-CAfile", str(cert),
                        "-verify_return_error", "-ign_eof"],
                       input="QUIT\r\n", capture_output=True, text=True, timeout=30)
    assert "+OK" in r.stdout, r.stdout + r.stderr
    assert re.search(r"Peer signature type: RSA\s*$", r.stdout, re.M), r.stdout


def test_no_static_rsa_key_exchange(server, tmp_path):
    """The key process signs, it never decrypts: a client offering only RSA key exchange is
    refused, whatever the priority string says."""
    cert, key = make_cert(tmp_path, "rsa")
    use_cert(server, cert, key)
    server.configure("tls", "priority", "NORMAL:+RSA")
    server.start()
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{server.pop3_port}",
                        "-tls1_2", "-cipher", "AES128-GCM-SHA256", "-CAfile", str(cert),
                        "-ign_eof"],
                       input="QUIT\r\n", capture_output=True, text=True, timeout=30)
    assert "+OK" not in r.stdout
    assert greet(server)[1].startswith(b"+OK")


# --- where the key is, and is not -----------------------------------------------------------

def key_secrets(keyfile):
    """Byte strings no process but the key process may hold: the private scalar of an EC key,
    as written in the file and in the little-endian limbs of a bignum."""
    out = subprocess.run(["openssl", "pkey", "-in", str(keyfile), "-text", "-noout"],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"^priv:\n((?:\s+[0-9a-f:]+\n)+)", out, re.M)
    scalar = bytes.fromhex(re.sub(r"[\s:]", "", m.group(1))).lstrip(b"\0")
    assert len(scalar) >= 30
    return [scalar, scalar[::-1]]


MEM_CHUNK = 16 << 20


def region_holds(mem, start, end, needles):
    """Which needles occur in [start, end) of an open /proc/PID/mem, read in chunks that
    overlap by a needle's length (so none is missed at a seam)."""
    found, overlap, pos = set(), max(len(n) for n in needles), start
    while pos < end:
        try:
            mem.seek(pos)
            data = mem.read(min(MEM_CHUNK + overlap, end - pos))
        except OSError:
            break
        found |= {i for i, n in enumerate(needles) if n in data}
        pos += MEM_CHUNK
    return found


def memory_holds(pid, needles):
    """Which needles occur anywhere in the readable memory of pid (root reads /proc/PID/mem).
    Mappings of a GiB or more (a sanitizer's shadow memory) hold no data of the program."""
    found = set()
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    with open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            f = line.split()
            start, end = (int(x, 16) for x in f[0].split("-"))
            if f[1][0] != "r" or (len(f) > 5 and f[5].startswith("[v")) or end - start >= 1 << 30:
                continue
            found |= region_holds(mem, start, end, needles)
    return found


@needs_root
@pytest.mark.parametrize("key_process", [True, False])
def test_worker_memory_holds_no_private_key(server, key_process):
    """With the key process, no worker (nor the master or an auth process) holds the private
    scalar after serving handshakes, and only the key process does; with [tls] key_process = no
    every worker holds it, which shows the search finds it where it is."""
    server.configure("tls", "key_process", key_process)
    server.start()
    for _ in range(4):
        assert greet(server)[1].startswith(b"+OK")
    needles = key_secrets(server.key)
    others = server.worker_pids() + server.auth_pids() + [server.pid]
    assert len(server.worker_pids()) >= 2
    held = {pid: memory_holds(pid, needles) for pid in others}
    if key_process:
        assert not any(held.values()), held
        keyproc = server.key_pids()
        assert len(keyproc) == 1 and memory_holds(keyproc[0], needles), "search found nothing"
    else:
        assert not server.key_pids()
        assert all(held[pid] for pid in server.worker_pids()), held


@needs_root
def test_worker_cannot_read_or_map_the_key_file(server):
    server.start()
    for _ in range(2):
        greet(server)
    r = subprocess.run(["/usr/bin/python3", "-c", "import sys; open(sys.argv[1]).read()",
                        str(server.key)], user=twofold_harness.SERVICE_USER,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    for pid in server.worker_pids():
        assert str(server.key) not in Path(f"/proc/{pid}/maps").read_text()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                assert os.readlink(fd) != str(server.key)
            except FileNotFoundError:
                pass


@needs_root
def test_key_process_unprivileged_and_chrooted(server):
    server.start()
    (pid,) = server.key_pids()
    auth_uid = pwd.getpwnam(twofold_harness.AUTH_USER).pw_uid
    status = Path(f"/proc/{pid}/status").read_text()
    assert re.search(rf"^Uid:\s+{auth_uid}\s+{auth_uid}\s+{auth_uid}\s+{auth_uid}$", status, re.M)
    assert os.readlink(f"/proc/{pid}/root") == str(server.state_dir / "empty")
    # not dumpable: its own account may not read its memory
    code = "import sys; open(f'/proc/{sys.argv[1]}/mem', 'rb')"
    r = subprocess.run(["/usr/bin/python3", "-c", code, str(pid)],
                       user=twofold_harness.AUTH_USER, capture_output=True, text=True)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r


def sign_request(token, data=b"\x20" * 64):
    """An IPC_KEY_SIGN as common/ipc.c encodes it (big-endian; data as length + bytes)."""
    body = (struct.pack(">I", len(token)) + token + struct.pack(">III", 2, 14, 0) +
            struct.pack(">I", len(data)) + data)
    return struct.pack(">BBHI", 1, 32, len(body), 1) + body


@pytest.mark.parametrize("who", ["service user", "other uid"])
def test_key_process_answers_only_workers(server, who):
    """A process of the workers' uid that is no worker has no token: no signature; another uid
    is refused at once. The key process goes on signing for the workers."""
    if who == "other uid" and not running_as_root():
        pytest.skip("needs root to run as another uid")
    server.configure("server", "debug", "yes")
    server.start()
    name = server.service_socket_name("key")
    user = None
    if running_as_root():
        user = twofold_harness.SERVICE_USER if who == "service user" else "nobody"
    r = twofold_harness.probe_socket(name, sign_request(os.urandom(32)), user)
    assert r.returncode == 0, r.stderr
    if who == "service user":
        server.wait_log(r"key: error: malformed or unauthorised sign request")
    else:
        server.wait_log(r"key: warning: refused key connection from pid \d+ uid 65534")
    assert "signed 64 bytes" not in server.log()
    assert greet(server)[1].startswith(b"+OK")


# --- death and reload -----------------------------------------------------------------------

def test_key_process_killed_is_restarted(server):
    server.start()
    (old,) = server.key_pids()
    os.kill(old, signal.SIGKILL)
    server.wait_log(rf"key process {old} killed by signal 9")
    new = wait_until(lambda: [p for p in server.key_pids() if p != old], 10, "a new key process")
    assert len(new) == 1
    assert greet(server)[1].startswith(b"+OK")


def test_handshake_waiting_for_a_dead_key_process(server):
    """A handshake whose sign request waits on a key process that then dies is served by the
    next one (the master keeps the listening socket, so the request waits there), within a
    moment, not at the handshake timeout; the worker goes on. (A key process that dies holding
    a request makes that handshake fail at once: unit test test_key_process_dying_mid_request.)"""
    server.configure("server", "min_spare", "1")
    server.configure("server", "max_workers", "1")
    server.start()
    (keyproc,) = server.key_pids()
    worker = server.wait_workers(1)[0]
    os.kill(keyproc, signal.SIGSTOP)
    result = {}

    def client():
        try:
            result["ok"] = greet(server, timeout=30)
        except (OSError, ssl.SSLError) as e:
            result["error"] = e

    t = threading.Thread(target=client)
    t.start()
    time.sleep(1.0)  # the worker waits for the stopped key process
    assert t.is_alive(), result
    t_kill = time.monotonic()
    os.kill(keyproc, signal.SIGKILL)
    t.join(20)
    assert result.get("ok", (None, b""))[1].startswith(b"+OK"), result
    assert time.monotonic() - t_kill < 5
    server.wait_log(rf"key process {keyproc} killed by signal 9")
    assert len(server.key_pids()) == 1 and keyproc not in server.key_pids()
    assert greet(server)[1].startswith(b"+OK")
    assert server.worker_pids() == [worker], "the worker must survive"


def test_reload_brings_a_new_key_process_and_the_old_one_leaves(server, tmp_path):
    server.configure("server", "handshake_timeout", "2")  # the old one lingers 2 + 5 s
    server.start()
    (old,) = server.key_pids()
    cert, key = make_cert(tmp_path, "rsa")
    use_cert(server, cert, key)
    server.reload()
    server.wait_log("configuration reloaded")
    new = wait_until(lambda: [p for p in server.key_pids() if p != old], 10, "a new key process")
    assert len(new) == 1
    # a connection the kernel handed to an old worker before its SIGTERM came is still served
    # with the old certificate (valid until the swap anyway); new connections soon get the new
    def greeted_with_new_cert():
        try:
            with server.tls_connect(context=ssl.create_default_context(cafile=str(cert))) as s:
                return s.recv(100).startswith(b"+OK")
        except ssl.SSLCertVerificationError:
            return False

    wait_until(greeted_with_new_cert, 15, "a greeting with the new certificate")
    wait_until(lambda: old not in server.key_pids(), 15, "the old key process to leave")
    assert "key process" not in "".join(l for l in server.log().splitlines()
                                        if "killed" in l or "exited with" in l)


def use_mismatched_pair(server, tmp_path):
    """A certificate and the key of another one."""
    cert, _ = make_cert(tmp_path / "a", "ecdsa")
    _, other_key = make_cert(tmp_path / "b", "ecdsa")
    server.configure("tls", "cert", cert)
    server.configure("tls", "key", other_key)


def test_reload_with_a_key_that_does_not_match_keeps_the_old_one(server, tmp_path):
    server.start()
    (old,) = server.key_pids()
    use_mismatched_pair(server, tmp_path)
    server.reload()
    server.wait_log(r"reload failed, keeping the old configuration: key process cannot start: "
                    r"key .*: The certificate and the given key do not match")
    assert server.key_pids() == [old]
    assert greet(server)[1].startswith(b"+OK")


def test_mismatched_key_refused_at_check_and_start(server, tmp_path):
    use_mismatched_pair(server, tmp_path)
    r = subprocess.run([str(twofold_harness.twofoldd_path()), "-t", "-c", str(server.conf)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "do not match" in r.stderr, r.stderr
    server.start(wait=False)
    assert server.wait_exit(30) == 1
    assert "cannot start: key process cannot start: key" in server.log()
    assert " started" not in server.log()
