"""final.ensemble: the top K re-checked models averaged, scored beside the winner, exported."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_fixtures import experiment, load, tiny_workdir, write_npz  # noqa: E402

__all__ = ["tiny_workdir"]


def test_final_ensemble_averages_the_top_rechecked_models(
    tiny_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunesmith import load_model
    from tunesmith.engine.data.build import DataBundle
    from tunesmith.experiment import run_experiment
    from tunesmith.experiment.finetune.ensemble import run_ensemble

    paths = write_npz(tiny_workdir)
    mapping = experiment("ens", paths, study={"n_trials": 3}, final={"ensemble": 2})
    study = run_experiment(load(mapping))
    record, table = study.user_attrs["ensemble"], study.user_attrs["recheck"]
    assert record["k"] == 2 and record["trials"] == [r["trial"] for r in table[:2]]
    # the winner scored in the ensemble's pass is the model the final phase tested
    final = study.user_attrs["final"]
    assert record["winner_test"]["log_loss"] == pytest.approx(final["test"]["log_loss"], abs=1e-6)

    ens = load_model(record["model_path"])
    test = np.load(paths["test"])
    x, y = test["x"], test["y"]
    assert len(ens.members) == 2
    probs = ens.predict_proba(x)
    singles = [m.predict_proba(x) for m in ens.members]
    np.testing.assert_allclose(probs, np.mean(singles, axis=0), rtol=1e-6)
    accuracy = float(np.mean(np.asarray(ens.predict(x)) == y))
    assert record["test"]["accuracy"] == pytest.approx(accuracy)
    for member, scores in zip(singles, record["member_test"], strict=True):
        assert scores["accuracy"] == pytest.approx(float(np.mean(member.argmax(axis=1) == y)))

    from tunesmith.reports.summary import _write_final

    text = io.StringIO()
    _write_final(final, text, record)
    assert f"ensemble of the top 2 (trials {record['trials']}): test accuracy" in text.getvalue()

    reads = []
    real = DataBundle.test

    def counted(self):  # type: ignore[no-untyped-def]
        reads.append(1)
        return real(self)

    monkeypatch.setattr(DataBundle, "test", counted)
    again = run_ensemble(study, "runs/ens/trials", k=2, run_dir=tiny_workdir / "again")
    assert len(reads) == 1  # one read of the test split for every member
    assert again["test"] == pytest.approx(record["test"])


@pytest.mark.parametrize(
    ("final", "recheck", "message"),
    [
        ({"ensemble": 3}, {"top_k": 2, "seeds": 1}, "at most recheck.top_k"),
        ({"ensemble": 2, "train_on": "train+validation"}, None, "needs final.train_on 'train'"),
        ({"ensemble": 1}, None, "final.ensemble: must be >= 2"),
    ],
)
def test_ensemble_settings_are_checked(tmp_path: Path, final, recheck, message) -> None:
    from tunesmith.errors import ConfigError

    mapping = experiment("bad", write_npz(tmp_path), final=final)
    if recheck is not None:
        mapping["recheck"] = recheck
    with pytest.raises(ConfigError, match=message):
        load(mapping)
