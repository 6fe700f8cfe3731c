"""Show a study's progress: a live rich line on a terminal, plain log lines otherwise.

The coordinator emits :class:`~tunesmith.experiment.events.StudyEvent` objects; this module is the
only place that draws them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TextIO


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


@contextlib.contextmanager
def progress_display(
    stream: TextIO, enabled: bool = True
) -> Iterator[Callable[[Any], None] | None]:
    """Yield an ``on_event`` callback drawing to ``stream`` (None when disabled)."""
    if not enabled:
        yield None
        return
    if not stream.isatty():

        def plain(event: Any) -> None:
            line = event_line(event)
            if line:
                stream.write(line + "\n")
                stream.flush()

        yield plain
        return
    from rich.console import Console
    from rich.live import Live

    console = Console(file=stream)
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        steps: dict[int, int] = {}  # running trial -> last reported step (epoch)

        def fancy(event: Any) -> None:
            if event.kind == "trial_finished" and event.state == "FAIL":
                live.console.print(f"[red]trial {event.trial} failed:[/red] {event.message}")
            if event.kind == "trial_started" and event.trial is not None:
                steps[event.trial] = 0
            elif event.kind == "trial_reported" and event.trial is not None:
                steps[event.trial] = event.step or 0
            elif event.kind == "trial_finished":
                steps.pop(event.trial, None)
            line = f"[bold]{event.progress.study_name}[/bold] " + status_line(event.progress)
            live.update(line + running_line(steps))

        yield fancy
