"""``tunesmith dashboard STUDY``: serve optuna-dashboard for a study on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

HELP = "open a study in optuna-dashboard (served on 127.0.0.1 only; Ctrl-C stops it)"
HOST = "127.0.0.1"


def register(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser("dashboard", help=HELP, description=HELP)
    p.add_argument("study", metavar="STUDY", help="study name")
    p.add_argument(
        "--storage", metavar="URL", help="storage URL (default: sqlite:///runs/<STUDY>/study.db)"
    )
    p.add_argument("--port", type=int, default=8080, metavar="N", help="port (default 8080)")
    return p


def run(args: argparse.Namespace) -> int:
    from wsgiref.simple_server import make_server

    from tunesmith.cli.trials import named_study_url
    from tunesmith.errors import ConfigError, TunesmithError, require
    from tunesmith.storage.study import load_existing_study, make_storage
    from tunesmith.storage.urls import redact

    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535, got {args.port}")
    dashboard: Any = require("optuna_dashboard", "dashboard", "tunesmith dashboard")
    url = named_study_url(args.study, args.storage)
    load_existing_study(args.study, url)  # a missing study is an error before serving
    storage = make_storage(url)
    study_id = storage.get_study_id_from_name(args.study)
    address = f"http://{HOST}:{args.port}/dashboard/studies/{study_id}"
    try:
        server = make_server(HOST, args.port, dashboard.wsgi(storage))
    except OSError as exc:  # the port is taken, or not ours to bind
        raise TunesmithError(
            f"--port {args.port}: cannot serve on {HOST}:{args.port} ({exc.strerror or exc}); "
            "pick another port"
        ) from None
    sys.stdout.write(f"study {args.study!r} ({redact(url)}) at {address}\nCtrl-C stops it.\n")
    sys.stdout.flush()
    _serve_until_interrupted(server)
    sys.stdout.write("dashboard stopped\n")
    return 0


def _serve_until_interrupted(server: Any) -> None:
    """Serve until SIGINT (Ctrl-C) or SIGTERM.

    The signal asks the server to shut down from another thread instead of raising
    KeyboardInterrupt, which a request being answered at that moment would swallow (wsgiref
    catches every exception of a request). The handler is set even where SIGINT came in ignored
    (a job started in the background).
    """
    import threading

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()
