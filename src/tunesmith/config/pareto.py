"""Multi-objective fine-tuning: the cost objectives and ``final.pick``, the rule that chooses
which member of the Pareto front is re-checked and exported.

A fine-tuning study with several objectives lists its validation metric first and then one or
two cost objectives (:data:`COST_OBJECTIVES`), each measured per trial after training::

    study:
      metric: [accuracy, latency_ms]
      directions: [maximize, minimize]
    final:
      pick: {rule: most_accurate_within, factor: 2.0}

Rules (``accurate`` means best on the validation metric, whichever its direction):

* ``most_accurate`` (the default): the front member with the best validation metric;
* ``most_accurate_within`` + ``factor``: the most accurate member whose ``cost`` is at most
  ``factor`` times the cheapest front member's;
* ``cheapest_within`` + ``tolerance``: the cheapest member (by ``cost``) whose validation metric
  is within ``tolerance`` (in the metric's own units, 0.01 = one accuracy point) of the best.

``cost`` names the cost objective a rule reads; it defaults to the first in ``study.metric``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from tunesmith.config.base import Frozen

#: Objectives a fine-tuning trial measures besides its validation metrics (always minimised):
#: milliseconds per validation example at the training batch size, and the parameter count.
COST_OBJECTIVES: tuple[str, ...] = ("latency_ms", "params")

PickRule = Literal["most_accurate", "most_accurate_within", "cheapest_within"]


class PickConfig(Frozen):
    """``final.pick``: which Pareto-front member the re-check and the final run use."""

    rule: PickRule = "most_accurate"
    cost: Literal["latency_ms", "params"] | None = None
    factor: float | None = Field(default=None, ge=1.0)
    tolerance: float | None = Field(default=None, ge=0.0)

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, value: Any) -> Any:
        return {"rule": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _options_fit_rule(self) -> PickConfig:
        needs = {"most_accurate_within": "factor", "cheapest_within": "tolerance"}.get(self.rule)
        for option in ("factor", "tolerance"):
            given = getattr(self, option) is not None
            if option == needs and not given:
                raise ValueError(f"rule {self.rule!r} needs {option} (e.g. {option}: 2.0)")
            if option != needs and given:
                raise ValueError(
                    f"{option} applies to rule "
                    f"{'most_accurate_within' if option == 'factor' else 'cheapest_within'} "
                    f"only, so it would do nothing with rule {self.rule!r}; got "
                    f"{getattr(self, option)}"
                )
        if self.rule == "most_accurate" and self.cost is not None:
            raise ValueError(
                f"cost would do nothing with rule 'most_accurate' (it reads the validation "
                f"metric only); got cost {self.cost!r}"
            )
        return self

    def cost_name(self, metrics: list[str]) -> str:
        """The cost objective the rule reads: ``cost`` or the first cost in ``metrics``."""
        return self.cost or next(m for m in metrics if m in COST_OBJECTIVES)

    def describe(self, metrics: list[str]) -> str:
        """The rule in words, for the summary, ``best/metrics.json`` and the report."""
        if self.rule == "most_accurate":
            return f"most_accurate: the best {metrics[0]} on the front"
        cost = self.cost_name(metrics)
        if self.rule == "most_accurate_within":
            return (
                f"most_accurate_within: the best {metrics[0]} among front members whose {cost} "
                f"is at most {self.factor:g} x the lowest on the front"
            )
        return (
            f"cheapest_within: the lowest {cost} among front members whose {metrics[0]} is "
            f"within {self.tolerance:g} of the best on the front"
        )


def check_pick(pick: PickConfig | None, metrics: list[str] | None, n_objectives: int) -> None:
    """``final.pick`` against the study's objectives; ``ValueError`` names field, rule, value."""
    if pick is None:
        return
    if n_objectives < 2:
        raise ValueError(
            f"final.pick chooses among the Pareto front of a study with several objectives; "
            f"rule: this study has one ({metrics or 'its metric'}), so it would do nothing; "
            f"got {pick.rule!r}"
        )
    if pick.cost is not None and pick.cost not in (metrics or []):
        raise ValueError(
            f"final.pick.cost: rule: it must be one of the study's objectives {metrics}; "
            f"got {pick.cost!r}"
        )
