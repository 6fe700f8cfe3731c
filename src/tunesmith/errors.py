"""The one exception hierarchy of tunesmith.

Every error a user can cause (a bad config, bad data, a missing optional package) is a
:class:`TunesmithError`; the CLI prints its message and exits with its ``exit_code`` instead of a
traceback. Errors that mean a bug in tunesmith are ordinary Python exceptions.
"""

from __future__ import annotations


class TunesmithError(Exception):
    """Base class for errors caused by user input or the environment."""

    exit_code: int = 2


class ConfigError(TunesmithError):
    """A configuration value breaks a rule.

    Messages name the field (dotted path), the rule and the value, and the file (and line) when
    the value came from one: ``config.yaml: train.optimizer.lr must be > 0, got -0.1``.
    """


class DataError(TunesmithError):
    """A dataset cannot be used: the message names the file and, when known, the row."""


class MissingDependencyError(TunesmithError):
    """An optional backend is not installed; the message names the install command."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        hint = f"pip install 'tunesmith[{extra}]'" if extra else f"pip install {package}"
        what = f" for {purpose}" if purpose else ""
        super().__init__(f"{package} is required{what}; install it with: {hint}")
        self.package = package


class StudyFailedError(TunesmithError):
    """The study stopped because too many trials failed in a row (exit code 3)."""

    exit_code = 3


def require(module: str, extra: str | None = None, purpose: str = "") -> object:
    """Import an optional module or raise :class:`MissingDependencyError` naming the install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(module.split(".")[0], extra, purpose) from exc


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped the run; the CLI exits with ``128 + signal`` (130 or 143)."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_code = 128 + signum
