"""Start and end `ray start` nodes for the cluster tests: each in a process group of its own,
ended by that group's id (never `ray stop`), with private temp dirs and free ports so that no
other Ray on the machine is touched and no cluster is registered in the shared /tmp/ray."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
TUNESMITH = str(Path(sys.executable).with_name("tunesmith"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    pgid: int
    temp: str
    log: Path

    def end(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, sig)
            deadline = time.time() + 10
            while time.time() < deadline and _group_alive(self.pgid):
                time.sleep(0.2)
            if not _group_alive(self.pgid):
                break


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Nodes:
    """The nodes a test started; :meth:`end_all` ends every group and removes temp dirs."""

    started: list[Node] = field(default_factory=list)
    token: str = field(default_factory=lambda: __import__("secrets").token_hex(32))

    def auth_env(self) -> dict[str, str]:
        """Token authentication for the nodes and the driver, with a token of this test's own
        (not whatever ~/.ray/auth_token holds on the machine)."""
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    def start(
        self,
        ip: str,
        head_address: str | None,
        num_cpus: int,
        prefix: list[str] | None = None,
        cluster_env: str = "0",
    ) -> tuple[Node, int]:
        temp = tempfile.mkdtemp(prefix="tsr", dir="/tmp")  # short: Ray's sockets live here
        port = free_port()
        cmd = [*(prefix or []), RAY, "start", f"--node-ip-address={ip}", f"--num-cpus={num_cpus}",
               "--disable-usage-stats", f"--temp-dir={temp}/ray", "--num-gpus=0",
               f"--dashboard-agent-listen-port={free_port()}",
               f"--dashboard-agent-grpc-port={free_port()}",
               f"--runtime-env-agent-port={free_port()}",
               f"--metrics-export-port={free_port()}",
               f"--node-manager-port={free_port()}",
               f"--object-manager-port={free_port()}"]  # fmt: skip
        if head_address is None:
            cmd += ["--head", f"--port={port}", "--include-dashboard=false",
                    f"--ray-client-server-port={free_port()}"]  # fmt: skip
        else:
            cmd += [f"--address={head_address}"]
        env = {**os.environ, **self.auth_env(), "RAY_TMPDIR": temp,
               "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": cluster_env}  # fmt: skip
        log = Path(temp) / "start.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        node = Node(proc.pid, temp, log)
        self.started.append(node)
        code = proc.wait(timeout=120)
        if code != 0:
            raise RuntimeError(f"ray start failed ({code}): {log.read_text()[-3000:]}")
        return node, port

    def end_all(self) -> None:
        for node in reversed(self.started):
            node.end()
        for node in self.started:
            shutil.rmtree(node.temp, ignore_errors=True)
        self.started.clear()
