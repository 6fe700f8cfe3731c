"""plotly.js figure specs: escaped text, JSON safe inside a script element."""

from __future__ import annotations

import json
import math

from tunesmith.reports import data as D
from tunesmith.reports import figures as F


def test_script_json_cannot_close_the_script_element():
    text = F.to_script_json({"a": "</script><b>&", "n": math.nan, "l": [math.inf, 1.0]})
    assert "</" not in text and "<" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><b>&", "n": None, "l": [None, 1.0]}


def test_specs_escape_user_text(shared_study, evil):
    data = D.collect(shared_study)
    spec, left_out = F.parallel_spec(data)
    assert left_out == ["momentum"]
    dims = spec["data"][0]["dimensions"]
    assert [d["label"] for d in dims] == ["freeze_k", "lr (log10)", "optimizer", "accuracy"]
    ticks = dims[2]["ticktext"]
    assert evil not in ticks and any("&lt;img" in t for t in ticks)


def test_curves_spec_marks_pruned(shared_study):
    spec = F.curves_spec(D.curves(D.collect(shared_study)))
    xs = [t for t in spec["data"] if t.get("marker", {}).get("symbol") == "x"]
    assert sorted(t["hovertext"] for t in xs) == [
        "trial 5 pruned at step 2",
        "trial 7 pruned at step 2",
    ]
    dashed = [t for t in spec["data"] if t.get("line", {}).get("dash") == "dash"]
    assert len(dashed) == 2


def test_history_one_figure_per_objective(shared_study, multi_study):
    single = F.history_specs(D.collect(shared_study))
    assert len(single) == 1 and [t["name"] for t in single[0]["data"]] == [
        "accuracy",
        "best so far",
        "pruned (last reported)",
    ]
    multi = F.history_specs(D.collect(multi_study))
    assert len(multi) == 2 and all(len(s["data"]) == 1 for s in multi)


def test_history_shows_pruned_trials_at_their_last_reported_value(shared_study):
    (spec,) = F.history_specs(D.collect(shared_study))
    pruned = next(t for t in spec["data"] if t["name"] == "pruned (last reported)")
    assert pruned["x"] == [5, 7]
    for number, y in zip(pruned["x"], pruned["y"], strict=True):
        trial = shared_study.trials[number]
        assert y == trial.intermediate_values[max(trial.intermediate_values)]
    assert spec["layout"]["xaxis"]["tickformat"] == "d"


def test_epoch_axis_ticks_whole_numbers_and_names_the_metric(shared_study):
    curves = D.curves(D.collect(shared_study))
    spec = F.curves_spec(curves, "reported validation accuracy")
    assert spec["layout"]["xaxis"]["dtick"] == 1 and spec["layout"]["xaxis"]["tickformat"] == "d"
    assert spec["layout"]["yaxis"]["title"]["text"] == "reported validation accuracy"
    fractional = [D.Curve(0, "COMPLETE", (0.5, 1.5), (0.1, 0.2))]  # not epochs: no forcing
    assert "dtick" not in F.curves_spec(fractional)["layout"]["xaxis"]


def test_importance_bars_carry_their_spread_over_seeds(shared_study):
    imp = D.importances(shared_study, D.collect(shared_study))
    assert set(imp.spread) == set(imp.values) and any(v > 0 for v in imp.spread.values())
    assert f"from only {len(D.collect(shared_study).complete)} complete trials" in imp.note
    bars = F.importance_spec(imp)["data"][0]
    names = [n for n in bars["y"]]
    assert bars["error_x"]["array"] == [imp.spread[n] for n in names]
