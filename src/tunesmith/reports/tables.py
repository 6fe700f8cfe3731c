"""The report's tables as HTML: leaderboard, failed trials, seed re-check and final score.

Every value that comes from the study (parameter names and values, metric names, user attrs,
failure messages) passes through :func:`html.escape`: they are user input.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from tunesmith.reports.data import StudyData, best_epoch, fail_reason, pareto_ranks

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

_STATE_ORDER = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}


def esc(value: Any) -> str:
    """Escape any value for HTML text or attribute content."""
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A number to 6 significant digits, anything else as text (not yet escaped)."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


class Row(list[str]):
    """A table row of escaped HTML cells that carries a CSS class for its ``<tr>``."""

    def __init__(self, cells: Iterable[str], css: str = "") -> None:
        super().__init__(cells)
        self.css = css


def table(headers: Sequence[str], rows: Iterable[Row], css: str = "") -> str:
    """An HTML table; ``headers`` are escaped here, cells must already be escaped HTML."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "\n".join(
        (f'<tr class="{esc(r.css)}">' if r.css else "<tr>")
        + "".join(f"<td>{c}</td>" for c in r)
        + "</tr>"
        for r in rows
    )
    cls = f' class="{esc(css)}"' if css else ""
    return f"<table{cls}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def params_cell(params: dict[str, Any]) -> str:
    """Parameters as an escaped, compact ``name = value`` list."""
    if not params:
        return ""
    items = (
        f'<span class="param"><code>{esc(k)}</code>&nbsp;=&nbsp;{esc(fmt(v))}</span>'
        for k, v in sorted(params.items())
    )
    return " ".join(items)


def _values_text(data: StudyData, trial: FrozenTrial) -> str:
    if trial.values is None:
        return ""
    return " / ".join(esc(fmt(float(v))) for v in trial.values)


def leaderboard_order(data: StudyData) -> list[FrozenTrial]:
    """Every trial, best first: complete trials by value (study direction; Pareto rank, then
    the first objective, for several objectives), then pruned, running and failed trials."""
    maximize = data.directions[0] == "maximize"
    ranks = pareto_ranks(data) if data.multi else {}

    def key(t: FrozenTrial) -> tuple[int, int, float, int]:
        state = _STATE_ORDER.get(t.state.name, 5)
        if t.values is None or t.state.name not in ("COMPLETE", "PRUNED"):
            return state, 0, 0.0, t.number
        v = float(t.values[0])
        v = -v if maximize else v
        return state, ranks.get(t.number, 0), v if math.isfinite(v) else math.inf, t.number

    return sorted(data.trials, key=key)


def leaderboard(data: StudyData) -> str:
    """The leaderboard: rank, trial, state, value(s), best epoch, parameters."""
    ranks = pareto_ranks(data) if data.multi else {}
    value_header = " / ".join(data.metric_names) + " (" + " / ".join(data.directions) + ")"
    headers = ["rank", "trial", "state", value_header]
    if data.multi:
        headers.append("Pareto rank")
    headers += ["best epoch", "params"]
    rows: list[Row] = []
    rank = 0
    complete_numbers = {t.number for t in data.complete}
    for t in leaderboard_order(data):
        state = t.state.name
        if t.number in complete_numbers:
            rank += 1
            rank_cell = str(rank)
        else:
            rank_cell = "&mdash;"
        value = _values_text(data, t)
        if state == "PRUNED" and value:
            value = f"{value} <small>(last reported)</small>"
        cells = [rank_cell, str(t.number), f'<span class="state">{esc(state)}</span>', value]
        if data.multi:
            cells.append(str(ranks[t.number]) if t.number in ranks else "")
        epoch = best_epoch(t)
        cells += ["" if epoch is None else esc(fmt(epoch)), params_cell(t.params)]
        css = state.lower()
        if ranks.get(t.number) == 0 or (not data.multi and rank == 1 and rank_cell == "1"):
            css += " best"
        rows.append(Row(cells, css))
    return '<div class="scroll">' + table(headers, rows, "leaderboard") + "</div>"


