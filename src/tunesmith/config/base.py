"""The base of every config model: frozen, and unknown keys are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Immutable config section; a typo in a key is a validation error, not a silent default."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
