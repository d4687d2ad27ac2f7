"""A headless terminal for interactive mail clients (mutt, neomutt, alpine): tmux on a socket of
the test's own, driven with send-keys and read back with capture-pane.

Every wait has a timeout and fails with the screen as it was, so a client that asks something
unexpected (a certificate question, a password prompt) makes the test fail clearly instead of
hanging. The tmux server is private to the Terminal (its own socket file) and is killed on
close(), with whatever still runs in it.
"""

import os
import re
import shlex
import subprocess
import time

WAIT_TIMEOUT = 20.0  # a client's start under load; a quiet machine needs a second or two
POLL = 0.1


class TerminalError(AssertionError):
    pass


class Terminal:
    def __init__(self, directory, command, env=None, width=120, height=30):
        """Starts command (a list) in a detached tmux session of width x height; env: variables
        for the command (HOME should be a directory of the test's). The pane stays after the
        command exits, so its last words can be read."""
        self.socket = os.path.join(str(directory), f"tmux-{os.getpid()}-{id(self)}.sock")
        self.command = command
        env = dict(env or {})
        # the client's own environment, explicit: tmux would hand it the server's otherwise
        env.setdefault("TERM", "screen")
        env.setdefault("LANG", "C.UTF-8")
        env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        # A shell of ours waits for the program and writes down how it ended: tmux, left to
        # reap it, was seen to leave a program that had quit a zombie for half a minute.
        self.status_file = self.socket + ".status"
        script = f"{shlex.join(command)}; echo $? >{shlex.quote(self.status_file)}"
        line = "exec env -i " + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items()) + \
            " /bin/sh -c " + shlex.quote(script)
        self._tmux("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", str(width),
                   "-y", str(height), "sh -c " + shlex.quote(line))
        self._tmux("set-option", "-t", "t", "remain-on-exit", "on")

    def _tmux(self, *args, check=True):
        r = subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise TerminalError(f"tmux {' '.join(args[:2])} failed: {r.stderr.strip()}")
        return r.stdout

    def screen(self):
        """The visible screen, one string per row, trailing blanks removed."""
        out = self._tmux("capture-pane", "-p", "-t", "t", check=False)
        return [row.rstrip() for row in out.split("\n")]

    def text(self):
        return "\n".join(self.screen())

    def exited(self):
        """None while the command runs, else its exit status (128 + N after signal N)."""
        # the pane first: once its shell is dead, what the shell wrote is all there
        out = self._tmux("display-message", "-p", "-t", "t", "#{pane_dead}:#{pane_dead_status}",
                         check=False).strip().split(":")
        dead = len(out) == 2 and out[0] == "1" and out[1] != ""
        try:
            with open(self.status_file) as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        if text.endswith("\n"):
            return int(text)
        if dead:
            return f"its shell ended with {out[1]}"  # killed before it could write the status
        return None

    def wait_for(self, pattern, timeout=WAIT_TIMEOUT, what=None):
        """Waits until the screen matches pattern (a regex, MULTILINE); returns the match."""
        return self.wait_any({"hit": pattern}, timeout, what or pattern)[1]

    def wait_any(self, patterns, timeout=WAIT_TIMEOUT, what=None):
        """Waits until one of patterns ({name: regex}) matches the screen; returns (name,
        match) of the first in the dict's order that does."""
        regs = {k: re.compile(v, re.MULTILINE) for k, v in patterns.items()}
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            for name, reg in regs.items():
                m = reg.search(text)
                if m:
                    return name, m
            status = self.exited()
            if status is not None:
                raise TerminalError(f"{self.command[0]} exited ({status}) while waiting for "
                                    f"{what or list(patterns)}; screen:\n{self.text()}")
            if time.monotonic() > deadline:
                raise TerminalError(f"{self.command[0]}: no {what or list(patterns)} after "
                                    f"{timeout:.0f} s; screen:\n{text}")
            time.sleep(POLL)

    def wait_until(self, cond, timeout=WAIT_TIMEOUT, what="condition"):
        """Waits until cond(screen rows) is true; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.screen()
            value = cond(rows)
            if value:
                return value
            if self.exited() is not None:
                raise TerminalError(f"{self.command[0]} exited while waiting for {what}; "
                                    f"screen:\n{self.text()}")
            if time.monotonic() > deadline:
                raise TerminalError(f"{self.command[0]}: no {what} after {timeout:.0f} s; "
                                    f"screen:\n" + "\n".join(rows))
            time.sleep(POLL)

    def keys(self, *keys):
        """tmux key names: 'q', 'Enter', 'C-c', '$'."""
        self._tmux("send-keys", "-t", "t", *keys)

    def type(self, text):
        """Literal text, not key names."""
        self._tmux("send-keys", "-t", "t", "-l", text)

    def wait_exit(self, timeout=WAIT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            status = self.exited()
            if status is not None:
                return status
            if time.monotonic() > deadline:
                raise TerminalError(f"{self.command[0]} still running after {timeout:.0f} s "
                                    f"({self._process()}); screen:\n{self.text()}")
            time.sleep(POLL)

    def _process(self):
        """What the program is doing, for a message: its state and where it waits."""
        pid = self._tmux("display-message", "-p", "-t", "t", "#{pane_pid}", check=False).strip()
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open(f"/proc/{pid}/wchan") as f:
                wchan = f.read().strip()
            return f"pid {pid} state {state} in {wchan}"
        except (OSError, IndexError):
            return f"pid {pid} gone"

    def close(self):
        self._tmux("kill-server", check=False)
        for path in (self.socket, self.status_file):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
