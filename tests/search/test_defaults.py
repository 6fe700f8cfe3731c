import optuna
import pytest

from tunesmith.config.finetune import FinetuneConfig
from tunesmith.config.loader import set_dotted
from tunesmith.config.search import param_path
from tunesmith.config.train import TrainConfig
from tunesmith.errors import ConfigError
from tunesmith.search.defaults import FAMILIES, PARTIAL_K, default_space, family_of, recipes
from tunesmith.search.space import SearchSpace

BASE = {"data": {"builtin": "digits"}, "model": {"kind": "efficientnet"}}


@pytest.mark.parametrize("kind", sorted(FAMILIES))
def test_default_space_samples_are_valid_jobs(kind):
    space = SearchSpace.from_config(default_space(kind))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        params = space.suggest(study.ask())
        model = {"kind": kind, "name": "x"}
        if kind == "custom":
            model = {"kind": kind, "factory": "pkg.mod:make", "head": "fc", "groups": ["body"]}
        job = dict(BASE, model=model)
        for key, value in params.items():
            job = set_dotted(job, param_path(key), value)
        FinetuneConfig.model_validate(job)  # raises if a path or value is wrong


@pytest.mark.parametrize("kind", ["hf_text", "efficientnet"])
def test_recipes_are_valid_train_settings(kind):
    rs = recipes(kind)
    assert rs, "every family has at least one recipe"
    for recipe in rs:
        train: dict = {}
        for key, value in recipe.items():
            assert key.startswith("train.")
            train = set_dotted(train, key.removeprefix("train."), value)
        TrainConfig.model_validate(train)


def test_text_recipes_start_with_partial_fine_tuning_then_the_bert_grid():
    partial, *rs = recipes("hf_text")
    assert partial["train.freezing.strategy"] == "last_k"
    assert partial["train.freezing.k"] == PARTIAL_K
    space = default_space("hf_text")
    lr = space["train.optimizer.lr@last_k"]
    assert lr["low"] < partial["train.optimizer.lr"] < lr["high"]  # inside its strategy's range
    assert all(r["train.freezing.strategy"] == "full" for r in rs)
    assert len(rs) == 18
    assert {r["train.optimizer.lr"] for r in rs} == {2e-5, 3e-5, 5e-5}
    assert {r["train.batch_size"] for r in rs} == {16, 32}
    assert {r["train.epochs"] for r in rs} == {2, 3, 4}
    first = rs[0]
    assert (first["train.optimizer.lr"], first["train.batch_size"], first["train.epochs"]) == (
        3e-5,
        32,
        3,
    )


def test_unknown_model_kind_lists_known():
    with pytest.raises(
        ConfigError,
        match="model.kind: unknown model kind with a default space 'rnn'; known: hf_text",
    ):
        family_of("rnn")
    assert family_of("hf_text") == "text"


def test_text_space_has_lora_with_its_own_rates_and_alpha_tied_to_r():
    space = SearchSpace.from_config(default_space("hf_text"))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    lora_lrs, full_lrs = [], []
    for _ in range(120):
        params = space.suggest(study.ask())
        job: dict = {}
        for key, value in params.items():
            job = set_dotted(job, param_path(key), value)
        train = TrainConfig.model_validate(job["train"])
        if train.freezing.strategy == "lora":
            assert train.lora is not None and train.lora.alpha is None
            assert train.resolved_lora.resolved_alpha == 2 * train.lora.r
            lora_lrs.append(train.optimizer.lr)
        else:
            assert train.lora is None
            if train.freezing.strategy == "full":
                full_lrs.append(train.optimizer.lr)
    assert lora_lrs and full_lrs
    assert min(lora_lrs) >= 1e-4 and max(full_lrs) <= 1e-4
