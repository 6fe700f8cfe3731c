"""What every runner shares: the task handed out, the outcome handed back, and trial execution.

A runner never opens the storage. The coordinator submits :class:`TrialTask` objects, calls
:meth:`Runner.wait` with a ``decide(key, step, value) -> prune?`` function that answers each
intermediate report, and gets :class:`Outcome` objects back. :func:`execute_trial` is the one place
that calls a user objective, in whichever process runs it.
"""

from __future__ import annotations

import inspect
import math
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import optuna

Decide = Callable[[int, int, float], bool]
"""``decide(trial_key, step, value)`` returns True when the trial should stop (pruned)."""


class TrialPruned(optuna.exceptions.TrialPruned):
    """Raise from an objective to end the trial as pruned (its last reported value is kept)."""


@dataclass(frozen=True)
class TrialTask:
    """One trial to run: its key (the Optuna trial number), parameters and per-trial seed.

    A group task (several trials trained together, :func:`execute_group`) has ``members``: every
    member's own task, the first included; its ``key``, ``params`` and ``seed`` are the first
    member's. A plain task has no members.
    """

    key: int
    params: dict[str, Any]
    seed: int | None = None
    members: tuple[TrialTask, ...] = ()

    @property
    def trials(self) -> tuple[TrialTask, ...]:
        """The trials this task runs: its members, or itself for a plain task."""
        return self.members or (self,)

    @property
    def keys(self) -> tuple[int, ...]:
        return tuple(t.key for t in self.trials)


@dataclass(frozen=True)
class Outcome:
    """How a trial ended in its runner.

    ``status`` is ``ok`` (``value`` holds what the objective returned, converted to plain Python),
    ``pruned`` (the objective stopped after a prune answer or raised TrialPruned) or ``error``
    (``error`` is a one-line reason, ``detail`` the traceback when there is one). ``lost``
    marks an error that was not the trial's doing (its node left the cluster): the coordinator
    queues its parameters again, once.
    """

    key: int
    status: Literal["ok", "pruned", "error"]
    value: Any = None
    error: str | None = None
    detail: str | None = field(default=None, repr=False)
    lost: bool = False


@dataclass(frozen=True)
class RunnerLimits:
    """What bounds a trial and a worker (``study.*`` keys of the same names).

    ``trial_timeout``: seconds before the worker running a trial is killed and the trial fails
    with "timeout after N s" (a group task's members share one timeout, for the whole group).
    ``worker_memory_mb``: a worker whose resident memory goes past this is ended (its trial fails
    naming memory) and replaced. ``max_trials_per_worker``: a worker is
    recycled after this many trials (on a GPU the default is 1, so GPU memory is returned).
    ``gpus_per_trial``: each trial's GPU share (0.5 packs two trials per GPU, 2 gives one trial
    two GPUs). ``cpus_per_trial`` and ``ray_address`` are for the Ray runner.
    """

    trial_timeout: float | None = None
    worker_memory_mb: float | None = None
    max_trials_per_worker: int | None = None
    gpus_per_trial: float = 0.0
    cpus_per_trial: float | None = None
    ray_address: str | None = None

    @property
    def trials_per_worker(self) -> int | None:
        """The recycling period: the setting, else 1 on a GPU, else unbounded (None)."""
        if self.max_trials_per_worker is not None:
            return self.max_trials_per_worker
        return 1 if self.gpus_per_trial > 0 else None


def timeout_reason(seconds: float) -> str:
    return f"timeout after {seconds:g} s (study.trial_timeout)"


class Reporter(Protocol):
    """What an objective receives to report intermediate values."""

    def report(self, step: int, value: float) -> bool:
        """Record ``value`` at ``step``; True means stop now (the trial is pruned)."""
        ...


class Runner(Protocol):
    """Runs trials somewhere else than the coordinator's bookkeeping (processes, Ray, inline)."""

    slots: int

    def submit(self, task: TrialTask) -> None: ...

    def wait(self, timeout: float, decide: Decide) -> list[Outcome]: ...

    def close(self) -> None: ...


class ReporterBase:
    """Validates reports and remembers a prune answer; subclasses say how to ask."""

    def __init__(self, key: int) -> None:
        self.key = key
        self.pruned = False

    def report(self, step: int, value: float) -> bool:
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"reporter.report: step must be an int >= 0, got {step!r}")
        value = float(value)
        if self.pruned:
            return True
        if math.isfinite(value) and self._ask(step, value):
            self.pruned = True
        return self.pruned

    def _ask(self, step: int, value: float) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError


class CallbackReporter(ReporterBase):
    """Asks ``decide`` directly (the in-process runner)."""

    def __init__(self, key: int, decide: Decide) -> None:
        super().__init__(key)
        self._decide = decide

    def _ask(self, step: int, value: float) -> bool:
        return bool(self._decide(self.key, step, value))


@dataclass(frozen=True)
class ObjectiveCall:
    """A user callable taking ``(params)`` or ``(params, reporter)``, called uniformly."""

    fn: Callable[..., Any]
    takes_reporter: bool

    def __call__(self, params: dict[str, Any], reporter: Reporter) -> Any:
        return self.fn(params, reporter) if self.takes_reporter else self.fn(params)


