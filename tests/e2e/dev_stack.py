"""`worker.py dev` as a user starts it, on free ports and a temporary data folder, for the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from testkit.serving import free_port

ROOT = Path(__file__).parents[2]


def children_of(pid: int) -> set[int]:
    """Every descendant of `pid`."""
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            found |= {child} | children_of(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class DevStack:
    """A running `worker.py dev`: its process, where its parts listen, and what it printed."""

    process: subprocess.Popen[bytes]
    api_url: str
    temporal_port: int
    ui_port: int
    data_dir: Path
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def part(self, *words: str) -> int:
        """The pid of the supervisor's child whose command line holds all of `words`."""
        for pid in children_of(self.process.pid):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if alive(pid) and all(word.encode() in command for word in words):
                return pid
        raise LookupError(f"no running part with {words}")

    def wait_for_part(self, words: tuple[str, ...], other_than: int, seconds: float) -> int:
        """The pid of a running part with `words` that is not `other_than` (a restarted one)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.check_running()
            try:
                pid = self.part(*words)
            except LookupError:
                pid = other_than
            if pid != other_than:
                return pid
            time.sleep(0.2)
        raise AssertionError(f"{words} did not come back within {seconds}s:\n{self.tail()}")

    def wait_for_line(self, text: str, seconds: float, count: int = 1) -> str:
        """The first line holding `text`, once `count` such lines have been printed."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = [line for line in list(self.lines) if text in line]
            if len(found) >= count:
                return found[0]
            self.check_running()
            time.sleep(0.2)
        raise AssertionError(f"no line with {text!r} within {seconds}s:\n{self.tail()}")

    def wait_ready(self, seconds: float) -> httpx.Response:
        """GET /health/ready answers 200 (database and Temporal reachable from the API)."""
        deadline = time.monotonic() + seconds
        last: httpx.Response | None = None
        while time.monotonic() < deadline:
            self.check_running()
            try:
                last = httpx.get(f"{self.api_url}/health/ready", timeout=5)
                if last.status_code == 200:
                    return last
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"not ready within {seconds}s: {last.text if last else 'no answer'}")

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"worker.py dev exited ({self.process.returncode}):\n{self.tail()}"
            )

    def tail(self) -> str:
        return "\n".join(self.lines[-60:])

    def stop(self, sig: int = signal.SIGINT, seconds: float = 30) -> int:
        """Ctrl-C (or `sig`), and the exit code once everything stopped."""
        self.process.send_signal(sig)
        return self.process.wait(timeout=seconds)


@contextmanager
def dev_stack(data_dir: Path, **settings: str) -> Iterator[DevStack]:
    """`worker.py dev` on free ports with its data under `data_dir`; `settings` are extra
    AOS_* variables. Leaves nothing running."""
    api_port, temporal_port, ui_port = free_port(), free_port(), free_port()
    gateway = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "AOS_DATA_DIR": str(data_dir),
        "AOS_DATABASE_URL": f"sqlite:///{data_dir}/aos.db",
        "AOS_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "AOS_TEMPORAL_UI_PORT": str(ui_port),
        "AOS_API_PORT": str(api_port),
        "AOS_GATEWAY_LISTEN": gateway,
        "AOS_GATEWAY_ADDRESS": gateway,
        "AOS_CONNECTED_CAR_BACKEND_URL": f"http://127.0.0.1:{free_port()}",
        **settings,
    }
    process = subprocess.Popen(
        [sys.executable, "worker.py", "dev"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    stack = DevStack(process, f"http://127.0.0.1:{api_port}", temporal_port, ui_port, data_dir)

    def drain() -> None:  # the parts log a lot; a full pipe would block them
        assert process.stdout is not None
        for line in process.stdout:
            stack.lines.append(line.decode(errors="replace").rstrip())

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    children: set[int] = set()
    try:
        yield stack
    finally:
        children = children_of(process.pid)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        reader.join(timeout=5)
