"""Scoring an ensemble of trained jobs on the test split (read once) and exporting it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def evaluate_ensemble(
    jobs: Sequence[Any], weights: Sequence[str | Path], export_dir: str | Path | None = None
) -> dict[str, Any]:
    """Load the trained members (``jobs[i]`` trained into ``weights[i]``), score them on the
    test split, read once, and optionally export them as one ensemble folder.

    Returns ``{"members": [test metrics of each], "ensemble": test metrics of the mean}``; the
    first member is the single winner. The members must share the data and its preprocessing.
    """
    import tempfile

    from tunesmith.engine.data.build import build_data
    from tunesmith.engine.ensemble import average
    from tunesmith.engine.export import export_ensemble
    from tunesmith.engine.job import JobPlan, model_preprocessing, run_job
    from tunesmith.engine.loop import _run_over, _to_outputs
    from tunesmith.engine.metrics import compute_metrics
    from tunesmith.errors import ConfigError

    if len(jobs) < 2 or len(jobs) != len(weights):
        raise ConfigError(f"final.ensemble: needs at least 2 trained members, got {len(jobs)}")
    first = jobs[0]
    for job in jobs[1:]:
        if job.data != first.data or model_preprocessing(job) != model_preprocessing(first):
            raise ConfigError(
                "final.ensemble: the members differ in their data or model preprocessing; "
                "rule: an ensemble averages models that read the same inputs"
            )
    with tempfile.TemporaryDirectory(prefix=".ensemble-", dir=_scratch(export_dir)) as tmp:
        loaded = []
        for i, (job, path) in enumerate(zip(jobs, weights, strict=True)):
            plan = JobPlan(load_weights=path, evaluate_test=False, export_dir=_member(tmp, i))
            loaded.append(run_job(job, plan))  # no test split read here
        data = build_data(
            first.data, image_size=first.model.image_size, preprocessing=model_preprocessing(first)
        )
        test_set = data.test()
        if test_set is None:
            raise ConfigError("final.ensemble: there is no test split to score the ensemble on")
        outputs, labels = [], None
        for job, result in zip(jobs, loaded, strict=True):
            assert result.built is not None  # run_job always returns what it built
            raw, labels = _run_over(
                result.model, test_set, result.built.collate_fn, job.train.batch_size,
                job.train.device, "fp32",
            )  # fmt: skip
            outputs.append(_to_outputs(raw, data.task))
        if labels is None:
            raise ConfigError("final.ensemble: the test split carries no labels")
        mean = average(outputs)
        out: dict[str, Any] = {
            "members": [compute_metrics(labels, o, data.task) for o in outputs],
            "ensemble": compute_metrics(labels, mean, data.task),
        }
        if export_dir is not None:
            members = [r.export_path for r in loaded if r.export_path is not None]
            metrics = {"test": out["ensemble"], "winner_test": out["members"][0]}
            out["model_path"] = str(export_ensemble(export_dir, members, metrics))
    return out


def _scratch(export_dir: str | Path | None) -> str | None:
    if export_dir is None:
        return None
    parent = Path(export_dir).parent
    parent.mkdir(parents=True, exist_ok=True)
    return str(parent)


def _member(tmp: str, index: int) -> Path:
    return Path(tmp) / f"{index:02d}"
