"""Plain data pulled out of an Optuna study once, for the plots and tables of the report.

Everything here reads the study and returns small immutable records; nothing draws or writes.
The figure modules (:mod:`.plots` for PNGs, :mod:`.figures` for the interactive page) and the
tables (:mod:`.tables`) all render from these records, so the page and the PNGs agree.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

logger = logging.getLogger(__name__)

#: Fewest complete trials for which a parameter importance is computed.
MIN_IMPORTANCE_TRIALS = 5
#: Below this many complete trials the importances carry a note that they are rough.
FEW_IMPORTANCE_TRIALS = 20
#: Seeds of the fANOVA random forests: the importances are their mean, the spread their standard
#: deviation, so the same study always gives the same numbers and the page shows how firm they are.
IMPORTANCE_SEEDS = (0, 1, 2, 3, 4)
#: ``trial.user_attrs`` keys that may hold the epoch (step) at which the trial scored best.
BEST_EPOCH_KEYS = ("best_epoch", "best_step")
#: Where a failed trial's reason may be stored (user attrs first, then Optuna's system attrs).
FAIL_REASON_KEYS = ("fail_reason", "error", "failure")


@dataclass(frozen=True)
class StudyData:
    """The parts of a study the report uses."""

    name: str
    directions: tuple[str, ...]  # "minimize" | "maximize", one per objective
    metric_names: tuple[str, ...]  # one per objective
    trials: tuple[FrozenTrial, ...]  # every trial, in trial-number order
    complete: tuple[FrozenTrial, ...]  # COMPLETE trials with finite values
    param_names: tuple[str, ...]  # every parameter seen in any trial, sorted

    @property
    def multi(self) -> bool:
        """Whether the study has more than one objective."""
        return len(self.directions) > 1

    def state_of(self, trial: FrozenTrial) -> str:
        """Upper-case state name, e.g. ``COMPLETE`` or ``PRUNED``."""
        return str(trial.state.name)

    def trials_in(self, *states: str) -> list[FrozenTrial]:
        """Trials whose state name is one of ``states``."""
        return [t for t in self.trials if t.state.name in states]


@dataclass(frozen=True)
class Curve:
    """One trial's learning curve: the intermediate values it reported, by step."""

    number: int
    state: str
    steps: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class Importance:
    """Parameter importances, or a note saying why there are none."""

    values: dict[str, float]
    method: str
    note: str = ""
    spread: dict[str, float] = field(default_factory=dict)  # std over the fANOVA seeds


def _finite(values: Sequence[float] | None) -> bool:
    return values is not None and all(
        isinstance(v, (int, float)) and math.isfinite(v) for v in values
    )


def collect(study: optuna.Study) -> StudyData:
    """Read ``study`` once into a :class:`StudyData`."""
    trials = tuple(sorted(study.get_trials(deepcopy=False), key=lambda t: t.number))
    directions = tuple(d.name.lower() for d in study.directions)
    complete = tuple(t for t in trials if t.state.name == "COMPLETE" and _finite(t.values))
    names = _metric_names(study, len(directions), complete)
    params = sorted({p for t in trials for p in t.params})
    return StudyData(
        name=study.study_name,
        directions=directions,
        metric_names=tuple(str(n) for n in names),
        trials=trials,
        complete=complete,
        param_names=tuple(params),
    )


def _metric_names(study: optuna.Study, n: int, complete: Sequence[FrozenTrial]) -> list[str]:
    """The objectives' names: the study's metric names (or the fine-tuning record's metric),
    ``validation NAME`` when every complete trial scored NAME on its validation split."""
    from tunesmith.storage.study import METRIC_NAMES

    names: list[str] | None = getattr(study, "metric_names", None)
    if names is None and isinstance(study.user_attrs.get(METRIC_NAMES), list):
        names = [str(n) for n in study.user_attrs[METRIC_NAMES]]  # where tunesmith keeps them
    final = study.user_attrs.get("final")
    if (names is None or len(names) != n) and n == 1 and isinstance(final, dict):
        names = [str(final["metric"])] if final.get("metric") else None
    if names is None or len(names) != n:
        return ["objective"] if n == 1 else [f"objective {i}" for i in range(n)]
    return [
        f"validation {name}"
        if complete and all(f"val_{name}" in t.user_attrs for t in complete)
        else str(name)
        for name in names
    ]


