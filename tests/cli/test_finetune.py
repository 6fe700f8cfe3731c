"""`tunesmith finetune`: config loading, overrides, metrics output and exit code 2 on bad input."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tunesmith.cli.main import main
from tunesmith.config.finetune import load_finetune_config
from tunesmith.errors import ConfigError

sys.path.insert(0, str(Path(__file__).parents[1] / "engine" / "models"))

CUSTOM = """
model: {kind: custom, factory: "tiny_factories:make_net", head: fc, groups: [body, block]}
data: {train: d.npz}
train: {epochs: 2, batch_size: 16, optimizer: {name: adam, lr: 0.01}}
"""


def _npz(path, n=80):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    np.savez(path, x=rng.normal(size=(n, 4)).astype(np.float32) + y[:, None] * 3, y=y)


def test_runs_a_job_and_prints_metrics(tmp_path, capsys):
    _npz(tmp_path / "d.npz")
    cfg = tmp_path / "job.yaml"
    cfg.write_text(CUSTOM)
    code = main(["finetune", str(cfg), "--set", "train.epochs=1", "--out", str(tmp_path / "m")])
    out = capsys.readouterr().out
    assert code == 0
    assert "validation: accuracy=" in out and "test: accuracy=" in out
    assert "model saved to" in out and (tmp_path / "m" / "MANIFEST.json").is_file()
    assert "best epoch: 0" in out  # one epoch after the override


def test_no_test_flag(tmp_path, capsys):
    _npz(tmp_path / "d.npz")
    cfg = tmp_path / "job.yaml"
    cfg.write_text(CUSTOM)
    assert main(["finetune", str(cfg), "--no-test"]) == 0
    assert "test: not run" in capsys.readouterr().out


def test_relative_paths_resolve_against_the_config(tmp_path):
    cfg = tmp_path / "job.yaml"
    cfg.write_text(CUSTOM)
    loaded = load_finetune_config(cfg, ["seed=3"])
    assert loaded.data.train == str(tmp_path / "d.npz") and loaded.seed == 3


def test_config_errors_exit_2(tmp_path, capsys):
    cfg = tmp_path / "job.yaml"
    cfg.write_text(CUSTOM.replace("lr: 0.01", "lr: -0.1"))
    assert main(["finetune", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "train.optimizer.lr" in err and "-0.1" in err
    with pytest.raises(ConfigError, match="unknown key"):
        load_finetune_config(cfg, ["model.kindd=custom"])


def _write_csv(path, text):
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


BAD_TEXT = {
    "missing_column": ("body,label\na,x\n", ["missing column 'text'", "'body'"]),
    "empty": ("", ["file is empty"]),
    "header_only": ("text,label\n", ["no data rows"]),
    "ragged": ("text,label\na,x\nb,y,z\n", ["row 2", "ragged"]),
    "undecodable": (b"text,label\na,x\n\xff\xfe,y\n", ["line 3", "data.encoding"]),
    "single_class": ("text,label\n" + "a,x\n" * 20, ["single class"]),
}


@pytest.mark.parametrize("case", sorted(BAD_TEXT))
def test_bad_text_data_exit_2_naming_file_and_row(tmp_path, capsys, case):
    content, needles = BAD_TEXT[case]
    data = _write_csv(tmp_path / f"{case}.csv", content)
    cfg = tmp_path / "job.yaml"
    cfg.write_text(f"data: {{train: {data.name}}}\ntrain: {{epochs: 1}}\n")
    assert main(["finetune", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert str(data) in err
    for needle in needles:
        assert needle in err


def test_unseen_validation_label_exit_2(tmp_path, capsys):
    _write_csv(tmp_path / "train.csv", "text,label\n" + "a,x\nb,y\n" * 5)
    _write_csv(tmp_path / "dev.csv", "text,label\na,x\nb,z\n")
    cfg = tmp_path / "job.yaml"
    cfg.write_text("data: {train: train.csv, validation: dev.csv}\n")
    assert main(["finetune", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "dev.csv: row 2" in err and "'z'" in err


@pytest.mark.parametrize("case", ["zero", "truncated", "bomb", "symlink"])
def test_bad_images_exit_2_naming_the_file(tmp_path, capsys, case):
    root = tmp_path / "imgs"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(root / cls / f"{i}.png")
    bad = root / "b" / "bad.png"
    extra = ""
    if case == "zero":
        bad.write_bytes(b"")
    elif case == "truncated":
        Image.new("RGB", (64, 64), (1, 2, 3)).save(bad)
        bad.write_bytes(bad.read_bytes()[:60])
    elif case == "bomb":
        Image.new("RGB", (300, 300)).save(bad)
        extra = ", image: {max_image_pixels: 10000}"
    else:
        outside = tmp_path / "outside.png"
        Image.new("RGB", (8, 8)).save(outside)
        bad.symlink_to(outside)
    cfg = tmp_path / "job.yaml"
    cfg.write_text(
        f"model: {{kind: efficientnet, pretrained: false}}\ndata: {{train: imgs{extra}}}\n"
    )
    assert main(["finetune", str(cfg)]) == 2
    assert str(bad) in capsys.readouterr().err
