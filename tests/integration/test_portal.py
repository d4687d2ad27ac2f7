"""The HTTPS portal: the process, its web hygiene and its pages, driven with http.client and
curl over real TLS against the real daemon (the browser tests are in tests/browser/)."""

import http.client
import os
import re
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

import twofold_harness
from twofold_harness import running_as_root

COOKIE = "__Host-twofold"


class Portal:
    """A tiny client of one server's portal: keeps the session cookie and the CSRF token."""

    def __init__(self, server):
        self.server = server
        self.cookie = None
        self.csrf = None

    def request(self, method, path, body=None, headers=None, origin=True):
        conn = http.client.HTTPSConnection("127.0.0.1", self.server.portal_port, timeout=30,
                                           context=self._context())
        h = dict(headers or {})
        if self.cookie is not None:
            h.setdefault("Cookie", f"{COOKIE}={self.cookie}")
        if method == "POST" and origin:
            h.setdefault("Origin", self.server.portal_origin)
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body)
            h.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        conn.close()
        return resp, text

    def _context(self):
        ctx = self.server.ssl_context()
        ctx.check_hostname = False  # we connect to 127.0.0.1; the certificate names localhost
        return ctx

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, fields=None, csrf=True, **kw):
        fields = dict(fields or {})
        if csrf and self.csrf is not None:
            fields.setdefault("csrf", self.csrf)
        return self.request("POST", path, body=fields, **kw)

    def sign_in(self, user, code=None):
        code = self.server.code(user.secret) if code is None and user.secret else (code or "")
        resp, text = self.post("/signin", {"user": user.name, "password": user.password,
                                           "code": code})
        assert resp.status == 303, f"sign-in refused ({resp.status}):\n{text}"
        self.cookie = cookie_value(resp)
        resp, text = self.get("/")
        assert resp.status == 200, text
        self.csrf = csrf_of(text)
        return text


def cookie_value(resp):
    m = re.match(rf"{COOKIE}=([^;]*);", resp.getheader("Set-Cookie", ""))
    assert m, f"no session cookie in {resp.getheaders()}"
    return m.group(1)


def csrf_of(html):
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


@pytest.fixture
def portal(server):
    server.enable_portal()
    server.enable_imap()
    return Portal(server)


# ---- the process --------------------------------------------------------------------------


def test_portal_process_supervised(server, portal):
    server.start()
    pids = wait_for(lambda: server.portal_pids(), "a portal process")
    assert len(pids) == 1
    os.kill(pids[0], 9)
    new = wait_for(lambda: [p for p in server.portal_pids() if p != pids[0]], "a new portal")
    assert portal.get("/signin")[0].status == 200
    server.reload()
    wait_for(lambda: [p for p in server.portal_pids() if p not in new], "the reloaded portal")
    assert portal.get("/signin")[0].status == 200


def test_portal_reload_finishes_requests(server, portal):
    """A reload does not cut a request in flight: the retiring portal takes no new connection
    but answers the one it has (here a request whose last line comes after the retirement)."""
    server.start()
    old = wait_for(lambda: server.portal_pids(), "a portal process")
    raw = socket.create_connection(("127.0.0.1", server.portal_port), timeout=30)
    conn = portal._context().wrap_socket(raw, server_hostname="localhost")
    conn.sendall(b"GET /signin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n")
    server.reload()
    wait_for(lambda: [p for p in server.portal_pids() if p not in old], "the reloaded portal")
    server.wait_log(r"portal stopping: 1 connections to finish", timeout=30)
    conn.sendall(b"\r\n")
    answer = b""
    while chunk := conn.recv(65536):
        answer += chunk
    conn.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert portal.get("/signin")[0].status == 200


