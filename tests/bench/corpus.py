"""A deterministic corpus of realistic MIME messages for the POP3 drain benchmark.

10,000 messages, ~170 MB: mostly short plain-text mail, some multipart/alternative newsletters,
and one in ten with a base64 attachment (log-normal sizes, capped at 3 MB). Fixed seed, so every
run and both servers see the same bytes. Messages use LF line ends, as MDAs store them.
"""

import base64
import math
import random

SEED = 20240611
WORDS = (
    "the of and to in is for on that with as are be this from at by it or an was have not "
    "meeting report budget server mail release invoice project deadline review patch build "
    "please thanks regards attached update schedule customer ticket issue fixed version team "
    "tomorrow friday quarter numbers draft final agenda notes question answer support backup "
    "network storage login password security policy holiday office travel conference slides "
    "database migration test results deploy rollback incident summary action items follow up"
).split()
NAMES = ("Alice Martin", "Bob Nguyen", "Carla Rossi", "David Kim", "Eva Novak", "Farid Haddad",
         "Greta Berg", "Hiro Tanaka", "Ines Duarte", "Jonas Weber", "Kofi Mensah", "Lena Petrov")
DOMAINS = ("example.org", "example.com", "example.net", "mail.example.org", "lists.example.com")


def _pool(rng, size=1 << 20):
    """About size bytes of wrapped prose lines to slice message bodies from."""
    lines, total = [], 0
    while total < size:
        n = rng.randint(6, 14)
        line = " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


class Corpus:
    def __init__(self, count=10000, target_bytes=170 * 1000 * 1000, seed=SEED):
        self.count, self.target, self.seed = count, target_bytes, seed
        rng = random.Random(seed)
        self.pool = _pool(rng)
        self.kinds = [rng.choices(("plain", "alt", "attach"), (70, 20, 10))[0]
                      for _ in range(count)]
        self.body_sizes = [int(min(60000, rng.lognormvariate(math.log(3000), 0.8)))
                           for _ in range(count)]
        raw = [int(min(3 << 20, rng.lognormvariate(math.log(36000), 1.3))) if k == "attach"
               else 0 for k in self.kinds]
        self.attach_sizes = self._scale_attachments(raw)

    def _scale_attachments(self, raw):
        """Scales attachment sizes so the whole corpus lands near the target size (the cap
        makes it a fixed-point iteration)."""
        self.attach_sizes = [0] * self.count
        text = sum(len(self.message(i)) if k != "attach" else self.body_sizes[i] + 900
                   for i, k in enumerate(self.kinds))
        want = max(0, self.target - text)
        factor, sizes = 1.0, raw
        for _ in range(8):
            sizes = [min(3 << 20, int(s * factor)) for s in raw]
            have = sum(sizes) * 4 / 3 * 77 / 76
            if have == 0:
                break
            factor *= want / have
        return sizes

    def _text(self, rng, n):
        start = rng.randrange(0, max(1, len(self.pool) - n - 1))
        start = self.pool.find("\n", start) + 1
        return self.pool[start:start + n].rsplit("\n", 1)[0] + "\n"

    def _headers(self, rng, i, content_type):
        sender = rng.choice(NAMES)
        local = sender.split()[0].lower()
        dom = rng.choice(DOMAINS)
        subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))).capitalize()
        day = 1 + i % 28
        return (
            f"Return-Path: <{local}@{dom}>\n"
            f"Received: from mx{i % 7}.{dom} (mx{i % 7}.{dom} [192.0.2.{i % 250 + 1}])\n"
            f"\tby mail.example.org with ESMTPS id {i:08X}\n"
            f"\tfor <user@example.org>; Mon, {day} Jan 2024 {i % 24:02d}:{i % 60:02d}:00 +0000\n"
            f"From: {sender} <{local}@{dom}>\n"
            f"To: User <user@example.org>\n"
            f"Subject: {subject}\n"
            f"Date: Mon, {day} Jan 2024 {i % 24:02d}:{i % 60:02d}:00 +0000\n"
            f"Message-ID: <bench.{self.seed}.{i}@{dom}>\n"
            f"MIME-Version: 1.0\n"
            f"Content-Type: {content_type}\n")

    def message(self, i):
        """Message number i (0-based) as bytes; the same for the same seed and i."""
        rng = random.Random(self.seed * 100003 + i)
        kind, n = self.kinds[i], self.body_sizes[i]
        text = self._text(rng, n)
        if kind == "plain":
            return (self._headers(rng, i, "text/plain; charset=utf-8") +
                    "Content-Transfer-Encoding: 8bit\n\n" + text).encode()
        b = f"=_b{i}_{rng.getrandbits(32):08x}"
        if kind == "alt":
            html = "<html><body>" + "".join(f"<p>{ln}</p>\n" for ln in text.splitlines())
            return (self._headers(rng, i, f'multipart/alternative; boundary="{b}"') +
                    f"\n--{b}\nContent-Type: text/plain; charset=utf-8\n\n{text}"
                    f"--{b}\nContent-Type: text/html; charset=utf-8\n\n{html}</body></html>\n"
                    f"--{b}--\n").encode()
        data = base64.encodebytes(rng.randbytes(self.attach_sizes[i])).decode()
        name = rng.choice(("report.pdf", "photo.jpg", "scan.pdf", "logs.tar.gz", "slides.pptx"))
        return (self._headers(rng, i, f'multipart/mixed; boundary="{b}"') +
                f"\n--{b}\nContent-Type: text/plain; charset=utf-8\n\n{text}"
                f"--{b}\nContent-Type: application/octet-stream; name=\"{name}\"\n"
                f"Content-Disposition: attachment; filename=\"{name}\"\n"
                f"Content-Transfer-Encoding: base64\n\n{data}--{b}--\n").encode()

    def __iter__(self):
        return (self.message(i) for i in range(self.count))


class SmallCorpus(Corpus):
    """Many small messages (about 3-5 KB each) for the 100,000-message IMAP mailbox: plain text,
    multipart/alternative, and one in ten with a small base64 attachment. Fixed seed."""

    def __init__(self, count=100000, seed=SEED + 1):
        self.count, self.seed = count, seed
        rng = random.Random(seed)
        self.pool = _pool(rng)
        self.kinds = [rng.choices(("plain", "alt", "attach"), (60, 30, 10))[0]
                      for _ in range(count)]
        self.body_sizes = [rng.randint(1800, 3600) if k != "alt" else rng.randint(900, 1800)
                           for k in self.kinds]
        self.attach_sizes = [rng.randint(600, 1500) if k == "attach" else 0
                             for k in self.kinds]
