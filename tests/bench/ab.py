"""Storage figures of several twofold builds, alternated in one setup (run as root; not part of
ctest): bench.py's own measuring code for figures 3, 4, 5, 6a-d and 7, twofold only, the daemon
restarted from each build in turn (TWOFOLD_BUILD_DIR is read at each start), so drift on a
shared machine hits every build alike. Extra figure "5s": the first SELECT of figure 5's 10,000
messages in new/ (untimed in bench.py), which moves and measures every file.

usage: ab.py OUT.jsonl setup=BUILD [name=BUILD ...] [--queue FILE] [--go FILE]
The first build runs the CLI for the setup; each later name=BUILD is one round (names may
repeat: base=build-a x=build-b base=build-a ...). With --queue, lines name=BUILD appended to FILE
are run too, until a line STOP. Rounds wait for the --go file (default: start at once).
One JSON line per round goes to OUT.jsonl."""
import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402
th = B.th


class AB(B.Bench):
    def setup(self):
        s = th.Server(self.cert, self.key)
        s.use_real_delays()  # nothing here fails a login; builds older than the keys refuse them
        s.configure("server", "min_spare", 8)
        s.configure("server", "max_spare", 16)
        s.configure("server", "max_workers", B.IDLE_CONNECTIONS + 24)
        s.configure("server", "max_prelogin_per_ip", B.IDLE_CONNECTIONS + 24)
        s.configure("server", "max_sessions_per_ip", B.IDLE_CONNECTIONS + 24)
        s.enable_imap()
        s.configure("auth", "pwhash_opslimit", B.ARGON_OPS)
        s.configure("auth", "pwhash_memlimit", B.ARGON_MEM)
        self.tf = s
        names = [f"u{i:03d}" for i in range(B.IDLE_CONNECTIONS)]
        names += [B.IMAP_SYNC_USER, B.IMAP_BIG_USER, B.IMAP_NAMED_USER]
        self.users = names
        for n in names:
            s.add_user(n, password=B.PASSWORD)
        self.tf_apppass = {n: s.apppass(n, proto="all", label="bench") for n in names}
        c = B.corpus_mod.Corpus(count=self.args.messages,
                                target_bytes=int(self.args.megabytes * 1e6))
        self.src, sizes = B.cached_corpus(self.args.cache,
                                          f"corpus-{c.count}-{c.target}-{c.seed}", c,
                                          self.uid, self.gid)
        self.corpus_sizes = sizes
        self.count = c.count
        big = B.corpus_mod.SmallCorpus(count=self.args.big_messages)
        bsrc, _ = B.cached_corpus(self.args.cache, f"small-{big.count}-{big.seed}", big,
                                  self.uid, self.gid)
        named = B.crlf_sizes(bsrc, big.count)
        self.big_src, self.big_count = bsrc, big.count
        B.link_messages(bsrc, s.maildir(B.IMAP_BIG_USER), range(big.count), self.uid,
                        self.gid, info="S")
        B.link_messages(bsrc, s.maildir(B.IMAP_NAMED_USER), range(big.count), self.uid,
                        self.gid, info="S", sizes=named)

    def relink(self, user, indexes):
        md = self.tf.maildir(user)
        if md.exists():
            shutil.rmtree(md)
        B.link_messages(self.src, md, indexes, self.uid, self.gid)

    def drop_indexes(self):
        for n in self.users:
            md = self.tf.maildir(n)
            if md.exists():
                for f in md.rglob("twofold.index*"):
                    f.unlink()

    def imap_sync_timed(self, port, password):
        c = self.imap_connect(port, B.IMAP_SYNC_USER, password)
        t0 = time.perf_counter()
        c.cmd("SELECT INBOX")
        sel = time.perf_counter() - t0
        t0 = time.perf_counter()
        for first in range(1, self.count + 1, B.SYNC_CHUNK):
            c.cmd(f"UID FETCH {first}:{first + B.SYNC_CHUNK - 1} {B.SYNC_ITEMS}")
        wall = time.perf_counter() - t0
        got = c.literal_octets
        c.logout()
        return sel, got / 1e6 / wall, got

    def one_round(self, name, build):
        tf = self.tf
        r = {"name": name, "build": build, "start": time.strftime("%H:%M:%S", time.gmtime()),
             "load": open("/proc/loadavg").read().split()[:3]}
        if tf.running():
            tf.stop()
        os.environ["TWOFOLD_BUILD_DIR"] = build
        # builds may differ in index schema (a newer one upgrades, an older one refuses): every
        # round starts from maildirs without an index, as after a fresh install
        self.drop_indexes()
        for k in range(B.CLIENTS):
            self.relink(f"u{k:03d}", range(k, self.count, B.CLIENTS))
        self.relink(B.IMAP_SYNC_USER, range(self.count))
        os.sync()
        tf.start()
        users = [(f"u{i:03d}", self.tf_apppass[f"u{i:03d}"]) for i in range(B.CLIENTS)]
        r["busy3"] = B.wait_quiet()
        r["3_drain_MBps"], r["3_bytes"] = self.drain_rate(tf.pop3_port, users)
        names = [f"u{i:03d}" for i in range(B.IDLE_CONNECTIONS)]
        r["4_pop3_pss_KiB"], _ = self.idle_pss(tf.pid, tf.pop3_port,
                                               [(u, self.tf_apppass[u]) for u in names])
        r["busy5"] = B.wait_quiet()
        r["5s_select10k_new_s"], r["5_sync_MBps"], r["5_bytes"] = self.imap_sync_timed(
            tf.imap_port, self.tf_apppass[B.IMAP_SYNC_USER])
        med, allv = self.first_selects(tf.imap_port, B.IMAP_BIG_USER,
                                       self.tf_apppass[B.IMAP_BIG_USER],
                                       tf.maildir(B.IMAP_BIG_USER), B.TWOFOLD_INDEX_FILES)
        r["6a_first_select_s"], r["6a_samples"] = med, allv
        self.warm_big_corpus()
        r["busy6b"] = B.wait_quiet()
        big = self.imap_big(tf.imap_port, self.tf_apppass[B.IMAP_BIG_USER])
        r["6b_fetch_cold_s"], r["6c_fetch_warm_s"] = big["fetch cold"], big["fetch warm"]
        r["6_select_warm_s"] = big["select warm"]
        r["6_lines"] = [big["lines cold"], big["lines warm"]]
        med, allv = self.first_selects(tf.imap_port, B.IMAP_NAMED_USER,
                                       self.tf_apppass[B.IMAP_NAMED_USER],
                                       tf.maildir(B.IMAP_NAMED_USER), B.TWOFOLD_INDEX_FILES)
        r["6d_first_select_named_s"], r["6d_samples"] = med, allv
        r["7_imap_idle_pss_KiB"], _ = self.idle_imap_pss(
            tf.pid, tf.imap_port, [(u, self.tf_apppass[u]) for u in names])
        r["end"] = time.strftime("%H:%M:%S", time.gmtime())
        self.client_cpu = []
        return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("builds", nargs="+")
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--megabytes", type=float, default=170)
    ap.add_argument("--big-messages", type=int, default=100000)
    ap.add_argument("--cache", default="/var/tmp/twofold-bench-cache")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--queue", default=None)
    ap.add_argument("--go", default=None)
    args = ap.parse_args()
    os.environ["TWOFOLD_BUILD_DIR"] = args.builds[0].split("=", 1)[1]
    b = AB(args)
    try:
        t0 = time.time()
        b.setup()
        print(f"setup {time.time() - t0:.1f} s", flush=True)
        # rounds: the builds given, then lines "name=dir" appended to the queue file, until a
        # line "STOP"; nothing runs before the go file exists
        done = 0
        specs = list(args.builds[1:])
        while args.go and not os.path.exists(args.go):
            time.sleep(5)
        while True:
            if args.queue and os.path.exists(args.queue):
                lines = [x.strip() for x in open(args.queue) if x.strip()]
                specs = list(args.builds[1:]) + lines
            if done >= len(specs):
                time.sleep(5)
                continue
            spec = specs[done]
            done += 1
            if spec == "STOP":
                break
            name, build = spec.split("=", 1)
            r = b.one_round(name, build)
            with open(args.out, "a") as f:
                f.write(json.dumps(r) + "\n")
            print(json.dumps(r), flush=True)
    finally:
        if b.tf.running():
            b.tf.stop(check=False)
        b.tf.cleanup(keep=args.keep)
        shutil.rmtree(b.root, ignore_errors=True)


if __name__ == "__main__":
    main()
