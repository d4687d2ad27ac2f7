"""Yubico OTPs for the tests, written from Yubico's OTP specification, independent of twofold and
of libyubikey: a 16-byte token (private id, session counter, timestamp, use counter, random,
CRC-16, all little-endian), encrypted with AES-128-ECB by the `openssl enc` command, then modhex
after the public id."""

import secrets
import struct
import subprocess

MODHEX = "cbdefghijklnrtuv"


def modhex(data):
    return "".join(MODHEX[b >> 4] + MODHEX[b & 15] for b in data)


def crc16(data):
    """ISO 13239 CRC-16 as the spec gives it: init 0xffff, reflected polynomial 0x8408."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def aes128_ecb(key, block):
    r = subprocess.run(["openssl", "enc", "-aes-128-ecb", "-nopad", "-K", key.hex()],
                       input=block, capture_output=True, check=True)
    assert len(r.stdout) == 16, r
    return r.stdout


class YubiKey:
    """A software YubiKey: its secrets, and its counters as the real key keeps them."""

    def __init__(self, aes_key=None, private_id=None, public_id=None):
        self.aes_key = aes_key or secrets.token_bytes(16)
        self.private_id = private_id or secrets.token_bytes(6)
        self.public_id = public_id or "vv" + modhex(secrets.token_bytes(5))
        self.session = 1
        self.use = 0

    @classmethod
    def from_hex(cls, aes_hex, uid_hex, public_id):
        return cls(bytes.fromhex(aes_hex), bytes.fromhex(uid_hex), public_id)

    def cli_args(self):
        """The values as `twofold yubikey add` takes them."""
        return ["--aes-key", self.aes_key.hex(), "--private-id", self.private_id.hex(),
                "--public-id", self.public_id]

    def code(self, session=None, use=None, crc_delta=0):
        """An OTP with the given counters, or the key's next one (touch: use counter + 1)."""
        if session is None and use is None:
            session, use = self.session, self.use
            self.use += 1
        token = (self.private_id + struct.pack("<H", session)
                 + struct.pack("<I", secrets.randbits(24))[:3] + bytes([use])
                 + struct.pack("<H", secrets.randbits(16)))
        crc = (~crc16(token) + crc_delta) & 0xFFFF
        token += struct.pack("<H", crc)
        return self.public_id + modhex(aes128_ecb(self.aes_key, token))
