"""The report folder: one self-contained HTML page (works offline) and a PNG per plot.

The page embeds the plotly.js bundle once, inline, and the figure specs as JSON blocks; a small
script renders them, collects script errors into ``#ts-errors`` and, when done, sets
``data-plots`` (rendered plots) and ``data-expected`` (figure specs) on ``<body>`` so a headless
browser can check the page. Every file is written atomically.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from tunesmith.reports import data as D
from tunesmith.reports import figures as F
from tunesmith.reports import plots as P
from tunesmith.reports import tables as T
from tunesmith.reports.tables import esc
from tunesmith.utils.atomic import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

REPORT_NAME = "report.html"

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1200px;
 padding:1rem 2rem;color:#222;line-height:1.4}
h1{border-bottom:2px solid #1f77b4;padding-bottom:.3rem}
h2{margin-top:2.2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f8}
tr.best td{background:#fff6dc} tr.winner td{background:#e8f6e8} tr.main td{font-weight:bold}
tr.pruned .state{color:#d62728} tr.fail .state{color:#7f7f7f;font-weight:bold}
.note{color:#666;font-style:italic} .headline{font-size:1.3rem}
.plot{min-height:300px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:.5rem}
.split{display:flex;gap:2rem;flex-wrap:wrap} pre{white-space:pre-wrap;margin:0;font-size:.85rem}
#ts-errors{color:#b00;background:#fee;padding:.5rem}
.scroll{max-height:36rem;overflow:auto;display:inline-block;max-width:100%}
.scroll thead th{position:sticky;top:0} .param{margin-right:.8rem;white-space:nowrap}
nav a{margin-right:.8rem} code{background:#f4f4f4;padding:0 .2rem}
"""

_ERROR_JS = """
(function(){
  var box = document.getElementById('ts-errors');
  function record(msg){
    box.hidden = false; box.textContent += String(msg) + '\\n';
    document.body.dataset.errors = String((+document.body.dataset.errors || 0) + 1);
  }
  window.tsRecordError = record;
  window.addEventListener('error', function(e){ record(e.message || e); });
  window.addEventListener('unhandledrejection', function(e){ record(e.reason); });
})();
"""

_RENDER_JS = """
(function(){
  var specs = document.querySelectorAll('script.ts-figure');
  document.body.dataset.expected = String(specs.length);
  function done(){
    document.body.dataset.plots = String(document.querySelectorAll('.js-plotly-plot').length);
  }
  var jobs = [];
  try {
    specs.forEach(function(s){
      var fig = JSON.parse(s.textContent);
      var div = document.getElementById(s.dataset.target);
      jobs.push(Plotly.newPlot(div, fig.data, fig.layout,
                               {responsive: true, displaylogo: false}));
    });
  } catch (e) { window.tsRecordError(e); }
  Promise.all(jobs).then(done, function(e){ window.tsRecordError(e); done(); });
})();
"""


