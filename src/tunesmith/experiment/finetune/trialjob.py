"""One trial's job config: the base job with the trial's values written in, validated, and
written to the trial's folder (``config.yaml``, re-runnable by ``tunesmith finetune``, and
``params.json``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def job_mapping(base: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The job config mapping for one trial: ``base`` with every param written at its path
    (a ``@variant`` tag names which range it came from and is not part of the path)."""
    from tunesmith.config.loader import set_dotted
    from tunesmith.config.search import param_path

    out = dict(base)
    for key, value in params.items():
        out = set_dotted(out, param_path(key), value)
    return out


def validate_job(mapping: Mapping[str, Any], source: str) -> Any:
    """Validate a job mapping as a :class:`~tunesmith.config.finetune.FinetuneConfig`."""
    from tunesmith.config.finetune import FinetuneConfig
    from tunesmith.config.loader import validate

    return validate(FinetuneConfig, dict(mapping), source)


def with_horizon(mapping: Mapping[str, Any], job: Any, horizon: int | None) -> Any:
    """``job`` with its LR schedule laid out over ``horizon`` epochs
    (``train.schedule.horizon_epochs``) where the schedule depends on the run's length and sets
    no horizon of its own; else ``job`` as it is."""
    schedule = job.train.schedule
    if horizon is None or schedule.horizon_epochs is not None or not schedule.uses_horizon:
        return job
    return validate_job(job_mapping(mapping, {"train.schedule.horizon_epochs": horizon}), "a trial")


def write_trial_config(folder: Path, job: Any, params: Mapping[str, Any]) -> None:
    """Write the complete job config (re-runnable by ``tunesmith finetune``) and the params."""
    import yaml

    from tunesmith.utils.atomic import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    data = job.model_dump(mode="json", exclude={"output"})
    atomic_write_text(folder / "config.yaml", yaml.safe_dump(data, sort_keys=False))
    atomic_write_text(folder / "params.json", json.dumps(dict(params), indent=2, default=str))
