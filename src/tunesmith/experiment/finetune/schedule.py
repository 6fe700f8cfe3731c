"""The cost-aware schedule of the default search: which strategy (or recipe) runs next.

It listens to the coordinator's events. Each finished trial tells the
:class:`~tunesmith.search.cost.CostModel` its strategy, wall time, epochs run and score; whenever
a worker is about to be free, the schedule queues the next trial with only its freezing strategy
fixed (the sampler fills in the rest of the configuration), or a published recipe when the recipe
is the arm with the best expected improvement per second and fits in the time left. The rule is
written down in the README ("Cost-aware default search").

The schedule leaves no queued trial behind: when the search stops (its timeout, its trial
budget, ...) the trial it queued for the next free worker is failed with "not started: ...", and
a resumed search fails the queued picks an earlier run left (a process killed mid-search), so
the resumed run starts from its own plan; a queued recipe is kept (it still runs once).

With ``batch`` > 1 (batched head trials on), a pick of the head arm queues up to ``batch`` head
trials at once, as many as the trial budget and the time left allow, so that the coordinator can
ask them in a row and train them together (:mod:`tunesmith.experiment.finetune.heads`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from tunesmith.experiment.budget import trial_seconds
from tunesmith.experiment.events import OnEvent, StudyEvent
from tunesmith.search.cost import Arm, CostModel

log = logging.getLogger(__name__)

STRATEGY = "train.freezing.strategy"
ARM_ATTR = "tunesmith_arm"
HEAD_BATCH = 8
"""Head trials queued at once when batched head trials are on (one pass trains them together)."""
HEAD_PICK_OVERRIDES = {"train.group_by_length": False}
"""Run settings of a batched head pick: on cached features there is no padding for length
grouping to save, and batched heads draw plain shuffled batches, so a base config's
``train.group_by_length: true`` would keep every head trial off the batched path."""
# LoRA backpropagates through every layer (only the adapters' weights are trained): on a CPU a
# LoRA epoch costs about what a full one does, so it sits at full depth.
DEPTH = {"head": 0, "last_k": 1, "progressive": 1, "lora": 2, "full": 2}


def _epochs(space: Any, strategy: str, fallback: int) -> int:
    """The epochs a trial of ``strategy`` trains: the space's fixed variant for it, if any."""
    from tunesmith.config.search import FixedParam, param_path

    for name, spec in space.specs.items():
        if param_path(name) != "train.epochs" or not isinstance(spec, FixedParam):
            continue
        if strategy in spec.when.get(STRATEGY, [strategy]):
            return int(spec.value)
    return fallback


def build_arms(
    space: Any, recipes: Sequence[Mapping[str, Any]], base_epochs: int
) -> tuple[list[Arm], dict[str, dict[str, Any]]]:
    """The arms of the space's strategy choices (cheap first) and one per recipe (run once)."""
    spec = space.specs[STRATEGY]
    choices = [c for c in spec.choices if isinstance(c, str)]
    arms = [Arm(c, DEPTH.get(c, 1), _epochs(space, c, base_epochs)) for c in choices if c != "full"]
    recipe_params: dict[str, dict[str, Any]] = {}
    for i, recipe in enumerate(recipes):
        strategy = str(recipe.get(STRATEGY, "full"))
        name = f"recipe{i}"
        depth = DEPTH.get(strategy, 2)
        epochs = _epochs(space, strategy, base_epochs)
        arms.append(Arm(name, depth, epochs, 1, recipe=True, strategy=strategy))
        recipe_params[name] = dict(recipe)
    if "full" in choices:
        arms.append(Arm("full", DEPTH["full"], _epochs(space, "full", base_epochs)))
    return arms, recipe_params


