"""Fuzz the config boundary: whatever text arrives, the answer is a value or a ConfigError.

Texts come from five sources: arbitrary Unicode, YAML-flavoured character soup, random bytes
decoded leniently, random nested structures dumped with ``yaml.safe_dump`` then mutated, and
valid experiment / fine-tuning configs with a random value written at a random key path. Each
text goes through ``parse_yaml``, a small pydantic model of our own, and — through a file —
``load_experiment`` and ``load_finetune_config``.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any, Literal

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import Field

from tunesmith.config.base import Frozen
from tunesmith.config.experiment import ExperimentConfig, load_experiment
from tunesmith.config.finetune import FinetuneConfig, load_finetune_config
from tunesmith.config.loader import apply_overrides, parse_yaml, validate
from tunesmith.errors import ConfigError

EXAMPLES = 2000

KEYS = [
    "study", "name", "space", "type", "low", "high", "log", "step", "choices", "sklearn",
    "estimator", "dataset", "cv", "params", "n_trials", "sampler", "pruner", "model", "data",
    "train", "optimizer", "lr", "epochs", "batch_size", "kind", "split", "seed", "output",
    "freezing", "strategy", "builtin", "objective", "<<", "workers", "timeout", "direction",
]  # fmt: skip

EXPERIMENT = {
    "study": {"name": "fuzz", "n_trials": 2, "sampler": {"name": "tpe", "seed": 0}},
    "sklearn": {"estimator": "sklearn.svm:SVC", "dataset": "iris", "cv": 3},
    "space": {
        "C": {"type": "float", "low": 0.01, "high": 10.0, "log": True},
        "k": {"type": "int", "low": 1, "high": 5},
        "kernel": {"type": "categorical", "choices": ["rbf", "linear"]},
    },
}
FINETUNE = {
    "model": {"kind": "hf_text", "dropout": 0.1},
    "data": {"builtin": "rotten_tomatoes", "split": {"validation": 0.1, "test": 0.1}},
    "train": {"epochs": 1, "batch_size": 8, "optimizer": {"name": "adam", "lr": 0.001}},
    "seed": 0,
}


class Inner(Frozen):
    lr: float = Field(default=0.1, gt=0)
    name: Literal["adam", "sgd"] = "adam"


class Small(Frozen):
    study: dict[str, Any] = Field(default_factory=dict)
    train: Inner = Field(default_factory=Inner)
    epochs: int = Field(default=1, ge=1)
    tags: list[str] = Field(default_factory=list)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["yes", "no", "on", "1e-5", ".5", "0x10", "1_000", "2024-13-45", "~", "*a"]),
)
structures = st.recursive(
    scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), kids, max_size=4),
    ),
    max_leaves=12,
)
_TOKENS = list(":-[]{},&*!|>'\"#?%@`~<=\n\t  abcxyz019.e_") + KEYS + [": ", "\n  ", "- "]
plausible = st.one_of(
    st.integers(-2, 50),
    st.floats(-1.0, 2.0),
    st.sampled_from(["tpe", "random", "adam", "sgd", "iris", "rbf", "linear", "auto", "head"]),
)
soup = st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join)
short_soup = st.lists(st.sampled_from(_TOKENS), max_size=6).map("".join)
raw_bytes = st.binary(max_size=200).map(lambda b: b.decode("utf-8", errors="replace"))
latin = st.binary(max_size=200).map(lambda b: b.decode("latin-1"))


@st.composite
def mutated_dump(draw: st.DrawFn) -> str:
    text = yaml.safe_dump(draw(structures), allow_unicode=True, sort_keys=False)
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["insert", "delete", "dup_line", "swap", "indent"]))
        pos = draw(st.integers(0, len(text)))
        if op == "insert":
            text = text[:pos] + draw(short_soup) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 5)) :]
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if op == "dup_line":
                lines.insert(j, lines[i])
            elif op == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines[i] = "  " + lines[i]
            text = "\n".join(lines)
    return text


@st.composite
def near_valid(draw: st.DrawFn) -> str:
    """A valid config with up to three random writes at random (often real) key paths."""
    base = copy.deepcopy(draw(st.sampled_from([EXPERIMENT, FINETUNE])))
    paths: list[list[str]] = []

    def collect(node: Any, path: list[str]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append([*path, k])
                collect(v, [*path, k])

    collect(base, [])
    for _ in range(draw(st.integers(0, 3))):
        path = list(draw(st.sampled_from(paths)))
        if draw(st.booleans()):
            path[-1] = draw(st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=6)))
        node = base
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = draw(st.one_of(plausible, structures))
    return yaml.safe_dump(base, sort_keys=False)


texts = st.one_of(st.text(max_size=200), soup, raw_bytes, latin, mutated_dump(), near_valid())
_DIR = Path(tempfile.mkdtemp(prefix="tunesmith-fuzz-"))


def _only_config_errors(call: Any, label: str) -> None:
    """Run ``call``; a ConfigError is a fine answer, anything else fails the test."""
    try:
        call()
    except ConfigError:
        event(f"{label}: ConfigError")
        return
    event(f"{label}: value")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    text=texts,
    override=st.one_of(st.none(), short_soup, st.sampled_from(KEYS).map(lambda k: k + "=1")),
)
def test_any_text_gives_a_value_or_a_config_error(text: str, override: str | None) -> None:
    path = _DIR / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    loaded: list[Any] = []
    _only_config_errors(lambda: loaded.append(parse_yaml(text, "fuzz.yaml")), "parse")
    if loaded:
        data = loaded[0].data
        _only_config_errors(lambda: validate(Small, data, "fuzz.yaml", loaded[0]), "small")
        _only_config_errors(
            lambda: validate(ExperimentConfig, data, "fuzz.yaml", loaded[0]), "experiment"
        )
        _only_config_errors(
            lambda: validate(FinetuneConfig, data, "fuzz.yaml", loaded[0]), "finetune"
        )
        if override is not None and isinstance(data, dict):
            _only_config_errors(lambda: apply_overrides(data, [override]), "override")
    overrides = [override] if override is not None else []
    _only_config_errors(lambda: load_experiment(path, overrides), "load_experiment")
    _only_config_errors(lambda: load_finetune_config(path, overrides), "load_finetune")


def test_near_valid_bases_are_valid() -> None:
    """The fuzzer's starting points really validate, so mutations probe the rules, not a typo."""
    for base, model in ((EXPERIMENT, ExperimentConfig), (FINETUNE, FinetuneConfig)):
        loaded = parse_yaml(yaml.safe_dump(base), "base.yaml")
        assert validate(model, loaded.data, "base.yaml", loaded) is not None
