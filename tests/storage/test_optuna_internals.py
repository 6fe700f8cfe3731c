"""Pins every Optuna internal tunesmith relies on (all reached through tunesmith.storage).

Each assertion names the internal and who needs it, so an Optuna upgrade that changes one fails
here with that name rather than somewhere deep in a study run.
"""

from __future__ import annotations

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from optuna.samplers import GridSampler
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from tunesmith.errors import TunesmithError
from tunesmith.storage.internals import (
    GRID_ATTRS,
    clear_trial_cache,
    configure_grid,
    grid_size,
    stored_trial,
    study_id,
    study_storage,
    study_view,
    trial_id,
    trial_system_attrs,
)
from tunesmith.storage.study import enqueue

VERSION = optuna.__version__


def _study(tmp_path, **kwargs):
    return optuna.create_study(study_name="pin", storage=f"sqlite:///{tmp_path}/s.db", **kwargs)


def test_study_storage_and_id(tmp_path):
    study = _study(tmp_path)
    storage = study_storage(study)
    assert isinstance(storage, BaseStorage), f"Optuna {VERSION}: Study._storage is no storage"
    assert study_id(study) == storage.get_study_id_from_name("pin"), (
        f"Optuna {VERSION}: Study._study_id is not the storage's id of the study"
    )


def test_trial_id_of_live_and_frozen_trials_reads_with_get_trial(tmp_path):
    study = _study(tmp_path)
    study.ask()
    live = study.ask()
    frozen = study.get_trials(deepcopy=False)[1]
    assert trial_id(live) == trial_id(frozen), f"Optuna {VERSION}: Trial/FrozenTrial._trial_id"
    got = study_storage(study).get_trial(trial_id(live))
    assert got.number == live.number == 1, f"Optuna {VERSION}: get_trial(_trial_id) is no read"
    live.set_user_attr("k", 1)
    assert stored_trial(study, live).user_attrs == {"k": 1}
    assert stored_trial(study, live).state == TrialState.RUNNING


def test_clearing_the_trial_cache_makes_a_directly_written_trial_visible(tmp_path):
    """ask_owned writes trials straight to the storage; samplers read the cached list."""
    study = _study(tmp_path)
    study.ask()
    assert hasattr(study._thread_local, "cached_all_trials"), (
        f"Optuna {VERSION}: Study._thread_local.cached_all_trials is gone (clear_trial_cache)"
    )
    assert len(study._get_trials(deepcopy=False, use_cache=True)) == 1  # fills the cache
    study_storage(study).create_new_trial(study_id(study))
    clear_trial_cache(study)
    assert len(study._get_trials(deepcopy=False, use_cache=True)) == 2, (
        f"Optuna {VERSION}: clearing Study._thread_local.cached_all_trials no longer refreshes "
        "the trials samplers see"
    )


def test_trial_created_running_with_attrs_and_wrapped_as_a_live_trial(tmp_path):
    """ask_owned: create_new_trial(template_trial=...) is one write; optuna.Trial(study, id)."""
    import datetime

    study = _study(tmp_path)
    template = optuna.trial.FrozenTrial(
        number=-1,
        state=TrialState.RUNNING,
        value=None,
        datetime_start=datetime.datetime.now(),
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={"owner": {"pid": 1}},
        system_attrs={},
        intermediate_values={},
        trial_id=-1,
    )
    tid = study_storage(study).create_new_trial(study_id(study), template_trial=template)
    trial = optuna.Trial(study, tid)
    assert trial.number == 0 and trial.user_attrs == {"owner": {"pid": 1}}
    assert study.trials[0].state == TrialState.RUNNING
    assert trial.suggest_float("x", 0, 1) is not None  # the wrapped trial samples as usual


def test_waiting_to_running_is_won_once_and_finished_trials_refuse(tmp_path):
    """ask_owned pops WAITING trials with set_trial_state_values and its two answers."""
    study = _study(tmp_path)
    storage = study_storage(study)
    enqueue(study, {"x": 0.5})
    tid = trial_id(study.trials[0])
    assert storage.set_trial_state_values(tid, state=TrialState.RUNNING) is True
    assert storage.set_trial_state_values(tid, state=TrialState.RUNNING) is False, (
        f"Optuna {VERSION}: moving a trial that is no longer WAITING to RUNNING must return False"
    )
    storage.set_trial_state_values(tid, state=TrialState.FAIL)
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_user_attr(tid, "k", 1)


def test_enqueued_params_are_kept_as_fixed_params(tmp_path):
    """experiment/finish.py reads a WAITING trial's params from system_attrs['fixed_params']."""
    study = _study(tmp_path)
    enqueue(study, {"x": 0.25, "k": "a"})
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert waiting[0].params == {}
    assert waiting[0].system_attrs.get("fixed_params") == {"x": 0.25, "k": "a"}, (
        f"Optuna {VERSION}: enqueued params are no longer in system_attrs['fixed_params']"
    )