class CostAwareSchedule:
    """An ``on_event`` listener that queues the next trial's strategy; see the module doc.

    ``study`` is an Optuna study over the same storage the coordinator uses.
    """

    def __init__(
        self,
        study: Any,
        arms: Sequence[Arm],
        recipes: Mapping[str, dict[str, Any]],
        *,
        overrides: Mapping[str, dict[str, Any]] | None = None,
        timeout: float | None,
        workers: int = 1,
        maximize: bool = True,
        then: OnEvent | None = None,
        batch: int = 1,
        n_trials: int | None = None,
    ) -> None:
        self._study = study
        self._model = CostModel(arms, maximize)
        self._recipes = dict(recipes)
        self._overrides = dict(overrides or {})  # a recipe's keys outside the space
        self._timeout = timeout
        self._workers = workers
        self._then = then
        self._seen: set[int] = set()
        self._batch = batch
        self._n_trials = n_trials

    @property
    def model(self) -> CostModel:
        return self._model

    def __call__(self, event: StudyEvent) -> None:
        try:
            if event.kind == "stopped":
                self._drop_queued(_not_started(event.message), keep_recipes=False)
            if event.kind == "started":  # a resumed study: learn from the trials it holds
                self._drop_queued("not started: left queued by an earlier run", keep_recipes=True)
                for trial in self._study.get_trials(deepcopy=False):
                    if trial.state.is_finished():
                        self._observe(trial.number, trial)
            if event.kind == "trial_finished" and event.trial is not None:
                self._observe(event.trial)
            if event.kind in ("started", "trial_finished") or (
                event.kind == "trial_started" and event.progress.running < self._workers
            ):
                self._plan(event)
        finally:
            if self._then is not None:
                self._then(event)

    def _observe(self, number: int, trial: Any = None) -> None:
        if number in self._seen:
            return
        self._seen.add(number)
        if trial is None:
            trial = next(
                (t for t in self._study.get_trials(deepcopy=False) if t.number == number), None
            )
        if trial is None or trial.datetime_start is None or trial.datetime_complete is None:
            return
        arm = trial.user_attrs.get(ARM_ATTR) or trial.params.get(STRATEGY)
        if arm not in {a.name for a in self._model.arms}:
            return
        seconds = trial_seconds(trial)  # less a one-off cache build
        if seconds is None:  # answered from another trial's reports: nothing ran
            return
        self._model.observe(str(arm), seconds, len(trial.intermediate_values), trial.value)

    def _drop_queued(self, reason: str, keep_recipes: bool) -> None:
        """Fail the WAITING trials this schedule queued (recipes too unless ``keep_recipes``)."""
        from optuna.trial import TrialState

        from tunesmith.storage.leases import fail_waiting

        waiting = self._study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        picks = [
            t.number
            for t in waiting
            if ARM_ATTR in t.user_attrs
            and not (keep_recipes and t.user_attrs[ARM_ATTR] in self._recipes)
        ]
        if picks:
            failed = fail_waiting(self._study, picks, reason)
            log.info("cost-aware search: queued trial(s) %s %s", failed, reason)

    def _plan(self, event: StudyEvent) -> None:
        from optuna.trial import TrialState

        from tunesmith.storage.study import RUN_OVERRIDES, enqueue

        if self._study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return
        left = None if self._timeout is None else self._timeout - event.progress.elapsed
        arm = self._model.next_arm(left) or self._model.arms[0]
        params = self._recipes.get(arm.name, {STRATEGY: arm.name})
        attrs: dict[str, Any] = {ARM_ATTR: arm.name}
        overrides = dict(self._overrides.get(arm.name) or {})
        if self._batch > 1 and arm.name == "head":  # batched head trials (finetune.heads)
            overrides.update(HEAD_PICK_OVERRIDES)
        if overrides:
            attrs[RUN_OVERRIDES] = overrides
        count = self._count(arm, left, event)
        for _ in range(count):
            enqueue(self._study, params, attrs)
        log.info(
            "cost-aware search: next %s %s (expected %s s each, %s s left)",
            "trial" if count == 1 else f"{count} trials",
            arm.name,
            _fmt(self._model.expected_trial_seconds(arm.name)),
            _fmt(left),
        )

    def _count(self, arm: Arm, left: float | None, event: StudyEvent) -> int:
        """How many trials of ``arm`` to queue: one, or for the head arm with batching on up to
        ``batch``: no more than fit one after another in the time left (as if the batch saved
        no time; at least one) and than the trials left in ``n_trials`` (none once it is spent,
        so no queued trial outlives the search)."""
        if self._batch <= 1 or arm.recipe or arm.name != "head":
            return 1
        count = self._batch
        expected = self._model.expected_trial_seconds(arm.name)
        if left is not None and expected is not None and expected > 0:
            count = min(count, max(1, int(left // expected)))
        if self._n_trials is not None:
            p = event.progress
            count = min(count, self._n_trials - (p.done + p.failed + p.running))
        return max(0, count)


def _not_started(stop: str | None) -> str:
    """The fail reason of a queued trial the search's stop leaves unstarted."""
    if stop == "timeout":
        return "not started: budget spent"
    return f"not started: the search stopped ({stop or 'done'})"


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"