@pytest.mark.skipif(not running_as_root(), reason="chroot and privilege drop need root")
def test_portal_confined(server, portal):
    server.start()
    pid = wait_for(lambda: server.portal_pids(), "a portal process")[0]
    status = Path(f"/proc/{pid}/status").read_text()
    uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
    assert uid == server.uid, "portal not running as the service user"
    portal_dir = server.state_dir / "portal"
    assert os.readlink(f"/proc/{pid}/root") == str(portal_dir)
    # workers are chrooted elsewhere: the portal's socket is out of their reach
    for w in server.worker_pids():
        assert os.readlink(f"/proc/{w}/root") != str(portal_dir)
    sock = portal_dir / "auth.sock"
    st = sock.stat()
    assert st.st_uid == server.uid and (st.st_mode & 0o777) == 0o600
    assert os.listdir(portal_dir) == ["auth.sock"]


def test_config_refuses_plain_http_origin(server):
    server.enable_portal()
    server.configure("portal", "origin", "http://localhost:8443")
    r = subprocess.run([str(server_binary()), "-t", "-c", str(server.conf)],
                       capture_output=True, text=True)
    assert r.returncode != 0
    line = config_line(server.conf, "origin")
    assert f"{server.conf}:{line}: [portal] origin" in r.stderr, r.stderr


def test_config_needs_origin_with_listen(server):
    server.enable_portal()
    server.unconfigure("portal", "origin")
    r = subprocess.run([str(server_binary()), "-t", "-c", str(server.conf)],
                       capture_output=True, text=True)
    assert r.returncode != 0
    line = config_line(server.conf, "listen", section="portal")
    assert f"{server.conf}:{line}: [portal] listen needs [portal] origin" in r.stderr, r.stderr


# ---- web hygiene --------------------------------------------------------------------------

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def test_security_headers(server, portal):
    server.start()
    for path in ("/signin", "/static/portal.js", "/nope"):
        resp, _ = portal.get(path)
        assert resp.getheader("Content-Security-Policy") == CSP, path
        assert resp.getheader("X-Content-Type-Options") == "nosniff"
        assert resp.getheader("Referrer-Policy") == "same-origin"
        assert resp.getheader("X-Frame-Options") == "DENY"
    resp, text = portal.get("/signin")
    assert resp.getheader("Cache-Control") == "no-store"
    assert resp.getheader("Content-Type") == "text/html; charset=utf-8"
    assert 'name="viewport"' in text
    # no inline script: the one script is the static file
    assert re.findall(r"<script[^>]*>", text) == ['<script src="/static/portal.js" defer>']
    resp, js = portal.get("/static/portal.js")
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/javascript")
    assert "addEventListener" in js


def test_https_only(server, portal):
    server.start()
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time",
                        "5", f"http://127.0.0.1:{server.portal_port}/signin"],
                       capture_output=True, text=True)
    assert r.stdout in ("000", ""), f"plain HTTP answered: {r.stdout}"


def test_signin_sets_strict_cookie(server, portal):
    user = server.add_user("alice")
    server.start()
    resp, _ = portal.post("/signin", {"user": "alice", "password": user.password,
                                      "code": server.code(user.secret)})
    assert resp.status == 303 and resp.getheader("Location") == "/"
    cookie = resp.getheader("Set-Cookie")
    parts = [p.strip() for p in cookie.split(";")]
    assert re.fullmatch(rf"{COOKIE}=[A-Za-z0-9_-]{{43}}", parts[0])
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in parts, f"{flag} missing in {cookie}"
    assert not any(p.lower().startswith("domain=") for p in parts)
    portal.cookie = cookie_value(resp)
    resp, text = portal.get("/")
    assert resp.status == 200 and ">alice<" in text
    log = server.cli("log", "alice").stdout
    assert "portal" in log and "totp" in log


def test_signin_refusals_look_alike(server, portal):
    user = server.add_user("bob")
    server.start()
    tries = [("bob", user.password, "000000"), ("bob", "wrong-password", "123456"),
             ("nobody", "whatever-pw", "123456")]
    for name, pw, code in tries:
        t0 = time.monotonic()
        resp, text = portal.post("/signin", {"user": name, "password": pw, "code": code})
        took = time.monotonic() - t0
        assert resp.status == 403 and "Sign-in failed" in text
        assert resp.getheader("Set-Cookie") is None
        delay = twofold_harness.TEST_FAILURE_DELAY_MS / 1000
        assert took >= delay - 0.01, f"refusal without the policy's delay ({took:.2f} s)"
    # password right, code wrong: the same alarm as from IMAP/POP3
    server.wait_log(r"login fail: user=bob proto=portal .*STOLEN-PASSWORD\?")


