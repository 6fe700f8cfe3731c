"""Knowledge distillation (``distill:``): train the job's model on a teacher's softened outputs.

YAML shape::

    distill:
      teacher: runs/big-study/best/model   # an exported tunesmith model folder
      # teacher: "study:big-study"         # or the best model of an earlier study, by name
      temperature: 2.0                     # > 0: softens both distributions
      alpha: 0.5                           # (0, 1]: weight of the soft targets

The loss is ``alpha * T**2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * loss(s, y)``
where ``t`` are the teacher's logits, ``s`` the student's and ``loss`` the configured
``train.loss`` on the true labels. ``temperature`` and ``alpha`` are searchable
(``distill.temperature``, ``distill.alpha``). A ``study:NAME`` teacher is the folder
``runs/NAME/best/model`` under the folder the study runs in (where that earlier study ran).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from tunesmith.config.base import Frozen
from tunesmith.config.study import check_safe_name

STUDY_PREFIX = "study:"


def study_teacher_path(name: str, base: Path) -> Path:
    """The exported best model of study ``name`` run under ``base``."""
    return base / "runs" / name / "best" / "model"


class DistillConfig(Frozen):
    """``distill:`` section of a fine-tuning job (classification only)."""

    teacher: str = Field(
        description="an exported tunesmith model folder, or 'study:NAME' for the best model of "
        "an earlier study (runs/NAME/best/model)"
    )
    temperature: float = Field(default=2.0, gt=0, le=100)
    alpha: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="weight of the soft targets; 1 - alpha weights the true labels' loss "
        "(alpha 0 would ignore the teacher, so it is refused)",
    )

    @field_validator("teacher")
    @classmethod
    def _teacher(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must name a model folder or 'study:NAME', got an empty string")
        if v.startswith(STUDY_PREFIX):
            check_safe_name(v[len(STUDY_PREFIX) :])
        return v

    def teacher_path(self, base: Path | None = None) -> Path:
        """The teacher's folder: a ``study:NAME`` reference resolved under ``base`` (default:
        the current folder), a relative path against ``base``."""
        root = Path.cwd() if base is None else base
        if self.teacher.startswith(STUDY_PREFIX):
            return study_teacher_path(self.teacher[len(STUDY_PREFIX) :], root)
        p = Path(self.teacher).expanduser()
        return p if p.is_absolute() else root / p
