"""MLflow: one parent run per study (its settings as params), one nested run per trial.

Runs are made with :class:`mlflow.tracking.MlflowClient` and the parent is set explicitly on each
trial run (the ``mlflow.parentRunId`` tag), never through MLflow's per-thread "active run", so
threads and workers cannot attach a trial to the wrong parent. The store is
``sqlite:///runs/<study>/mlruns/mlflow.db`` unless ``study.mlflow_uri`` names another.
"""

from __future__ import annotations

import logging
from typing import Any

from tunesmith.trackers.base import flat_settings, run_root

log = logging.getLogger(__name__)

STUDY_TAG = "tunesmith.study"
ROLE_TAG = "tunesmith.role"
PARENT_TAG = "mlflow.parentRunId"
MAX_TAG = 5000
STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def default_uri(study_name: str) -> str:
    folder = (run_root(study_name) / "mlruns").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def _probe(uri: str, timeout: float = 3.0) -> None:
    """Fail fast when an HTTP tracking server is down (MLflow itself retries for minutes)."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.request

    with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout):  # noqa: S310
        pass


def _text(value: Any) -> str:
    return str(value)[:MAX_TAG]


class MlflowTracker:
    name = "mlflow"

    def __init__(self, config: Any) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = config.mlflow_uri or default_uri(config.name)
        _probe(self.uri)
        self._client = MlflowClient(tracking_uri=self.uri)
        self._config = config
        self._metrics = config.metric_names or ["value"]
        self._experiment = self._experiment_id(config.name)
        self.parent: str | None = None
        self._runs: dict[int, str] = {}
        self._last: dict[int, float] = {}

    def _experiment_id(self, name: str) -> str:
        found = self._client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        return str(self._client.create_experiment(name))

    def _start_parent(self) -> None:
        name = self._config.name
        earlier = self._client.search_runs(
            [self._experiment],
            filter_string=f"tags.`{STUDY_TAG}` = '{name}' and tags.`{ROLE_TAG}` = 'study'",
            max_results=1,
        )
        if earlier:  # a resumed study keeps its parent run (params are written once)
            self.parent = earlier[0].info.run_id
            self._client.update_run(self.parent, status="RUNNING")
            return
        run = self._client.create_run(
            self._experiment, run_name=name, tags={STUDY_TAG: name, ROLE_TAG: "study"}
        )
        self.parent = run.info.run_id
        from mlflow.entities import Param

        params = [Param(k[:250], _text(v)) for k, v in flat_settings(self._config).items()]
        self._client.log_batch(self.parent, params=params)

    def handle(self, event: Any) -> None:
        if event.kind == "started":
            self._start_parent()
        elif self.parent is None:
            return
        elif event.kind == "trial_started" and event.trial is not None:
            self._start_trial(event.trial, event.params or {})
        elif event.kind == "trial_reported" and event.trial in self._runs and event.values:
            run_id = self._runs[event.trial]
            self._client.log_metric(run_id, self._metrics[0], event.values[0], step=event.step or 0)
            self._last[event.trial] = event.values[0]
        elif event.kind == "trial_finished" and event.trial in self._runs:
            self._finish_trial(event)
        elif event.kind == "stopped":
            self._client.set_tag(self.parent, "tunesmith.stop_reason", _text(event.message))
            self._client.set_terminated(self.parent, "FINISHED")
            self.parent = None

    def _start_trial(self, number: int, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        assert self.parent is not None
        run = self._client.create_run(
            self._experiment,
            run_name=f"trial-{number}",
            tags={PARENT_TAG: self.parent, STUDY_TAG: self._config.name, "tunesmith.trial": number},
        )
        self._runs[number] = run.info.run_id
        if params:
            batch = [Param(k[:250], _text(v)) for k, v in params.items()]
            self._client.log_batch(run.info.run_id, params=batch)

    def _finish_trial(self, event: Any) -> None:
        run_id = self._runs.pop(event.trial)
        state = event.state or "FAIL"
        last = self._last.pop(event.trial, None)
        values = event.values or (() if last is None or state != "PRUNED" else (last,))
        for name, value in zip(self._metrics, values, strict=False):
            self._client.log_metric(run_id, f"final.{name}", value)
        self._client.set_tag(run_id, "tunesmith.state", state)
        if event.message:
            self._client.set_tag(run_id, "tunesmith.fail_reason", _text(event.message))
        self._client.set_terminated(run_id, STATUS.get(state, "FAILED"))

    def close(self) -> None:
        """End what is still open (an interrupted study): trial runs KILLED, the parent too."""
        for run_id in self._runs.values():
            self._client.set_terminated(run_id, "KILLED")
        self._runs.clear()
        if self.parent is not None:
            self._client.set_terminated(self.parent, "KILLED")
            self.parent = None
