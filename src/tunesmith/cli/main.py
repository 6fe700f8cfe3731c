"""The ``tunesmith`` command: parse arguments, configure logging, call the library.

Each sub-command is a module ``tunesmith.cli.<name>`` with ``register(subparsers)`` and
``run(args) -> int``; modules keep heavy imports inside ``run`` so ``tunesmith --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from types import ModuleType

from tunesmith import __version__
from tunesmith.errors import TunesmithError

COMMANDS = ("tune", "trials", "best", "finetune", "report", "dashboard")


def _modules() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for name in COMMANDS:
        try:
            found[name] = importlib.import_module(f"tunesmith.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tunesmith.cli.{name}":
                raise
    return found


def build_parser(modules: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunesmith",
        description="Hyperparameter search for fine-tuning pretrained models, on Optuna.",
    )
    parser.add_argument("--version", action="version", version=f"tunesmith {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in modules.values():
        module.register(sub)
    return parser


def configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    from tunesmith.utils.quiet import quiet_progress_bars

    quiet_progress_bars()  # third-party bars stay out of logs that are not a terminal
    # Optuna installs its own handler; route its messages through ours, quieter.
    try:
        import optuna

        optuna.logging.disable_default_handler()
        optuna.logging.enable_propagation()
        optuna.logging.set_verbosity(logging.DEBUG if verbose > 1 else logging.WARNING)
    except ImportError:  # pragma: no cover
        pass
    if not verbose:
        logging.getLogger("tunesmith").setLevel(logging.WARNING if quiet else logging.INFO)


def _term_as_interrupt(signum: int, frame: object) -> None:  # noqa: ARG001
    from tunesmith.errors import Interrupted

    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    modules = _modules()
    parser = build_parser(modules)
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    # SIGTERM outside a study (loading, preparing, reporting) ends like Ctrl-C, with 143; during
    # a study the coordinator's own handler takes over (tunesmith.experiment.signals).
    import signal
    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _term_as_interrupt) if main_thread else None
    try:
        return int(modules[args.command].run(args))
    except TunesmithError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM (errors.Interrupted)
        sys.stderr.write(f"{exc or 'interrupted'}; the same command resumes\n")
        return int(getattr(exc, "exit_code", 130))
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
