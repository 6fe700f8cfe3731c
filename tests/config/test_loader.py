from __future__ import annotations

import datetime
import time
from typing import Annotated, Literal, Union

import pytest
from pydantic import Field, RootModel

from tunesmith.config.base import Frozen
from tunesmith.config.loader import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    apply_overrides,
    load_yaml,
    parse_override,
    parse_yaml,
    set_dotted,
    validate,
)
from tunesmith.errors import ConfigError


def err(text, source="c.yaml"):
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, source)
    msg = str(info.value)
    assert msg.startswith(source), msg
    return msg


# --- scalars ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-5", 1e-5),
        ("1E5", 1e5),
        (".5", 0.5),
        ("-.5", -0.5),
        ("-2.5e-3", -2.5e-3),
        ("+1e3", 1000.0),
        ("1.5E+3", 1500.0),
        ("3.", 3.0),
        (".inf", float("inf")),
        ("-.inf", float("-inf")),
    ],
)
def test_floats(text, value):
    got = parse_yaml(f"v: {text}").data["v"]
    assert isinstance(got, float) and got == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("3", 3), ("-7", -7), ("1_000", 1000), ("0x10", 16), ("0o17", 15), ("0b101", 5), ("017", 17)],
)
def test_ints(text, value):
    got = parse_yaml(f"v: {text}").data["v"]
    assert type(got) is int and got == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("Off", "Off"),
        ("y", "y"),
        ("12:30", "12:30"),
        ("1e", "1e"),
        ("1e5.5", "1e5.5"),
        ("0x", "0x"),
        ("~", None),
        ("null", None),
        ("'1e-5'", "1e-5"),
        ("2024-01-02", datetime.date(2024, 1, 2)),
    ],
)
def test_yaml12_scalars(text, value):
    """YAML 1.1's yes/no/on/off booleans and sexagesimal numbers stay strings."""
    assert parse_yaml(f"v: {text}").data["v"] == value


def test_yes_still_validates_as_bool_field():
    class M(Frozen):
        flag: bool
        country: str

    got = validate(M, parse_yaml("flag: yes\ncountry: no").data, "c.yaml")
    assert got.flag is True and got.country == "no"


def test_empty_document_is_none():
    assert parse_yaml("").data is None
    assert parse_yaml("# only a comment\n").data is None


# --- structure rules -------------------------------------------------------------------------


def test_duplicate_top_level_key():
    msg = err("a: 1\nb: 2\na: 3\n")
    assert "duplicate key 'a'" in msg and "line 3" in msg and "line 1" in msg


def test_duplicate_nested_key_names_path_and_both_lines():
    msg = err("train:\n  optimizer:\n    lr: 0.1\n    wd: 0\n    lr: 0.2\n")
    assert "train.optimizer.lr" in msg
    assert "line 5" in msg and "first given on line 3" in msg


def test_duplicate_key_in_list_item_and_flow_mapping():
    assert "x.0.a" in err("x:\n  - a: 1\n    a: 2\n")
    assert "duplicate key 'k'" in err("m: {k: 1, k: 2}")


def test_duplicate_keys_equal_after_typing():
    assert "duplicate key" in err("1: a\n1.0: b\n")


def test_merge_key_may_be_overridden_but_not_duplicated():
    data = parse_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 5\n").data
    assert data["c"] == {"x": 5, "y": 2}
    assert "duplicate key 'x'" in err("base: &b {x: 1}\nc:\n  <<: *b\n  x: 5\n  x: 6\n")


def test_complex_keys_refused():
    assert "plain scalars" in err("? [1, 2]\n: 3\n")
    assert "plain scalars" in err("? {a: 1}\n: 3\n")


def test_billion_laughs_refused_quickly():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    t0 = time.monotonic()
    msg = err("\n".join(lines))
    assert time.monotonic() - t0 < 2.0
    assert str(MAX_NODES) in msg and "aliases" in msg


def test_moderate_aliases_allowed():
    data = parse_yaml("a: &a {x: 1}\nb: *a\nc: [*a, *a]\n").data
    assert data["b"] == {"x": 1} and data["c"] == [{"x": 1}, {"x": 1}]


