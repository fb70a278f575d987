"""report.html: self-contained, and really drawn by a browser (Debian's chromium, headless)."""

import re
import shutil
import subprocess

import pytest
from PIL import Image

from zipfit_ray import SelectConfig, run_select
from zipfit_ray.report.plots import POOL_COLOR, SELECTED_COLOR

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def report(ray_session, corpus, tmp_path):
    out = tmp_path / "out"
    run_select(
        SelectConfig.from_flags(
            pool=(str(corpus.pool_dir),),
            targets=str(corpus.targets_path),
            out=str(out),
            k=40,
            compressor="lz4",
            group_column="kind",
        )
    )
    return out / "report.html"


def test_the_report_is_self_contained_and_complete(report):
    page = report.read_text()
    assert re.findall(r"(?:src|href)=", page) == []  # nothing to fetch: no network, no files
    assert "<script" not in page
    assert page.count("class='pool'") > 5 and page.count("class='selected'") > 1
    assert "threshold" in page and "<h2>By kind</h2>" in page
    assert page.count("class='pool-length'") >= 3 and "class='selected-length'" in page
    assert "median bin: pool" in page
    served = page.split("<h2>Target items served</h2>", 1)[1].split("<h2>", 1)[0]
    items = served.count("<tr>") - 1  # the least-served items listed, each with its text
    assert items > 0 and served.count("<pre>") == items
    # 5 best, 5 borderline, the summary, and each least-served item's text
    assert "Borderline" in page and page.count("<pre>") == 11 + items


def color_pixels(png, hex_color):
    rgb = tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    image = Image.open(png).convert("RGB")
    return sum(count for count, color in image.getcolors(1 << 24) if color == rgb)


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_a_headless_browser_draws_the_plots(report, tmp_path):
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars",
            "--window-size=1100,900",
            f"--screenshot={shot}",
            report.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert color_pixels(shot, POOL_COLOR) > 500  # the pool's bars
    assert color_pixels(shot, SELECTED_COLOR) > 100  # the selection's bars


def test_a_min_score_report_shows_the_best_and_the_last_rows_selected(
    ray_session, corpus, tmp_path
):
    out = tmp_path / "out"
    summary = run_select(
        SelectConfig.from_flags(
            pool=(str(corpus.pool_dir),),
            targets=str(corpus.targets_path),
            out=str(out),
            min_score=0.0,
            compressor="lz4",
            shard_rows=10,
        )
    )
    page = (out / "report.html").read_text()
    shown = [float(x) for x in re.findall(r"zipfit_score (-?[0-9.]+)</p>", page)]
    assert len(shown) == 10 and min(shown) >= 0.0 and shown == sorted(shown, reverse=True)
    quantiles = summary["selected_score_quantiles"]
    assert shown[0] == pytest.approx(quantiles["q1"], abs=1e-6)
    assert shown[-1] == pytest.approx(quantiles["q0"], abs=1e-6)
