"""write_report: the files it writes and what the page holds."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import optuna
import pytest

from tunesmith.reports import REPORT_NAME, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _section(page: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert m, f"section {sid} missing"
    return m.group(1)


def _leaderboard_rows(page: str) -> list[tuple[str, str, str]]:
    """(css class, rank cell, trial cell) of every leaderboard row."""
    body = _section(page, "leaderboard")
    return re.findall(r'<tr class="([^"]*)"><td>(.*?)</td><td>(\d+)</td>', body)


@pytest.fixture(scope="module")
def report(shared_study: optuna.Study, tmp_path_factory) -> tuple[Path, str]:
    path = write_report(shared_study, tmp_path_factory.mktemp("report") / "out")
    return path, path.read_text(encoding="utf-8")


def test_writes_page_and_pngs(report):
    path, page = report
    assert path.name == REPORT_NAME and path.is_file()
    for name in ("history", "importance", "learning_curves", "parallel_coordinates", "slices"):
        png = path.parent / f"{name}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC, name
        assert f'href="{name}.png"' in page
    assert not (path.parent / "pareto_front.png").exists()  # single objective
    assert not list(path.parent.glob("*.tmp"))  # atomic writes leave no temp files


def test_page_is_self_contained(report):
    _, page = report
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"""<(link|img|iframe)[^>]*(src|href)\s*=\s*["']?https?://""", page, re.I)
    assert page.count("* plotly.js v") == 1  # the bundle is embedded once
    assert page.count('class="ts-figure"') >= 6


