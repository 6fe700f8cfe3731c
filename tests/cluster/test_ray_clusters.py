"""Ray clusters started with `ray start`: one on loopback, and two nodes in two Linux network
namespaces joined by a veth pair (DESIGN.md §3: with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 Ray refuses
a second node, with 1 it listens on every interface, so each node gets a namespace of its own).
The driver is `tunesmith tune --ray-address`; nodes are ended by process group, never `ray stop`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).parent))
from raynodes import TUNESMITH, Nodes  # noqa: E402

pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.cluster]

OBJECTIVE = """
import os
import pathlib
import time


def where(params):
    import ray

    ctx = ray.get_runtime_context()
    ip = ray.util.get_node_ip_address()
    if MARKS:  # Ray workers get the node's environment, not the driver's: settings are here
        pathlib.Path(MARKS, f"{ip}-{params['x']:.6f}").touch()
    time.sleep(TRIAL_S)
    return {"score": params["x"], "gcs": ctx.gcs_address, "ip": ip}
"""

CONFIG = """
study:
  name: onray
  sampler: {name: random, seed: 0}
  n_trials: N_TRIALS
  workers: 2
  metric: score
objective: where_obj:where
space:
  x: {type: float, low: 0.0, high: 1.0}
"""


def _workdir(tmp_path: Path, n_trials: int, marks: str = "", trial_s: float = 0.2) -> Path:
    settings = f"MARKS = {marks!r}\nTRIAL_S = {trial_s}\n"
    (tmp_path / "where_obj.py").write_text(settings + OBJECTIVE)
    (tmp_path / "exp.yaml").write_text(CONFIG.replace("N_TRIALS", str(n_trials)))
    return tmp_path


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]), **extra}
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = extra.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    return env


def _trials(tmp_path: Path) -> list:
    url = f"sqlite:///{tmp_path}/runs/onray/study.db"
    return optuna.load_study(study_name="onray", storage=url).trials


def test_loopback_cluster_runs_the_trials_and_a_plain_run_never_joins_it(tmp_path):
    work = _workdir(tmp_path, 4)
    nodes = Nodes()
    try:
        head, port = nodes.start("127.0.0.1", None, num_cpus=2)
        address = f"127.0.0.1:{port}"
        done = subprocess.run(
            [TUNESMITH, "tune", "exp.yaml", "--no-progress", "--ray-address", address],
            cwd=work,
            env=_env(work, **nodes.auth_env()),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        trials = _trials(work)
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
        assert {t.user_attrs["gcs"] for t in trials} == {address}

        # Without an address, even with that cluster registered where Ray looks (RAY_TMPDIR),
        # the runner starts a Ray of its own.
        stale = subprocess.run(
            [TUNESMITH, "tune", "exp.yaml", "--no-progress", "--n-trials", "6",
             "--set", "study.runner=ray"],
            cwd=work, env=_env(work, RAY_TMPDIR=head.temp), capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert Path(head.temp, "ray", "ray_current_cluster").exists()
        assert stale.returncode == 0, stale.stdout + stale.stderr[-3000:]
        later = [t for t in _trials(work) if t.number >= 4]
        assert len(later) == 2 and all(t.state == TrialState.COMPLETE for t in later)
        assert address not in {t.user_attrs["gcs"] for t in later}
    finally:
        nodes.end_all()


# -- two nodes in two network namespaces --------------------------------------------------------
SUBNET = "10.213.{}.{}"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _namespaces_usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    probe = f"tsprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"ip netns does not work here: {exc}"
    _ip("netns", "del", probe)
    return None


class Namespaces:
    def __init__(self) -> None:
        tag = os.getpid() % 100000
        self.head, self.worker = f"tsh{tag}", f"tsw{tag}"
        self.head_ip = SUBNET.format(tag % 250, 1)
        self.worker_ip = SUBNET.format(tag % 250, 2)
        self._veth = (f"vh{tag}", f"vw{tag}")
        self.made: list[str] = []

    def create(self) -> None:
        vh, vw = self._veth
        for ns in (self.head, self.worker):
            _ip("netns", "add", ns)
            self.made.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "add", vh, "type", "veth", "peer", "name", vw)
        _ip("link", "set", vh, "netns", self.head)
        _ip("link", "set", vw, "netns", self.worker)
        _ip("-n", self.head, "addr", "add", f"{self.head_ip}/24", "dev", vh)
        _ip("-n", self.worker, "addr", "add", f"{self.worker_ip}/24", "dev", vw)
        _ip("-n", self.head, "link", "set", vh, "up")
        _ip("-n", self.worker, "link", "set", vw, "up")

    def prefix(self, ns: str) -> list[str]:
        return ["ip", "netns", "exec", ns]

    def destroy(self) -> None:
        """Kill what still runs inside our namespaces (our processes only), then delete them."""
        import signal

        for ns in self.made:
            pids = subprocess.run(
                ["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=30
            ).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        for ns in self.made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        self.made.clear()


def test_two_node_cluster_loses_a_node_and_the_study_completes(tmp_path):
    why = _namespaces_usable()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the two-node cluster test runs in CI: {why}")
        pytest.skip(why)
    marks = tmp_path / "marks"
    marks.mkdir()
    work = _workdir(tmp_path, 8, str(marks), 2.0)
    spaces = Namespaces()
    nodes = Nodes()
    # Ray notices a dead node by missed health checks: make that seconds, not a minute.
    fast = {"RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "4",
            "RAY_health_check_initial_delay_ms": "500"}  # fmt: skip
    os.environ.update(fast)
    try:
        spaces.create()
        _, port = nodes.start(spaces.head_ip, None, 1, spaces.prefix(spaces.head), cluster_env="1")
        address = f"{spaces.head_ip}:{port}"
        worker, _ = nodes.start(
            spaces.worker_ip, address, 1, spaces.prefix(spaces.worker), cluster_env="1"
        )
        env = _env(work, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1", **nodes.auth_env())
        driver = subprocess.Popen(
            [*spaces.prefix(spaces.head), TUNESMITH, "tune", "exp.yaml", "--no-progress",
             "--ray-address", address],
            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        deadline = time.time() + 240
        while not any(m.name.startswith(spaces.worker_ip) for m in marks.iterdir()):
            assert driver.poll() is None, driver.stdout.read() if driver.stdout else ""
            assert time.time() < deadline, "no trial reached the second node"
            time.sleep(0.1)
        worker.end()  # the second node dies mid-trial
        out, _ = driver.communicate(timeout=400)
        assert driver.returncode == 0, out[-4000:]
        trials = _trials(work)
        states = [t.state for t in trials]
        assert states.count(TrialState.COMPLETE) == 8, states
        assert TrialState.RUNNING not in states and TrialState.WAITING not in states
        lost = [t for t in trials if t.state == TrialState.FAIL]
        assert lost, "no trial was lost with the node"
        for t in lost:
            assert t.user_attrs["fail_reason"].startswith("node lost"), t.user_attrs
            again = [r for r in trials if r.user_attrs.get("requeued_from") == t.number]
            assert len(again) == 1 and again[0].state == TrialState.COMPLETE
            assert again[0].params == t.params
        ips = [t.user_attrs["ip"] for t in trials if t.state == TrialState.COMPLETE]
        assert spaces.head_ip in ips
        print(
            f"two-node cluster: {len(trials)} trials, {states.count(TrialState.COMPLETE)} "
            f"complete, {len(lost)} lost with the node and re-queued once, "
            f"{ips.count(spaces.worker_ip)} completed on the second node before it died"
        )
    finally:
        for key in fast:
            os.environ.pop(key, None)
        nodes.end_all()
        spaces.destroy()