def test_recursive_alias_refused():
    assert "recursive" in err("a: &a [1, *a]\n")
    assert "recursive" in err("a: &a {b: *a}\n")


def test_deep_nesting_refused():
    msg = err("[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5))
    assert f"deeper than {MAX_DEPTH}" in msg
    ok = parse_yaml("[" * 10 + "]" * 10).data
    assert isinstance(ok, list)


def test_size_cap():
    msg = err("a: '" + "x" * MAX_BYTES + "'\n")
    assert str(MAX_BYTES) in msg


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("a: !!python/object/apply:os.system ['true']", "constructor"),
        ("a: !!python/name:os.system", "constructor"),
        ("a: 1\n---\nb: 2\n", "line 2"),
        ("a:\n\t- 1", "line 2, column 1"),
        ("a: [1, 2", "invalid YAML"),
        ("a: 'open", "invalid YAML"),
        ("a: \x00", "line 1: character '\\x00' is not allowed"),
        ("a: *nowhere", "nowhere"),
        ("v: 2024-13-45", "cannot read '2024-13-45' as timestamp"),
        ("v: !!int 12x", "cannot read '12x' as int"),
        ("v: !!timestamp foo", "cannot read 'foo' as timestamp"),
        ("v: " + "9" * 5000, "as int"),
    ],
)
def test_bad_yaml_becomes_config_error(text, needle):
    assert needle in err(text)


def test_line_index():
    loaded = parse_yaml("a:\n  b: 1\n  c:\n    - x\n    - d: 2\n")
    assert loaded.line_of(["a", "b"]) == 2
    assert loaded.line_of(["a", "c", "1", "d"]) == 5
    assert loaded.line_of(["a", "nope"]) == 1
    assert loaded.line_of(["zzz"]) is None


# --- files ------------------------------------------------------------------------------------


def test_load_yaml_file_and_bom(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_bytes("\ufeffa: 1e-3\n".encode())
    loaded = load_yaml(p)
    assert loaded.data == {"a": 1e-3} and loaded.source == str(p)


def test_load_yaml_missing_dir_and_non_utf8(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read config file: No such"):
        load_yaml(tmp_path / "missing.yaml")
    (tmp_path / "d.yaml").mkdir()
    with pytest.raises(ConfigError, match=r"d\.yaml: config path is a directory"):
        load_yaml(tmp_path / "d.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"a: 1\nname: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"latin1\.yaml: line 2: byte 14 .*not valid UTF-8"):
        load_yaml(bad)


def test_load_yaml_too_big(tmp_path):
    p = tmp_path / "big.yaml"
    p.write_bytes(b"#" * (MAX_BYTES + 1))
    with pytest.raises(ConfigError, match=rf"big\.yaml: file is {MAX_BYTES + 1} bytes"):
        load_yaml(p)


def test_duplicate_key_in_file_names_file(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("study:\n  name: a\n  name: b\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(p)
    assert str(p) in str(info.value) and "study.name" in str(info.value)


# --- overrides --------------------------------------------------------------------------------


def test_parse_override_values():
    assert parse_override("train.lr=1e-4") == ("train.lr", 1e-4)
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])
    assert parse_override("a={x: 1}") == ("a", {"x": 1})
    assert parse_override("name=on") == ("name", "on")
    assert parse_override("a=") == ("a", None)
    assert parse_override("a=x=y") == ("a", "x=y")


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ("novalue", "key.path=value"),
        ("=3", "not a dotted path"),
        ("a..b=3", "not a dotted path"),
        (".a=3", "not a dotted path"),
        ("a.=3", "not a dotted path"),
        ("a b=3", "blanks"),
        ("a=[1, 2", "--set a"),
        ("a={k: 1, k: 2}", "duplicate key"),
        ("a=!!python/name:os.system", "constructor"),
    ],
)
def test_parse_override_errors(item, needle):
    with pytest.raises(ConfigError) as info:
        parse_override(item)
    assert needle in str(info.value)


def test_set_dotted_and_apply_overrides():
    data = {"a": {"b": 1}, "c": 2}
    out = apply_overrides(data, ["a.b=3", "a.x.y=true", "d=[1]"])
    assert out == {"a": {"b": 3, "x": {"y": True}}, "c": 2, "d": [1]}
    assert data == {"a": {"b": 1}, "c": 2}  # input untouched
    with pytest.raises(ConfigError, match=r"--set c\.d: c is 2, not a mapping"):
        set_dotted(data, "c.d", 1)


