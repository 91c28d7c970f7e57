"""Run `mpesa-lab` the way a person does: in a terminal (a pseudo-terminal, so rich draws colours,
spinners and progress bars) or through a pipe (`mpesa-lab ... | less`, a script, CI).

Shared by the CLI tests: ``in_terminal(args)`` and ``in_pipe(args)`` return a ``Ran`` with the exit
code and everything written to the screen; ``Started`` keeps a server running until it is
interrupted with Ctrl-C (SIGINT), as a person stops it.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path

CLI = [sys.executable, "-m", "mpesa_lab.cli"]
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][AB012]|\x1b[=>]")


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a person's shell: a fresh lab home, no Daraja settings, colours allowed."""
    env = dict(os.environ, MPESA_LAB_HOME=str(home), TERM="xterm-256color", PYTHONUNBUFFERED="1")
    for name in (
        "MPESA_ENV",
        "MPESA_BASE_URL",
        "MPESA_CALLBACK_URL",
        "NO_COLOR",
        "FORCE_COLOR",
        "COLUMNS",
        "LINES",
        "MPLBACKEND",
        "DISPLAY",
    ):
        env.pop(name, None)
    env.update(extra)
    return env


@dataclass
class Ran:
    """A finished command: its exit code and what it showed (``text`` without colour codes)."""

    args: list[str]
    returncode: int
    raw: str

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw).replace("\r\n", "\n").replace("\r", "\n")

    @property
    def lines(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.strip()]

    def __str__(self) -> str:
        return f"$ mpesa-lab {' '.join(self.args)}\n[exit {self.returncode}]\n{self.text}"


def _terminal(columns: int, rows: int) -> tuple[int, int]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    return master, slave


def _spawn_in_terminal(
    args: list[str], env: dict[str, str], cwd: Path, columns: int, rows: int
) -> tuple[subprocess.Popen, int]:
    master, slave = _terminal(columns, rows)
    try:
        proc = subprocess.Popen(
            CLI + list(args), stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True
        )
    finally:
        os.close(slave)
    return proc, master


def _drain(master: int, chunks: list[bytes], until: float) -> bool:
    """Read what the terminal shows until ``until``; False once the other side closed."""
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return True
        ready, _, _ = select.select([master], [], [], min(left, 0.05))
        if not ready:
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every process holding the terminal has exited
            return False
        if not data:
            return False
        chunks.append(data)


def in_terminal(
    args: list[str], env: dict[str, str], cwd: Path, *, timeout: float = 60, columns: int = 100, rows: int = 30
) -> Ran:
    """Run ``mpesa-lab ARGS`` in a pseudo-terminal of ``columns`` x ``rows`` and wait for it."""
    proc, master = _spawn_in_terminal(args, env, cwd, columns, rows)
    chunks: list[bytes] = []
    try:
        open_ = _drain(master, chunks, time.monotonic() + timeout)
        if open_ and proc.poll() is None:
            proc.kill()
            raise AssertionError(
                f"mpesa-lab {' '.join(args)} still running after {timeout} s:\n"
                + b"".join(chunks).decode(errors="replace")
            )
        proc.wait(timeout=10)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Ran(list(args), proc.returncode, b"".join(chunks).decode("utf-8", errors="replace"))


def in_pipe(args: list[str], env: dict[str, str], cwd: Path, *, timeout: float = 60) -> Ran:
    """Run ``mpesa-lab ARGS`` with stdout and stderr into one pipe and stdin closed."""
    done = subprocess.run(
        CLI + list(args),
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
    )
    return Ran(list(args), done.returncode, done.stdout.decode("utf-8", errors="replace"))


class Started:
    """A server command running in a terminal (or a pipe) until ``interrupt()`` presses Ctrl-C."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        cwd: Path,
        *,
        terminal: bool = True,
        columns: int = 100,
        rows: int = 30,
    ) -> None:
        self.args = list(args)
        self.chunks: list[bytes] = []
        self.closed = False
        if terminal:
            self.proc, self._fd = _spawn_in_terminal(args, env, cwd, columns, rows)
        else:
            self.proc = subprocess.Popen(
                CLI + list(args),
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._fd = self.proc.stdout.fileno()

    @property
    def text(self) -> str:
        return Ran(self.args, -1, b"".join(self.chunks).decode("utf-8", errors="replace")).text

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match:
        """The first match of ``pattern`` in what the server printed, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.text)
            if match:
                return match
            if self.closed or time.monotonic() > deadline:
                raise AssertionError(
                    f"no {pattern!r} from mpesa-lab {' '.join(self.args)} (exit {self.proc.poll()}):\n{self.text}"
                )
            self.closed = not _drain(self._fd, self.chunks, min(deadline, time.monotonic() + 0.2))

    def finish(self, timeout: float = 30) -> Ran:
        """Wait for the server to exit by itself (e.g. after a start-up error)."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.closed = not _drain(self._fd, self.chunks, min(deadline, time.monotonic() + 0.2))
            if self.proc.poll() is not None:
                _drain(self._fd, self.chunks, time.monotonic() + 0.2)
                break
        return self._done(timeout)

    def interrupt(self, timeout: float = 30) -> Ran:
        """Press Ctrl-C (SIGINT to the server) and collect everything it printed until it exits."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.closed = not _drain(self._fd, self.chunks, min(deadline, time.monotonic() + 0.2))
            if self.proc.poll() is not None and not self.closed:
                _drain(self._fd, self.chunks, time.monotonic() + 0.3)
                break
        return self._done(timeout)

    def _done(self, timeout: float) -> Ran:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"mpesa-lab {' '.join(self.args)} did not stop:\n{self.text}") from None
        finally:
            self.close()
        return Ran(self.args, self.proc.returncode, b"".join(self.chunks).decode("utf-8", errors="replace"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        elif self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
