"""``tunesmith.run(config, overrides)``: any experiment from a dict or a YAML path, from a script,
from standard input and from a Jupyter notebook, with the CLI's validation and errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tunesmith
from tunesmith.cli.main import main
from tunesmith.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_fixtures import experiment, tiny_workdir, write_npz  # noqa: E402

__all__ = ["tiny_workdir"]  # the fixture, used by name

ROOT = Path(__file__).resolve().parents[2]

# Run from a folder holding a copy of examples/: the objective is examples.objectives:branin and
# the default runner spawns two worker processes, which must import it there.
SCRIPT = """
import json, tunesmith
result = tunesmith.run("examples/python_objective.yaml", ["study.n_trials=4"])
print(json.dumps({"name": result.study_name, "storage": result.storage,
                  "best": result.best_value, "params": result.best_params,
                  "rows": len(result.trials), "states": sorted(set(result.trials["state"]))}))
"""


@pytest.fixture()
def examples_dir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def _check(out: dict) -> None:
    assert out["name"] == "branin"
    assert out["storage"] == "sqlite:///runs/branin/study.db"
    assert out["rows"] == 4 and out["states"] == ["COMPLETE"]
    assert set(out["params"]) == {"x", "y"}
    assert out["best"] >= 0.397887 - 1e-6  # Branin's minimum


def _last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_run_from_a_script(examples_dir: Path) -> None:
    script = examples_dir / "search.py"
    # A script guards its entry point, as every script that starts worker processes must.
    body = "\n".join("    " + line for line in SCRIPT.strip().splitlines())
    script.write_text(f"if __name__ == '__main__':\n{body}\n")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=examples_dir, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    _check(_last_json(done.stdout))


def test_run_from_standard_input(examples_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-"],
        input=SCRIPT,
        cwd=examples_dir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    _check(_last_json(done.stdout))


def test_run_in_a_jupyter_notebook_with_live_progress(examples_dir: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SCRIPT)]
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(examples_dir)}}
    )
    client.execute()
    outputs = nb.cells[0].outputs
    streams = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    _check(_last_json(streams))
    # The progress display is one output updated in place: it ends on the final status.
    shown = [o for o in outputs if o.output_type == "display_data"]
    assert len(shown) == 1
    text = shown[0]["data"]["text/plain"]
    assert text.startswith("branin: 4/4 done (0 pruned, 0 failed, 0 running)"), text
    assert "stopped: n_trials" in text


def test_run_a_dict_with_overrides_in_process(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    config = {
        "study": {"name": "dict-run", "direction": "minimize", "runner": "inprocess"},
        "objective": "examples.objectives:branin",
        "space": {
            "x": {"type": "float", "low": -5.0, "high": 10.0},
            "y": {"type": "float", "low": 0.0, "high": 15.0},
        },
    }
    result = tunesmith.run(config, {"study.n_trials": 3, "study.storage": "memory"})
    assert result.storage == "memory" and len(result.trials) == 3
    assert result.best_value == min(result.trials["value"])
    assert result.validation is None and result.model_path is None
    assert not (tmp_path / "runs").exists()  # a memory study writes nothing
    again = tunesmith.run(config, ["study.n_trials=2", "study.storage=memory"])
    assert len(again.trials) == 2
    from tunesmith.config.experiment import ExperimentConfig
    from tunesmith.config.loader import validate

    validated = validate(ExperimentConfig, config, "test")
    third = tunesmith.run(validated, {"study.n_trials": 1, "study.storage": "memory"})
    assert len(third.trials) == 1 and third.study_name == "dict-run"


def test_errors_are_the_clis(examples_dir: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(examples_dir)
    monkeypatch.syspath_prepend(str(examples_dir))
    assert main(["tune", "examples/python_objective.yaml", "--set", "study.n_trials=0"]) == 2
    cli_message = capsys.readouterr().err.removeprefix("error: ").strip()
    with pytest.raises(ConfigError) as caught:
        tunesmith.run("examples/python_objective.yaml", ["study.n_trials=0"])
    assert str(caught.value) == cli_message
    assert "study.n_trials" in cli_message
    with pytest.raises(ConfigError, match="study.sampler.name"):
        tunesmith.run(
            {"study": {"name": "x", "sampler": "nope"}, "objective": "a:b", "space": {}}, None
        )
    assert not (examples_dir / "runs").exists()


def test_run_fine_tuning_returns_scores_and_the_model_path(tiny_workdir: Path) -> None:
    paths = write_npz(tiny_workdir)
    result = tunesmith.run(experiment("ft-run", paths), ["study.n_trials=2"])
    assert result.study_name == "ft-run"
    final = result.study.user_attrs["final"]
    metric = final["metric"]
    assert result.validation == final["validation"] and metric in result.validation
    assert result.test == final["test"] and 0.0 <= result.test[metric] <= 1.0
    assert Path(result.model_path).exists()
    assert Path(result.model_path) == Path(final["model_path"])
    loaded = tunesmith.load_model(result.model_path)
    assert loaded is not None
