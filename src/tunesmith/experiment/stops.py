"""The coordinator's stop rules that read only the study's trials: an exhausted grid, a target
reached, no improvement for ``patience`` trials; and the reason given to trials a stop ends."""

from __future__ import annotations

from typing import Any

from tunesmith.storage.internals import grid_size


def grid_exhausted(sampler: Any, trials: list[Any]) -> bool:
    """Whether a grid sampler's points are all taken (finished or running trials)."""
    total = grid_size(sampler)
    if total is None:
        return False
    from optuna.trial import TrialState

    used = {
        t.system_attrs.get("grid_id")
        for t in trials
        if "grid_id" in t.system_attrs and (t.state.is_finished() or t.state == TrialState.RUNNING)
    }
    return len(used) >= int(total)


def target_or_patience(cfg: Any, trials: list[Any]) -> str | None:
    """ "target reached" or "patience" for a single-objective study, else None."""
    from optuna.trial import TrialState

    if cfg.target is None and cfg.patience is None:
        return None  # nothing to look for: no pass over the trials
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not done:
        return None
    sign = 1.0 if cfg.all_directions[0] == "maximize" else -1.0
    if cfg.target is not None and any(sign * t.value >= sign * cfg.target for t in done):
        return "target reached"
    if cfg.patience is not None:
        done.sort(key=lambda t: (t.datetime_complete or t.datetime_start, t.number))
        best = max(range(len(done)), key=lambda i: (sign * done[i].value, -i))
        if len(done) - 1 - best >= cfg.patience:
            return "patience"
    return None


def stop_message(exc: BaseException) -> str:
    """The fail reason of trials ended because the coordinator stops on ``exc``."""
    if isinstance(exc, KeyboardInterrupt):
        text = str(exc)
        return text if text.startswith("interrupted") else "interrupted"
    return f"coordinator stopped: {type(exc).__name__}: {exc}"
