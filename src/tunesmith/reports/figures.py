"""Interactive figures for the HTML page, as plain plotly.js specs (``{"data", "layout"}``).

The specs are built as dictionaries from the records of :mod:`.data` (no plotly Python objects);
the page renders them with the plotly.js bundle it embeds. plotly.js reads a few HTML-like tags
and entities in text, so every user string is passed through :func:`html.escape` first: it then
shows literally.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

from tunesmith.reports.data import (
    Curve,
    Importance,
    StudyData,
    history,
    numeric_axis,
    pareto_ranks,
    pruned_points,
    whole_steps,
)
from tunesmith.reports.plots import BEST_COLOR, COMPLETE_COLOR, OTHER_COLOR, PRUNED_COLOR

Spec = dict[str, Any]


def _t(text: Any) -> str:
    return html.escape(str(text), quote=False)


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": {"text": title},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "height": 380,
        "template": None,
        "hovermode": "closest",
    }
    base.update(extra)
    return base


def history_specs(data: StudyData) -> list[Spec]:
    """One history figure per objective: values per trial, plus best-so-far (single objective)."""
    specs = []
    for i, (name, direction) in enumerate(zip(data.metric_names, data.directions, strict=True)):
        numbers, values, best = history(data, i)
        traces: list[dict[str, Any]] = [
            {
                "type": "scatter",
                "mode": "markers",
                "x": numbers,
                "y": values,
                "name": _t(name),
                "marker": {"color": COMPLETE_COLOR},
            }
        ]
        if not data.multi:
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": numbers,
                    "y": best,
                    "name": "best so far",
                    "line": {"shape": "hv", "color": BEST_COLOR},
                }
            )
            pruned_x, pruned_y = pruned_points(data)
            if pruned_x:
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "markers",
                        "x": pruned_x,
                        "y": pruned_y,
                        "name": "pruned (last reported)",
                        "marker": {"color": PRUNED_COLOR, "symbol": "x"},
                    }
                )
        specs.append(
            {
                "data": traces,
                "layout": _layout(
                    f"Optimisation history: {_t(name)}",
                    xaxis={"title": {"text": "trial"}, "tickformat": "d"},
                    yaxis={"title": {"text": f"{_t(name)} ({direction})"}},
                ),
            }
        )
    return specs


def importance_spec(imp: Importance) -> Spec:
    """Horizontal bars of parameter importance."""
    names = list(imp.values)[::-1]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": [_t(n) for n in names],
                "x": [imp.values[n] for n in names],
                "marker": {"color": COMPLETE_COLOR},
                **(
                    {
                        "error_x": {
                            "type": "data",
                            "array": [imp.spread.get(n, 0.0) for n in names],
                            "visible": True,
                        }
                    }
                    if imp.spread
                    else {}
                ),
            }
        ],
        "layout": _layout(
            f"Hyperparameter importance: {_t(imp.method)}",
            height=max(250, 120 + 30 * len(names)),
            margin={"l": 160, "r": 20, "t": 50, "b": 50},
            xaxis={
                "title": {
                    "text": "importance (bar: ± 1 sd over seeds)" if imp.spread else "importance"
                }
            },
        ),
    }


def parallel_spec(data: StudyData) -> tuple[Spec, list[str]]:
    """Parallel coordinates over the parameters every complete trial has, and the ones left out."""
    dims = []
    left_out = []
    for name in data.param_names:
        values, cats, log = numeric_axis(data, name)
        if any(v is None for v in values):
            left_out.append(name)
            continue
        dim: dict[str, Any] = {"label": _t(name)}
        vals = [float(v) for v in values if v is not None]
        if cats:
            dim.update(tickvals=list(range(len(cats))), ticktext=[_t(c) for c in cats])
        elif log and all(v > 0 for v in vals):
            vals = [math.log10(v) for v in vals]
            dim["label"] = f"{_t(name)} (log10)"
        dim["values"] = vals
        dims.append(dim)
    objective = [float(t.values[0]) for t in data.complete]
    dims.append({"label": _t(data.metric_names[0]), "values": objective})
    line = {
        "color": objective,
        "colorscale": "Viridis",
        "showscale": True,
        "reversescale": data.directions[0] == "minimize",
    }
    spec = {
        "data": [{"type": "parcoords", "dimensions": dims, "line": line}],
        "layout": _layout(
            "Parallel coordinates (complete trials)", margin={"l": 80, "r": 80, "t": 80, "b": 40}
        ),
    }
    return spec, left_out


def slice_specs(data: StudyData) -> list[Spec]:
    """The first objective against each parameter, one small figure per parameter."""
    objective = [float(t.values[0]) for t in data.complete]
    numbers = [t.number for t in data.complete]
    specs = []
    for name in data.param_names:
        values, cats, log = numeric_axis(data, name)
        pts = [
            (v, o, n) for v, o, n in zip(values, objective, numbers, strict=True) if v is not None
        ]
        xaxis: dict[str, Any] = {"title": {"text": _t(name)}}
        if cats:
            xaxis.update(tickvals=list(range(len(cats))), ticktext=[_t(c) for c in cats])
        elif log:
            xaxis["type"] = "log"
        specs.append(
            {
                "data": [
                    {
                        "type": "scatter",
                        "mode": "markers",
                        "x": [p[0] for p in pts],
                        "y": [p[1] for p in pts],
                        "text": [f"trial {p[2]}" for p in pts],
                        "marker": {
                            "color": [p[2] for p in pts],
                            "colorscale": "Blues",
                            "size": 8,
                            "line": {"width": 1, "color": "grey"},
                        },
                        "name": _t(name),
                    }
                ],
                "layout": _layout(
                    f"{_t(name)}",
                    height=300,
                    xaxis=xaxis,
                    yaxis={"title": {"text": _t(data.metric_names[0])}},
                ),
            }
        )
    return specs


def curves_spec(curves: list[Curve], metric: str = "reported value") -> Spec:
    """Learning curves: complete solid blue, pruned dashed red with an x at the stop."""
    traces: list[dict[str, Any]] = []
    shown: set[str] = set()
    for c in curves:
        color, dash = {
            "COMPLETE": (COMPLETE_COLOR, "solid"),
            "PRUNED": (PRUNED_COLOR, "dash"),
        }.get(c.state, (OTHER_COLOR, "dot"))
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": list(c.steps),
                "y": list(c.values),
                "name": c.state.lower(),
                "legendgroup": c.state,
                "showlegend": c.state not in shown,
                "line": {"color": color, "dash": dash},
                "marker": {"size": 4},
                "hovertext": f"trial {c.number} ({c.state.lower()})",
            }
        )
        shown.add(c.state)
        if c.state == "PRUNED":
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "x": [c.steps[-1]],
                    "y": [c.values[-1]],
                    "showlegend": False,
                    "legendgroup": c.state,
                    "hovertext": f"trial {c.number} pruned at step {c.steps[-1]}",
                    "marker": {"symbol": "x", "size": 11, "color": PRUNED_COLOR},
                }
            )
    return {
        "data": traces,
        "layout": _layout(
            "Learning curves (x = pruned here)",
            height=420,
            xaxis={
                "title": {"text": "step (epoch)"},
                **({"tickformat": "d", "dtick": 1} if whole_steps(curves) else {}),
            },
            yaxis={"title": {"text": _t(metric)}},
        ),
    }


def pareto_spec(data: StudyData, picked: int | None = None) -> Spec:
    """The first two objectives of every complete trial, the Pareto front highlighted and the
    ``picked`` trial (``final.pick``'s choice) marked with a star."""
    ranks = pareto_ranks(data)
    front = sorted(
        (t for t in data.complete if ranks[t.number] == 0), key=lambda t: float(t.values[0])
    )
    rest = [t for t in data.complete if ranks[t.number] != 0]
    traces = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": "dominated",
            "x": [t.values[0] for t in rest],
            "y": [t.values[1] for t in rest],
            "text": [f"trial {t.number}" for t in rest],
            "marker": {"color": OTHER_COLOR},
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "Pareto front",
            "x": [t.values[0] for t in front],
            "y": [t.values[1] for t in front],
            "text": [f"trial {t.number}" for t in front],
            "marker": {"color": PRUNED_COLOR, "size": 9},
            "line": {"color": PRUNED_COLOR},
        },
    ]
    chosen = [t for t in data.complete if t.number == picked]
    if chosen:
        t = chosen[0]
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"picked: trial {t.number}",
                "x": [t.values[0]],
                "y": [t.values[1]],
                "text": [f"trial {t.number} (final.pick)"],
                "marker": {"color": BEST_COLOR, "size": 16, "symbol": "star"},
            }
        )
    m, d = data.metric_names, data.directions
    return {
        "data": traces,
        "layout": _layout(
            "Pareto front",
            height=450,
            xaxis={"title": {"text": f"{_t(m[0])} ({d[0]})"}},
            yaxis={"title": {"text": f"{_t(m[1])} ({d[1]})"}},
        ),
    }


def _clean(obj: Any) -> Any:
    """Replace NaN and infinities (not JSON) with ``None``, recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def to_script_json(spec: Spec) -> str:
    """JSON for a ``<script type="application/json">`` block: ``<``, ``>``, ``&`` are escaped so
    no user string can close the script element."""
    text = json.dumps(_clean(spec), allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
