"""The portal in a real browser: Debian's chromium, headless, driven by playwright-core from
npm (tests/browser/, installed with `npm ci` by contrib/install-deps). Each test starts the
daemon here and runs one scenario of tests/browser/portal.mjs; screenshots of every page land in
<build>/browser-artifacts/."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from twofold_harness import REPO, build_dir, twofold_cli_path

BROWSER_DIR = REPO / "tests" / "browser"
SCENARIO_TIMEOUT = 120
APPROVAL_WAIT = 120  # [auth] approval_wait: a held login's longest wait


def spki_hash(cert):
    """base64 SHA-256 of the certificate's public key, for --ignore-certificate-errors-spki-list."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         check=True, capture_output=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der, check=True,
                            capture_output=True).stdout
    return subprocess.run(["base64"], input=digest, check=True,
                          capture_output=True).stdout.decode().strip()


@pytest.fixture
def browser_env(server):
    """The started server with a portal and users alice and bob, and the scenario runner."""
    return start_browser_env(server, APPROVAL_WAIT)


def start_browser_env(server, approval_wait, **auth):
    """Starts server with a portal, users alice and bob, [auth] approval_wait and the other
    [auth] keys given; returns it with alice, the scenario runner and the artifact dir."""
    assert shutil.which("node"), "node is missing: run contrib/install-deps"
    assert Path("/usr/bin/chromium").exists(), "chromium is missing: run contrib/install-deps"
    assert (BROWSER_DIR / "node_modules" / "playwright-core").is_dir(), \
        "playwright-core is missing: run contrib/install-deps (npm ci in tests/browser)"
    server.enable_portal()
    server.enable_imap()
    user = server.add_user("alice")
    second = server.add_user("bob")
    server.configure("auth", "approval_wait", approval_wait)
    for key, value in auth.items():
        server.configure("auth", key, value)
    server.start()
    artifacts = build_dir() / "browser-artifacts"

    def run(scenario, timeout=SCENARIO_TIMEOUT, **extra):
        shots = artifacts / "-".join([scenario] + ([extra["TWOFOLD_PROTOCOL"]]
                                                   if "TWOFOLD_PROTOCOL" in extra else []))
        shutil.rmtree(shots, ignore_errors=True)  # no picture of an older run
        env = dict(os.environ, TWOFOLD_PORTAL=server.portal_origin, TWOFOLD_USER=user.name,
                   TWOFOLD_PASSWORD=user.password, TWOFOLD_TOTP=user.secret,
                   TWOFOLD_USER2=second.name, TWOFOLD_PASSWORD2=second.password,
                   TWOFOLD_TOTP2=second.secret,
                   TWOFOLD_ARTIFACTS=str(shots),
                   TWOFOLD_SPKI=spki_hash(server.cert), TWOFOLD_CLI=str(twofold_cli_path()),
                   TWOFOLD_CONF=str(server.conf), **extra)
        r = subprocess.run(["node", str(BROWSER_DIR / "portal.mjs"), scenario], env=env,
                           capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, (f"scenario {scenario} failed:\n{r.stderr}\n{r.stdout}\n"
                                   f"--- twofoldd log:\n{server.log()}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    return server, user, run, artifacts


def test_signin_and_every_page(browser_env):
    server, user, run, artifacts = browser_env
    run("signin-totp")
    for page in ("signin", "overview", "totp", "apppass", "recovery", "log"):
        png = artifacts / "signin-totp" / f"{page}.png"
        assert png.stat().st_size > 1000, f"no screenshot of {page}"


def test_totp_enrolment(browser_env):
    server, user, run, _ = browser_env
    secret = run("totp-enrol")["secret"]
    assert secret != user.secret
    out = subprocess.run(["sqlite3", str(server.state_dir / "auth.db"),
                          "SELECT count(*) FROM factors WHERE kind = 'totp' AND pending = 1"],
                         check=True, capture_output=True, text=True).stdout.strip()
    assert out == "0", "the new seed is still pending after the browser confirmed it"
    # then removed in the browser, the password asked again: the wrong one was a counted
    # portal failure, the right one removed the app
    alice = [ln for ln in server.cli("user", "list").stdout.splitlines()
             if ln.split()[0] == "alice"]
    assert len(alice) == 1 and "no-totp" in alice[0], alice
    lines = portal_log(server, "alice")
    assert any({"factor=password-again", "result=fail", "reason=bad-password"} <= r
               for r in lines), lines
    assert any({"factor=password-again", "result=ok"} <= r for r in lines), lines


def test_app_password_shown_once(browser_env):
    server, user, run, _ = browser_env
    password = run("apppass")["password"]
    imap = server.imap()
    imap.login("alice", password)
    imap.logout()


def test_post_without_csrf_refused(browser_env):
    server, user, run, _ = browser_env
    run("csrf")
    labels = server.cli("apppass", "list", "alice").stdout
    assert "withcsrf" in labels
    assert "nocsrf" not in labels and "wrongcsrf" not in labels


def invite(server, name):
    """`twofold key invite NAME`: the enrolment URL (the last line printed)."""
    lines = [ln.strip() for ln in server.cli("key", "invite", name).stdout.splitlines()]
    url = [ln for ln in lines if ln.startswith(server.portal_origin + "/enrol?t=")]
    assert url, f"no enrolment URL in {lines}"
    return url[-1]


@pytest.mark.parametrize("protocol", ["ctap2", "u2f"])
def test_key_from_invite_link(browser_env, protocol):
    server, user, run, _ = browser_env
    run("key-invite", TWOFOLD_INVITE=invite(server, "alice"), TWOFOLD_PROTOCOL=protocol)
    keys = server.cli("key", "list", "alice").stdout
    assert f"{protocol} key" in keys, keys


def test_keys_managed_and_bad_registrations_refused(browser_env):
    server, user, run, _ = browser_env
    run("key-manage")
    keys = server.cli("key", "list", "alice").stdout
    assert "evil" not in keys and "blue key" not in keys and "red key" not in keys, keys


def portal_log(server, name):
    """`twofold log NAME` entries of portal sign-ins, each as a set of its fields."""
    rows = [set(ln.split("\t")) for ln in server.cli("log", name).stdout.splitlines()]
    return [r for r in rows if "proto=portal" in r]


@pytest.mark.parametrize("protocol", ["ctap2", "u2f"])
def test_signin_with_key(browser_env, protocol):
    """Password, then the key: a full session; the log shows the pending step and the key."""
    server, user, run, artifacts = browser_env
    run("signin-key", TWOFOLD_PROTOCOL=protocol)
    lines = portal_log(server, "alice")
    assert any({"factor=webauthn", "result=ok"} <= r for r in lines), lines
    assert any({"result=pending", "reason=key-needed"} <= r for r in lines), lines
    assert (artifacts / f"signin-key-{protocol}" / "signin-key.png").stat().st_size > 1000


def test_signin_key_refusals(browser_env):
    """Wrong origin, reused challenge, another user's credential, a clone, no CSRF token: all
    refused, each for its own reason (the daemon's log says which)."""
    server, user, run, _ = browser_env
    results = run("signin-key-refusals")
    assert results == {"wrong-origin": "refused", "reused-challenge": "refused",
                       "other-users-credential": "refused", "cloned-key": "refused",
                       "no-csrf": "refused"}, results
    log = server.log()
    for reason in ("clientDataJSON: wrong origin", "not a challenge issued",
                   "not a security key of this user", "ALARM: cloned security key?",
                   "signin_key for alice without the session's CSRF token"):
        assert reason in log, f"no '{reason}' in the daemon log"
    lines = portal_log(server, "alice")
    stolen = "STOLEN-PASSWORD? (password right, second factor wrong)"
    assert sum({"reason=bad-key", stolen} <= r for r in lines) == 3, lines
    assert sum({"reason=cloned-key", stolen} <= r for r in lines) == 1, lines
