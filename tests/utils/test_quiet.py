"""Third-party progress bars stay out of logs that are not a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunesmith.utils.quiet import HUB_VARIABLE, quiet_progress_bars

LOAD = """
import sys
{before}
from transformers import BertModel
BertModel.from_pretrained(sys.argv[1])
"""


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("bert")
    config = BertConfig(
        vocab_size=32,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    BertModel(config).save_pretrained(folder)
    return folder


def _stderr_of(before: str, folder: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != HUB_VARIABLE}
    done = subprocess.run(
        [sys.executable, "-c", LOAD.format(before=before), str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    return done.stderr


def test_loading_bars_appear_in_a_pipe_unless_quieted(tiny_bert: Path) -> None:
    assert "Loading weights" in _stderr_of("", tiny_bert)  # what a log file would get
    quiet = "from tunesmith.utils.quiet import quiet_progress_bars; quiet_progress_bars()"
    assert "Loading weights" not in _stderr_of(quiet, tiny_bert)
    # the CLI sets it up with its logging, before any model loads
    cli = "from tunesmith.cli.main import configure_logging; configure_logging(0, False)"
    assert "Loading weights" not in _stderr_of(cli, tiny_bert)
    # and transformers already imported is switched off too
    late = "import transformers.modeling_utils\n" + quiet
    assert "Loading weights" not in _stderr_of(late, tiny_bert)


def test_a_terminal_keeps_its_bars(monkeypatch) -> None:
    monkeypatch.delenv(HUB_VARIABLE, raising=False)
    leader, follower = os.openpty()
    try:
        with open(follower, "w", closefd=False) as terminal:
            assert terminal.isatty()
            assert quiet_progress_bars(terminal) is False
        assert HUB_VARIABLE not in os.environ
    finally:
        os.close(leader)
        os.close(follower)
