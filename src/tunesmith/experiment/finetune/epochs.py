"""Epochs as a fidelity in a space that samples ``train.epochs``.

When a fine-tuning space samples ``train.epochs`` (an int range or a categorical), every trial's
LR schedule is laid out over the largest epoch count the space allows
(``train.schedule.horizon_epochs``, where the schedule depends on the run's length), so a trial of
``e`` epochs follows the first ``e`` epochs of the longest run: it is that run's prefix. The
search then passes ``train.epochs`` to the study core as its fidelity
(:mod:`tunesmith.experiment.fidelity`): a proposal that differs from a finished trial only in
fewer epochs is answered from that trial's per-epoch reports instead of training again.

The horizon also holds for the re-check and the final run, so they train what the search
evaluated. Sharing needs one report per epoch at steps ``1..e``; it is left off (the horizon
stays) with ``data.kfold`` (a fold's steps depend on the epoch count), ``eval_every_steps``
(reports count evaluations, not epochs), several objectives, and ``final.ensemble`` (whose
members are trained weights that an answered trial has not saved).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.errors import ConfigError

EPOCHS = "train.epochs"
HORIZON = "train.schedule.horizon_epochs"


@dataclass(frozen=True)
class EpochPlan:
    """``horizon``: the epochs every trial's schedule spans; ``share``: whether the search
    answers shorter trials from longer ones; ``why_not``: what keeps sharing off."""

    largest: int
    horizon: int
    share: bool
    why_not: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"param": EPOCHS, "largest": self.largest, "horizon_epochs": self.horizon,
                "shared": self.share, "why_not": self.why_not}  # fmt: skip

    def line(self) -> str:
        head = (
            f"{EPOCHS} is searched (up to {self.largest}): every trial's LR schedule spans "
            f"{self.horizon} epochs ({HORIZON}), so a shorter trial is the start of a longer one"
        )
        if self.share:
            return head + "; a trial a finished longer one covers is answered from its reports"
        return head + f"; trials are not shared: {self.why_not}"


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def largest_epochs(space: Any) -> int | None:
    """The largest ``train.epochs`` the space allows when it samples it; None when it does not
    (absent, or fixed: then every trial trains the same epochs)."""
    from tunesmith.config.search import CategoricalParam, FixedParam, IntParam, param_path

    specs = [s for n, s in space.specs.items() if param_path(n) == EPOCHS]
    if not any(isinstance(s, (IntParam, CategoricalParam)) for s in specs):
        return None
    values: list[int | None] = []
    for spec in specs:
        if isinstance(spec, IntParam):
            values.append(spec.high)
        elif isinstance(spec, CategoricalParam):
            values.extend(_whole(c) for c in spec.choices)
        elif isinstance(spec, FixedParam):
            values.append(_whole(spec.value))
    found = [v for v in values if v is not None]
    return max(found) if found else None


def plan_epochs(config: Any, space: Any, base: Mapping[str, Any]) -> EpochPlan | None:
    """How a search whose space samples ``train.epochs`` shares epochs (None: it does not)."""
    from tunesmith.config.search import param_path

    largest = largest_epochs(space)
    if largest is None:
        return None
    train = base.get("train") or {}
    given = (train.get("schedule") or {}).get("horizon_epochs")
    if given is not None and given < largest:
        raise ConfigError(
            f"{HORIZON} must be >= the largest {EPOCHS} the space allows ({largest}): every "
            f"trial follows the first epochs of that schedule; got {given}"
        )
    paths = {param_path(n) for n in space.names}
    why_not = None
    if len(config.study.all_directions) > 1:
        why_not = "a study with several objectives"
    elif train.get("eval_every_steps") is not None or "train.eval_every_steps" in paths:
        why_not = "train.eval_every_steps reports evaluations, not epochs"
    elif (base.get("data") or {}).get("kfold") is not None or any(
        p.startswith("data.kfold") for p in paths
    ):
        why_not = "with data.kfold a fold's report steps depend on the epoch count"
    elif config.final.ensemble is not None:
        why_not = "final.ensemble needs every member's trained weights"
    return EpochPlan(largest, given or largest, why_not is None, why_not)


def answered_val_metrics(trials_dir: str, trial: Any, metric: str) -> dict[str, Any]:
    """The validation metrics of an answered trial (``fidelity_of``) at its best epoch: the
    source trial's record of that epoch (``metrics.jsonl``), or its value alone when missing."""
    from tunesmith.experiment.fidelity import FIDELITY_OF

    fallback = {metric: trial.value}
    source, epoch = trial.user_attrs.get(FIDELITY_OF), trial.user_attrs.get("best_epoch")
    try:
        path = Path(trials_dir) / f"{int(source):05d}" / "metrics.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines()
        record = json.loads(lines[int(epoch) - 1])
    except (OSError, ValueError, IndexError, TypeError):
        return fallback
    out = {k: v for k, v in record.items() if k not in {"epoch", "step", "train_loss", "lr"}}
    found = out.get(metric)
    same = isinstance(found, (int, float)) and math.isclose(found, trial.value, rel_tol=1e-9)
    return out if same else fallback