def test_leaderboard_sorted_by_direction(report, shared_study):
    study = shared_study
    _, page = report
    rows = _leaderboard_rows(page)
    complete = sorted(
        (t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: -t.value
    )
    ranked = [(css, rank, int(n)) for css, rank, n in rows if rank.isdigit()]
    assert [n for _, _, n in ranked] == [t.number for t in complete]
    assert [int(r) for _, r, _ in ranked] == list(range(1, len(complete) + 1))
    assert "best" in ranked[0][0]
    # then pruned, running, failed, without a rank
    tail = [(css.split()[0], int(n)) for css, rank, n in rows if not rank.isdigit()]
    assert [c for c, _ in tail] == ["pruned", "pruned", "running", "fail"]
    assert {n for c, n in tail if c == "pruned"} == {5, 7}
    assert "best epoch" in page and "<td>5</td>" in _section(page, "leaderboard")


def test_pruned_trials_marked(report):
    _, page = report
    rows = _leaderboard_rows(page)
    assert sum(1 for css, _, _ in rows if css.startswith("pruned")) == 2
    assert "(last reported)" in page
    curves = _section(page, "curves")
    assert "x = pruned here" in curves
    spec = re.search(r'data-target="fig\d+">(\{[^<]*Learning curves[^<]*\})</script>', page)
    assert spec, "learning-curve figure spec missing"
    assert spec.group(1).count('"symbol":"x"') == 2  # one x per pruned trial
    assert '"dash":"dash"' in spec.group(1)


def test_failed_trials_listed_with_reason(report, fail_reason):
    _, page = report
    curves = _section(page, "curves")
    assert "Failed trials" in curves
    assert html.escape(fail_reason) in curves
    assert fail_reason not in page  # raw "<boom>" never appears


def test_user_strings_are_escaped(report, evil):
    _, page = report
    assert evil not in page
    assert "<img src=x" not in page
    assert 'alert("x")' not in page.replace("&quot;", "")  # only in escaped form
    assert html.escape(evil) in page  # tables
    assert "&lt;b&gt;study&lt;/b&gt;" in page  # study name in the title
    assert "<b>study</b>" not in page


def test_recheck_and_final_sections(report, shared_study):
    study = shared_study
    _, page = report
    recheck = _section(page, "recheck")
    assert recheck.count("<tr") == 3  # header + 2 entries
    assert 'class="winner"' in recheck and f"<td>{study.best_trial.number}</td>" in recheck
    assert "0.81" in recheck and "0.0082" in recheck
    final = _section(page, "final")
    headline, rest = final.split("<h3>Validation</h3>")
    assert "Test <code>accuracy</code>: <strong>0.7654</strong>" in headline
    val, test = rest.split("<h3>Test")
    assert "0.812" in val and "0.7654" not in val
    assert "0.7654" in test and "0.812" not in test
    assert "retrained on train + validation: yes" in final


def test_absent_recheck_and_final_are_said(build_study, tmp_path):
    page = write_report(build_study(with_attrs=False), tmp_path).read_text(encoding="utf-8")
    assert "did not run" in _section(page, "recheck")
    assert "No final score was recorded" in _section(page, "final")


def test_importance_notes_conditional_params(report):
    _, page = report
    imp = _section(page, "importance")
    assert "fANOVA (mean ± sd over 5 forest seeds)" in imp
    assert "conditional" in imp and "momentum" in imp


def test_too_few_trials_for_importance(build_study, tmp_path):
    path = write_report(build_study(n_trials=6), tmp_path)  # 0, 1, 2, 4 complete
    imp = _section(path.read_text(encoding="utf-8"), "importance")
    assert "needs at least 5 complete trials, the study has 4" in imp
    assert not (tmp_path / "importance.png").exists()


def test_zero_complete_trials(tmp_path):
    study = optuna.create_study(study_name="nothing yet")
    t = study.ask()
    t.suggest_float("lr", 1e-4, 1e-1, log=True)
    t.report(0.5, 1)
    study.tell(t, state=optuna.trial.TrialState.PRUNED)
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    page = write_report(study, tmp_path).read_text(encoding="utf-8")
    assert "no complete trials" in page
    assert not (tmp_path / "history.png").exists()
    assert (tmp_path / "learning_curves.png").is_file()  # the pruned trial's curve still shows
    assert len(_leaderboard_rows(page)) == 2


def test_empty_study(tmp_path):
    page = write_report(optuna.create_study(), tmp_path).read_text(encoding="utf-8")
    assert "The study has no trials." in page
    assert "Trials: 0" in page


def test_multi_objective_shows_pareto_front(multi_study, tmp_path):
    page = write_report(multi_study, tmp_path).read_text(encoding="utf-8")
    assert (tmp_path / "pareto_front.png").read_bytes()[:8] == PNG_MAGIC
    assert "Pareto front" in _section(page, "pareto")
    lb = _section(page, "leaderboard")
    assert "Pareto rank" in lb and "accuracy / latency_ms" in lb
    front = {t.number for t in multi_study.best_trials}
    rows = _leaderboard_rows(page)
    assert {int(n) for css, _, n in rows if "best" in css} == front
    assert [int(n) for _, _, n in rows[: len(front)]] == sorted(
        front, key=lambda n: -multi_study.trials[n].values[0]
    )
    assert "PED-ANOVA" in _section(page, "importance")


def test_rewrite_replaces_the_report(study, tmp_path):
    first = write_report(study, tmp_path).read_text(encoding="utf-8")
    t = study.ask({"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)})
    study.tell(t, 0.99)
    second = write_report(study, tmp_path).read_text(encoding="utf-8")
    assert first != second
    assert _leaderboard_rows(second)[0][2] == str(t.number)


def _pareto_run(study: optuna.Study) -> int:
    """Records like a multi-objective fine-tuning run's: the pick, the final and an ensemble."""
    picked = min(study.best_trials, key=lambda t: t.values[1]).number
    study.set_user_attr(
        "pick",
        {"trial": picked, "rule": "cheapest_within", "rule_text": "cheapest_within: <words>",
         "reason": f"cheapest_within: trial {picked} is the lowest latency_ms", "front": []},
    )  # fmt: skip
    study.set_user_attr(
        "final", {"metric": "accuracy", "best_trial": picked, "validation": {"accuracy": 0.9},
                  "test": {"accuracy": 0.85}, "retrained_on_train_val": False,
                  "cost": {"latency_ms": 0.25, "params": 1234.0}},
    )  # fmt: skip
    study.set_user_attr(
        "ensemble",
        {"k": 2, "trials": [picked, 7], "test": {"accuracy": 0.875, "log_loss": 0.30},
         "winner_test": {"accuracy": 0.85, "log_loss": 0.35}, "model_path": "runs/x/best/ensemble"},
    )  # fmt: skip
    return picked


def test_pareto_front_marks_the_picked_member(multi_study, tmp_path):
    picked = _pareto_run(multi_study)
    page = write_report(multi_study, tmp_path).read_text(encoding="utf-8")
    body = _section(page, "pareto")
    assert f"Picked: trial <strong>{picked}</strong> by <code>final.pick</code> rule" in body
    assert "cheapest_within: &lt;words&gt;" in body  # escaped
    specs = re.findall(r'<script type="application/json" class="ts-figure"[^>]*>(.*?)</script>',
                       page)  # fmt: skip
    pareto = next(json.loads(s) for s in specs if '"Pareto front"' in s)
    star = next(t for t in pareto["data"] if t["name"] == f"picked: trial {picked}")
    assert star["marker"]["symbol"] == "star"
    assert [star["x"][0], star["y"][0]] == multi_study.trials[picked].values
    final = _section(page, "final")
    assert "Measured cost: <code>latency_ms</code> 0.25, <code>params</code> 1234" in final


def test_ensemble_and_single_winner_side_by_side(multi_study, tmp_path):
    picked = _pareto_run(multi_study)
    page = write_report(multi_study, tmp_path).read_text(encoding="utf-8")
    body = _section(page, "ensemble")
    assert f"ensemble of 2 (trials {picked}, 7)" in body
    assert f"single winner (trial {picked})" in body
    rows = re.findall(r"<tr[^>]*><td><code>(\w+)</code></td><td>([^<]*)</td><td>([^<]*)</td>"
                      r"<td>([^<]*)</td>", body)  # fmt: skip
    assert [r[0] for r in rows] == ["accuracy", "log_loss"]
    acc = rows[0]
    assert float(acc[1]) == 0.875 and float(acc[2]) == 0.85
    assert float(acc[3]) == pytest.approx(0.025)
    assert "runs/x/best/ensemble" in body
    assert 'href="#ensemble"' in page  # listed in the page's navigation


def test_no_ensemble_section_without_an_ensemble(shared_study, tmp_path):
    page = write_report(shared_study, tmp_path).read_text(encoding="utf-8")
    assert 'id="ensemble"' not in page