# --- validation errors ------------------------------------------------------------------------


class Opt(Frozen):
    name: Literal["adam", "sgd"] = "adam"
    lr: float = Field(default=1e-3, gt=0)


class FloatP(Frozen):
    type: Literal["float"]
    low: float
    high: float


class IntP(Frozen):
    type: Literal["int"]
    low: int
    high: int


Param = Annotated[Union[FloatP, IntP], Field(discriminator="type")]


class Space(RootModel[dict[str, Param]]):
    pass


class Train(Frozen):
    optimizer: Opt = Field(default_factory=Opt)
    stages: list[Opt] = Field(default_factory=list)
    epochs: int = Field(default=1, ge=1)


class Root(Frozen):
    train: Train = Field(default_factory=Train)
    space: Space = Field(default_factory=lambda: Space({}))
    extra: Opt | None = None


def check(text):
    loaded = parse_yaml(text, "exp.yaml")
    with pytest.raises(ConfigError) as info:
        validate(Root, loaded.data, "exp.yaml", loaded)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("trian: {}\n", "exp.yaml:1: trian: unknown key; did you mean 'train'?"),
        (
            "train:\n  optimizer:\n    lrr: 0.1\n",
            "exp.yaml:3: train.optimizer.lrr: unknown key; did you mean 'lr'?",
        ),
        (
            "train:\n  stages:\n    - {lr: 1}\n    - {nmae: sgd}\n",
            "exp.yaml:4: train.stages.1.nmae: unknown key; did you mean 'name'?",
        ),
        (
            "space:\n  float:\n    type: float\n    low: 0\n    hihg: 1\n",
            "exp.yaml:5: space.float.hihg: unknown key; did you mean 'high'?",
        ),
        ("extra:\n  nmae: sgd\n", "exp.yaml:2: extra.nmae: unknown key; did you mean 'name'?"),
        (
            "train:\n  optimizer:\n    zzzzzz: 1\n",
            "train.optimizer.zzzzzz: unknown key; known keys: lr, name",
        ),
    ],
)
def test_unknown_keys_did_you_mean_nested(text, expected):
    assert expected in check(text)


def test_value_errors_name_file_line_path_rule_value():
    msg = check("train:\n  epochs: 2\n  optimizer:\n    lr: -0.1\n")
    assert msg == "exp.yaml:4: train.optimizer.lr: must be > 0, got -0.1"
    msg = check("train:\n  epochs: yes\n")
    assert msg.startswith("exp.yaml:2: train.epochs: ") and "got 'yes'" in msg
    msg = check("space:\n  p: {type: int, low: 1.5, high: 3}\n")
    assert "exp.yaml:2: space.p.low:" in msg and "got 1.5" in msg


def test_several_errors_listed_and_top_level_type():
    msg = check("train:\n  epochs: 0\n  optimizer: {lr: 0}\n")
    assert "train.epochs" in msg and "train.optimizer.lr" in msg
    loaded = parse_yaml("- 1\n", "exp.yaml")
    with pytest.raises(ConfigError, match=r"exp\.yaml: \(top level\): .*got \[1\]"):
        validate(Root, loaded.data, "exp.yaml", loaded)


def test_validate_ok():
    loaded = parse_yaml("train: {optimizer: {lr: 1e-5}}\n")
    assert validate(Root, loaded.data, "x", loaded).train.optimizer.lr == 1e-5


def test_model_level_rule_not_followed_by_whole_mapping():
    from pydantic import model_validator

    class Pair(Frozen):
        low: float
        high: float

        @model_validator(mode="after")
        def _order(self):
            if self.low >= self.high:
                raise ValueError(f"low must be < high, got low={self.low} high={self.high}")
            return self

    loaded = parse_yaml("low: 3\nhigh: 1\n", "p.yaml")
    with pytest.raises(ConfigError) as info:
        validate(Pair, loaded.data, "p.yaml", loaded)
    assert str(info.value) == "p.yaml: (top level): low must be < high, got low=3.0 high=1.0"