def as_objective_call(fn: Callable[..., Any]) -> ObjectiveCall:
    """Wrap ``fn(params)`` or ``fn(params, reporter)``; a TypeError names a wrong signature."""
    if isinstance(fn, ObjectiveCall):
        return fn
    if not callable(fn):
        raise TypeError(f"the objective must be callable, got {type(fn).__name__}")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return ObjectiveCall(fn, takes_reporter=False)
    positional = [
        p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())
    required = [p for p in positional if p.default is p.empty]
    if len(required) > 2 or (not positional and not varargs):
        raise TypeError(f"the objective must take (params) or (params, reporter), got {fn!r}{sig}")
    return ObjectiveCall(fn, takes_reporter=len(positional) >= 2 or varargs)


def plain_result(value: Any) -> Any:
    """Numbers → float, mappings → dict of plain values, sequences → list (picklable, small)."""
    if isinstance(value, dict):
        return {str(k): plain_result(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_result(v) for v in value]
    if isinstance(value, (str, bool)) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return repr(value)


def _seed_everything(seed: int) -> None:
    """Seed ``random``, numpy and, when installed, torch on the CPU and every CUDA device."""
    import importlib.util
    import random

    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass
    if "torch" in sys.modules or importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available() or torch.backends.mps.is_available() or _xpu(torch):
            # Every device: the CPU, and CUDA (lazily: it takes effect when CUDA starts), MPS, XPU.
            torch.manual_seed(seed)
        else:  # the CPU only: the same seed, without queueing seeds for devices that are absent
            torch.random.default_generator.manual_seed(seed)


def _xpu(torch: Any) -> bool:
    xpu = getattr(torch, "xpu", None)
    return bool(xpu is not None and xpu.is_available())


def _error(key: int, exc: BaseException, detail: str | None = None) -> Outcome:
    return Outcome(key, "error", error=f"{type(exc).__name__}: {exc}", detail=detail)


def execute_group(
    objective: ObjectiveCall, task: TrialTask, reporters: list[ReporterBase]
) -> list[Outcome]:
    """Run a group task's members in this process: one outcome per member, in member order.

    When the user callable has ``run_group(params_list, reporters) -> list``, it is called once
    for all members (seeded with the first member's seed): each returned entry is that member's
    result, or an exception instance (``TrialPruned`` → pruned, any other → that member fails
    with it). A ``run_group`` that raises fails every member with its reason (raising
    ``TrialPruned`` prunes them all); a result of the wrong length fails them all. Without
    ``run_group`` the members run one after another, each with its own seed. Each member's
    reporter remembers its own prune answer, as in :func:`execute_trial`. Never raises for user
    errors.
    """
    members = task.trials
    if len(reporters) != len(members):
        raise ValueError(f"execute_group: {len(members)} members but {len(reporters)} reporters")
    run_group = getattr(objective.fn, "run_group", None)
    if not callable(run_group):
        return [execute_trial(objective, m, r) for m, r in zip(members, reporters, strict=True)]
    if members[0].seed is not None:
        _seed_everything(members[0].seed)
    try:
        results = list(run_group([dict(m.params) for m in members], list(reporters)))
    except optuna.exceptions.TrialPruned:
        return [Outcome(m.key, "pruned") for m in members]
    except Exception as exc:
        detail = traceback.format_exc()
        return [_error(m.key, exc, detail) for m in members]
    if len(results) != len(members):
        why = f"run_group returned {len(results)} result(s) for {len(members)} trials"
        return [Outcome(m.key, "error", error=why) for m in members]
    out = []
    for member, reporter, result in zip(members, reporters, results, strict=True):
        if isinstance(result, optuna.exceptions.TrialPruned):
            out.append(Outcome(member.key, "pruned"))
        elif isinstance(result, BaseException):
            lines = traceback.format_exception(type(result), result, result.__traceback__)
            out.append(_error(member.key, result, "".join(lines)))
        elif reporter.pruned:
            out.append(Outcome(member.key, "pruned", value=plain_result(result)))
        else:
            out.append(Outcome(member.key, "ok", value=plain_result(result)))
    return out


def execute_trial(objective: ObjectiveCall, task: TrialTask, reporter: ReporterBase) -> Outcome:
    """Run one trial in this process and describe how it ended (never raises for user errors)."""
    if task.seed is not None:
        _seed_everything(task.seed)
    try:
        value = objective(dict(task.params), reporter)
    except optuna.exceptions.TrialPruned:
        return Outcome(task.key, "pruned")
    except Exception as exc:
        return Outcome(
            task.key,
            "error",
            error=f"{type(exc).__name__}: {exc}",
            detail=traceback.format_exc(),
        )
    if reporter.pruned:  # what it returned still travels: its extra entries (a checkpoint path)
        return Outcome(task.key, "pruned", value=plain_result(value))
    return Outcome(task.key, "ok", value=plain_result(value))
