"""`make dev` (`worker.py dev`) brings the whole product up, and Ctrl-C takes all of it down."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from tests.helpers import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]


def _children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            found |= {child} | _children_of(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise AssertionError(f"worker.py dev exited while starting:\n{output[-4000:]}")
        try:
            last = httpx.get(url, timeout=2)
            if last.status_code == 200:
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not ready within {seconds}s: {last.text if last else 'no answer'}")


async def _pollers(temporal_port: int, task_queue: str) -> set[str]:
    """The identities polling `task_queue`, once one has polled (30 s at most)."""
    client = await Client.connect(f"127.0.0.1:{temporal_port}")
    for _ in range(300):
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace="default",
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            )
        )
        if described.pollers:
            return {poller.identity for poller in described.pollers}
        await asyncio.sleep(0.1)
    return set()


def test_dev_starts_everything_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    api_port, temporal_port, ui_port = free_port(), free_port(), free_port()
    gateway = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "AOS_DATA_DIR": str(tmp_path / "data"),
        "AOS_DATABASE_URL": f"sqlite:///{tmp_path}/data/aos.db",
        "AOS_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "AOS_TEMPORAL_UI_PORT": str(ui_port),
        "AOS_API_PORT": str(api_port),
        "AOS_GATEWAY_LISTEN": gateway,
        "AOS_GATEWAY_ADDRESS": gateway,
    }
    process = subprocess.Popen(
        [sys.executable, "worker.py", "dev"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        started = time.monotonic()
        ready = _wait_ready(f"http://127.0.0.1:{api_port}/health/ready", process, seconds=60)
        assert ready.json()["temporal"]["ok"] and ready.json()["database"]["ok"]
        print(f"ready after {time.monotonic() - started:.1f}s")
        assert httpx.get(f"http://127.0.0.1:{ui_port}/", timeout=5).status_code == 200
        assert (tmp_path / "data" / "temporal.db").exists()  # a restart keeps workflows
        # demo-1 polls as production stations do: through the gateway, which names it.
        assert asyncio.run(_pollers(temporal_port, "station-demo-1")) == {"station:demo-1"}
        children = _children_of(process.pid)
        assert len(children) >= 5  # temporal, API, portal worker, gateway, station worker

        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0].decode()
        assert process.returncode == 0, output
        assert f"http://127.0.0.1:{ui_port}" in output and "/docs" in output
        time.sleep(0.5)
        assert [pid for pid in children if _alive(pid)] == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
