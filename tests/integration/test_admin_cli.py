"""The admin's view (issue: admin tools an operator expects): `twofold user show NAME`,
`user list --json` and `log --json` for scripts, `user rename` and `user delete`."""

import json
import re
import time

import twofold_harness


def login_pop3(server, user):
    pop = server.pop3()
    pop.user(user.name)
    pop.pass_(user.password + server.code(user.secret))
    return pop


def test_user_show(server):
    alice = server.add_user("alice")
    server.apppass("alice", proto="imap", label="phone")
    server.cli("recovery", "new", "alice")
    server.start()
    login_pop3(server, alice).quit()
    bad = server.pop3()
    bad.user("alice")
    try:
        bad.pass_("wrong-password-123456")
    except Exception:
        pass
    out = server.cli("user", "show", "alice").stdout
    fields = dict(re.findall(r"^([a-z -]+):\s+(.*)$", out, re.M))
    assert fields["user"] == "alice" and fields["enabled"] == "yes", out
    assert fields["totp"] == "active"
    assert fields["maildir"] == str(server.maildir("alice"))
    assert int(fields["recovery codes left"]) >= 8
    assert fields["failures in a row"] == "1"
    assert fields["stolen-password alarms"] == "0"
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", fields["last login"]), out
    assert re.search(r"^  app password \d+  phone  proto=imap  created=\d{4}-.*"
                     r"expires=never  last-used=never$", out, re.M), out
    logins = out.split("last logins:\n", 1)[1].splitlines()
    assert re.match(r"  \S+ \S+  pop3  127\.0\.0\.1  \S+  fail  bad-password$", logins[0]), out
    assert re.match(r"  \S+ \S+  pop3  127\.0\.0\.1  totp  ok  ", logins[1] + " "), out
    r = server.cli("user", "show", "nobody", check=False)
    assert r.returncode == 1 and r.stdout == "" and "nobody" in r.stderr


def test_user_list_json(server):
    server.add_user("alice")
    server.add_user("bob", totp=False)
    server.cli("user", "lock", "bob")
    users = {u["name"]: u for u in json.loads(server.cli("user", "list", "--json").stdout)}
    assert set(users) == {"alice", "bob"}
    assert users["alice"]["enabled"] is True and users["alice"]["totp"] is True
    assert users["bob"]["enabled"] is False and users["bob"]["totp"] is False
    for u in users.values():
        assert u["last_login"] == 0 and u["failures"] == 0 and u["locked_until"] == 0
    # the text form is unchanged for the scripts that read it
    text = server.cli("user", "list").stdout.splitlines()
    assert sorted(line.split("\t")[0] for line in text) == ["alice", "bob"]


def test_log_json(server):
    alice = server.add_user("alice")
    server.start()
    login_pop3(server, alice).quit()
    entries = json.loads(server.cli("log", "alice", "--json").stdout)
    assert len(entries) == 1, entries
    e = entries[0]
    assert (e["user"], e["proto"], e["ip"], e["factor"], e["result"]) == (
        "alice", "pop3", "127.0.0.1", "totp", "ok")
    assert abs(e["time"] - time.time()) < 600 and e["stolen_password"] is False
    assert json.loads(server.cli("log", "nobody", "--json").stdout) == []


def test_user_rename_moves_store_entry_and_maildir(server):
    alice = server.add_user("alice")
    server.add_user("bob")
    server.deliver("alice", b"Subject: kept\r\n\r\nbody\r\n")
    old_md = server.maildir("alice")
    # a name that is taken, or that the template cannot place, changes nothing
    r = server.cli("user", "rename", "alice", "bob", check=False)
    assert r.returncode == 1 and "user 'bob' exists" in r.stderr, r.stderr
    r = server.cli("user", "rename", "alice", "../x", check=False)
    assert r.returncode == 1 and "bad user name" in r.stderr
    assert old_md.is_dir()
    server.cli("user", "rename", "alice", "alicia")
    assert not old_md.exists() and server.maildir("alicia").is_dir()
    users = server.cli("user", "list").stdout
    assert "alicia\t" in users and not re.search(r"^alice\t", users, re.M)
    server.start()
    pop = server.pop3()
    pop.user("alicia")
    pop.pass_(alice.password + server.code(alice.secret))  # the factors came along
    assert pop.stat()[0] == 1
    pop.quit()


def test_user_rename_whose_maildir_cannot_move_is_undone(server):
    server.add_user("alice")
    server.deliver("alice", b"Subject: kept\r\n\r\nbody\r\n")
    blocker = server.maildir("carol")
    blocker.mkdir(mode=0o700)  # a maildir of nobody's, in the new name's place
    r = server.cli("user", "rename", "alice", "carol", check=False)
    assert r.returncode == 1 and "alice not renamed: a maildir exists already at" in r.stderr
    assert re.search(r"^alice\t", server.cli("user", "list").stdout, re.M)
    assert server.maildir("alice").is_dir()


def test_user_delete_removes_mail_unless_keep_mail(server):
    server.add_user("alice")
    server.add_user("bob")
    for name in ("alice", "bob"):
        server.deliver(name, b"Subject: x\r\n\r\nbody\r\n")
    server.cli("user", "delete", "alice")
    assert not server.maildir("alice").exists()
    server.cli("user", "delete", "bob", "--keep-mail")
    assert len(list((server.maildir("bob") / "new").iterdir())) == 1
    assert server.cli("user", "list").stdout == ""
    r = server.cli("user", "delete", "nobody", check=False)
    assert r.returncode == 1 and "unknown user 'nobody'" in r.stderr
