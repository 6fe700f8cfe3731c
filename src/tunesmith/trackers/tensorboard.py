"""TensorBoard: one event-file folder per trial under ``runs/<study>/tensorboard/``, with hparams.

Each trial's folder holds its intermediate values (``<metric>`` at each step), its final values
(``final/<metric>``) and the HParams plugin's records (the trial's parameters and state), so
TensorBoard's HParams tab lists the trials side by side.
"""

from __future__ import annotations

from typing import Any

from tunesmith.trackers.base import run_root


def _hparam(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class TensorBoardTracker:
    name = "tensorboard"

    def __init__(self, config: Any) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer_type = SummaryWriter
        self.root = run_root(config.name) / "tensorboard"
        self._metrics = config.metric_names or ["value"]
        self._writers: dict[int, Any] = {}
        self._params: dict[int, dict[str, Any]] = {}
        self._last: dict[int, float] = {}

    def handle(self, event: Any) -> None:
        number = event.trial
        if event.kind == "trial_started" and number is not None:
            folder = self.root / f"trial-{number:04d}"
            self._writers[number] = self._writer_type(log_dir=str(folder))
            self._params[number] = {k: _hparam(v) for k, v in (event.params or {}).items()}
        elif event.kind == "trial_reported" and number in self._writers and event.values:
            value = event.values[0]
            self._writers[number].add_scalar(self._metrics[0], value, event.step or 0)
            self._last[number] = value
        elif event.kind == "trial_finished" and number in self._writers:
            self._finish(number, event)

    def _finish(self, number: int, event: Any) -> None:
        from torch.utils.tensorboard.summary import hparams

        writer = self._writers.pop(number)
        params = self._params.pop(number, {})
        last = self._last.pop(number, None)
        finals: dict[str, float] = {}
        if event.values:
            finals = {f"final/{m}": v for m, v in zip(self._metrics, event.values, strict=False)}
        elif last is not None:  # a pruned trial keeps its last value
            finals = {f"final/{self._metrics[0]}": last}
        params["state"] = event.state or "FAIL"
        exp, ssi, sei = hparams(params, finals)
        for summary in (exp, ssi, sei):
            writer.file_writer.add_summary(summary)
        for name, value in finals.items():
            writer.add_scalar(name, value)
        writer.close()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
