"""Show a study's progress: a live rich line on a terminal, plain log lines otherwise.

The coordinator emits :class:`~tunesmith.experiment.events.StudyEvent` objects; this module is the
place that draws them on a terminal (``reports/progress.py`` draws them in Jupyter).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from tunesmith.reports.progress import event_line, running_line, status_line

__all__ = ["event_line", "progress_display", "running_line", "status_line"]


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
