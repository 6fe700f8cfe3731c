"""``tunesmith dashboard STUDY``: optuna-dashboard on 127.0.0.1, stopped by Ctrl-C (SIGINT)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from tunesmith.cli.main import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _other_address() -> str | None:
    """This machine's address on its default route, if it has one besides loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def _get(url: str, deadline: float) -> bytes:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture()
def study_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/dash.db"
    study = optuna.create_study(study_name="dash", storage=url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    return url


def test_dashboard_serves_the_study_and_stops_on_ctrl_c(study_db: str) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tunesmith.cli.main", "dashboard", "dash"]
        + ["--storage", study_db, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        page = _get(f"http://127.0.0.1:{port}/dashboard/studies/1", deadline)
        assert b"Optuna Dashboard" in page
        data = json.loads(_get(f"http://127.0.0.1:{port}/api/studies/1", deadline))
        assert data["name"] == "dash" and len(data["trials"]) == 3
        other = _other_address()
        if other is not None:  # loopback only: not reachable on the machine's other address
            with pytest.raises(OSError), socket.create_connection((other, port), timeout=2):
                pass
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/dashboard/studies/1" in out
    assert "dashboard stopped" in out


def test_dashboard_errors(tmp_path: Path, study_db: str, capsys) -> None:
    assert main(["dashboard", "nope", "--storage", study_db]) == 2
    assert "no study 'nope'" in capsys.readouterr().err
    assert main(["dashboard", "dash", "--storage", study_db, "--port", "0"]) == 2
    assert "--port must be between 1 and 65535" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["dashboard", "dash", "--storage", study_db, "--port", str(port)]) == 2
    assert f"cannot serve on 127.0.0.1:{port}" in capsys.readouterr().err


def test_missing_dashboard_package_names_the_install_command(study_db: str) -> None:
    code = (
        "import sys; sys.modules['optuna_dashboard'] = None\n"
        "from tunesmith.cli.main import main\n"
        f"sys.exit(main(['dashboard', 'dash', '--storage', {study_db!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "pip install 'tunesmith[dashboard]'" in done.stderr