def pruned_points(data: StudyData) -> tuple[list[int], list[float]]:
    """Trial numbers and last reported values of the pruned trials (single objective)."""
    numbers: list[int] = []
    values: list[float] = []
    for t in data.trials_in("PRUNED"):
        if t.values is not None and _finite(t.values):
            value = float(t.values[0])
        elif t.intermediate_values:
            value = float(t.intermediate_values[max(t.intermediate_values)])
        else:
            continue
        if math.isfinite(value):
            numbers.append(t.number)
            values.append(value)
    return numbers, values


def whole_steps(curves: Sequence[Curve]) -> bool:
    """Whether every reported step is a whole number (epochs): the axis then ticks integers."""
    return all(float(s).is_integer() for c in curves for s in c.steps)


def history(data: StudyData, objective: int = 0) -> tuple[list[int], list[float], list[float]]:
    """Trial numbers, values and best-so-far values of one objective over the complete trials."""
    numbers: list[int] = []
    values: list[float] = []
    best: list[float] = []
    maximize = data.directions[objective] == "maximize"
    current: float | None = None
    for t in data.complete:
        v = float(t.values[objective])
        if current is None or (v > current if maximize else v < current):
            current = v
        numbers.append(t.number)
        values.append(v)
        best.append(current)
    return numbers, values, best


def curves(data: StudyData) -> list[Curve]:
    """Learning curves of every trial that reported at least one finite intermediate value."""
    out = []
    for t in data.trials:
        items = sorted(
            (int(s), float(v)) for s, v in t.intermediate_values.items() if math.isfinite(v)
        )
        if items:
            steps, vals = zip(*items, strict=True)
            out.append(Curve(t.number, t.state.name, tuple(steps), tuple(vals)))
    return out


def best_epoch(trial: FrozenTrial) -> Any:
    """The epoch at which ``trial`` scored best, when the runner stored it; else ``None``."""
    for key in BEST_EPOCH_KEYS:
        if key in trial.user_attrs:
            return trial.user_attrs[key]
    return None


def fail_reason(trial: FrozenTrial) -> str:
    """Why ``trial`` failed, from its attributes; empty when nothing was recorded."""
    for attrs in (trial.user_attrs, trial.system_attrs):
        for key in FAIL_REASON_KEYS:
            if attrs.get(key):
                return str(attrs[key])
    return ""


def pareto_ranks(data: StudyData) -> dict[int, int]:
    """Non-domination rank (0 = Pareto front) of every complete trial, by trial number."""
    import numpy as np

    if not data.complete:
        return {}
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in data.directions])
    loss = np.array([t.values for t in data.complete], dtype=float) * signs
    # dominated_by[i, j]: trial j dominates trial i (no worse everywhere, better somewhere).
    le = (loss[None, :, :] <= loss[:, None, :]).all(axis=2)
    lt = (loss[None, :, :] < loss[:, None, :]).any(axis=2)
    dominated_by = le & lt
    ranks = np.full(len(loss), -1)
    remaining = np.ones(len(loss), dtype=bool)
    rank = 0
    while remaining.any():
        front = remaining & ~(dominated_by & remaining[None, :]).any(axis=1)
        ranks[front] = rank
        remaining &= ~front
        rank += 1
    return {t.number: int(r) for t, r in zip(data.complete, ranks, strict=True)}


def _conditional_params(data: StudyData) -> list[str]:
    shared = set(data.param_names)
    for t in data.complete:
        shared &= set(t.params)
    return [p for p in data.param_names if p not in shared]