def test_app_password_does_not_sign_in(server, portal):
    server.add_user("carol")
    app = server.apppass("carol")
    server.start()
    resp, text = portal.post("/signin", {"user": "carol", "password": app, "code": ""})
    assert resp.status == 403


def test_post_needs_our_origin(server, portal):
    user = server.add_user("dave")
    server.start()
    fields = {"user": "dave", "password": user.password, "code": server.code(user.secret)}
    resp, _ = portal.post("/signin", fields, origin=False)
    assert resp.status == 403
    resp, _ = portal.post("/signin", fields, headers={"Origin": "https://evil.example"})
    assert resp.status == 403


def test_csrf_token_required(server, portal):
    user = server.add_user("erin")
    server.start()
    portal.sign_in(user)
    for bad in (None, "x" * 43, portal.csrf[:-1]):
        fields = {"label": "phone", "proto": "all", "days": "0"}
        if bad is not None:
            fields["csrf"] = bad
        resp, text = portal.post("/apppass/new", fields, csrf=False)
        assert resp.status == 403, text
    assert "phone" not in server.cli("apppass", "list", "erin").stdout
    resp, text = portal.post("/apppass/new", {"label": "phone", "proto": "imap", "days": "0"})
    assert resp.status == 200 and resp.getheader("Cache-Control") == "no-store"
    password = re.search(r'id="apppass">([^<]+)<', text).group(1)
    imap = server.imap()
    imap.login("erin", password)
    imap.logout()
    resp, text = portal.get("/apppass")
    assert "phone" in text and password not in text, "app password shown again"


