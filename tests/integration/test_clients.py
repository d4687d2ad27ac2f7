"""Mail client setup from the portal: Thunderbird autoconfig, Outlook Autodiscover and an Apple
profile with an app password of its own, fetched over real TLS from the real daemon, checked
against the formats with xmllint, and used to log in."""

import http.client
import plistlib
import poplib
import re
import socket
import subprocess
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from test_portal import Portal, server_binary

SCHEMAS = Path(__file__).parent / "schemas"
AC = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


@pytest.fixture
def clients(server):
    server.enable_portal()
    server.enable_imap()
    server.configure("clients", "host", "mail.example.org")
    server.configure("clients", "submission", "smtp.example.org:587")
    return Portal(server)


def fetch(server, host, path, method="GET", body=None, headers=None):
    """An HTTPS request to the portal as if host resolved to 127.0.0.1 (SNI and Host name it),
    the way a mail program looks its configuration up by name."""
    ctx = server.ssl_context()
    ctx.check_hostname = False  # the test certificate names localhost only
    conn = http.client.HTTPSConnection("127.0.0.1", server.portal_port, timeout=30,
                                       context=ctx)
    conn.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.portal_port), 30),
                                server_hostname=host)
    conn.putrequest(method, path, skip_host=True)
    conn.putheader("Host", host)
    for k, v in (headers or {}).items():
        conn.putheader(k, v)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def xmllint(tmp_path, data, *args):
    doc = tmp_path / "doc.xml"
    doc.write_bytes(data)
    r = subprocess.run(["xmllint", "--noout", "--nonet", *args, str(doc)],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"xmllint {' '.join(args)}:\n{r.stderr}\n{data.decode()}"


def thunderbird_lookup(server, address):
    """Thunderbird's order of lookups for a domain's own configuration: the autoconfig host
    first, then the domain's well-known URL. Returns (url, XML bytes) of the first answer."""
    domain = address.split("@", 1)[1]
    query = urllib.parse.urlencode({"emailaddress": address})
    tried = []
    for host, path in ((f"autoconfig.{domain}", f"/mail/config-v1.1.xml?{query}"),
                       (domain, f"/.well-known/autoconfig/mail/config-v1.1.xml?{query}")):
        resp, data = fetch(server, host, path)
        tried.append((host, path, resp.status))
        if resp.status == 200 and resp.getheader("Content-Type", "").startswith(
                "application/xml"):
            return f"https://{host}{path}", data
    raise AssertionError(f"no configuration found: {tried}")


def servers_of(xml):
    root = ET.fromstring(xml)
    out = {}
    for s in root.iter():
        if s.tag in ("incomingServer", "outgoingServer"):
            out[s.get("type")] = {c.tag: c.text for c in s}
    return root, out


def test_thunderbird_finds_the_servers(server, clients, tmp_path):
    server.start()
    user = server.add_user("alice@example.org")
    url, xml = thunderbird_lookup(server, user.name)
    assert url.startswith("https://autoconfig.example.org/mail/config-v1.1.xml")
    xmllint(tmp_path, xml, "--schema", str(SCHEMAS / "autoconfig.xsd"))
    root, found = servers_of(xml)
    assert root.find("emailProvider/domain").text == "example.org"
    assert found["imap"] == {"hostname": "mail.example.org", "port": str(server.imap_port),
                             "socketType": "SSL", "username": "%EMAILADDRESS%",
                             "authentication": "password-cleartext"}
    assert found["pop3"]["port"] == str(server.pop3_port)
    assert found["pop3"]["socketType"] == "SSL"
    assert found["smtp"]["hostname"] == "smtp.example.org"
    assert found["smtp"]["socketType"] == "STARTTLS"
    assert root.find("emailProvider/documentation").get("url") == server.portal_origin + "/"
    # what Thunderbird then does with it: %EMAILADDRESS% and the port it was told
    name = found["imap"]["username"].replace("%EMAILADDRESS%", user.name)
    imap = server.imap()  # on the port it was told (asserted above)
    assert imap.login(name, user.password + server.code(user.secret))[0] == "OK"
    imap.logout()


def test_autoconfig_well_known_and_local_part(server, clients, tmp_path):
    server.configure("clients", "login", "localpart")
    server.unconfigure("clients", "submission")
    server.start()
    resp, xml = fetch(server, "example.org",
                      "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=bob%40example.org")
    assert resp.status == 200
    assert resp.getheader("Cache-Control") == "max-age=300"
    xmllint(tmp_path, xml, "--schema", str(SCHEMAS / "autoconfig.xsd"))
    _, found = servers_of(xml)
    assert found["imap"]["username"] == "%EMAILLOCALPART%"
    assert "smtp" not in found  # no submission server configured: none invented


def test_autoconfig_never_echoes_a_bad_address(server, clients, tmp_path):
    server.start()
    evil = urllib.parse.quote('x"><script>alert(1)</script>@example.org')
    resp, xml = fetch(server, "example.org", f"/mail/config-v1.1.xml?emailaddress={evil}")
    assert resp.status == 200
    xmllint(tmp_path, xml, "--schema", str(SCHEMAS / "autoconfig.xsd"))
    assert b"script" not in xml
    assert ET.fromstring(xml).find("emailProvider/domain").text == "mail.example.org"


AUTODISCOVER_REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>{address}</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>
"""


def test_outlook_autodiscover(server, clients, tmp_path):
    server.start()
    body = AUTODISCOVER_REQUEST.format(address="carol@example.org").encode()
    # as Outlook sends it: a POST of XML, no Origin, no session
    resp, xml = fetch(server, "autodiscover.example.org", "/autodiscover/autodiscover.xml",
                      method="POST", body=body, headers={"Content-Type": "text/xml"})
    assert resp.status == 200, xml
    assert resp.getheader("Cache-Control") == "no-store"
    xmllint(tmp_path, xml, "--schema", str(SCHEMAS / "autodiscover.xsd"))
    protocols = {p.find(AC + "Type").text: {c.tag[len(AC):]: c.text for c in p}
                 for p in ET.fromstring(xml).iter(AC + "Protocol")}
    assert protocols["IMAP"]["Server"] == "mail.example.org"
    assert protocols["IMAP"]["Port"] == str(server.imap_port)
    assert protocols["IMAP"]["SSL"] == "on"
    assert protocols["IMAP"]["LoginName"] == "carol@example.org"
    assert protocols["POP3"]["Port"] == str(server.pop3_port)
    assert protocols["SMTP"]["Encryption"] == "TLS"  # 587: STARTTLS
    # the capitalised path Outlook also uses; a body that names no address: no login name
    resp, xml = fetch(server, "example.org", "/Autodiscover/Autodiscover.xml", method="POST",
                      body=b"<Autodiscover/>", headers={"Content-Type": "text/xml"})
    assert resp.status == 200
    assert b"LoginName" not in xml
    xmllint(tmp_path, xml, "--schema", str(SCHEMAS / "autodiscover.xsd"))
    # the portal's request size limit holds here too
    resp, _ = fetch(server, "example.org", "/autodiscover/autodiscover.xml", method="POST",
                    body=b"x" * 20000, headers={"Content-Type": "text/xml"})
    assert resp.status == 413


def test_apple_profile_carries_its_own_app_password(server, clients, tmp_path):
    server.start()
    user = server.add_user("dana@example.org")
    clients.sign_in(user)
    resp, text = clients.get("/clients")
    assert resp.status == 200
    assert "mail.example.org" in text and str(server.imap_port) in text
    resp, _ = clients.post("/clients/apple", {"label": "dana's iPhone"}, csrf=False)
    assert resp.status == 403  # CSRF token required, as on every form
    conn = http.client.HTTPSConnection("127.0.0.1", server.portal_port, timeout=30,
                                       context=clients._context())
    conn.request("POST", "/clients/apple",
                 body=urllib.parse.urlencode({"label": "dana's iPhone", "csrf": clients.csrf}),
                 headers={"Cookie": f"__Host-twofold={clients.cookie}",
                          "Origin": server.portal_origin,
                          "Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    assert resp.status == 200, data
    assert resp.getheader("Content-Type") == "application/x-apple-aspen-config"
    assert resp.getheader("Cache-Control") == "no-store"
    assert resp.getheader("Content-Disposition") == 'attachment; filename="twofold.mobileconfig"'
    xmllint(tmp_path, data, "--dtdvalid", str(SCHEMAS / "plist.dtd"))
    profile = plistlib.loads(data)
    assert profile["PayloadType"] == "Configuration"
    (mail,) = profile["PayloadContent"]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    for key in ("PayloadIdentifier", "PayloadUUID", "PayloadVersion", "EmailAccountType",
                "IncomingMailServerHostName", "IncomingMailServerPortNumber",
                "IncomingMailServerUsername", "OutgoingMailServerHostName"):
        assert key in mail, key
    assert mail["PayloadUUID"] != profile["PayloadUUID"]
    assert mail["EmailAccountType"] == "EmailTypeIMAP"
    assert mail["IncomingMailServerHostName"] == "mail.example.org"
    assert mail["IncomingMailServerPortNumber"] == server.imap_port
    assert mail["IncomingMailServerUseSSL"] is True
    assert mail["IncomingMailServerUsername"] == user.name
    # the password in the profile is a new app password of its own, for IMAP only
    listed = server.cli("apppass", "list", user.name).stdout
    assert "dana's iPhone" in listed
    imap = server.imap()
    assert imap.login(user.name, mail["IncomingPassword"])[0] == "OK"
    imap.logout()
    pop = server.pop3()
    pop.user(user.name)
    with pytest.raises(poplib.error_proto):
        pop.pass_(mail["IncomingPassword"])
    pop.quit()
    # the password is shown nowhere else: not in the portal's pages
    resp, text = clients.get("/apppass")
    assert mail["IncomingPassword"] not in text


def test_apple_profile_needs_a_signed_in_user(server, clients):
    server.start()
    resp, _ = clients.get("/clients")
    assert resp.status == 303 and resp.getheader("Location") == "/signin"


def test_config_refuses_bad_client_names(server, clients):
    server.configure("clients", "host", "mail.example.org:993")
    r = subprocess.run([str(server_binary()), "-t", "-c", str(server.conf)],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert re.search(rf"{re.escape(str(server.conf))}:\d+: \[clients\] host: expected a DNS "
                     r"name", r.stderr), r.stderr
