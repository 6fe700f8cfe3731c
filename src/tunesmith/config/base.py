"""The base of every config model (frozen, unknown keys are errors) and the shared range types.

A range is declared on the field, never checked by hand: ``lr: PositiveFloat = 1e-3``. A value
outside it reads ``train.optimizer.lr: must be > 0, got -0.1`` (see
:mod:`tunesmith.config.validation`); NaN is outside every range.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    """Immutable config section; a typo in a key is a validation error, not a silent default."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


PositiveFloat = Annotated[float, Field(gt=0)]
"""A float > 0 (learning rates, epsilons, scales)."""
NonNegativeFloat = Annotated[float, Field(ge=0)]
"""A float >= 0 (penalties, decay rates, tolerances)."""
PositiveInt = Annotated[int, Field(ge=1)]
"""An int >= 1 (counts, sizes, periods)."""
NonNegativeInt = Annotated[int, Field(ge=0)]
"""An int >= 0."""
FractionBelowOne = Annotated[float, Field(ge=0, lt=1)]
"""A float in [0, 1) (momentum, betas, smoothing, warmup ratio)."""
FactorUpToOne = Annotated[float, Field(gt=0, le=1)]
"""A float in (0, 1] (a multiplicative decay factor)."""