def test_size_limits(server, portal):
    server.start()
    # refused on its declared length, before any of the body is read
    assert raw_status(server, b"POST /signin HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                      b"application/x-www-form-urlencoded\r\nContent-Length: 20000\r\n\r\n"
                      ) == 413
    # and when a chunked body grows past the limit
    chunk = b"4000\r\n" + b"a" * 0x4000 + b"\r\n"
    assert raw_status(server, b"POST /signin HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                      b"application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n"
                      b"\r\n" + chunk * 2 + b"0\r\n\r\n") == 413
    resp, _ = portal.get("/signin", headers={"X-Filler": "b" * 40000})
    assert resp.status in (413, 431)
    resp, _ = portal.get("/" + "c" * 40000)
    assert resp.status in (413, 414, 431)
    resp, _ = portal.request("POST", "/signin", body="user=%zz",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 400
    resp, _ = portal.request("POST", "/signin", body='{"user": "x"}',
                             headers={"Content-Type": "application/json"})
    assert resp.status == 415
    assert portal.get("/signin")[0].status == 200, "portal gone after bad requests"


def test_unknown_paths_and_methods(server, portal):
    server.start()
    assert portal.get("/nope")[0].status == 404
    assert portal.get("/static/other.js")[0].status == 404
    assert portal.get("/signout")[0].status == 405
    assert portal.request("PUT", "/signin", body="x")[0].status == 405
    # pages that need a session send the browser to sign in
    for path in ("/", "/apppass", "/totp", "/recovery", "/log"):
        resp, _ = portal.get(path)
        assert resp.status == 303 and resp.getheader("Location") == "/signin", path


def test_session_expires_server_side(server, portal):
    user = server.add_user("frank")
    server.start()
    portal.sign_in(user)
    subprocess.run(["sqlite3", str(server.state_dir / "auth.db"),
                    "UPDATE portal_sessions SET expires = strftime('%s','now') - 1"],
                   check=True)
    resp, _ = portal.get("/")
    assert resp.status == 303 and resp.getheader("Location") == "/signin"


def test_signout_ends_the_session(server, portal):
    user = server.add_user("gina")
    server.start()
    portal.sign_in(user)
    cookie = portal.cookie
    resp, _ = portal.post("/signout")
    assert resp.status == 303
    assert "Max-Age=0" in resp.getheader("Set-Cookie")
    portal.cookie = cookie  # a copy of the old cookie is worth nothing now
    resp, _ = portal.get("/")
    assert resp.status == 303 and resp.getheader("Location") == "/signin"


# ---- pages --------------------------------------------------------------------------------


def test_totp_enrolment(server, portal):
    user = server.add_user("hugo")
    server.start()
    portal.sign_in(user)
    before = totp_rows(server, "hugo")
    resp, text = portal.post("/totp/begin")
    assert resp.status == 200 and resp.getheader("Cache-Control") == "no-store"
    assert "<svg" in text and "<path" in text
    secret = re.search(r'id="totp-secret">([A-Z2-7=]+)<', text).group(1)
    assert secret != user.secret
    after_begin = [r for r in totp_rows(server, "hugo") if r[0] == "1"]
    assert len(after_begin) == 1 and totp_rows(server, "hugo")[0] == before[0]
    resp, text = portal.post("/totp/confirm", {"code": "000000"})
    assert resp.status == 422 and "wrong code" in text
    # the sign-in used this 30 s step: the next one (inside the window) confirms
    resp, text = portal.post("/totp/confirm", {"code": server.code(secret, at=time.time() + 30)})
    assert resp.status == 200 and "Done" in text
    # the new seed is the active one now, and none is left pending
    assert totp_rows(server, "hugo") == [("0", after_begin[0][1])]


def test_recovery_codes_shown_once(server, portal):
    user = server.add_user("iris")
    server.start()
    portal.sign_in(user)
    resp, text = portal.post("/recovery/new")
    assert resp.status == 200 and resp.getheader("Cache-Control") == "no-store"
    codes = re.findall(r"<li><code>([^<]+)</code></li>", text)
    assert len(codes) == 10
    resp, text = portal.get("/recovery")
    assert "<strong>10</strong>" in text and codes[0] not in text
    pop = server.pop3()
    pop.user("iris")
    pop.pass_(user.password + codes[0])
    pop.quit()


def test_log_shows_stolen_password_alarm(server, portal):
    user = server.add_user("jack")
    server.start()
    pop = server.pop3()
    pop.user("jack")
    with pytest.raises(Exception):
        pop.pass_(user.password + "000000")
    portal.sign_in(user, code=server.code(user.secret))
    resp, text = portal.get("/log")
    assert "Password right, second factor wrong" in text
    assert 'class="alarm"' in text


# ---- helpers ------------------------------------------------------------------------------


def raw_status(server, request):
    """Sends request bytes over TLS as they are; returns the status of the answer."""
    ctx = server.ssl_context()
    ctx.check_hostname = False
    with server.tls_connect(port=server.portal_port, context=ctx) as s:
        try:
            s.sendall(request)
        except OSError:
            pass  # the server may answer and close before taking everything
        data = b""
        while b"\r\n" not in data:
            more = s.recv(4096)
            if not more:
                break
            data += more
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
    assert m, f"no HTTP answer: {data[:200]!r}"
    return int(m.group(1))


def wait_for(fn, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            assert v, f"timed out waiting for {what}"
            return v
        time.sleep(0.05)


def totp_rows(server, name):
    """(pending, sealed seed as hex) of the user's TOTP rows in the store, active first."""
    out = subprocess.run(["sqlite3", str(server.state_dir / "auth.db"),
                          "SELECT f.pending, hex(f.data) FROM factors f JOIN users u ON "
                          f"u.id = f.user_id WHERE u.name = '{name}' AND f.kind = 'totp' "
                          "ORDER BY f.pending"], check=True, capture_output=True,
                         text=True).stdout
    return [tuple(line.split("|")) for line in out.split()]


def server_binary():
    from twofold_harness import twofoldd_path
    return twofoldd_path()


def config_line(conf, key, section="portal"):
    cur = None
    for n, line in enumerate(Path(conf).read_text().splitlines(), 1):
        s = line.strip()
        if s.startswith("["):
            cur = s[1:s.index("]")]
        elif cur == section and s.split("=")[0].strip() == key:
            return n
    raise AssertionError(f"{key} not in [{section}]")
