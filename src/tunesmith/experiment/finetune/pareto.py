"""Fine-tuning studies with several objectives: a validation metric against inference cost.

``study.metric: [accuracy, latency_ms]`` (or ``params``, or both costs) with matching
``study.directions``: every trial measures its inference latency and parameter count after
training (:mod:`tunesmith.engine.inference_cost`). After the search, ``final.pick``
(:mod:`tunesmith.config.pareto`) chooses one member of the Pareto front; the seed re-check runs
that configuration with more seeds and the final run evaluates and exports it.

Pruning is refused: Optuna prunes single-objective studies only, so a pruner would do nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from tunesmith.config.pareto import COST_OBJECTIVES
from tunesmith.errors import ConfigError

log = logging.getLogger(__name__)


def is_multi(study_cfg: Any) -> bool:
    """Whether the study has several objectives."""
    return len(study_cfg.all_directions) > 1


def check_objectives(study_cfg: Any, metric: str, direction: str) -> None:
    """The rules of a multi-objective fine-tuning study; ``ConfigError`` names field and value.

    ``metric``: the job's selection metric (``train.metric``) and ``direction`` its own.
    """
    from tunesmith.search.samplers import SAMPLERS

    names = study_cfg.metric_names or []
    dirs = study_cfg.all_directions
    if not names or names[0] != metric:
        raise ConfigError(
            f"study.metric: rule: the first objective of a fine-tuning study is its "
            f"validation metric train.metric ({metric!r}), then costs "
            f"({', '.join(COST_OBJECTIVES)}); got {names}"
        )
    costs = names[1:]
    wrong = [c for c in costs if c not in COST_OBJECTIVES]
    if wrong or len(set(costs)) != len(costs):
        raise ConfigError(
            f"study.metric: rule: after {metric!r} come cost objectives, each once, from "
            f"{list(COST_OBJECTIVES)}; got {names}"
        )
    if dirs[0] != direction:
        raise ConfigError(
            f"study.directions[0]: {metric!r} is best when it is "
            f"{'high' if direction == 'maximize' else 'low'}, so it must be {direction}; "
            f"got {dirs}"
        )
    for i, (name, d) in enumerate(zip(names, dirs, strict=True)):
        if i > 0 and d != "minimize":
            raise ConfigError(f"study.directions[{i}]: rule: cost {name!r} is minimised; got {d!r}")
    if study_cfg.pruner.name != "none":
        raise ConfigError(
            f"study.pruner: rule: Optuna prunes single-objective studies only, so with "
            f"{len(dirs)} objectives a pruner would do nothing; got {study_cfg.pruner.name!r} "
            "(use pruner: none)"
        )
    sampler = study_cfg.sampler.name
    if sampler != "auto" and not SAMPLERS[sampler].multi_objective:
        able = [n for n, e in SAMPLERS.items() if e.multi_objective]
        raise ConfigError(
            f"study.sampler.name: sampler {sampler!r} optimises one objective, but the study "
            f"has {len(dirs)} objectives {names}; use one of: {', '.join(able)}"
        )


def choose(study: Any, study_cfg: Any, pick_cfg: Any) -> dict[str, Any] | None:
    """Apply ``final.pick`` (``most_accurate`` when not given) to the search's Pareto front.

    Records and returns ``study.user_attrs["pick"]``: the trial, its values, the rule in words,
    the reason and the front; None when no trial completed.
    """
    from optuna.trial import TrialState

    from tunesmith.config.pareto import PickConfig
    from tunesmith.search.pareto import Member, pick_member

    pick_cfg = pick_cfg or PickConfig()
    names = list(study_cfg.metric_names)
    members = [
        Member(t.number, tuple(float(v) for v in t.values))
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values is not None
    ]
    cost = None if pick_cfg.rule == "most_accurate" else pick_cfg.cost_name(names)
    pick = pick_member(
        members,
        study_cfg.all_directions,
        names,
        rule=pick_cfg.rule,
        cost=cost,
        factor=pick_cfg.factor,
        tolerance=pick_cfg.tolerance,
    )
    if pick is None:
        return None
    record = {
        "trial": pick.member.trial,
        "values": dict(zip(names, pick.member.values, strict=True)),
        "rule": pick_cfg.rule,
        "rule_text": pick_cfg.describe(names),
        "reason": pick.reason,
        "front": [m.trial for m in pick.front],
    }
    study.set_user_attr("pick", record)
    log.info("final.pick %s", pick.reason)
    return record
