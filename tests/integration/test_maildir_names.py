"""User names and the [storage] maildir template: no two users share a maildir and none lies
inside another's (the old default %d/%n put new@example.com's maildir inside example.com's),
checked at `twofold user add` and at config check; and a login the client saw fail (its maildir
could not be made) is never logged as ok."""

import subprocess

import pytest

import twofold_harness
from test_imap import Raw, start


def check_config(server):
    return subprocess.run([str(twofold_harness.twofoldd_path()), "-t", "-c", str(server.conf)],
                          capture_output=True, text=True, timeout=30)


def add(server, name):
    return server.cli("user", "add", name, input="Correct-Horse-42x\n", check=False)


def one_error(r):
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_user_add_refuses_names_that_do_not_fit_domain_template(server):
    server.configure("storage", "maildir", f"{server.mail_root}/%d/%n")
    line = one_error(add(server, "example.com"))
    assert "user 'example.com': the name has no domain" in line, line
    line = one_error(add(server, "alice"))
    assert "has no domain" in line and "%d" in line, line
    assert add(server, "new@example.com").returncode == 0
    assert "example.com" not in server.cli("user", "list").stdout.replace("new@example.com", "")


def test_user_add_refuses_domains_the_template_drops(server):
    server.configure("storage", "maildir", f"{server.mail_root}/%n/Maildir")
    assert add(server, "alice").returncode == 0
    line = one_error(add(server, "alice@example.org"))
    assert "same local part would share one maildir" in line, line


@pytest.mark.parametrize("template,message", [
    ("{root}/%d", "%d without %n or %u"),
    ("{root}/shared", "no %u or %n"),
    ("{root}/%n%d", "in a path component of its own"),
    ("{root}/%n@%d", "in a path component of its own"),
    ("mail/%u", "must be an absolute path"),
])
def test_config_check_refuses_colliding_templates(server, template, message):
    server.configure("storage", "maildir", template.format(root=server.mail_root))
    r = check_config(server)
    assert r.returncode == 1, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{server.conf}:"), lines
    line_no = server.conf.read_text().splitlines().index(
        f"maildir = {template.format(root=server.mail_root)}") + 1
    assert lines[0].startswith(f"{server.conf}:{line_no}: [storage] maildir: "), lines
    assert message in lines[0], lines
    # and the CLI refuses it the same way
    r = server.cli("user", "list", check=False)
    assert r.returncode == 1 and f"{server.conf}:{line_no}: [storage] maildir: " in r.stderr


def test_config_check_accepts_default_and_per_user_templates(server):
    for t in (f"{server.mail_root}/%d/%n", f"{server.mail_root}/%u", "/home/%n/Maildir"):
        server.configure("storage", "maildir", t)
        r = check_config(server)
        assert r.returncode == 0, r.stderr


def audit_rows(server, name):
    return [ln for ln in server.cli("log", name).stdout.splitlines() if f"user={name}\t" in ln]


@pytest.mark.parametrize("case", ["template", "unwritable"])
def test_login_not_served_is_not_logged_ok(server, case):
    server.add_user("alice")
    app = server.apppass("alice")
    if case == "template":
        # added under %u; a template with %d cannot place a name without a domain
        server.configure("storage", "maildir", f"{server.mail_root}/%d/%n")
    else:
        (server.mail_root / "blocked").write_text("not a directory\n")
        server.configure("storage", "maildir", f"{server.mail_root}/blocked/%u")
    start(server)
    r = Raw(server, timeout=30)
    _, tagged = r.cmd(f'LOGIN "alice" "{app}"')
    assert tagged.endswith(b"NO [UNAVAILABLE] Temporary authentication failure, try again "
                           b"later."), tagged
    r.close()
    pop = server.pop3(timeout=30)
    pop.user("alice")
    with pytest.raises(Exception) as e:
        pop.pass_(app)
    assert b"-ERR [SYS/TEMP]" in e.value.args[0]
    rows = audit_rows(server, "alice")
    assert len(rows) == 2 and all("result=tempfail\treason=not-served" in r for r in rows), rows
    log = server.log()
    assert "login ok" not in log, log
    assert "login tempfail: user=alice" in log and "maildir for alice: " in log, log
    if case == "template":
        assert "the name has no domain" in log, log
