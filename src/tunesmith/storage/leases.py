"""Trial ownership: who runs a RUNNING trial, until when, and what to do when the owner is gone.

Each trial a coordinator starts carries two user attributes: ``owner`` (host, process id, a run id
unique to that coordinator, start time) and ``lease_until`` (a UNIX time the coordinator keeps
pushing forward). A RUNNING trial is stale when its owner ran on this host and that process is
gone (or is this very process under an earlier run id), or when its lease has expired. Stale
trials are marked FAIL and their parameters queued again, once: the new trial names the one it
replaces (``requeued_from``), and a trial that already has a replacement is never queued again.

Asking for a trial within a budget and failing-then-requeuing run under :func:`study_lock`, so
several coordinators (processes or hosts) sharing a study never exceed ``n_trials`` between them
and never re-queue one trial twice.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tunesmith.storage.internals import clear_trial_cache, study_id, study_storage, trial_id
from tunesmith.storage.locks import study_lock
from tunesmith.storage.study import RUN_OVERRIDES, WARM_START_FROM, enqueue

log = logging.getLogger(__name__)

OWNER = "owner"
LEASE = "lease_until"
REQUEUED = "requeued"
REQUEUED_FROM = "requeued_from"
FAIL_REASON = "fail_reason"
UNOWNED_GRACE_S = 600.0
"""A RUNNING trial with no owner (killed between ask and the owner write) is stale after this."""


@dataclass(frozen=True)
class Owner:
    """The identity of one coordinator run."""

    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def attrs(self, started: float) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "run": self.run, "started": started}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process: alive
        return True
    except OSError:
        return False
    return True


BUDGET_STATES = ("COMPLETE", "PRUNED", "RUNNING")
"""Trial states a trial budget counts (a failed trial is replaced, not counted)."""


def ask_owned(
    study: Any, owner: dict[str, Any], lease_until: float, budget: int | None = None
) -> Any:
    """``study.ask()`` whose trial is never RUNNING without an owner, even for an instant.

    With ``budget``, returns None instead when the study already holds ``budget`` complete,
    pruned or running trials; the count and the new trial are one step under the study's lock,
    so coordinators sharing the study never start more than ``budget`` between them.

    ``study.ask()`` creates (or pops) a RUNNING trial and only then could the owner be written:
    a process killed in between would leave a RUNNING trial nobody can prove dead. Here a new
    trial is created RUNNING with its owner and lease in one storage write; a queued (WAITING)
    trial gets them written before it is moved to RUNNING, and again after (another coordinator
    may have written its own in between and then lost the race for it).
    """
    with study_lock(study):
        if budget is None:
            return _ask_owned(study, owner, lease_until, fresh=True)
        if count_trials(study, BUDGET_STATES) >= budget:  # a fresh read of the study
            return None
        return _ask_owned(study, owner, lease_until, fresh=False)  # no second read needed


def count_trials(study: Any, states: tuple[str, ...], fresh: bool = True) -> int:
    """How many trials of ``study`` in ``states`` (names of ``TrialState``) it ran itself, read
    fresh (warm-start copies of another study's trials do not count). The coordinator's storage
    counts without reading every trial; ``fresh=False`` lets it skip reading other processes'
    changes (the caller has just read the study)."""
    from optuna.trial import TrialState

    wanted = tuple(TrialState[name] for name in states)
    storage = study_storage(study)
    counter = getattr(storage, "count_trials", None)
    if counter is not None:  # tunesmith.storage.writebehind.WriteBehind
        return int(counter(study_id(study), wanted, fresh=fresh))
    trials = storage.get_all_trials(study_id(study), deepcopy=False, states=wanted)
    return sum(WARM_START_FROM not in t.user_attrs for t in trials)  # copies were not run here


def _waiting(study: Any, fresh: bool) -> list[Any]:
    """The study's queued trials; ``fresh=False`` lets the coordinator's storage answer from
    what it has just read (any other storage reads them again)."""
    from optuna.trial import TrialState

    storage = study_storage(study)
    held = getattr(storage, "held_trials", None)  # tunesmith.storage.writebehind.WriteBehind
    if held is not None and not fresh:
        return list(held(study_id(study), (TrialState.WAITING,)))
    return list(
        storage.get_all_trials(study_id(study), deepcopy=False, states=(TrialState.WAITING,))
    )


def _ask_owned(study: Any, owner: dict[str, Any], lease_until: float, fresh: bool) -> Any:
    import datetime

    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import FrozenTrial, TrialState

    storage = study_storage(study)  # public ask() cannot attach attributes atomically
    attrs = {OWNER: owner, LEASE: lease_until}
    clear_trial_cache(study)
    for candidate in _waiting(study, fresh):
        tid = trial_id(candidate)
        try:
            for key, value in attrs.items():
                storage.set_trial_user_attr(tid, key, value)
            if not storage.set_trial_state_values(tid, state=TrialState.RUNNING):
                continue
        except UpdateFinishedTrialError:  # another coordinator ran it meanwhile
            continue
        for key, value in attrs.items():
            storage.set_trial_user_attr(tid, key, value)
        return optuna.Trial(study, tid)
    template = FrozenTrial(
        number=-1,
        state=TrialState.RUNNING,
        value=None,
        datetime_start=datetime.datetime.now(),
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs=attrs,
        system_attrs={},
        intermediate_values={},
        trial_id=-1,
    )
    return optuna.Trial(study, storage.create_new_trial(study_id(study), template_trial=template))


def stale_reason(trial: Any, me: Owner, now: float) -> str | None:
    """Why a RUNNING frozen trial belongs to nobody alive, or None when it may be alive."""
    owner = trial.user_attrs.get(OWNER)
    lease = trial.user_attrs.get(LEASE)
    if not isinstance(owner, dict):
        start = trial.datetime_start.timestamp() if trial.datetime_start else now
        if now - start > UNOWNED_GRACE_S:
            return "running trial without owner (its process died before recording one)"
        return None
    if owner.get("run") == me.run:
        return None
    if owner.get("host") == me.host:
        pid = int(owner.get("pid", -1))
        if pid == me.pid:
            return f"owner (this process, earlier run {owner.get('run')}) is no longer running it"
        if not pid_alive(pid):
            return f"owner process {pid} on {me.host} is dead"
    if isinstance(lease, (int, float)) and lease < now:
        return f"lease of owner {owner.get('host')}:{owner.get('pid')} expired"
    return None


def fail_and_requeue(study: Any, trial: Any, reason: str) -> bool:
    """Mark a RUNNING trial FAIL with ``reason``; queue its parameters again unless it already
    was a re-run, was re-queued or has a replacement. Returns whether it was queued again.

    The trial is read again under the study's lock: a trial another coordinator has already
    failed (or that finished meanwhile) is left alone, so this runs at most once per trial.
    """
    from optuna.trial import TrialState

    with study_lock(study):
        storage = study_storage(study)  # Optuna has no public writer for another's trial
        trial = storage.get_trial(trial_id(trial))
        if trial.state != TrialState.RUNNING:
            return False
        replaced = any(
            t.user_attrs.get(REQUEUED_FROM) == trial.number
            for t in storage.get_all_trials(study_id(study), deepcopy=False)
        )
        requeue = (
            bool(_params_of(trial))
            and not replaced
            and not (REQUEUED_FROM in trial.user_attrs or REQUEUED in trial.user_attrs)
        )
        _fail(study, trial, reason, requeue)
    return requeue


def _fail(study: Any, trial: Any, reason: str, requeue: bool) -> None:
    from optuna.trial import TrialState

    storage = study_storage(study)
    tid = trial_id(trial)
    storage.set_trial_user_attr(tid, FAIL_REASON, reason)
    storage.set_trial_user_attr(tid, REQUEUED, requeue)
    storage.set_trial_state_values(tid, TrialState.FAIL)
    if requeue:
        attrs: dict[str, Any] = {REQUEUED_FROM: trial.number}
        if RUN_OVERRIDES in trial.user_attrs:  # a fixed run keeps its own seed / epochs
            attrs[RUN_OVERRIDES] = trial.user_attrs[RUN_OVERRIDES]
        enqueue(study, _params_of(trial), user_attrs=attrs)


def _params_of(trial: Any) -> dict[str, Any]:
    """The trial's parameters; a queued trial stopped before sampling holds them as fixed."""
    return dict(trial.params) or dict(trial.system_attrs.get("fixed_params") or {})


def reconcile(study: Any, me: Owner, now: float | None = None) -> list[int]:
    """Fail stale RUNNING trials and queue their parameters again once; return their numbers."""
    from optuna.trial import TrialState

    now = time.time() if now is None else now
    done: list[int] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        reason = stale_reason(trial, me, now)
        if reason is None:
            continue
        requeued = fail_and_requeue(study, trial, f"abandoned: {reason}")
        log.warning(
            "trial %d: %s; marked failed%s",
            trial.number,
            reason,
            ", parameters queued again" if requeued else "",
        )
        done.append(trial.number)
    return done


def fail_waiting(study: Any, numbers: Any, reason: str) -> list[int]:
    """Mark the queued (WAITING) trials ``numbers`` FAIL with ``reason``, never starting them;
    return the numbers failed. A trial that another coordinator started meanwhile is left alone.

    Optuna has no writer for a WAITING → FAIL change that keeps a trial readable (a finished
    trial needs a start time), so each trial goes WAITING → RUNNING → FAIL under the study's
    lock, its reason written first.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    wanted = set(numbers)
    failed: list[int] = []
    with study_lock(study):
        storage = study_storage(study)
        for trial in _waiting(study, fresh=True):
            if trial.number not in wanted:
                continue
            tid = trial_id(trial)
            try:
                if not storage.set_trial_state_values(tid, state=TrialState.RUNNING):
                    continue
                storage.set_trial_user_attr(tid, FAIL_REASON, reason)
                storage.set_trial_state_values(tid, state=TrialState.FAIL)
            except UpdateFinishedTrialError:  # another coordinator ran it meanwhile
                continue
            failed.append(trial.number)
    return failed