class _Page:
    """Collects sections, figure specs and PNG files while the report is assembled."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.sections: list[tuple[str, str, str]] = []  # (id, title, html)
        self.specs: list[tuple[str, str]] = []  # (div id, json)
        self.pngs: list[str] = []

    def figure(self, spec: F.Spec, css: str = "plot") -> str:
        div = f"fig{len(self.specs)}"
        self.specs.append((div, F.to_script_json(spec)))
        return f'<div id="{div}" class="{css}"></div>'

    def png(self, name: str, payload: bytes | None) -> str:
        if payload is None:
            return ""
        atomic_write_bytes(self.out_dir / name, payload)
        self.pngs.append(name)
        return f'<p class="png">Static image: <a href="{esc(name)}">{esc(name)}</a></p>'

    def section(self, sid: str, title: str, body: str) -> None:
        self.sections.append((sid, title, body))


_CURVES_KEY = (
    '<p>Intermediate values by step. Solid blue: complete trials; <span style="color:#d62728">'
    "dashed red, x = pruned here</span>; dotted grey: running or failed.</p>"
)
_NO_COMPLETE = '<p class="note">No complete trials yet: nothing to plot here.</p>'


def _plots(page: _Page, study: optuna.Study, data: D.StudyData) -> None:
    has = bool(data.complete)
    curves = D.curves(data)
    if data.multi:
        pick = study.user_attrs.get("pick")
        picked = pick.get("trial") if isinstance(pick, dict) else None
        body = (
            T.pick(study.user_attrs)
            + page.figure(F.pareto_spec(data, picked))
            + page.png("pareto_front.png", P.pareto_png(data, picked))
            if has
            else _NO_COMPLETE
        )
        page.section("pareto", "Pareto front", body)
    body = _NO_COMPLETE
    if has:
        body = "".join(page.figure(s) for s in F.history_specs(data))
        body += page.png("history.png", P.history_png(data))
    page.section("history", "Optimisation history", body)
    page.section(
        "leaderboard",
        "Leaderboard",
        T.leaderboard(data) if data.trials else '<p class="note">The study has no trials.</p>',
    )
    body = '<p class="note">No trial reported intermediate values.</p>'
    if curves:
        body = (
            _CURVES_KEY
            + page.figure(F.curves_spec(curves, f"reported {data.metric_names[0]}"))
            + page.png("learning_curves.png", P.curves_png(data, curves))
        )
    page.section(
        "curves", "Learning curves", body + "<h3>Failed trials</h3>" + T.failed_trials(data)
    )
    imp = D.importances(study, data)
    body = f'<p class="note">Importance {esc(imp.note)}</p>' if imp.note else ""
    if imp.values:
        body = (
            f"<p>Method: {esc(imp.method)}</p>"
            + page.figure(F.importance_spec(imp))
            + page.png("importance.png", P.importance_png(imp))
            + body
        )
    page.section("importance", "Hyperparameter importance", body)
    body = _NO_COMPLETE
    if has and data.param_names:
        spec, left_out = F.parallel_spec(data)
        body = page.figure(spec) + page.png("parallel_coordinates.png", P.parallel_png(data))
        if left_out:
            body += (
                '<p class="note">Left out of the interactive plot (absent from some trials): '
                + esc(", ".join(left_out))
                + "</p>"
            )
    elif has:
        body = '<p class="note">The study has no parameters.</p>'
    page.section("parallel", "Parallel coordinates", body)
    body = _NO_COMPLETE
    if has and data.param_names:
        figs = "".join(page.figure(s, "plot small") for s in F.slice_specs(data))
        what = f"<p><code>{esc(data.metric_names[0])}</code> against each parameter.</p>"
        body = what + f'<div class="grid">{figs}</div>' + page.png("slices.png", P.slices_png(data))
    page.section("slices", "Slices", body)


def _render(page: _Page, data: D.StudyData, plotly_js: str) -> str:
    nav = "".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title, _ in page.sections)
    sections = "\n".join(
        f'<section id="{sid}"><h2>{esc(title)}</h2>\n{body}\n</section>'
        for sid, title, body in page.sections
    )
    specs = "\n".join(
        f'<script type="application/json" class="ts-figure" data-target="{div}">{js}</script>'
        for div, js in page.specs
    )
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tunesmith report: {esc(data.name)}</title>
<style>{_CSS}</style>
</head>
<body>
<pre id="ts-errors" hidden></pre>
<h1>tunesmith report: <code>{esc(data.name)}</code></h1>
<p class="note">Generated {stamp}. This page works offline.</p>
<nav>{nav}</nav>
{sections}
{specs}
<script>{_ERROR_JS}</script>
<script>{plotly_js}</script>
<script>{_RENDER_JS}</script>
</body>
</html>
"""


def write_report(study: optuna.Study, out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` and one PNG per plot for ``study``; return the page's path.

    The page is self-contained (plotly.js inline, no network access needed). A study with no
    complete trial gives a page that says so. Existing files of an earlier report are replaced.
    """
    from tunesmith.errors import require

    require("matplotlib", extra="reports", purpose="report plots")
    offline = require("plotly.offline", extra="reports", purpose="the interactive report")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = D.collect(study)
    attrs = dict(study.user_attrs)
    page = _Page(out)
    page.section(
        "summary",
        "Summary",
        T.summary(data, attrs.get("final"))
        + (
            ""
            if data.complete
            else '<p class="note"><strong>The study has no complete trials yet.</strong></p>'
        ),
    )
    _plots(page, study, data)
    page.section("recheck", "Seed re-check", T.recheck(attrs))
    page.section("final", "Final score", T.final(attrs))
    if "ensemble" in attrs:
        page.section("ensemble", "Ensemble vs single winner", T.ensemble(attrs))
    if page.pngs:
        links = "".join(f'<li><a href="{esc(n)}">{esc(n)}</a></li>' for n in page.pngs)
        page.section("images", "Static images", f"<ul>{links}</ul>")
    plotly_js = offline.get_plotlyjs()  # type: ignore[attr-defined]
    path = out / REPORT_NAME
    atomic_write_text(path, _render(page, data, plotly_js))
    logger.info("report for study %s written to %s", data.name, path)
    return path
