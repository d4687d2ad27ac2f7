"""The default TLS priority: AEAD suites with forward secrecy only. Lists every TLS 1.2 suite the
client library knows, tries each alone against the daemon, and compares what negotiates with
the expected list; TLS 1.3 suites the same way with openssl s_client."""

import socket
import ssl
import subprocess

import pytest

# What the default may negotiate, by certificate type (OpenSSL names).
TLS12_ECDSA = {"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305",
               "ECDHE-ECDSA-AES128-GCM-SHA256"}
TLS12_RSA = {"ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305",
             "ECDHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384",
             "DHE-RSA-CHACHA20-POLY1305", "DHE-RSA-AES128-GCM-SHA256"}
TLS13 = {"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"}
TLS13_ALL = TLS13 | {"TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"}


def tls12_candidates():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    return sorted({c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"})


def handshake12(server, cipher):
    """The suite negotiated when the client offers only cipher over TLS 1.2, or None."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.set_ciphers(cipher + ":@SECLEVEL=0")
    except ssl.SSLError:
        return None  # this OpenSSL build cannot offer it at all
    try:
        with socket.create_connection(("127.0.0.1", server.pop3_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                return s.cipher()[0]
    except (ssl.SSLError, ConnectionError, socket.timeout):
        return None


def negotiable12(server):
    return {c for c in tls12_candidates() if handshake12(server, c) == c}


def handshake13(server, suite):
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{server.pop3_port}",
                        "-tls1_3", "-ciphersuites", suite, "-servername", "localhost"],
                       input="", capture_output=True, text=True, timeout=20)
    return r.returncode == 0 and f"Cipher is {suite}" in r.stdout


def test_tls12_suites_aead_only_ecdsa(server):
    server.start()
    got = negotiable12(server)
    assert got == TLS12_ECDSA, f"negotiable TLS 1.2 suites: {sorted(got)}"


def test_cbc_only_client_refused_aead_client_accepted(server):
    server.start()
    for cbc in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256",
                "ECDHE-ECDSA-AES256-SHA384"):
        assert handshake12(server, cbc) is None, f"{cbc} negotiated"
    assert handshake12(server, "ECDHE-ECDSA-AES128-GCM-SHA256") == "ECDHE-ECDSA-AES128-GCM-SHA256"
    assert handshake12(server, "ECDHE-ECDSA-CHACHA20-POLY1305") == "ECDHE-ECDSA-CHACHA20-POLY1305"


def test_tls12_suites_rsa_certificate_no_static_rsa(server, tmp_path):
    cert, key = tmp_path / "rsa-cert.pem", tmp_path / "rsa-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    tmp_path.chmod(0o755)
    cert.chmod(0o644)
    server.configure("tls", "cert", cert)
    server.configure("tls", "key", key)
    server.start()
    got = negotiable12(server)
    assert got == TLS12_RSA, f"negotiable TLS 1.2 suites: {sorted(got)}"


@pytest.mark.parametrize("suite", sorted(TLS13_ALL))
def test_tls13_suites(server, suite):
    server.start()
    assert handshake13(server, suite) == (suite in TLS13)
