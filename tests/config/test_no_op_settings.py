"""Settings that would do nothing are errors naming the key, the reason and the value (issue 14)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiment"))

from finetune_fixtures import MODEL, experiment, write_npz, write_yaml  # noqa: E402

from tunesmith.cli.main import main  # noqa: E402
from tunesmith.config.experiment import StudyConfig  # noqa: E402
from tunesmith.config.finetune import FinetuneConfig  # noqa: E402
from tunesmith.config.loader import validate  # noqa: E402
from tunesmith.config.model import ModelConfig  # noqa: E402
from tunesmith.errors import ConfigError  # noqa: E402

TEXT_DATA = {"builtin": "rotten_tomatoes"}


def _model(**fields: Any) -> Any:
    return validate(ModelConfig, fields, "test")


def test_head_dropout_with_the_models_own_head_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"model.dropout.*replace_head is false.*0\.2"):
        _model(**{**MODEL, "dropout": 0.2, "replace_head": False})
    kept = _model(**{**{k: v for k, v in MODEL.items() if k != "dropout"}, "replace_head": False})
    again = _model(**kept.model_dump(mode="json"))  # a trial's config.yaml validates again
    assert again.dropout is None and again.head_dropout == 0.1


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"head": "classifier"}, ["model.head", "'timm' always gets a new head", "classifier"]),
        ({"replace_head": False}, ["model.replace_head", "'timm'", "false"]),
    ],
)
def test_timm_head_settings_are_refused(fields: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        _model(kind="timm", name="resnet18", **fields)
    for word in words:
        assert word in str(info.value)


def test_head_settings_are_refused_for_kinds_that_always_get_a_new_head() -> None:
    with pytest.raises(ConfigError, match=r"model.head.*'hf_text'.*pooler"):
        _model(kind="hf_text", head="pooler")
    with pytest.raises(ConfigError, match=r"model.replace_head.*'efficientnet'"):
        _model(kind="efficientnet", replace_head=False)


def test_encoder_dropout_is_refused_where_no_encoder_reads_it() -> None:
    with pytest.raises(ConfigError, match=r"model.encoder_dropout.*'efficientnet'.*0\.2"):
        _model(kind="efficientnet", encoder_dropout=0.2)


def test_augmenting_text_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"data.augment.*hf_text.*hflip"):
        validate(
            FinetuneConfig,
            {"model": {"kind": "hf_text"}, "data": {**TEXT_DATA, "augment": {"hflip": True}}},
            "test",
        )


def test_inprocess_workers_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"workers.*'inprocess'.*got 4"):
        validate(StudyConfig, {"name": "s", "runner": "inprocess", "workers": 4}, "test")
    assert validate(StudyConfig, {"name": "s", "runner": "local", "workers": 4}, "t").workers == 4


def test_augmenting_tabular_data_exits_2_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "experiment"))
    monkeypatch.chdir(tmp_path)
    paths = write_npz(tmp_path)
    mapping = experiment("aug", paths)
    mapping["data"]["augment"] = {"rotation": 10}
    write_yaml(tmp_path / "aug.yaml", mapping)
    assert main(["tune", "aug.yaml", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "data.augment" in err and "tabular" in err and "rotation" in err
    assert not (tmp_path / "runs").exists()


def test_searching_augmentation_on_tabular_data_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finetune_fixtures import load

    from tunesmith.experiment import kinds

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "experiment"))
    monkeypatch.chdir(tmp_path)
    space = {"data.augment.hflip": {"type": "categorical", "choices": [False, True]}}
    cfg = load(experiment("aug", write_npz(tmp_path), space=space))
    with pytest.raises(ConfigError, match=r"space.data.augment.hflip.*tabular"):
        kinds.prepare(cfg)
    assert not (tmp_path / "runs").exists()
