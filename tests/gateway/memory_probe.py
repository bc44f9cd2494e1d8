"""How much memory strangers without a token can make the gateway hold: its peak RSS.

    .venv/bin/python -m tests.gateway.memory_probe [--count 10] [--mib 100] [--root DIR]

Starts a gateway (TLS, a local CA, an `authenticate` that knows no token, no frontend behind
it: nothing here gets that far) in a process of its own, so its peak resident set (VmHWM) is
the gateway's alone. Then `count` connections each send one `mib` MiB message at once, without
a token, and the probe prints the gateway's peak RSS before and after. `--root` runs the
gateway code of another checkout (e.g. `git archive <commit> | tar -x -C DIR`), for a before
and after. Not a test: it needs a few GB of free memory for the sender's own copies.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[2]
CALL = "/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace"
PROBE_TOKEN = "probe-token"  # --with-token: the one token the probe's gateway knows


def _gateway_process(root: Path, folder: Path) -> None:
    """The child: a gateway on a free port, which it prints; it runs until stdin closes."""
    sys.path.insert(0, str(root))
    from gateway import GatewayConfig, serve
    from gateway.certificates import ensure_certificates

    made = ensure_certificates(folder, ["localhost", "127.0.0.1"])

    async def nobody(token: str) -> str | None:
        return "probe-station" if token == PROBE_TOKEN else None

    async def main() -> None:
        config = GatewayConfig(
            listen="127.0.0.1:0",
            frontend="127.0.0.1:9",  # never reached
            server_certificate=made.server_certificate,
            server_private_key=made.server_private_key,
        )
        gateway = await serve(config, nobody)
        print(gateway.port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await gateway.stop(grace=None)

    asyncio.run(main())


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


async def _flood(port: int, ca: bytes, count: int, size: int, token: bool) -> list[str]:
    body = b"\x0a" + _varint(size) + b"x" * size  # one huge `namespace` field
    channels = [
        grpc.aio.secure_channel(
            f"127.0.0.1:{port}",
            grpc.ssl_channel_credentials(root_certificates=ca),
            options=[
                ("grpc.ssl_target_name_override", "localhost"),
                ("grpc.max_send_message_length", -1),
            ],
        )
        for _ in range(count)
    ]

    async def send(channel: grpc.aio.Channel) -> str:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(CALL)
        try:
            metadata = (("authorization", f"Bearer {PROBE_TOKEN}"),) if token else None
            await call(body, metadata=metadata, timeout=120)
            return "OK"
        except grpc.aio.AioRpcError as err:
            return err.code().name

    try:
        return await asyncio.gather(*(send(channel) for channel in channels))
    finally:
        for channel in channels:
            await channel.close()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument(
        "--with-token", action="store_true", help="send as a station the gateway knows"
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose gateway runs")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _gateway_process(args.root.resolve(), args.serve)
        return

    with tempfile.TemporaryDirectory() as folder:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.gateway.memory_probe",
                "--root",
                str(args.root),
                "--serve",
                folder,
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdin is not None
        port = int(child.stdout.readline())
        time.sleep(0.5)
        before = _kib(child.pid, "VmHWM")
        started = time.monotonic()
        ca = (Path(folder) / "ca.pem").read_bytes()
        outcomes = asyncio.run(_flood(port, ca, args.count, args.mib << 20, args.with_token))
        took = time.monotonic() - started
        time.sleep(0.5)
        peak = _kib(child.pid, "VmHWM")
        child.stdin.close()
        child.wait(timeout=30)
    print(f"gateway code: {args.root}")
    who = "with a station's token" if args.with_token else "without a token"
    print(f"{args.count} x {args.mib} MiB {who}, at once: {sorted(set(outcomes))} in {took:.1f} s")
    print(f"gateway peak RSS: {before / 1024:.0f} MiB before, {peak / 1024:.0f} MiB after")


if __name__ == "__main__":
    main()
