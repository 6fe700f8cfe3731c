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
    assert [d["label"] for d in dims] == ["freeze_k", "lr (log10)", "optimizer", "objective"]
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
        "objective",
        "best so far",
    ]
    multi = F.history_specs(D.collect(multi_study))
    assert len(multi) == 2 and all(len(s["data"]) == 1 for s in multi)
