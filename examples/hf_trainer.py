"""Tune an existing Hugging Face ``Trainer`` script with tunesmith.

``train`` below is an ordinary Trainer script (a tiny BERT built from a config, on generated data,
so it runs anywhere without downloads). Tuning it takes the lines marked ``# tunesmith``: a
callback that reports each evaluation and stops pruned trials, and ``tunesmith.tune``.

    python examples/hf_trainer.py
"""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np
import torch

import tunesmith

VOCAB, LENGTH = 32, 8


class Tokens(torch.utils.data.Dataset):
    """Generated sequences; the label says whether the first token is in the upper half."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.ids = torch.tensor(rng.integers(1, VOCAB, size=(n, LENGTH)))
        self.labels = (self.ids[:, 0] >= VOCAB // 2).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ids = self.ids[i]
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": self.labels[i]}


def accuracy(prediction: Any) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def train(params: dict[str, Any], output_dir: str, callbacks: list[Any] | None = None) -> Any:
    """The training script: build a model, train with Trainer, evaluate each epoch."""
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=LENGTH,
        num_labels=2,
    )
    torch.manual_seed(0)
    args = TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=params.get("epochs", 3),
        learning_rate=params["lr"],
        per_device_train_batch_size=16,
        eval_strategy="epoch",
        save_strategy="epoch",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        logging_strategy="no",
        seed=0,
    )
    trainer = Trainer(
        model=BertForSequenceClassification(config),
        args=args,
        train_dataset=Tokens(256, seed=1),
        eval_dataset=Tokens(128, seed=2),
        compute_metrics=accuracy,
        callbacks=callbacks,
    )
    trainer.train()
    return trainer


def objective(params: dict[str, Any], reporter: Any) -> dict[str, Any]:
    from tunesmith.integrations.transformers import TunesmithCallback  # tunesmith

    callback = TunesmithCallback(reporter, metric="eval_accuracy")  # tunesmith
    train(params, tempfile.mkdtemp(prefix="hf-trial-"), callbacks=[callback])
    return callback.result()  # tunesmith: best eval_accuracy and the best checkpoint's path


def main(n_trials: int = 6, pruner: Any = "median", seed: int = 0) -> Any:
    return tunesmith.tune(  # tunesmith
        objective,
        {"lr": {"type": "categorical", "choices": [0.0, 0.003]}},
        metric="eval_accuracy",
        pruner=pruner,
        n_trials=n_trials,
        runner="inprocess",
        seed=seed,
    )


if __name__ == "__main__":
    result = main()
    print(result.best_value, result.best_params)
    print(result.trials[["number", "state", "value", "params_lr"]])
