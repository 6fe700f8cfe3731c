from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "check_unsafe.py"

_spec = importlib.util.spec_from_file_location("check_unsafe", TOOL)
check_unsafe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_unsafe)
findings = check_unsafe.findings


UNSAFE = {
    "torch-load": ("import torch\ntorch.load('m.pt')", "torch.load without weights_only"),
    "torch-load-false": ("import torch\ntorch.load(f, weights_only=False)", "weights_only"),
    "torch-load-var": ("import torch\ntorch.load(f, weights_only=flag)", "weights_only"),
    "torch-from": ("from torch import load\nload(f)", "torch.load"),
    "torch-alias": ("import torch as t\nt.load(f)", "torch.load"),
    "pickle-loads": ("import pickle\npickle.loads(b)", "pickle.loads"),
    "pickle-load": ("import pickle\npickle.load(fh)", "pickle.load"),
    "pickle-alias": ("import pickle as p\np.loads(b)", "pickle.loads"),
    "pickle-from": ("from pickle import loads\nloads(b)", "pickle.loads"),
    "pickle-from-as": ("from pickle import loads as L\nL(b)", "pickle.loads"),
    "pickle-ref": ("import pickle\nf = pickle.loads", "pickle.loads"),
    "pickle-unpickler": ("import pickle\npickle.Unpickler(fh).load()", "pickle.Unpickler"),
    "pickle-dunder": ("__import__('pickle').loads(b)", "pickle.loads"),
    "pickle-importlib": ("import importlib\nimportlib.import_module('pickle').loads(b)", "pickle"),
    "pickle-getattr": ("import pickle\ngetattr(pickle, 'loads')(b)", "pickle.loads"),
    "_pickle": ("import _pickle\n_pickle.loads(b)", "_pickle.loads"),
    "cloudpickle": ("import cloudpickle\ncloudpickle.loads(b)", "cloudpickle.loads"),
    "cloudpickle-reduce": (
        "import cloudpickle\ndef __reduce__(self):\n    return (cloudpickle.loads, (b,))",
        "cloudpickle.loads",
    ),
    "dill": ("import dill\ndill.load(fh)", "dill.load"),
    "joblib": ("import joblib\njoblib.load('m.joblib')", "joblib.load"),
    "pandas": ("import pandas as pd\npd.read_pickle('x.pkl')", "pandas.read_pickle"),
    "marshal": ("import marshal\nmarshal.loads(b)", "marshal.loads"),
    "shelve": ("import shelve\nshelve.open('db')", "shelve.open"),
    "numpy-pickle": ("import numpy as np\nnp.load(p, allow_pickle=True)", "allow_pickle"),
    "yaml-load": ("import yaml\nyaml.load(text)", "yaml.load without a safe Loader"),
    "yaml-load-unsafe-loader": ("import yaml\nyaml.load(t, Loader=yaml.Loader)", "yaml.load"),
    "yaml-load-full-loader": ("import yaml\nyaml.load(t, yaml.FullLoader)", "yaml.load"),
    "yaml-load-all": ("import yaml\nyaml.load_all(text)", "yaml.load_all"),
    "yaml-unsafe": ("import yaml\nyaml.unsafe_load(text)", "yaml.unsafe_load"),
    "yaml-full": ("import yaml\nyaml.full_load(text)", "yaml.full_load"),
    "yaml-from": ("from yaml import unsafe_load\nunsafe_load(t)", "yaml.unsafe_load"),
    "eval": ("eval('1+1')", "eval()"),
    "exec": ("exec(code)", "exec()"),
    "builtins-eval": ("import builtins\nbuiltins.eval(s)", "builtins.eval"),
    "shell-run": ("import subprocess\nsubprocess.run('ls', shell=True)", "shell=True"),
    "shell-popen": ("from subprocess import Popen\nPopen(cmd, shell=True)", "shell=True"),
    "shell-var": ("import subprocess\nsubprocess.call(c, shell=use_shell)", "shell="),
    "os-system": ("import os\nos.system('ls')", "os.system runs a shell"),
    "os-popen": ("import os\nos.popen('ls')", "os.popen runs a shell"),
    "getoutput": ("import subprocess\nsubprocess.getoutput('ls')", "subprocess.getoutput"),
}

SAFE = {
    "torch-weights-only": "import torch\ntorch.load(f, weights_only=True)",
    "yaml-safe": "import yaml\nyaml.safe_load(t)\nyaml.safe_load_all(t)",
    "yaml-load-safe-loader": "import yaml\nyaml.load(t, Loader=yaml.SafeLoader)",
    "yaml-load-csafe": "from yaml import CSafeLoader\nimport yaml\nyaml.load(t, CSafeLoader)",
    "yaml-subclass": "import yaml\nclass L(yaml.SafeLoader):\n    pass",
    "pickle-dumps": "import pickle, cloudpickle\npickle.dumps(x)\ncloudpickle.dumps(x)",
    "json-loads": "import json\njson.loads(s)\njson.load(fh)",
    "numpy-default": "import numpy as np\nnp.load(p)\nnp.load(p, allow_pickle=False)",
    "shell-false": "import subprocess\nsubprocess.run(['ls'], shell=False)\nsubprocess.run(['ls'])",
    "strings-comments": "# pickle.loads(x), eval(s)\nx = 'torch.load(f) shell=True yaml.load'",
    "own-loads": "def loads(b):\n    return b\nloads(b'x')",
    "method-eval": "model.eval()\nself.exec_step()",
    "safetensors": "from safetensors.torch import load_file\nload_file('m.safetensors')",
}


@pytest.mark.parametrize("name", sorted(UNSAFE))
def test_unsafe_pattern_flagged(name):
    source, needle = UNSAFE[name]
    found = findings(source, "src/tunesmith/x.py")
    assert found, f"{name} not flagged"
    assert any(needle in line for line in found), found
    assert all(line.startswith("src/tunesmith/x.py:") for line in found)


@pytest.mark.parametrize("name", sorted(SAFE))
def test_safe_variant_not_flagged(name):
    assert findings(SAFE[name], "src/tunesmith/x.py") == []


def test_line_numbers_reported():
    found = findings("import pickle\n\n\npickle.loads(b)\n", "f.py")
    assert found == ["f.py:4: pickle.loads (pickle runs code)"]


def test_cloudpickle_loads_allowed_only_in_runners():
    source = "import cloudpickle\ndef __reduce__(self):\n    return (cloudpickle.loads, (b,))"
    assert findings(source, "src/tunesmith/runners/local.py") == []
    assert findings(source, "src/tunesmith/engine/x.py") != []
    # the allow-list covers cloudpickle.loads only, not pickle.loads, even in runners
    assert findings("import pickle\npickle.loads(b)", "src/tunesmith/runners/local.py") != []
    assert all(why for why in check_unsafe.ALLOWED.values())


def test_main_exit_codes(tmp_path):
    (tmp_path / "ok.py").write_text("import yaml\nyaml.safe_load('a: 1')\n")
    assert check_unsafe.main([str(tmp_path)]) == 0
    (tmp_path / "bad.py").write_text("import pickle\npickle.loads(b'')\n")
    assert check_unsafe.main([str(tmp_path)]) == 1


def test_real_source_tree_passes():
    proc = subprocess.run(
        [sys.executable, str(TOOL), "src"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
