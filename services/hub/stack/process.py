"""Process plumbing for the local stack: run, spawn, probe, stop.

Every failure becomes a :class:`StackError` that names the component, the
command that failed and the last lines of the relevant log, so the person at
the terminal can act on it without digging.

The services run with a umask of 077, whoever starts them (``svdhub`` sets
it for itself; a test or a library caller may not), so their data and logs
are owner-only; see :mod:`wire.private_files`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from wire.private_files import FILE_MODE, UMASK, private_dir

LOG_TAIL_LINES = 20

# Processes this Python process spawned, so that ``terminate`` can reap them.
# (Other callers, such as a later ``svdhub stack down``, find them by pid file.)
_children: dict[int, subprocess.Popen[bytes]] = {}


class StackError(Exception):
    """A stack component failed to install, start, become ready or stop."""

    def __init__(
        self, component: str, message: str, command: Sequence[str] | None = None, log: str = ""
    ) -> None:
        self.component = component
        self.message = message
        self.command = list(command) if command else None
        self.log = log
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [f"{self.component}: {self.message}"]
        if self.command:
            parts.append(f"  command: {' '.join(self.command)}")
        if self.log.strip():
            parts.append("  last log lines:")
            parts.extend(f"    {line}" for line in self.log.rstrip().splitlines())
        return "\n".join(parts)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file, or '' if it cannot be read."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def run(
    component: str,
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    umask: int = -1,
) -> str:
    """Run a command to completion and return its output; raise StackError
    with the output's tail if it fails or times out. ``umask`` (default: this
    process's) applies to what the command writes."""
    try:
        done = subprocess.run(
            list(command),
            umask=umask,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise StackError(component, f"program not found: {command[0]}", command) from exc
    except subprocess.TimeoutExpired as exc:
        output = exc.output if isinstance(exc.output, str) else ""
        raise StackError(
            component,
            f"timed out after {timeout:g} s",
            command,
            "\n".join(output.splitlines()[-LOG_TAIL_LINES:]),
        ) from exc
    if done.returncode != 0:
        raise StackError(
            component,
            f"exited with status {done.returncode}",
            command,
            "\n".join(done.stdout.splitlines()[-LOG_TAIL_LINES:]),
        )
    return done.stdout


def spawn(
    component: str,
    command: Sequence[str],
    log_file: Path,
    pid_file: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start a long-running process in its own session, umask 077, with stdout
    and stderr appended to ``log_file`` (0600), and record its pid in ``pid_file``."""
    private_dir(log_file.parent)
    descriptor = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    with os.fdopen(descriptor, "ab") as log:
        try:
            proc = subprocess.Popen(
                list(command),
                umask=UMASK,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env=None if env is None else dict(env),
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise StackError(component, f"program not found: {command[0]}", command) from exc
    _children[proc.pid] = proc
    pid_file.write_text(f"{proc.pid}\n", encoding="ascii")
    return proc.pid


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cmdline(pid: int) -> str:
    """The command line of a live process, '' if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", errors="replace").strip()


def alive(pid: int, marker: str) -> bool:
    """True if ``pid`` runs and its command line contains ``marker``.

    The marker (a path in the state folder) guards against a recycled pid
    belonging to somebody else's process."""
    for _ in range(100):
        line = cmdline(pid)
        if line:
            return marker in line
        # An empty command line means a zombie (exited, not yet reaped), or a
        # process in the middle of exec, whose arguments appear a moment later.
        if _state(pid) in {None, "Z", "X"}:
            return False
        time.sleep(0.01)
    return False


def _state(pid: int) -> str | None:
    """The one-letter scheduler state of a process, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[0]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def wait_until(
    component: str,
    what: str,
    probe: Callable[[], bool],
    deadline: float,
    *,
    log_file: Path,
    still_running: Callable[[], bool] | None = None,
) -> None:
    """Poll ``probe`` until it is true; fail at ``deadline`` (a monotonic time)
    or as soon as the process is seen to have died."""
    delay = 0.1
    while True:
        if probe():
            return
        if still_running is not None and not still_running():
            raise StackError(component, f"process exited before it was {what}", log=tail(log_file))
        if time.monotonic() > deadline:
            raise StackError(component, f"not {what} within the time allowed", log=tail(log_file))
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def terminate(component: str, pid: int, marker: str, timeout: float = 30.0) -> None:
    """Stop one process we started: SIGTERM to its process group, then
    SIGKILL if it has not gone within ``timeout`` seconds."""
    if not alive(pid, marker):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid, marker):
            _reap(pid)
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    time.sleep(0.5)
    _reap(pid)
    if alive(pid, marker):
        raise StackError(component, f"process {pid} did not stop after SIGKILL")


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our own child."""
    child = _children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)
