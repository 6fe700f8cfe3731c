"""Open the report in headless Chromium, with no network, and check the plots render.

The page's own script sets ``data-expected`` (figure specs) and ``data-plots`` (rendered plotly
plots) on ``<body>`` and counts script errors in ``data-errors``; a user string that ran as HTML
would set ``data-pwned``. Chromium missing: skipped locally, a failure under CI (``CI`` set).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tunesmith.reports import write_report

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    # No name resolves: anything the page fetched from the network would fail.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--virtual-time-budget=20000",
]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    if os.environ.get("CI"):
        pytest.fail("Chromium is required under CI: apt-get install -y chromium")
    pytest.skip("Chromium is not installed (apt-get install -y chromium)")


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def page(shared_study, tmp_path_factory) -> tuple[str, Path, str]:
    browser = _chromium()
    root = tmp_path_factory.mktemp("browser")
    path = write_report(shared_study, root / "report")
    proc = _run(browser, root / "profile", "--dump-dom", path.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return browser, path, proc.stdout


def _body_attrs(dom: str) -> dict[str, str]:
    m = re.search(r"<body([^>]*)>", dom)
    assert m, "no <body> in the dumped DOM"
    return dict(re.findall(r'data-([\w-]+)="([^"]*)"', m.group(1)))


def test_all_plots_render_without_script_errors(page):
    _, _, dom = page
    attrs = _body_attrs(dom)
    assert "errors" not in attrs, re.search(r'<pre id="ts-errors".*?</pre>', dom, re.S).group(0)
    assert int(attrs["expected"]) >= 6
    assert attrs.get("plots") == attrs["expected"]
    assert dom.count('class="main-svg"') >= int(attrs["expected"])  # plotly drew SVG
    assert re.search(r'<pre id="ts-errors" hidden="">\s*</pre>', dom)


def test_user_strings_do_not_run(page):
    _, _, dom = page
    assert "pwned" not in _body_attrs(dom)
    assert '<img src="x"' not in dom


def test_screenshot_is_not_blank(page, tmp_path):
    from PIL import Image

    browser, path, _ = page
    shot = tmp_path / "shot.png"
    proc = _run(
        browser,
        tmp_path / "profile",
        "--window-size=1200,2400",
        f"--screenshot={shot}",
        path.as_uri(),
    )
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as img:
        rgb = img.convert("RGB")
        colors = rgb.getcolors(maxcolors=1 << 24)
    assert colors is not None and len(colors) > 50
    # Plotly's colours are there: the history markers (#1f77b4) and best-so-far (#ff7f0e).
    pixels = {c for _, c in colors}
    assert (31, 119, 180) in pixels
    assert (255, 127, 14) in pixels


def test_pareto_front_with_pick_and_ensemble_renders(multi_study, tmp_path):
    picked = min(multi_study.best_trials, key=lambda t: t.values[1]).number
    multi_study.set_user_attr(
        "pick", {"trial": picked, "rule": "most_accurate", "rule_text": "", "reason": "r"}
    )
    multi_study.set_user_attr(
        "ensemble",
        {
            "k": 2,
            "trials": [picked, 1],
            "test": {"accuracy": 0.9},
            "winner_test": {"accuracy": 0.8},
        },
    )
    browser = _chromium()
    path = write_report(multi_study, tmp_path / "report")
    proc = _run(browser, tmp_path / "profile", "--dump-dom", path.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    attrs = _body_attrs(dom)
    assert "errors" not in attrs
    assert attrs.get("plots") == attrs["expected"]
    assert f"picked: trial {picked}" in dom  # the legend plotly drew
    assert re.search(r'<section id="ensemble">.*single winner', dom, re.S)
