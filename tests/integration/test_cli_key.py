"""Integration tests of `twofold key ...` and the keys column of `twofold user list`: the real
binary on a real store. Keys are registered through the portal (tests/unit/test-auth-keys.c
drives that path with a software authenticator); here a registered key is a row the portal
would have written, so that listing and removal are seen from the command line.
"""

import re
import shutil
import sqlite3
import time

import pytest

from test_cli import Instance, one_error_line  # noqa: F401  (the same CLI harness)

ORIGIN = "https://portal.example.org:8443"
INVITE = re.compile(r"^" + re.escape(ORIGIN) + r"/enrol\?t=([0-9a-hjkmnp-tv-z]{32})$")


@pytest.fixture
def tf():
    inst = Instance()
    inst.set("portal", "origin", ORIGIN)
    yield inst
    shutil.rmtree(inst.dir, ignore_errors=True)


def add_key_row(tf, user, label, last_used=0, last_ip=""):
    """A key row as the portal's registration writes it (EdDSA: 32-byte public key)."""
    db = sqlite3.connect(str(tf.db))
    with db:
        uid = db.execute("SELECT id FROM users WHERE name = ?", (user,)).fetchone()[0]
        cur = db.execute(
            "INSERT INTO webauthn_keys (user_id, cred_id, alg, pubkey, sign_count, label, "
            "created, last_used, last_ip) VALUES (?, randomblob(32), -8, randomblob(32), 0, ?, "
            "?, ?, ?)", (uid, label, int(time.time()), last_used, last_ip))
    key_id = cur.lastrowid
    db.close()
    return key_id


def keys(tf, user):
    out = tf.run("key", "list", user, check=True).stdout
    return [ln.split("\t") for ln in out.splitlines() if ln]


def test_invite_prints_single_use_portal_url(tf):
    tf.add_user("alice")
    r = tf.run("key", "invite", "alice", check=True)
    lines = r.stdout.splitlines()
    assert "single use" in lines[0] and "alice" in lines[0]
    m = INVITE.match(lines[-1])
    assert m, lines[-1]
    token = m.group(1)
    again = INVITE.match(tf.run("key", "invite", "alice", "--hours", "2", check=True)
                         .stdout.splitlines()[-1])
    assert again and again.group(1) != token
    data = tf.db_bytes()
    assert b"alice" in data  # the right bytes
    assert token.encode() not in data, "invite token stored in clear"


def test_invite_expiry_is_stored(tf):
    tf.add_user("alice")
    before = int(time.time())
    tf.run("key", "invite", "alice", "--hours", "3", check=True)
    db = sqlite3.connect(str(tf.db))
    expires, used = db.execute("SELECT expires, used FROM webauthn_invites").fetchone()
    db.close()
    assert before + 3 * 3600 <= expires <= int(time.time()) + 3 * 3600
    assert used == 0


def test_invite_needs_portal_origin(tf):
    del tf.config["portal"]
    tf.write()
    tf.add_user("alice")
    line = one_error_line(tf.run("key", "invite", "alice"))
    assert "[portal] origin" in line and str(tf.conf) in line, line


@pytest.mark.parametrize("origin", ["http://portal.example.org", "https://portal.example.org/",
                                    "https://[::1]:8443", "https://portal.example.org:99999"])
def test_bad_portal_origin_refused_with_file_line(tf, origin):
    tf.set("portal", "origin", origin)
    line = one_error_line(tf.run("key", "list", "alice"))
    assert line.startswith(f"{tf.conf}:") and "[portal] origin" in line, line


@pytest.mark.parametrize("args", [
    ["key"], ["key", "invite"], ["key", "invite", "alice", "--hours", "0"],
    ["key", "invite", "alice", "--hours", "721"], ["key", "invite", "alice", "--hours", "x"],
    ["key", "invite", "alice", "--days", "1"], ["key", "list"], ["key", "remove", "alice"],
    ["key", "remove", "alice", "abc"], ["key", "remove", "alice", "0"], ["key", "frob", "a"],
])
def test_key_usage_errors_exit_2(tf, args):
    r = tf.run(*args)
    assert r.returncode == 2, (args, r.returncode, r.stderr)
    assert r.stderr.strip() and r.stdout == ""


@pytest.mark.parametrize("args", [["key", "invite", "bob"], ["key", "list", "bob"],
                                  ["key", "remove", "bob", "1"]])
def test_key_unknown_user_one_line(tf, args):
    tf.add_user("alice")
    line = one_error_line(tf.run(*args))
    assert "unknown user" in line and "bob" in line, line


def test_list_remove_and_user_list(tf):
    tf.add_user("alice")
    tf.add_user("bob")
    assert keys(tf, "alice") == []
    assert "keys=0" in tf.users()["alice"]
    k1 = add_key_row(tf, "alice", "blue key", int(time.time()), "192.0.2.7")
    k2 = add_key_row(tf, "alice", "spare\x1bkey")
    kb = add_key_row(tf, "bob", "bob's")
    rows = keys(tf, "alice")
    assert [int(r[0]) for r in rows] == [k1, k2]
    assert rows[0][1] == "blue key" and rows[0][2] == "alg=EdDSA"
    assert rows[0][3].startswith("created=") and rows[0][5] == "last-ip=192.0.2.7"
    assert rows[1][1] == "spare?key"  # control bytes never reach the terminal
    assert rows[1][4] == "last-used=never" and rows[1][5] == "last-ip=-"
    assert "keys=2" in tf.users()["alice"] and "keys=1" in tf.users()["bob"]
    # bob's key cannot be removed in alice's name
    line = one_error_line(tf.run("key", "remove", "alice", str(kb)))
    assert "no security key with that id" in line, line
    tf.run("key", "remove", "alice", str(k1), check=True)
    assert [int(r[0]) for r in keys(tf, "alice")] == [k2]
    assert "keys=1" in tf.users()["alice"] and "keys=1" in tf.users()["bob"]
    line = one_error_line(tf.run("key", "remove", "alice", str(k1)))
    assert "no security key with that id" in line


def test_user_del_removes_keys_and_invites(tf):
    tf.add_user("alice")
    add_key_row(tf, "alice", "k")
    tf.run("key", "invite", "alice", check=True)
    tf.run("user", "del", "alice", check=True)
    db = sqlite3.connect(str(tf.db))
    assert db.execute("SELECT count(*) FROM webauthn_keys").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM webauthn_invites").fetchone()[0] == 0
    db.close()
