"""Anything that listens binds 127.0.0.1 by default.

Two checks. A static one over ``src/``: every host-like keyword argument or parameter default
(``host``, ``bind``, ``dashboard_host``, ``_node_ip_address``, ...) given as a literal is a loopback
address, no literal ``0.0.0.0``/``::`` appears at all, ``socket.bind`` gets a loopback tuple, and
``ray.init`` starts no dashboard. A dynamic one for Ray: when the Ray runner starts a local
cluster, the node address Ray will use is loopback.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WILDCARD = {"0.0.0.0", "::", "[::]"}
HOST_WORDS = {
    "host",
    "hostname_to_bind",
    "bind",
    "bind_host",
    "bind_address",
    "listen",
    "listen_host",
    "dashboard_host",
    "node_ip_address",
    "_node_ip_address",
    "server_name",
    "ip",
}


def _problems(source: str, filename: str) -> list[str]:
    out = []
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Constant) and node.value in WILDCARD:
            out.append(f"{where}: wildcard address {node.value!r}")
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if (
                    kw.arg in HOST_WORDS
                    and isinstance(kw.value, ast.Constant)
                    and isinstance(kw.value.value, str)
                    and kw.value.value not in LOOPBACK
                ):
                    out.append(f"{where}: {kw.arg}={kw.value.value!r} is not loopback")
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "bind" and node.args and isinstance(node.args[0], ast.Tuple):
                host = node.args[0].elts[0] if node.args[0].elts else None
                if isinstance(host, ast.Constant) and host.value not in LOOPBACK:
                    out.append(f"{where}: bind(({host.value!r}, ...)) is not loopback")
            if name == "init" and isinstance(func, ast.Attribute) and _is_ray(func.value):
                kws = {k.arg: k.value for k in node.keywords}
                dash = kws.get("include_dashboard")
                dash_host = kws.get("dashboard_host")
                if not (isinstance(dash, ast.Constant) and dash.value is False) and not (
                    isinstance(dash_host, ast.Constant) and dash_host.value in LOOPBACK
                ):
                    out.append(f"{where}: ray.init without include_dashboard=False")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            positional = args.posonlyargs + args.args
            pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
            for arg, default in pairs:
                if (
                    arg.arg in HOST_WORDS
                    and isinstance(default, ast.Constant)
                    and isinstance(default.value, str)
                    and default.value not in LOOPBACK
                ):
                    out.append(f"{where}: parameter {arg.arg}={default.value!r} is not loopback")
    return out


def _is_ray(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id in ("ray", "_ray")) or (
        isinstance(node, ast.Attribute) and node.attr in ("ray", "_ray")
    )


def test_source_tree_binds_loopback_only():
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        problems += _problems(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))
    assert problems == []


@pytest.mark.parametrize(
    "snippet",
    [
        "server = make_server(host='0.0.0.0', port=8000)",
        "def serve(host: str = '192.168.1.5'):\n    pass",
        "def serve(*, bind='example.org'):\n    pass",
        "import socket\ns.bind(('', 8080))",
        "import ray\nray.init(num_cpus=2)",
        "import ray\nray.init(dashboard_host='0.0.0.0')",
        "ray.init(include_dashboard=False, _node_ip_address='10.0.0.2')",
        "ADDRESS = '::'",
    ],
)
def test_scanner_flags_listening_on_other_addresses(snippet):
    assert _problems(snippet, "x.py"), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "server = make_server(host='127.0.0.1', port=8000)",
        "def serve(host: str = 'localhost'):\n    pass",
        "import socket\ns.bind(('127.0.0.1', 0))",
        "import ray\nray.init(include_dashboard=False, _node_ip_address='127.0.0.1')",
        "url = f'postgresql://{user}@{host}/db'",
    ],
)
def test_scanner_accepts_loopback(snippet):
    assert _problems(snippet, "x.py") == []


RAY_PROBE = textwrap.dedent(
    """
    import os, sys
    os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    import tunesmith.runners.ray as runner_module

    real_require = runner_module.require

    def require(*args, **kwargs):
        ray = real_require(*args, **kwargs)

        def fake_init(*a, **kw):
            from ray._private import services
            ip = kw.get("_node_ip_address") or services.get_node_ip_address()
            print("NODE_IP", ip, "DASHBOARD", kw.get("include_dashboard"), flush=True)
            sys.exit(0)

        ray.init = fake_init
        ray.is_initialized = lambda: False
        return ray

    runner_module.require = require
    runner_module.RayRunner(objective=None, workers=1)
    print("ray.init was not called", flush=True)
    """
)


@pytest.mark.ray
def test_ray_runner_starts_ray_on_loopback():
    """Without the variable in the environment, a locally started Ray must still use loopback."""
    pytest.importorskip("ray")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    proc = subprocess.run(
        [sys.executable, "-c", RAY_PROBE], capture_output=True, text=True, env=env, timeout=120
    )
    assert "NODE_IP" in proc.stdout, proc.stdout + proc.stderr
    words = proc.stdout.split()
    assert words[words.index("NODE_IP") + 1] in LOOPBACK, proc.stdout
    assert words[words.index("DASHBOARD") + 1] == "False", proc.stdout
