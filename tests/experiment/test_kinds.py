"""One dispatch for every objective kind: each objective section has one kind that prepares
(validates, writes nothing) and runs it; the CLI and ``tunesmith.tune`` both end in ``run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunesmith.config.experiment import OBJECTIVE_SECTIONS, ExperimentConfig
from tunesmith.errors import ConfigError
from tunesmith.experiment import kinds, tune
from tunesmith.experiment.runtime import Prepared
from tunesmith.search.defaults import default_space, resolve_space

SKLEARN = {
    "study": {"name": "svc", "n_trials": 2, "runner": "inprocess", "sampler": "random"},
    "space": {"C": {"type": "float", "low": 0.1, "high": 10, "log": True}},
    "sklearn": {"estimator": "sklearn.svm:SVC", "dataset": "iris", "cv": 3},
}


def test_every_objective_section_has_a_kind() -> None:
    assert set(kinds.KINDS) == set(OBJECTIVE_SECTIONS)
    for name, kind in kinds.KINDS.items():
        assert callable(kind.prepare) and callable(kind.run), name
    with pytest.raises(ConfigError, match="unknown objective kind 'bogus'; known: "):
        kinds.KINDS.lookup("bogus")


def test_prepare_validates_and_writes_nothing(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    prepared = kinds.prepare(ExperimentConfig.model_validate(SKLEARN))
    assert prepared.kind == "sklearn" and prepared.study.metric == "score"
    assert list(prepared.space.names) == ["C"]
    assert list(tmp_path.iterdir()) == []
    bad = {**SKLEARN, "space": {"gamma_typo": {"type": "float", "low": 0.1, "high": 1}}}
    with pytest.raises(ConfigError, match="space.gamma_typo: not a parameter of"):
        kinds.prepare(ExperimentConfig.model_validate(bad))


def test_cli_and_tune_both_run_through_the_one_entry_point(
    tmp_path: Path, monkeypatch: Any
) -> None:
    import yaml

    from tunesmith.cli.main import main

    seen: list[tuple[str, str]] = []
    real_run = kinds.run

    def spy(prepared: Prepared, on_event: Any = None) -> Any:
        seen.append((prepared.kind, prepared.study.name))
        return real_run(prepared, on_event)

    monkeypatch.setattr(kinds, "run", spy)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "svc.yaml").write_text(yaml.safe_dump(SKLEARN))
    assert main(["tune", "svc.yaml", "--no-progress"]) == 0
    tune(lambda p: p["x"], {"x": {"type": "float", "low": 0, "high": 1}}, n_trials=2,
         runner="inprocess", study_name="py")  # fmt: skip
    assert seen == [("sklearn", "svc"), ("objective", "py")]


def test_resolve_space_picks_the_family_default_only_for_a_model() -> None:
    own = {"x": {"type": "float", "low": 0, "high": 1}}
    assert resolve_space(own) is own
    assert resolve_space("default", "hf_text") == default_space("hf_text")
    with pytest.raises(ConfigError, match="space: default needs a fine-tuning job"):
        resolve_space("default")
