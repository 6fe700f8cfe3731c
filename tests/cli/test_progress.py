"""Progress display: plain lines off a terminal, a rich live line on one."""

from __future__ import annotations

import io
import re

from tunesmith.cli.progress import event_line, progress_display, status_line
from tunesmith.experiment.events import Progress, StudyEvent


def _progress(**kw):
    base = dict(
        study_name="s",
        complete=6,
        pruned=2,
        failed=1,
        running=2,
        best_value=0.91234,
        elapsed=40.0,
        n_trials=20,
        timeout=None,
        done_at_start=0,
    )
    base.update(kw)
    return Progress(**base)


def test_status_line_and_eta():
    p = _progress()
    assert p.eta() == 60.0  # 8 done in 40 s, 12 left
    line = status_line(p)
    assert line.startswith("8/20 done (2 pruned, 1 failed, 2 running)")
    assert "best 0.91234" in line and "0:40 elapsed, eta 1:00" in line
    assert _progress(timeout=50.0).eta() == 10.0
    assert _progress(n_trials=None).eta() is None


def test_event_lines():
    p = _progress()
    ev = StudyEvent("trial_finished", p, trial=7, state="FAIL", message="ValueError: x")
    assert event_line(ev).startswith("trial 7 FAIL (ValueError: x) | 8/20 done")
    assert event_line(StudyEvent("trial_started", p, trial=8)) is None
    assert "stopped: timeout" in event_line(StudyEvent("stopped", p, message="timeout"))


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_plain_and_rich_modes():
    plain = io.StringIO()
    with progress_display(plain) as on_event:
        on_event(
            StudyEvent("trial_finished", _progress(), trial=1, state="COMPLETE", values=(0.5,))
        )
    assert plain.getvalue().startswith("trial 1 COMPLETE 0.5 | 8/20 done")
    tty = _Tty()
    with progress_display(tty) as on_event:
        on_event(StudyEvent("trial_finished", _progress(), trial=2, state="FAIL", message="boom"))
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", tty.getvalue())
    assert "trial 2 failed" in text and "8/20 done" in text
    with progress_display(plain, enabled=False) as on_event:
        assert on_event is None