def failed_trials(data: StudyData) -> str:
    """A list of failed trials and their reasons; a sentence when none failed."""
    failed = data.trials_in("FAIL")
    if not failed:
        return "<p>No trial failed.</p>"
    rows = [
        Row(
            [
                str(t.number),
                f"<pre>{esc(fail_reason(t) or 'no reason recorded')}</pre>",
                params_cell(t.params),
            ],
            "fail",
        )
        for t in failed
    ]
    return table(["trial", "reason", "params"], rows, "failed")


def _num(value: Any) -> str:
    return esc(fmt(value))


def recheck(study_attrs: dict[str, Any]) -> str:
    """The seed re-check table from ``study.user_attrs["recheck"]``; a note when it did not run."""
    entries = study_attrs.get("recheck")
    if entries is None:
        return '<p class="note">The seed re-check did not run for this study.</p>'
    if not isinstance(entries, list) or not entries:
        what = esc(entries)
        return f'<p class="note">The seed re-check record is not a list of entries: {what}</p>'
    rows: list[Row] = []
    for e in entries:
        if not isinstance(e, dict):
            rows.append(Row(["", "", "", "", "", esc(e), ""], "bad"))
            continue
        seeds = e.get("seeds") or []
        scores = e.get("scores") or []
        pairs = ", ".join(f"{_num(s)}:&nbsp;{_num(v)}" for s, v in zip(seeds, scores, strict=False))
        winner = bool(e.get("winner"))
        cells = [
            _num(e.get("trial", "")),
            _num(e.get("mean", "")),
            _num(e.get("std", "")),
            str(len(scores)),
            pairs,
            params_cell(e.get("params") or {}),
            "&#9733; winner" if winner else "",
        ]
        rows.append(Row(cells, "winner" if winner else ""))
    headers = ["trial", "mean", "std", "runs", "seed: score", "params", ""]
    return table(headers, rows, "recheck")


def _metric_table(metrics: Any, main: str) -> str:
    if not isinstance(metrics, dict) or not metrics:
        return '<p class="note">not recorded</p>'
    rows = [
        Row([f"<code>{esc(k)}</code>", _num(v)], "main" if k == main else "")
        for k, v in metrics.items()
    ]
    return table(["metric", "value"], rows, "metrics")


def final(study_attrs: dict[str, Any]) -> str:
    """The final score from ``study.user_attrs["final"]``: validation and test shown apart."""
    rec = study_attrs.get("final")
    if rec is None:
        return '<p class="note">No final score was recorded: the final evaluation did not run.</p>'
    if not isinstance(rec, dict):
        return f'<p class="note">The final score record is not a mapping: {esc(rec)}</p>'
    metric = str(rec.get("metric", ""))
    retrained = rec.get("retrained_on_train_val")
    test = rec.get("test")
    headline = ""
    if isinstance(test, dict) and metric in test:
        headline = (
            f'<p class="headline">Test <code>{esc(metric)}</code>: '
            f"<strong>{_num(test[metric])}</strong></p>"
        )
    facts = [
        f"Selected trial: <strong>{_num(rec.get('best_trial', '?'))}</strong>",
        f"Main metric: <code>{esc(metric)}</code>",
        "Final model retrained on train + validation: "
        + ("yes" if retrained is True else "no" if retrained is False else esc(fmt(retrained))),
    ]
    cost = rec.get("cost")
    if isinstance(cost, dict) and cost:  # several objectives: what the exported model costs
        facts.append(
            "Measured cost: "
            + ", ".join(f"<code>{esc(k)}</code> {_num(v)}" for k, v in cost.items())
        )
    return (
        headline
        + "<ul>"
        + "".join(f"<li>{f}</li>" for f in facts)
        + "</ul>"
        + '<div class="split"><div><h3>Validation</h3>'
        + _metric_table(rec.get("validation"), metric)
        + "</div><div><h3>Test (held out, never used for selection)</h3>"
        + _metric_table(test, metric)
        + "</div></div>"
    )


