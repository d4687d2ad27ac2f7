"""`twofoldd -t` refuses each setup on which the daemon would start and then fail every login:
the key file and the auth store as the auth service sees them (owner, mode), a store the
service could only read, stored users whose names the [storage] maildir template cannot turn
into a path. Each refusal is one line naming the file and what to do."""

import os
import re
import stat
import subprocess

import pytest

import twofold_harness
from twofold_harness import running_as_root

needs_root = pytest.mark.skipif(not running_as_root(), reason="the auth account needs root")


def run_check(server):
    return subprocess.run([str(twofold_harness.twofoldd_path()), "-t", "-c", str(server.conf)],
                          capture_output=True, text=True, timeout=60)


def refused(server):
    r = run_check(server)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "", r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{server.conf}: "), lines[0]
    return lines[0]


def test_check_with_users_ok(server):
    server.add_user("alice")
    server.start()
    server.stop()
    r = run_check(server)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{server.conf}: configuration OK\n"


def test_key_readable_by_others_refused(server):
    server.add_user("alice")
    key = server.state_dir / "secret.key"
    os.chmod(key, 0o644)
    line = refused(server)
    assert f"key file {key} is accessible by group or others (mode 0644)" in line, line
    assert "chmod 600" in line
    os.chmod(key, 0o600)
    assert run_check(server).returncode == 0


@needs_root
def test_key_of_another_account_refused(server):
    server.add_user("alice")
    key = server.state_dir / "secret.key"
    os.chown(key, 0, 0)
    line = refused(server)
    assert re.search(rf"key file {re.escape(str(key))} belongs to uid 0, but the auth service "
                     r"runs as uid \d+ \(\[server\] auth_user\): chown it", line), line


@needs_root
@pytest.mark.parametrize("name", ["auth.db", "auth.db-wal"])
def test_store_of_another_account_refused(server, name):
    server.add_user("alice")
    path = server.state_dir / name
    path.touch()
    os.chown(path, 0, 0)
    os.chmod(path, 0o644)
    line = refused(server)
    assert f"auth store {path} belongs to uid 0" in line, line


def test_store_the_service_can_only_read_refused(server):
    server.add_user("alice")
    db = server.state_dir / "auth.db"
    for extra in ("auth.db-wal", "auth.db-shm"):
        (server.state_dir / extra).unlink(missing_ok=True)
    os.chmod(db, 0o400)
    line = refused(server)
    assert f"auth store {db}: Permission denied" in line, line
    os.chmod(db, 0o600)
    assert run_check(server).returncode == 0


def test_stored_user_the_maildir_template_cannot_place_refused(server):
    server.add_user("alice")
    server.add_user("bob")
    server.add_user("carol@example.org")
    server.configure("storage", "maildir", f"{server.mail_root}/%d/%n")
    line = refused(server)
    assert re.search(r"\[storage\] maildir .*/%d/%n: user '(alice|bob)': the name has no domain",
                     line), line
    assert "(2 users do not fit)" in line, line


@needs_root
@pytest.mark.parametrize("with_user", [True, False])
def test_maildir_place_the_auth_account_cannot_search_refused(server, with_user):
    if with_user:
        server.add_user("alice")
    server.configure("storage", "maildir", f"{server.mail_root}/%d/%n")
    if with_user:
        server.cli("user", "del", "alice")
        server.add_user("alice@example.org")
    os.chmod(server.mail_root, 0o700)  # the mail account's, as harness made it
    line = refused(server)
    who = "alice@example.org" if with_user else "postmaster@example.org"
    assert (f"{server.mail_root} (on the way to {server.mail_root}/example.org/"
            f"{who.split('@')[0]}, the maildir of '{who}') is not searchable by the auth "
            "service") in line, line
    os.chmod(server.mail_root, 0o755)
    assert run_check(server).returncode == 0
