"""Demo, report and pictures: files exist, numbers come from the sweep JSON, figures are real PNGs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pseudo_labels import demo, report, visualize
from pseudo_labels import sweep_k50_spidepth as sweep_cli


@pytest.fixture(scope="module")
def sweep_json(synthetic_val: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "sweep.json"
    assert sweep_cli.main(["--cityscapes_root", str(synthetic_val), "--semantic_subdir", "pseudo_semantic_raw_k24",
                           "--eval_size", "128", "256", "--grad_thresholds", "0.05", "0.2", "--min_areas", "20", "50",
                           "--workers", "1", "--output", str(out)]) == 0
    return out


def test_report_numbers_and_figures(sweep_json: Path, tmp_path: Path) -> None:
    path = report.write_report(sweep_json, tmp_path / "r.md")
    text = path.read_text()
    record = json.loads(sweep_json.read_text())
    for protocol in record["protocols"]:
        best = record["best"][protocol]
        assert f"PQ {best['PQ']:.2f}, PQ_stuff {best['PQ_stuff']:.2f}" in text
        for entry in (e for e in record["results"] if e["protocol"] == protocol):
            assert f"| {entry['PQ']:.2f} | {entry['PQ_stuff']:.2f} | {entry['PQ_things']:.2f} |" in text
        for name, size in ((f"r_{protocol}_heatmap.png", (1000, 400)), (f"r_{protocol}_stuff_things.png", (600, 500))):
            image = Image.open(tmp_path / name)
            assert image.size == size and np.asarray(image).std() > 0
            assert f"]({name})" in text
    assert record["inputs"]["semantic"]["sha256"] in text
    rows = [float(m) for m in re.findall(r"^\| (?:CC-only|[\d.]+ / \d+) \| [\d.]+ \| ([\d.]+) \|", text, re.M)]
    half = len(rows) // 2
    assert rows[:half] == sorted(rows[:half], reverse=True)  # best first


def test_report_of_a_wrong_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(SystemExit) as info:
        report.main(["--sweep", str(tmp_path / "x.json"), "--out", str(tmp_path / "r.md")])
    assert info.value.code == 2 and "not a sweep result" in capsys.readouterr().err


def test_visualize_panels(synthetic_val: Path, tmp_path: Path) -> None:
    assert visualize.main(["--cityscapes_root", str(synthetic_val), "--semantic_subdir", "pseudo_semantic_raw_k24",
                           "--limit", "1", "--min_area", "100", "--out", str(tmp_path)]) == 0
    picture = np.asarray(Image.open(next(tmp_path.glob("*.png"))))
    assert picture.shape == (2 * (visualize.PANEL[0] + visualize.LABEL_BAR), 3 * visualize.PANEL[1], 3)
    errors = picture[visualize.PANEL[0] + 2 * visualize.LABEL_BAR:, 2 * visualize.PANEL[1]:]
    assert (np.all(errors == (40, 200, 60), axis=-1)).any()  # some matched things are shown in green


def test_demo_end_to_end_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--num_images", "2", "--size", "256", "512", "--k", "24"]) == 0
    sweep = json.loads((out / "sweep_k24_spidepth_val.json").read_text())
    text = (out / "report.md").read_text()
    best = sweep["best"]["reference"]
    assert f"PQ {best['PQ']:.2f}" in text and "best (reference protocol)" in capsys.readouterr().out
    for expected in ("pseudo_semantic_raw_k24/kmeans_centroids.npz", "pseudo_semantic_raw_k24/stuff_things.json",
                     "cups_pseudo_labels/stats.json", "report_reference_heatmap.png", "pictures"):
        assert (out / expected).exists(), expected
    assert len(list((out / "cups_pseudo_labels").glob("*.pt"))) == 2
    assert len(list((out / "pseudo_semantic_raw_k24" / "train").rglob("*.png"))) == 2
