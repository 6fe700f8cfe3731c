"""Every malformed config in ``configs/`` exits 2 naming the file and the key, and writes nothing.

Each corpus file ends with comment lines ``# command: tune|finetune`` and ``# expect: TEXT``
(one per text the error message must contain); the two files that cannot carry a readable
comment are listed in :data:`NO_TRAILER`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tunesmith.config.loader import MAX_BYTES

from .conftest import run_cli, tree_hash  # noqa: TID252

CORPUS = Path(__file__).parent / "configs"
NO_TRAILER = {
    "utf16_file.yaml": ("tune", ["line 1", "UTF-8"]),
    "empty_file.yaml": ("tune", ["top level", "mapping"]),
}


def _expectations(path: Path) -> tuple[str, list[str]]:
    if path.name in NO_TRAILER:
        return NO_TRAILER[path.name]
    tail = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    command = next(line.split(":", 1)[1].strip() for line in tail if line.startswith("# command:"))
    needles = [line.split(":", 1)[1].strip() for line in tail if line.startswith("# expect:")]
    return command, needles


FILES = sorted(CORPUS.glob("*.yaml"))
# Known gaps outside this suite's code: strict xfail, so the test fails (and must be updated) the
# day they are fixed.
GAPS: dict[str, str] = {}
PARAMS = [
    pytest.param(p, id=p.stem, marks=pytest.mark.xfail(reason=GAPS[p.name], strict=True))
    if p.name in GAPS
    else pytest.param(p, id=p.stem)
    for p in FILES
]


def test_corpus_is_large_enough():
    assert len(FILES) >= 60
    assert sum(_expectations(p)[0] == "finetune" for p in FILES) >= 15


@pytest.mark.parametrize("path", PARAMS)
def test_malformed_config_exits_2_naming_file_and_key(path, workdir, capsys):
    command, needles = _expectations(path)
    assert needles, f"{path.name} has no expectations"
    cfg = workdir / path.name
    shutil.copyfile(path, cfg)
    before = tree_hash(workdir)
    code, err = run_cli([command, str(cfg)], capsys)
    assert code == 2, err
    assert str(cfg) in err, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in: {err}"
    assert "Traceback" not in err
    assert tree_hash(workdir) == before


def _generated_cases(root: Path) -> dict[str, tuple[Path, list[str]]]:
    big = root / "big.yaml"
    big.write_bytes(b"study: {name: big}\n" + b"# padding\n" * (MAX_BYTES // 10 + 1))
    folder = root / "folder.yaml"
    folder.mkdir()
    link = root / "dangling.yaml"
    link.symlink_to(root / "nowhere.yaml")
    return {
        "too_big": (big, [str(MAX_BYTES), "bytes"]),
        "directory": (folder, ["directory"]),
        "missing": (root / "missing.yaml", ["No such file"]),
        "dangling_symlink": (link, ["No such file"]),
    }


@pytest.mark.parametrize("case", ["too_big", "directory", "missing", "dangling_symlink"])
@pytest.mark.parametrize("command", ["tune", "finetune"])
def test_unreadable_config_paths(case, command, workdir, capsys):
    path, needles = _generated_cases(workdir)[case]
    before = tree_hash(workdir)
    code, err = run_cli([command, str(path)], capsys)
    assert code == 2, err
    assert str(path) in err
    for needle in needles:
        assert needle in err, err
    assert tree_hash(workdir) == before


@pytest.mark.parametrize(
    ("item", "needles"),
    [
        ("study.n_trials", ["key.path=value"]),
        ("study..name=x", ["not a dotted path"]),
        ("study.n_trials=[1", ["--set study.n_trials", "invalid YAML"]),
        ("study.n_trials=-1", ["study.n_trials", "-1"]),
        ("study.name.first=x", ["study.name", "not a mapping"]),
        ("study.name=../up", ["study.name", "'../up'"]),
        ("study.sampler={name: tpe, name: random}", ["duplicate key"]),
        ("stduy.name=x", ["stduy", "did you mean 'study'"]),
    ],
)
def test_bad_set_overrides_exit_2(item, needles, workdir, capsys):
    cfg = workdir / "ok.yaml"
    cfg.write_text(
        "study: {name: ok, n_trials: 1}\nsklearn: {estimator: 'sklearn.svm:SVC', dataset: iris}\n"
        "space: {C: {type: float, low: 0.1, high: 1.0}}\n"
    )
    before = tree_hash(workdir)
    code, err = run_cli(["tune", str(cfg), "--set", item], capsys)
    assert code == 2, err
    for needle in needles:
        assert needle in err, err
    assert tree_hash(workdir) == before
