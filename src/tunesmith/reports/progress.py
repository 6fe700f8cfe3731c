"""Progress text shared by every display: the terminal's (``cli/progress.py``) and Jupyter's.

:func:`notebook_progress` draws a study's progress in a Jupyter notebook as one output that is
updated in place (IPython's ``display(..., display_id=True)``), so a notebook shows a live status
without terminal control codes or widgets.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    value = int(round(value))
    h, rest = divmod(value, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def status_line(progress: Any) -> str:
    """``12/40 done (3 pruned, 1 failed, 2 running) | best 0.9512 | 0:31 elapsed, eta 1:10``."""
    total = f"/{progress.n_trials}" if progress.n_trials is not None else ""
    best = "-" if progress.best_value is None else f"{progress.best_value:.6g}"
    return (
        f"{progress.done}{total} done ({progress.pruned} pruned, {progress.failed} failed, "
        f"{progress.running} running) | best {best} | {_seconds(progress.elapsed)} elapsed, "
        f"eta {_seconds(progress.eta())}"
    )


def running_line(steps: dict[int, int]) -> str:
    """`` | running: #3 epoch 2, #4 epoch 0`` for the trials in flight (empty when none)."""
    if not steps:
        return ""
    shown = ", ".join(f"#{t} epoch {s}" for t, s in sorted(steps.items())[:6])
    more = f" (+{len(steps) - 6})" if len(steps) > 6 else ""
    return f" | running: {shown}{more}"


def event_line(event: Any) -> str | None:
    """One plain line for an event worth a line (trial finished, start, stop)."""
    p = event.progress
    if event.kind == "started":
        return f"study {p.study_name!r}: starting ({p.done} trials already done)"
    if event.kind == "trial_finished":
        what = event.state or "?"
        if event.values:
            what += " " + ", ".join(f"{v:.6g}" for v in event.values)
        if event.message:
            what += f" ({event.message})"
        return f"trial {event.trial} {what} | {status_line(p)}"
    if event.kind == "stopped":
        return f"study {p.study_name!r} stopped: {event.message} | {status_line(p)}"
    return None


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython with a kernel), not in a terminal IPython."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def notebook_progress() -> Callable[[Any], None]:
    """An ``on_event`` callback that keeps one notebook output up to date."""
    from IPython.display import display

    finished: list[str] = []
    steps: dict[int, int] = {}
    handle = display({"text/plain": "starting…"}, raw=True, display_id=True)

    def on_event(event: Any) -> None:
        if event.kind == "trial_started" and event.trial is not None:
            steps[event.trial] = 0
        elif event.kind == "trial_reported" and event.trial is not None:
            steps[event.trial] = event.step or 0
        elif event.kind == "trial_finished":
            steps.pop(event.trial, None)
        line = event_line(event)
        if line and event.kind != "started":
            finished.append(line)
        text = "\n".join(
            [
                f"{event.progress.study_name}: {status_line(event.progress)}" + running_line(steps),
                *finished[-5:],
            ]
        )
        if handle is not None:
            handle.update({"text/plain": text}, raw=True)

    return on_event