def importances(study: optuna.Study, data: StudyData) -> Importance:
    """Parameter importances with a seeded evaluator; a note instead when they cannot be had.

    Single objective: fANOVA (mean and spread over :data:`IMPORTANCE_SEEDS`) over the
    parameters every complete trial has; conditional parameters are named in the note.
    Several objectives: PED-ANOVA's importance for reaching the Pareto front (deterministic).
    """
    from optuna.importance import (
        FanovaImportanceEvaluator,
        PedAnovaImportanceEvaluator,
        get_param_importances,
    )

    n = len(data.complete)
    if n < MIN_IMPORTANCE_TRIALS:
        return Importance(
            {}, "", f"needs at least {MIN_IMPORTANCE_TRIALS} complete trials, the study has {n}"
        )
    if not data.param_names:
        return Importance({}, "", "the study has no parameters")
    evaluators: list[Any]
    if data.multi:
        evaluators = [PedAnovaImportanceEvaluator()]
        method = "PED-ANOVA (reaching the Pareto front)"
    else:
        evaluators = [FanovaImportanceEvaluator(seed=s) for s in IMPORTANCE_SEEDS]
        method = f"fANOVA (mean ± sd over {len(IMPORTANCE_SEEDS)} forest seeds)"
    conditional = [] if data.multi else _conditional_params(data)
    notes = []
    if n < FEW_IMPORTANCE_TRIALS:
        notes.append(
            f"from only {n} complete trials (fewer than {FEW_IMPORTANCE_TRIALS}): a rough guide, "
            "not a ranking to rely on"
        )
    if conditional:
        notes.append(
            "not assessed (conditional, absent from some complete trials): "
            + ", ".join(conditional)
        )
        if len(conditional) == len(data.param_names):
            return Importance({}, method, "; ".join(notes))
    runs: list[dict[str, float]] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for evaluator in evaluators:
                got = get_param_importances(study, evaluator=evaluator, normalize=True)
                runs.append({str(k): float(v) for k, v in got.items()})
    except (ValueError, RuntimeError, ZeroDivisionError) as exc:
        logger.warning("parameter importance failed: %s", exc)
        return Importance({}, method, f"could not be computed: {exc}")
    mean = {k: sum(r.get(k, 0.0) for r in runs) / len(runs) for k in runs[0]}
    spread = {}
    if len(runs) > 1:
        spread = {
            k: math.sqrt(sum((r.get(k, 0.0) - m) ** 2 for r in runs) / (len(runs) - 1))
            for k, m in mean.items()
        }
    ordered = dict(sorted(mean.items(), key=lambda kv: -kv[1]))
    return Importance(ordered, method, "; ".join(notes), spread)


def numeric_axis(data: StudyData, name: str) -> tuple[list[float | None], list[str] | None, bool]:
    """One parameter's values over the complete trials as numbers, for plotting.

    Returns ``(values, categories, log)``: categorical parameters are encoded as the index of
    their category in ``categories`` (shown as tick labels); ``None`` where a trial lacks the
    parameter; ``log`` is true for log-scaled float/int distributions.
    """
    from optuna.distributions import CategoricalDistribution

    dist = next((t.distributions[name] for t in data.complete if name in t.distributions), None)
    raw = [t.params.get(name) for t in data.complete]
    if isinstance(dist, CategoricalDistribution) or any(
        v is not None and not isinstance(v, (int, float)) for v in raw
    ):
        cats = sorted({repr(v) if not isinstance(v, str) else v for v in raw if v is not None})
        index = {c: i for i, c in enumerate(cats)}
        enc: list[float | None] = [
            None if v is None else float(index[v if isinstance(v, str) else repr(v)]) for v in raw
        ]
        return enc, cats, False
    log = bool(getattr(dist, "log", False))
    return [None if v is None else float(v) for v in raw], None, log