def test_grid_sampler_has_the_attributes_configure_grid_replaces():
    sampler = GridSampler({"a": [1, 2]})
    for name in GRID_ATTRS:
        assert hasattr(sampler, name), f"Optuna {VERSION}: GridSampler.{name} is gone"
    assert sampler._param_names == ["a"] and sampler._n_min_trials == len(sampler._all_grids) == 2
    assert grid_size(sampler) == 2, f"Optuna {VERSION}: GridSampler._n_min_trials (grid_size)"
    assert grid_size(optuna.samplers.RandomSampler()) is None


def test_configured_grid_enumerates_exactly_the_given_points_then_stops(tmp_path):
    """A conditional grid: depth exists only for kind 'a'; None marks it inactive."""
    grids = [(2, "a"), (None, "b"), (1, "a")]  # values in sorted-name order: depth, kind
    sampler = GridSampler({}, seed=0)
    configure_grid(sampler, {"kind": ["a", "b"], "depth": [1, 2]}, grids)
    study = _study(tmp_path, sampler=sampler)
    seen = []

    def objective(trial):
        kind = trial.suggest_categorical("kind", ["a", "b"])
        depth = trial.suggest_int("depth", 1, 2) if kind == "a" else None
        seen.append((depth, kind))
        return 0.0

    study.optimize(objective, n_trials=10)
    assert seen == grids, f"Optuna {VERSION}: GridSampler no longer runs its _all_grids in order"
    assert sampler.is_exhausted(study)
    assert [t.system_attrs["grid_id"] for t in study.trials] == [0, 1, 2], (
        f"Optuna {VERSION}: the coordinator counts used points by the 'grid_id' system attribute"
    )
    assert grid_size(sampler) == 3


def test_configure_grid_refuses_a_sampler_without_those_attributes():
    class NotAGrid:
        _search_space: dict[str, list[int]] = {}

    with pytest.raises(TunesmithError, match="_param_names, _all_grids, _n_min_trials"):
        configure_grid(NotAGrid(), {"a": [1]}, [(1,)])


def test_trial_system_attrs_hold_fixed_params_of_a_queued_trial(tmp_path):
    """The coordinator tells a queued trial from a sampled one without a storage read."""
    study = _study(tmp_path)
    enqueue(study, {"x": 0.5})
    queued = study.ask()
    sampled = study.ask()
    assert "fixed_params" in trial_system_attrs(queued), (
        f"Optuna {VERSION}: Trial._cached_frozen_trial.system_attrs lacks fixed_params"
    )
    assert "fixed_params" not in trial_system_attrs(sampled)


def test_samplers_read_trials_through_study_get_trials(tmp_path):
    """The failure-aware sampler answers Study._get_trials(deepcopy, states, use_cache)."""
    import inspect

    params = list(inspect.signature(optuna.Study._get_trials).parameters)
    assert params[:4] == ["self", "deepcopy", "states", "use_cache"], (
        f"Optuna {VERSION}: Study._get_trials takes {params}"
    )
    study = _study(tmp_path)
    for _ in range(3):
        study.tell(study.ask(), 1.0)
    view = study_view(study, lambda trials: trials[:2])
    assert len(view._get_trials(deepcopy=False, states=(TrialState.COMPLETE,), use_cache=True)) == 2
    assert len(view.get_trials()) == 2 and view.directions == study.directions


def test_rdb_schema_tables_and_columns() -> None:
    """The write-behind layer writes these tables and columns directly."""
    from tunesmith.storage.internals import rdb_schema

    m = rdb_schema()
    wanted = {
        m.TrialModel: {
            "trial_id",
            "number",
            "study_id",
            "state",
            "datetime_start",
            "datetime_complete",
        },
        m.TrialParamModel: {"trial_id", "param_name", "param_value", "distribution_json"},
        m.TrialValueModel: {"trial_id", "objective", "value", "value_type"},
        m.TrialIntermediateValueModel: {
            "trial_id",
            "step",
            "intermediate_value",
            "intermediate_value_type",
        },
        m.TrialUserAttributeModel: {"trial_id", "key", "value_json"},
        m.TrialSystemAttributeModel: {"trial_id", "key", "value_json"},
        m.StudyModel: {"study_id"},
    }
    for model, columns in wanted.items():
        have = set(model.__table__.c.keys())
        assert columns <= have, (
            f"{model.__name__} lost columns {columns - have}: Optuna's schema changed"
        )
    assert m.TrialValueModel.value_to_stored_repr(float("inf"))[0] is None
    assert m.TrialIntermediateValueModel.intermediate_value_to_stored_repr(1.5)[0] == 1.5
