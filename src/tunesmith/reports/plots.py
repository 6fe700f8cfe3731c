"""Static PNG plots of a study with matplotlib (Agg canvas; pyplot's global state is not used).

Each function takes the records of :mod:`.data` and returns PNG bytes, or ``None`` when the study
has nothing to draw for that plot.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PRUNED_COLOR = "#d62728"
COMPLETE_COLOR = "#1f77b4"
OTHER_COLOR = "#7f7f7f"
BEST_COLOR = "#ff7f0e"


def _label(text: str) -> str:
    """User text for a matplotlib label: ``$`` would start mathtext, so it is escaped."""
    return str(text).replace("$", r"\$")


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def history_png(data: StudyData) -> bytes | None:
    """Objective per complete trial with the best-so-far line (one panel per objective)."""
    from matplotlib.ticker import MaxNLocator

    if not data.complete:
        return None
    n_obj = len(data.directions)
    fig = _figure(8, 3.2 * n_obj)
    axes = fig.subplots(n_obj, 1, squeeze=False)[:, 0]
    for i, ax in enumerate(axes):
        numbers, values, best = history(data, i)
        ax.scatter(numbers, values, s=18, color=COMPLETE_COLOR, label=_label(data.metric_names[i]))
        if not data.multi:
            ax.step(numbers, best, where="post", color=BEST_COLOR, label="best so far")
            pruned_x, pruned_y = pruned_points(data)
            if pruned_x:
                ax.scatter(
                    pruned_x,
                    pruned_y,
                    s=22,
                    marker="x",
                    color=PRUNED_COLOR,
                    label="pruned (last reported)",
                )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("trial")
        ax.set_ylabel(f"{_label(data.metric_names[i])} ({data.directions[i]})")
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    axes[0].set_title("Optimisation history")
    return _png(fig)


def importance_png(imp: Importance) -> bytes | None:
    """Horizontal bars of parameter importance, most important on top."""
    if not imp.values:
        return None
    names = list(imp.values)[::-1]
    fig = _figure(8, 1.0 + 0.4 * len(names))
    ax = fig.subplots()
    errors = [imp.spread.get(n, 0.0) for n in names] if imp.spread else None
    ax.barh(
        [_label(n) for n in names],
        [imp.values[n] for n in names],
        xerr=errors,
        color=COMPLETE_COLOR,
        ecolor="black",
        capsize=3,
    )
    ax.set_xlabel("importance (bar: ± 1 sd over seeds)" if imp.spread else "importance")
    ax.set_title(f"Hyperparameter importance: {imp.method}")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _scaled(values: list[float | None], log: bool) -> list[float]:
    """Values scaled to [0, 1] (log10 first for log axes); missing values become NaN."""
    tx = [
        math.nan
        if v is None
        else (math.log10(v) if log and v > 0 else (math.nan if log else float(v)))
        for v in values
    ]
    finite = [v for v in tx if math.isfinite(v)]
    if not finite:
        return [math.nan] * len(values)
    lo, hi = min(finite), max(finite)
    span = hi - lo or 1.0
    return [(v - lo) / span if math.isfinite(v) else math.nan for v in tx]


def parallel_png(data: StudyData) -> bytes | None:
    """Parallel coordinates: one axis per parameter plus the objective, lines coloured by it."""
    if not data.complete or not data.param_names:
        return None
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    columns: list[tuple[str, list[float], str, str]] = []
    for name in data.param_names:
        values, cats, log = numeric_axis(data, name)
        raw = [v for v in values if v is not None]
        if cats:
            lo_txt, hi_txt = cats[0], cats[-1]
        else:
            lo_txt = f"{min(raw):.3g}" if raw else ""
            hi_txt = f"{max(raw):.3g}" if raw else ""
        columns.append((name + (" (log)" if log else ""), _scaled(values, log), lo_txt, hi_txt))
    objective = [float(t.values[0]) for t in data.complete]
    columns.append(
        (
            data.metric_names[0],
            _scaled(list(objective), False),
            f"{min(objective):.4g}",
            f"{max(objective):.4g}",
        )
    )
    fig = _figure(max(6.0, 1.6 * len(columns)), 4.5)
    ax = fig.subplots()
    cmap = colormaps["viridis" if data.directions[0] == "maximize" else "viridis_r"]
    norm = Normalize(min(objective), max(objective) if max(objective) > min(objective) else None)
    xs = list(range(len(columns)))
    for row, value in enumerate(objective):
        ys = [col[1][row] for col in columns]
        ax.plot(xs, ys, color=cmap(norm(value)), alpha=0.7, linewidth=1.2)
    for x, (_, _, lo_txt, hi_txt) in zip(xs, columns, strict=True):
        ax.axvline(x, color="black", linewidth=0.8)
        ax.annotate(_label(lo_txt), (x, -0.04), ha="center", va="top", fontsize=7)
        ax.annotate(_label(hi_txt), (x, 1.04), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(xs, [_label(c[0]) for c in columns], rotation=20, ha="right")
    ax.set_yticks([])
    ax.set_ylim(-0.12, 1.12)
    ax.set_title("Parallel coordinates (complete trials)")
    return _png(fig)


def slices_png(data: StudyData) -> bytes | None:
    """The first objective against each parameter, one panel per parameter."""
    if not data.complete or not data.param_names:
        return None
    n = len(data.param_names)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = _figure(4.0 * cols, 3.2 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    objective = [float(t.values[0]) for t in data.complete]
    numbers = [t.number for t in data.complete]
    sc = None
    for ax, name in zip(axes, data.param_names, strict=False):
        values, cats, log = numeric_axis(data, name)
        pts = [
            (v, o, k) for v, o, k in zip(values, objective, numbers, strict=True) if v is not None
        ]
        if pts:
            sc = ax.scatter(
                [p[0] for p in pts],
                [p[1] for p in pts],
                c=[p[2] for p in pts],
                cmap="Blues",
                edgecolors="grey",
                s=22,
            )
        if cats:
            ax.set_xticks(range(len(cats)), [_label(c) for c in cats], rotation=20)
        elif log:
            ax.set_xscale("log")
        ax.set_xlabel(_label(name))
        ax.set_ylabel(_label(data.metric_names[0]))
        ax.grid(alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    if sc is not None:
        fig.colorbar(sc, ax=axes.tolist(), label="trial number", shrink=0.8)
    fig.suptitle("Slices: objective against each parameter")
    return _png(fig)


def curves_png(data: StudyData, curves: list[Curve]) -> bytes | None:
    """Learning curves; pruned trials dashed red with an x where they were stopped."""
    from matplotlib.ticker import MaxNLocator

    if not curves:
        return None
    fig = _figure(8, 4.5)
    ax = fig.subplots()
    seen: set[str] = set()
    for c in curves:
        style: dict[str, Any]
        if c.state == "PRUNED":
            style = {"color": PRUNED_COLOR, "linestyle": "--", "alpha": 0.8}
        elif c.state == "COMPLETE":
            style = {"color": COMPLETE_COLOR, "linestyle": "-", "alpha": 0.8}
        else:
            style = {"color": OTHER_COLOR, "linestyle": ":", "alpha": 0.8}
        label = c.state.lower() if c.state not in seen else None
        seen.add(c.state)
        ax.plot(c.steps, c.values, marker="." if len(c.steps) < 30 else None, label=label, **style)
        if c.state == "PRUNED":
            ax.plot(
                c.steps[-1],
                c.values[-1],
                marker="x",
                markersize=9,
                color=PRUNED_COLOR,
                markeredgewidth=2,
                linestyle="none",
            )
    if whole_steps(curves):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step (epoch)")
    ax.set_ylabel(_label(f"reported {data.metric_names[0]}"))
    ax.set_title("Learning curves (x = pruned here)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return _png(fig)


def pareto_png(data: StudyData, picked: int | None = None) -> bytes | None:
    """The first two objectives of every complete trial, the Pareto front highlighted and the
    ``picked`` trial marked with a star."""
    if not data.multi or not data.complete:
        return None
    ranks = pareto_ranks(data)
    front = sorted(
        (t for t in data.complete if ranks[t.number] == 0), key=lambda t: float(t.values[0])
    )
    rest = [t for t in data.complete if ranks[t.number] != 0]
    fig = _figure(6.5, 5)
    ax = fig.subplots()
    if rest:
        ax.scatter(
            [t.values[0] for t in rest],
            [t.values[1] for t in rest],
            color=OTHER_COLOR,
            s=18,
            label="dominated",
        )
    ax.plot(
        [t.values[0] for t in front],
        [t.values[1] for t in front],
        color=PRUNED_COLOR,
        marker="o",
        label="Pareto front",
    )
    for t in front:
        ax.annotate(
            str(t.number),
            (t.values[0], t.values[1]),
            fontsize=7,
            textcoords="offset points",
            xytext=(4, 4),
        )
    for t in (t for t in data.complete if t.number == picked):
        ax.scatter(
            [t.values[0]], [t.values[1]], marker="*", s=260, color=BEST_COLOR, zorder=3,
            label=f"picked: trial {t.number}",
        )  # fmt: skip
    ax.set_xlabel(f"{_label(data.metric_names[0])} ({data.directions[0]})")
    ax.set_ylabel(f"{_label(data.metric_names[1])} ({data.directions[1]})")
    ax.set_title("Pareto front" + (" (first two objectives)" if len(data.directions) > 2 else ""))
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return _png(fig)
