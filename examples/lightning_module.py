"""Tune an existing Lightning script with tunesmith.

``train`` below is an ordinary ``lightning.pytorch`` script (a tiny classifier on generated data).
Tuning it takes the lines marked ``# tunesmith``: a callback that reports each validation and
stops pruned trials, and ``tunesmith.tune``.

    python examples/lightning_module.py
"""

from __future__ import annotations

import tempfile
from typing import Any

import torch

import tunesmith


def _data(n: int, seed: int) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return torch.utils.data.TensorDataset(x, y)


def train(params: dict[str, Any], root: str, callbacks: list[Any] | None = None) -> Any:
    """The training script: a LightningModule, a Trainer, fit with validation each epoch."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint

    class Classifier(pl.LightningModule):
        def __init__(self, lr: float) -> None:
            super().__init__()
            self.lr = lr
            self.net = torch.nn.Sequential(
                torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)
            )

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            x, y = batch
            return torch.nn.functional.cross_entropy(self.net(x), y)

        def validation_step(self, batch: Any, _: int) -> None:
            x, y = batch
            self.log("val_acc", (self.net(x).argmax(-1) == y).float().mean(), prog_bar=False)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.lr)

    pl.seed_everything(0, verbose=False)
    trainer = pl.Trainer(
        max_epochs=params.get("epochs", 4),
        accelerator="cpu",
        default_root_dir=root,
        callbacks=[ModelCheckpoint(monitor="val_acc", mode="max"), *(callbacks or [])],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    train_loader = torch.utils.data.DataLoader(_data(256, 1), batch_size=32, shuffle=True)
    val_loader = torch.utils.data.DataLoader(_data(128, 2), batch_size=64)
    trainer.fit(Classifier(params["lr"]), train_loader, val_loader)
    return trainer


def objective(params: dict[str, Any], reporter: Any) -> dict[str, Any]:
    from tunesmith.integrations.lightning import TunesmithCallback  # tunesmith

    callback = TunesmithCallback(reporter, metric="val_acc")  # tunesmith
    train(params, tempfile.mkdtemp(prefix="pl-trial-"), callbacks=[callback])
    return callback.result()  # tunesmith: best val_acc and the best checkpoint's path


def main(n_trials: int = 6, pruner: Any = "median", seed: int = 0) -> Any:
    return tunesmith.tune(  # tunesmith
        objective,
        {"lr": {"type": "categorical", "choices": [0.0, 0.5]}},
        metric="val_acc",
        pruner=pruner,
        n_trials=n_trials,
        runner="inprocess",
        seed=seed,
    )


if __name__ == "__main__":
    result = main()
    print(result.best_value, result.best_params)
    print(result.trials[["number", "state", "value", "params_lr"]])
