"""Held IMAP/POP3 logins decided in a real browser: Debian's chromium on the portal's approvals
page (tests/browser/portal.mjs, as in test_portal_browser). A file of its own so that ctest runs
it beside the other browser tests: most of its time is spent waiting for held logins."""

import imaplib
import re
import socket
import threading
import time

import pytest

from test_approval import Login, inbox_files
from test_portal_browser import APPROVAL_WAIT, SCENARIO_TIMEOUT, invite, start_browser_env


@pytest.fixture
def browser_env(server):
    return start_browser_env(server, APPROVAL_WAIT)


def held_imap_login(server, password, source):
    """An IMAP LOGIN with the password alone from source (IMAP ID name approval-test), which
    the daemon holds until it is decided: True when it completes, False when refused."""
    im = server.imap(timeout=APPROVAL_WAIT + 30, source=source)
    try:
        im.xatom("ID", '("name" "approval-test")')
        im.login("alice", password)
        im.logout()
        return True
    except imaplib.IMAP4.error:
        return False


def approval_scenario(server, run, scenario, timeout, **extra):
    """Starts the browser scenario in a thread with an invite for alice; returns the thread
    and the dict that gets its "results" (or "error") once the browser has registered its
    "approval key" (the logins the scenario waits for may start then)."""
    link = invite(server, "alice")
    browser = {}

    def go():
        try:
            browser["results"] = run(scenario, timeout=timeout, TWOFOLD_INVITE=link, **extra)
        except Exception as e:  # reported by the test, after the logins
            browser["error"] = e

    node = threading.Thread(target=go)
    node.start()
    deadline = time.monotonic() + SCENARIO_TIMEOUT
    while "approval key" not in server.cli("key", "list", "alice").stdout:
        assert node.is_alive() and time.monotonic() < deadline, f"no key enrolled: {browser}"
        time.sleep(0.3)
    return node, browser


def browser_said(node, browser):
    """What the browser scenario came to, once it has ended (for a failure's message: its own
    error carries the daemon's log)."""
    node.join(SCENARIO_TIMEOUT)
    return browser


def test_held_imap_logins_decided_in_the_browser(browser_env):
    """Three IMAP logins with the password alone wait for the user, one after the other; on
    the pending-approvals page (chromium) the first is approved by a key touch bound to it,
    the second with a TOTP code, the third denied: the first two complete; the third is
    logged as denied at once but not yet answered (a refusal is answered only when the wait
    runs out, which test_approval proves with a short wait). Each comes from a network of
    its own (an approved login earns its network device grace, so a second login from there
    would not be held)."""
    server, user, run, _ = browser_env
    node, browser = approval_scenario(server, run, "approvals", 4 * APPROVAL_WAIT)
    outcomes = []
    for source in ("127.0.1.1", "127.0.2.1"):
        assert node.is_alive(), f"the browser gave up: {browser}"
        outcomes.append(held_imap_login(server, user.password, source))
    assert outcomes == [True, True], f"{outcomes}: {browser_said(node, browser)}"
    denied = Login(server, "imap", user.password, client_name="approval-test",
                   timeout=APPROVAL_WAIT + 30, source="127.0.3.1")
    node.join(4 * APPROVAL_WAIT)
    assert "error" not in browser, browser["error"]
    assert browser["results"] == {"key": "approved", "totp": "approved", "deny": "denied"}
    log = server.cli("log", "alice").stdout
    assert "ip=127.0.3.1" in log.splitlines()[0] and "approval-denied" in log, log
    assert denied.is_alive() and denied.ok is None, "a denial answered before the wait ran out"
    denied.client.sock.shutdown(socket.SHUT_RDWR)  # the client gives up; nothing to wait for
    assert denied.result() is False


SHORT_WAIT = 40  # [auth] approval_wait where a test waits it out once


def test_held_pop3_timeout_and_preapproval_in_the_browser(server):
    """In chromium on /approvals: a POP3 PASS with the password alone is approved by a key touch
    and completes; an IMAP login nobody approves fails after approval_wait with the reply of a
    wrong password, and is gone from the page and the INBOX then; one touch with "allow this
    network for 10 minutes" lets three parallel IMAP logins through (no device grace here:
    only the pre-approval can)."""
    server, user, run, _ = start_browser_env(server, SHORT_WAIT, mfa_grace=0)
    node, browser = approval_scenario(server, run, "held-more", 4 * SHORT_WAIT + SCENARIO_TIMEOUT,
                                      TWOFOLD_WAIT=str(SHORT_WAIT))
    pop = Login(server, "pop3", user.password, timeout=SHORT_WAIT + 60, source="127.0.4.1")
    assert pop.result() is True, f"{pop.error}: {browser_said(node, browser)}"
    assert pop.client.stat() == (0, 0)
    pop.client.quit()

    # nobody approves: the same reply, after the same wait, as a wrong password
    held = Login(server, "imap", user.password, timeout=SHORT_WAIT + 60, source="127.0.5.1")
    wrong = Login(server, "imap", "Not-The-Password-9", timeout=SHORT_WAIT + 60,
                  source="127.0.5.2")
    assert held.result() is False and wrong.result() is False
    assert str(held.error) == str(wrong.error), (held.error, wrong.error)
    assert "AUTHENTICATIONFAILED" in str(held.error), held.error
    assert min(held.elapsed, wrong.elapsed) >= SHORT_WAIT - 0.5, (held.elapsed, wrong.elapsed)
    deadline = time.monotonic() + 15
    while inbox_files(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert inbox_files(server) == [], "the notice of the timed-out login stayed"

    logins = [Login(server, "imap", user.password, timeout=SHORT_WAIT + 60, source="127.0.6.1")
              for _ in range(3)]
    outcomes = [login.result() for login in logins]
    assert outcomes == [True, True, True], \
        (f"{[login.error for login in logins]}: {browser_said(node, browser)}\n"
         f"--- twofoldd log:\n{server.log()}")
    for login in logins:
        login.client.logout()

    node.join(4 * SHORT_WAIT + SCENARIO_TIMEOUT)
    assert "error" not in browser, browser["error"]
    assert browser["results"] == {"pop3": "approved", "timeout": "gone", "touches": 1,
                                  "shownAfter": 0}, browser["results"]
    log = [ln for ln in server.cli("log", "alice", "--limit", "20").stdout.splitlines()
           if "\tproto=imap\t" in ln]
    factors = sorted(re.search(r"factor=(\S+)", ln).group(1) for ln in log[:3])
    assert factors == ["approval", "grace", "grace"], log
    assert any("reason=approval-timeout" in ln for ln in log), log
