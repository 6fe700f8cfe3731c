"""Static PNG plots: drawn when there is something to draw, ``None`` otherwise."""

from __future__ import annotations

import optuna

from tunesmith.reports import data as D
from tunesmith.reports import plots as P

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_plot_is_a_png(shared_study, multi_study):
    data = D.collect(shared_study)
    imp = D.importances(shared_study, data)
    for png in (
        P.history_png(data),
        P.importance_png(imp),
        P.parallel_png(data),
        P.slices_png(data),
        P.curves_png(data, D.curves(data)),
    ):
        assert png is not None and png[:8] == PNG
    assert P.pareto_png(data) is None  # single objective
    multi = D.collect(multi_study)
    png = P.pareto_png(multi)
    assert png is not None and png[:8] == PNG


def test_nothing_to_draw_gives_none():
    data = D.collect(optuna.create_study())
    assert P.history_png(data) is None
    assert P.parallel_png(data) is None
    assert P.slices_png(data) is None
    assert P.curves_png(data, []) is None
    assert P.importance_png(D.Importance({}, "", "none")) is None


def test_dollar_in_names_is_not_mathtext():
    assert P._label("cost $x$") == r"cost \$x\$"
    study = optuna.create_study()
    for v in (1.0, 2.0):
        t = study.ask()
        t.suggest_float("$bad{", 0, 1)  # unbalanced mathtext would raise if not escaped
        study.tell(t, v)
    assert P.slices_png(D.collect(study)) is not None