def summary(data: StudyData, final_record: Any = None) -> str:
    """Counts of trials by state, the best value by the metric's name (or the Pareto-front
    size), and the final test score when the final evaluation ran."""
    counts: dict[str, int] = {}
    for t in data.trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    parts = [f"{esc(k.lower())}: {v}" for k, v in sorted(counts.items())] or ["no trials"]
    lines = [f"<li>Trials: {len(data.trials)} ({', '.join(parts)})</li>"]
    objectives = ", ".join(
        f"<code>{esc(n)}</code> ({esc(d)})"
        for n, d in zip(data.metric_names, data.directions, strict=True)
    )
    lines.append(f"<li>Objective{'s' if data.multi else ''}: {objectives}</li>")
    if data.complete and not data.multi:
        best = leaderboard_order(data)[0]
        lines.append(
            f"<li>Best {esc(data.metric_names[0])}: <strong>{_values_text(data, best)}</strong> "
            f"(trial {best.number})</li>"
        )
        if best.params:
            lines.append(f"<li>Best params:<br>{params_cell(best.params)}</li>")
    elif data.complete:
        front = [n for n, r in pareto_ranks(data).items() if r == 0]
        lines.append(f"<li>Pareto front: {len(front)} trial(s): {', '.join(map(str, front))}</li>")
    if isinstance(final_record, dict) and isinstance(final_record.get("test"), dict):
        metric = str(final_record.get("metric", ""))
        if metric in final_record["test"]:
            lines.append(
                f"<li>Final test {esc(metric)}: <strong>{_num(final_record['test'][metric])}"
                f"</strong> (trial {_num(final_record.get('best_trial', '?'))}, "
                "scored once on the held-out test split)</li>"
            )
    return "<ul>" + "".join(lines) + "</ul>"


def pick(study_attrs: dict[str, Any]) -> str:
    """Which Pareto-front member ``final.pick`` chose and why (``study.user_attrs["pick"]``)."""
    rec = study_attrs.get("pick")
    if not isinstance(rec, dict):
        return ""
    return (
        f"<p>Picked: trial <strong>{_num(rec.get('trial', '?'))}</strong> by "
        f"<code>final.pick</code> rule <code>{esc(rec.get('rule', ''))}</code> "
        f"({esc(rec.get('rule_text', ''))}).<br>{esc(rec.get('reason', ''))}</p>"
    )


def ensemble(study_attrs: dict[str, Any]) -> str:
    """The ensemble's and the single winner's test scores side by side
    (``study.user_attrs["ensemble"]``, written by ``final.ensemble``)."""
    rec = study_attrs.get("ensemble")
    if not isinstance(rec, dict):
        return f'<p class="note">The ensemble record is not a mapping: {esc(rec)}</p>'
    ens, single = rec.get("test"), rec.get("winner_test")
    if not isinstance(ens, dict) or not isinstance(single, dict):
        return '<p class="note">The ensemble record has no test scores.</p>'
    final = study_attrs.get("final")
    main = str(final.get("metric", "")) if isinstance(final, dict) else ""
    trials = rec.get("trials") or []
    rows = []
    for key in [k for k in ens if k in single]:
        a, b = ens[key], single[key]
        diff = a - b if isinstance(a, (int, float)) and isinstance(b, (int, float)) else ""
        cells = [f"<code>{esc(key)}</code>", _num(a), _num(b), _num(diff)]
        rows.append(Row(cells, "main" if key == main else ""))
    winner = trials[0] if trials else "?"
    headers = [
        "test metric",
        f"ensemble of {esc(rec.get('k', len(trials)))} (trials {esc(', '.join(map(str, trials)))})",
        f"single winner (trial {esc(winner)})",
        "ensemble - winner",
    ]
    where = rec.get("model_path")
    note = f'<p class="note">Ensemble exported to <code>{esc(where)}</code>.</p>' if where else ""
    intro = (
        "<p>The predicted probabilities of the top re-checked models, averaged, scored on the "
        "same test split as the single winner.</p>"
    )
    return intro + table(headers, rows, "ensemble") + note
