"""Reports of a study: leaderboard, plots, importance, seed re-check and final score.

:func:`write_report` writes a self-contained HTML page (it works offline) and a PNG per plot.
"""

from __future__ import annotations

from tunesmith.reports.html import REPORT_NAME, write_report

__all__ = ["REPORT_NAME", "write_report"]
