"""Batched head trials through the fine-tuning objective (issue 10, item 4).

With ``batch_heads`` on, head-only trials train through the batched engine: K trials run as one
group must give each member exactly what it gets run alone (records, best epochs, reports,
folders), a prune answer stops only its member, trials that cannot batch get no group key, and
the final phase reproduces a batched winner from its saved weights.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_fixtures import MODEL, read_metrics, tiny_workdir, write_npz  # noqa: E402

from tunesmith.experiment.finetune.objective import FinetuneObjective  # noqa: E402
from tunesmith.experiment.results import SETUP_SECONDS  # noqa: E402
from tunesmith.runners.base import TrialPruned  # noqa: E402

__all__ = ["tiny_workdir"]  # the fixture, used by name

PARAMS = [
    {"train.optimizer.lr": 3e-2, "model.dropout": 0.0, "train.schedule.name": "constant"},
    {
        "train.optimizer.lr": 1e-2,
        "model.dropout": 0.2,
        "train.optimizer.weight_decay": 0.1,
        "train.schedule.name": "linear",
        "train.schedule.warmup_ratio": 0.1,
    },
    {"train.optimizer.lr": 5e-2, "model.dropout": 0.1, "train.schedule.name": "cosine"},
]


class Recorder:
    """A reporter that records every report; ``prune_at`` answers "stop" from that step on."""

    def __init__(self, key: int, prune_at: int | None = None) -> None:
        self.key = key
        self.prune_at = prune_at
        self.reports: list[tuple[int, float]] = []
        self.pruned = False

    def report(self, step: int, value: float) -> bool:
        self.reports.append((step, value))
        if self.prune_at is not None and step >= self.prune_at:
            self.pruned = True
        return self.pruned


def _objective(root: Path, name: str, *, batch: bool = True, **train: Any) -> FinetuneObjective:
    paths = write_npz(root)
    base = {
        "model": copy.deepcopy(MODEL),
        "data": {"format": "npz", **paths},
        "train": {
            "epochs": 8,
            "batch_size": 32,
            "device": "cpu",
            "optimizer": {"name": "adamw", "lr": 0.01},
            "freezing": {"strategy": "head"},
            "early_stopping": {"patience": 3},
            **train,
        },
        "seed": 0,
    }
    return FinetuneObjective(
        base=base,
        metric="accuracy",
        trials_dir=str(root / name),
        cache_dir=str(root / "cache"),
        batch_heads=batch,
    )


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != SETUP_SECONDS}


def _no_regular_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    import tunesmith.engine.loop as loop

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a batched head trial ran the regular training loop")

    monkeypatch.setattr(loop, "fit", fail)


def test_run_group_gives_each_member_what_it_gets_alone(
    tiny_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_regular_fit(monkeypatch)
    grouped = _objective(tiny_workdir, "grouped")
    reporters = [Recorder(i) for i in range(len(PARAMS))]
    together = grouped.run_group(PARAMS, reporters)

    single = _objective(tiny_workdir, "single")
    alone_reporters = [Recorder(i) for i in range(len(PARAMS))]
    alone = [single(p, r) for p, r in zip(PARAMS, alone_reporters)]

    for i, (a, b) in enumerate(zip(together, alone)):
        assert isinstance(a, dict), a
        assert _plain(a) == _plain(b)
        assert a["best_epoch"] >= 1 and {"val_accuracy", "val_log_loss"} <= set(a)
        assert reporters[i].reports == alone_reporters[i].reports
        assert len(reporters[i].reports) >= 1
        g, s = tiny_workdir / "grouped" / f"{i:05d}", tiny_workdir / "single" / f"{i:05d}"
        for name in ("config.yaml", "params.json", "weights.safetensors"):
            assert (g / name).is_file(), name
        assert (g / "config.yaml").read_text() == (s / "config.yaml").read_text()
        records = read_metrics(g / "metrics.jsonl")
        assert records == read_metrics(s / "metrics.jsonl")
        assert [r["accuracy"] for r in records] == [v for _, v in reporters[i].reports]
        assert {"epoch", "step", "train_loss", "lr"} <= set(records[0])
        lrs = [r["lr"] for r in records]  # each member's own schedule
        assert (len(set(lrs)) == 1) == (PARAMS[i]["train.schedule.name"] == "constant")
    assert len({a["accuracy"] for a in together} | {a["best_epoch"] for a in together}) > 1
    # the group shares building the features: each member carries its share
    shares = [a.get(SETUP_SECONDS) for a in together]
    assert all(s is not None and s > 0 for s in shares) and len(set(shares)) == 1


def test_pruning_one_member_leaves_the_others_alone(
    tiny_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_regular_fit(monkeypatch)
    objective = _objective(tiny_workdir, "trials", **{"early_stopping": {"patience": None}})
    reporters = [Recorder(0), Recorder(1, prune_at=2), Recorder(2)]
    out = objective.run_group(PARAMS, reporters)
    assert isinstance(out[1], TrialPruned)
    assert [s for s, _ in reporters[1].reports] == [1, 2]
    assert all(len(r.reports) == 8 for r in (reporters[0], reporters[2]))

    alone = _objective(tiny_workdir, "alone", **{"early_stopping": {"patience": None}})
    for i in (0, 2):
        assert _plain(out[i]) == _plain(alone(PARAMS[i], Recorder(i)))


def test_group_key_names_what_heads_share_and_none_for_the_rest(tiny_workdir: Path) -> None:
    objective = _objective(tiny_workdir, "trials")
    key = objective.group_key(PARAMS[0])
    assert key is not None and objective.group_key(PARAMS[1]) == key
    assert objective.group_key({**PARAMS[0], "train.batch_size": 64}) not in (None, key)
    assert objective.group_key({**PARAMS[0], "seed": 3}) not in (None, key)
    for ineligible in (
        {"train.freezing.strategy": "last_k"},
        {"train.optimizer.name": "adam"},
        {"train.max_grad_norm": 1.0},
        {"train.loss.class_weights": "balanced"},
        {"train.regularization.l2": 0.1},
        {"train.grad_accum_steps": 2},
        {"train.metric": "f1"},
        {"train.early_stopping.min_delta": 0.01},
        {"data.kfold": 3},
        {"train.optimizer.lr": -1.0},  # an invalid config runs alone and reports its error
    ):
        assert objective.group_key({**PARAMS[0], **ineligible}) is None, ineligible
    off = _objective(tiny_workdir, "off", batch=False)
    assert off.group_key(PARAMS[0]) is None
    assert objective.phase(str(tiny_workdir / "final"), mode="final").group_key(PARAMS[0]) is None


def test_an_ineligible_member_trains_as_a_regular_trial(tiny_workdir: Path) -> None:
    objective = _objective(tiny_workdir, "trials")
    adam = {**PARAMS[0], "train.optimizer.name": "adam"}
    out = objective.run_group([PARAMS[0], adam], [Recorder(0), Recorder(1)])
    plain = _objective(tiny_workdir, "plain", batch=False)
    assert _plain(out[1]) == _plain(plain(adam, Recorder(1)))


def test_the_final_phase_reproduces_a_batched_winner(tiny_workdir: Path) -> None:
    objective = _objective(tiny_workdir, "trials")
    (record,) = objective.run_group([PARAMS[1]], [Recorder(0)])
    final = objective.phase(
        str(tiny_workdir / "final"),
        mode="final",
        reuse_from=str(tiny_workdir / "trials" / "00000"),
    )
    out = final(PARAMS[1], Recorder(0))
    assert out["val_accuracy"] == pytest.approx(record["val_accuracy"], abs=1e-12)
    assert out["val_log_loss"] == pytest.approx(record["val_log_loss"], rel=1e-5)
    assert out["best_epoch"] == record["best_epoch"] and "test_accuracy" in out
    assert out["stop_reason"] == "loaded"
    # without the saved weights the final run trains the winner again the batched way
    again = objective.phase(str(tiny_workdir / "final2"), mode="final")(PARAMS[1], Recorder(0))
    assert again["stop_reason"] == "retrained"
    for key in ("val_accuracy", "best_epoch", "test_accuracy"):
        assert again[key] == pytest.approx(out[key], abs=1e-12), key


def test_default_space_search_trains_queued_head_trials_as_groups_each_with_its_own_record(
    tiny_workdir: Path,
) -> None:
    """``space: default`` (the cost-aware schedule) on the tiny model: the first pick of the head
    arm queues several head trials, the coordinator trains those sharing a group key together,
    and every trial keeps its own record, folder and value, the value a lone run of its
    parameters gives. A base ``train.group_by_length: true`` (nothing to save on cached
    features) does not keep them off the batched path: the head picks run with it off."""
    from finetune_fixtures import experiment, load

    from tunesmith.experiment import run_experiment
    from tunesmith.experiment.finetune.pipeline import build_finetune_objective
    from tunesmith.search.defaults import resolve_space
    from tunesmith.search.space import SearchSpace

    paths = write_npz(tiny_workdir)
    cfg = load(
        experiment(
            "grouped",
            paths,
            space="default",
            study={"n_trials": 8, "sampler": {"name": "random", "seed": 3}},
            train={"epochs": 3, "batch_size": 32, "device": "cpu", "group_by_length": True},
            recheck={"top_k": 1, "seeds": 0},
        )
    )
    study = run_experiment(cfg)
    done = [t for t in study.trials if t.value is not None]
    assert len(done) == 8 and all(t.params["train.freezing.strategy"] == "head" for t in done)
    grouped = [t for t in done if t.user_attrs.get("tunesmith_group_size", 1) > 1]
    assert len(grouped) >= 2  # at least one group trained together
    space = SearchSpace.from_config(resolve_space("default", cfg.model.kind, False))
    alone = build_finetune_objective(cfg, space)
    alone = alone.phase(str(tiny_workdir / "alone"))
    alone.batch_heads = True
    for t in grouped:
        folder = tiny_workdir / "runs/grouped/trials" / f"{t.number:05d}"
        assert (folder / "config.yaml").is_file() and (folder / "weights.safetensors").is_file()
        assert (
            yaml.safe_load((folder / "config.yaml").read_text())["train"]["group_by_length"]
            is False
        )
        curve = [r["accuracy"] for r in read_metrics(folder / "metrics.jsonl")]
        assert [t.intermediate_values[s] for s in sorted(t.intermediate_values)] == curve
        # what the trial received (the space's fixed values included), run alone
        params = json.loads((folder / "params.json").read_text())
        record = alone(params, Recorder(t.number))
        assert record["accuracy"] == t.value
        assert record["best_epoch"] == t.user_attrs["best_epoch"]


def test_final_train_plus_validation_refits_a_batched_winner_the_batched_way(
    tiny_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objective = _objective(tiny_workdir, "trials")
    (record,) = objective.run_group([PARAMS[0]], [Recorder(0)])
    _no_regular_fit(monkeypatch)
    scores = {"accuracy": record["val_accuracy"], "log_loss": record["val_log_loss"]}
    final = objective.phase(
        str(tiny_workdir / "final"), mode="final", train_on_validation=True, search_scores=scores
    )
    params = {**PARAMS[0], "train.epochs": 4}
    out = final(params, Recorder(0))
    again = objective.phase(
        str(tiny_workdir / "final2"), mode="final", train_on_validation=True, search_scores=scores
    )(params, Recorder(0))
    assert out["stop_reason"] == "retrained" and out["best_epoch"] == 4
    assert out["val_accuracy"] == record["val_accuracy"]  # the search's score, not seen data's
    assert "seen_val_accuracy" in out and "test_accuracy" in out
    assert again["test_accuracy"] == out["test_accuracy"]
