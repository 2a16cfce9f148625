"""Demo, report and pictures: files exist, numbers come from the sweep JSON, figures are real PNGs."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from xml.etree import ElementTree
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.cli import demo
from pseudo_labels.cli import report as report_cli
from pseudo_labels.cli import visualize as visualize_cli
from pseudo_labels.report import colour, drawing, markdown as report, figures as report_figures, pictures as visualize
from pseudo_labels.report import html as report_html
from pseudo_labels.report import provenance
from pseudo_labels.evaluation import segment_errors
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.cli import sweep as sweep_cli


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
    interval = r" \[[\d.]+, [\d.]+\]"
    for protocol in record["protocols"]:
        best = record["best"][protocol]
        assert re.search(rf"PQ {best['PQ']:.2f}{interval}, PQ_stuff {best['PQ_stuff']:.2f}{interval}", text)
        for entry in (e for e in record["results"] if e["protocol"] == protocol):
            assert re.search(rf"\| {entry['PQ']:.2f}{interval} \| {entry['PQ_stuff']:.2f}{interval} \| "
                             rf"{entry['PQ_things']:.2f}{interval} \|", text)
        for name, width in ((f"r_{protocol}_heatmap.png", 1300), (f"r_{protocol}_amin.png", 1400)):
            image = Image.open(tmp_path / name)
            assert image.size[0] == width and np.asarray(image).std() > 0
            assert f"]({name})" in text
        assert not (tmp_path / f"r_{protocol}_stuff_things.png").exists()  # the flat plot is gone
    assert Image.open(tmp_path / "r_per_class.png").size[0] == 1200 and "](r_per_class.png)" in text
    assert record["inputs"]["semantic"]["sha256"] in text
    assert f"k = {record['k']} clusters" in text
    assert f"bootstrap intervals over the {record['n_images']} images" in text and "1000 resamples" in text
    rows = re.findall(r"^\| (?:CC-only|[\d.]+ / \d+) \| [\d.]+ \| ([\d.]+) \[.*\| (best|n\.s\.|lower) \|$", text, re.M)
    half = len(rows) // 2
    pq = [float(r[0]) for r in rows]
    assert len(rows) == 2 * len(record["grid"]) and pq[:half] == sorted(pq[:half], reverse=True)  # best first
    assert [r[1] for r in rows[:half]].count("best") == 1 and rows[0][1] == "best"


def test_report_figure_formats_and_no_statistics(sweep_json: Path, tmp_path: Path) -> None:
    alone = tmp_path / "alone.json"  # no per-image statistics beside it
    shutil.copy(sweep_json, alone)
    text = report.write_report(alone, tmp_path / "r.md", formats=["svg", "pdf"]).read_text()
    assert "No intervals: the per-image statistics `alone.images.npz`" in text and "[95 % CI]" not in text
    assert "](r_per_class.svg)" in text and "[PDF](r_per_class.pdf)" in text
    assert (tmp_path / "r_per_class.pdf").read_bytes().startswith(b"%PDF")
    assert not (tmp_path / "r_per_class.png").exists()
    svg = ElementTree.parse(tmp_path / "r_reference_heatmap.svg").getroot()
    assert svg.tag.endswith("svg") and "best PQ" in (tmp_path / "r_reference_heatmap.svg").read_text()
    entries = [e for e in json.loads(sweep_json.read_text())["results"] if e["protocol"] == "reference"]
    again = report_figures.heatmap(entries, "reference", ["pdf"])["pdf"]  # no time stamps: reruns give the same bytes
    assert again == (tmp_path / "r_reference_heatmap.pdf").read_bytes()


def test_heatmap_values_in_cells_only_when_they_fit() -> None:
    assert report_figures.cell_font_size(52, 36) == report_figures.MAX_CELL_FONT
    assert report_figures.cell_font_size(20, 36) is None  # 40 taus: too narrow for legible numbers
    def grid(taus: int) -> list[dict]:
        return [{"mode": "depth", "grad_threshold": 0.01 * t, "min_area": a, "PQ": 50.0 + t, "PQ_things": 1.0}
                for t in range(1, taus + 1) for a in (100, 200)]
    assert report_figures.heatmap_values_fit(grid(13))  # the default grid's 13 taus
    assert not report_figures.heatmap_values_fit(grid(40))
    table = report.grid_table(grid(40)[:-1], "PQ")  # the values go to a table, untested cells named
    assert table[1][:2] == ["PQ: A_min (rows), tau (columns)", "0.01"] and table[2][1][-1] == "not run"


def test_per_class_bars_zero_versus_absent() -> None:
    entry = {"per_class": {"road": {"PQ": 40.0, "evaluated": True, "thing": False},
                           "wall": {"PQ": 0.0, "evaluated": True, "thing": False},
                           "fence": {"PQ": 0.0, "evaluated": False, "thing": False}}}
    values, bars, zero = report_figures.class_marks(entry, ["road", "wall", "fence", "parking"])
    assert bars.tolist() == [True, False, False, False]  # a bar only for PQ > 0
    assert zero.tolist() == [False, True, False, False]  # a marker for an evaluated 0; nothing for fence or parking
    assert values.tolist() == [40.0, 0.0, 0.0, 0.0]


def test_report_says_synthetic_at_the_top(sweep_json: Path, tmp_path: Path) -> None:
    text = report.write_report(sweep_json, tmp_path / "r.md", resamples=0).read_text()
    lines = text.splitlines()
    assert lines[0].endswith("(synthetic data)") and "SYNTHETIC DATA — not a result on Cityscapes" in lines[2]
    assert "Semantics: synthetic clusters: a degraded copy of the ground truth" in text  # named as they are ...
    assert "Depth: synthetic depth: the scene's distances drawn by `pseudo-labels synthetic`" in text
    assert "SPIdepth" not in text  # ... and not after the folder name depth_spidepth
    assert "Intervals were not computed (`report --resamples 0`)" in text


def test_data_origin_real_and_unknown(sweep_json: Path, tmp_path: Path) -> None:
    record = json.loads(sweep_json.read_text())
    alone = tmp_path / "alone.json"  # no manifest beside it, and a centroid path that leads nowhere
    record["inputs"]["centroids"]["path"] = str(tmp_path / "gone" / "k24" / "kmeans_centroids.npz")
    alone.write_text(json.dumps(record))
    assert provenance.data_origin(alone, record).synthetic is None
    real = tmp_path / "cityscapes"
    (real / "leftImg8bit" / "val").mkdir(parents=True)
    manifest = json.loads(sweep_json.with_name(f"{sweep_json.stem}.manifest.json").read_text())
    manifest["arguments"]["cityscapes_root"] = str(real)
    (tmp_path / "alone.manifest.json").write_text(json.dumps(manifest))
    origin = provenance.data_origin(alone, record)
    assert origin.synthetic is False and "no synthetic marker" in origin.text
    text = report.write_report(alone, tmp_path / "real.md").read_text()
    assert "SYNTHETIC" not in text and "no synthetic marker" in text.splitlines()[2]


def test_heatmap_grid_leaves_untested_cells_empty() -> None:
    entries = [{"mode": "depth", "grad_threshold": t, "min_area": a, "PQ": t * a, "PQ_things": 1.0}
               for t, a in ((0.1, 100), (0.2, 100), (0.2, 1000))]
    taus, areas, grid = report_figures.grid_of(entries, "PQ")
    assert taus == [0.1, 0.2] and areas == [100, 1000]
    assert np.isnan(grid[1, 0]) and grid[1, 1] == pytest.approx(200.0)
    cc = {"mode": "cc_only", "grad_threshold": None, "min_area": 10, "PQ": 5.0, "PQ_things": 2.0, "avg_instances": 3.0}
    assert Image.open(io.BytesIO(report_figures.heatmap([*entries, cc], "reference")["png"])).size[0] == 1300


def _report_with_pictures(synthetic_val: Path, sweep_json: Path, tmp_path: Path) -> Path:
    _visualize(synthetic_val, tmp_path / "pictures", "--select", "worst", "--limit", "2")
    return report.write_report(sweep_json, tmp_path / "site" / "r.md", pictures=tmp_path / "pictures", html=True)


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.rows = 0
        self.scripts: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img":
            self.images.append(values["src"] or "")
        elif tag == "a":
            self.links.append(values["href"] or "")
        elif tag == "script" or (tag == "link" and "href" in values):
            self.scripts.append(values)


def test_report_gallery_and_html_reference_existing_files(synthetic_val: Path, sweep_json: Path,
                                                          tmp_path: Path) -> None:
    markdown = _report_with_pictures(synthetic_val, sweep_json, tmp_path)
    index = json.loads((tmp_path / "pictures" / "index.json").read_text())
    worst = min((e for e in index["images"]), key=lambda e: e["PQ_things"])
    text = markdown.read_text()
    assert f"[![{worst['stem']}: PQ_things {worst['PQ_things']:.1f}" in text  # the gallery starts with the worst
    html_path = markdown.with_suffix(".html")
    page = html_path.read_text()
    refs = _Refs()
    refs.feed(page)
    assert len(refs.images) == 5 + 2  # five figures and the two pictures of the gallery
    for ref in refs.images + refs.links:
        assert not re.match(r"[a-z]+:", ref), ref  # nothing from the network: works offline
        assert (html_path.parent / ref).is_file(), ref
    assert all("src" not in s for s in refs.scripts)  # inline scripts only
    assert "SYNTHETIC DATA" in page and 'class="sortable"' in page
    for entry in index["images"]:  # every scored image is a row of the sortable table
        assert f"<td data-value=\"{entry['stem']}\">" in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="no chromium or chromium-browser on PATH: the HTML is checked "
                                                 "without a browser by the test above")
def test_html_images_load_in_headless_chromium(synthetic_val: Path, sweep_json: Path, tmp_path: Path) -> None:
    html_path = _report_with_pictures(synthetic_val, sweep_json, tmp_path).with_suffix(".html")
    broken = tmp_path / "site" / "broken.html"  # the check must be able to fail: one image that does not exist
    broken.write_text(html_path.read_text().replace('src="r_per_class.png"', 'src="missing.png"', 1))

    def dom(page: Path) -> str:
        done = subprocess.run([str(_chromium()), "--headless", "--no-sandbox", "--disable-gpu",
                               "--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom",
                               page.as_uri()], capture_output=True, text=True, timeout=120, check=True)
        return done.stdout

    clicks = tmp_path / "site" / "sorted.html"  # sort by PQ_things twice (ascending, then descending)
    clicks.write_text(html_path.read_text().replace("</body>", """<script>
var table = document.querySelector("table.sortable"), header = table.querySelectorAll("thead th")[3];
function first() { return table.tBodies[0].rows[0].cells[0].getAttribute("data-value"); }
header.click(); document.body.setAttribute("data-ascending", first());
header.click(); document.body.setAttribute("data-descending", first());
</script></body>"""))
    good, bad, sorted_page = dom(html_path), dom(broken), dom(clicks)
    shot = tmp_path / "screenshot.png"  # what a reader sees: not a blank page, the banner in its red
    subprocess.run([str(_chromium()), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--allow-file-access-from-files", "--virtual-time-budget=10000", "--window-size=1280,1600",
                    f"--screenshot={shot}", html_path.as_uri()], capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (1600, 1280) and pixels.std() > 20 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
    banner = np.abs(pixels - np.array(colour.hex_rgb(report_html.TEXT_COLOURS[".banner"][1]))).sum(axis=-1) < 30
    assert banner[:400].sum() > 10_000  # the SYNTHETIC DATA banner near the top
    assert 'data-images-loaded="7"' in good and 'data-images-broken="0"' in good
    assert 'data-images-broken="1"' in bad and "image missing: missing.png" in bad
    images = json.loads((tmp_path / "pictures" / "index.json").read_text())["images"]
    ranked = sorted(images, key=lambda e: e["PQ_things"])
    assert f'data-ascending="{ranked[0]["stem"]}"' in sorted_page
    assert f'data-descending="{ranked[-1]["stem"]}"' in sorted_page


def test_report_of_a_wrong_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(SystemExit) as info:
        report_cli.main(["--sweep", str(tmp_path / "x.json"), "--out", str(tmp_path / "r.md")])
    assert info.value.code == 2 and "not a sweep result" in capsys.readouterr().err


def _visualize(root: Path, out: Path, *extra: str) -> dict:
    assert visualize_cli.main(["--cityscapes_root", str(root), "--semantic_subdir", "pseudo_semantic_raw_k24",
                           "--min_area", "100", "--out", str(out), *extra]) == 0
    return json.loads((out / visualize.INDEX_NAME).read_text())


def test_visualize_draws_the_worst_image_with_legends(synthetic_val: Path, tmp_path: Path) -> None:
    index = _visualize(synthetic_val, tmp_path, "--select", "worst", "--limit", "1")
    assert len(index["images"]) == 3 and index["protocol"] == "reference"  # every image scored, one drawn
    drawn = [e for e in index["images"] if e["picture"]]
    assert len(drawn) == 1 and drawn[0]["PQ_things"] == min(e["PQ_things"] for e in index["images"])
    picture = np.asarray(Image.open(tmp_path / drawn[0]["picture"]))
    panels_height = 4 * (visualize.PANEL[0] + visualize.LABEL_BAR)
    assert picture.shape[1:] == (2 * visualize.PANEL[1], 3) and picture.shape[0] > panels_height + 60  # + legends
    things = picture[3 * (visualize.PANEL[0] + visualize.LABEL_BAR) + visualize.LABEL_BAR: panels_height,
                     : visualize.PANEL[1]].astype(int)
    tp = np.array(drawing.STATUS_COLOURS[segment_errors.TP])
    greenish = (things[..., 1] > things[..., 0] + 40) & (np.abs(things - tp).max(axis=-1) < 80)
    assert greenish.sum() > 100  # matched things are filled with the TP colour
    counts = drawn[0]["things"]
    assert counts["FP"] + counts["split"] + counts["merge"] > 0  # the synthetic prediction does err


def test_error_overlay_shows_false_positives_and_keeps_misses_visible() -> None:
    gt = pan.segments_from_ids(np.array([[1] * 8 + [0] * 8] * 8, np.int32), [13])  # a car, left half
    pred = pan.segments_from_ids(np.array([[0] * 8 + [1] * 8] * 8, np.int32), [13])  # a car, right half: FP
    errors = segment_errors.classify(gt, pred, pan.REFERENCE)
    base = np.full((8, 16, 3), 50, np.uint8)
    shown = np.array([False, True])
    out = drawing.error_overlay(base, gt.ids, pred.ids, errors, shown, shown).astype(int)
    fp, fn = (np.array(drawing.STATUS_COLOURS[s]) for s in (segment_errors.FP, segment_errors.FN))
    right = out[:, 8:]
    assert (np.abs(right - (50 + drawing.FILL_ALPHA * (fp - 50))).max(axis=-1) <= 1).all()  # the FP fill
    left = out[:, :8]
    missed = (left == fn).all(axis=-1)
    assert missed.sum() > 16  # FN outline + hatch in the FN colour
    assert (left == 50).all(axis=-1).any()  # hatching, not a solid fill: the image shows through


def test_select_first_random_worst() -> None:
    keys = ["a", "b", "c", "d"]
    assert visualize.select_keys(keys, "first", 2) == ["a", "b"]
    assert visualize.select_keys(keys, "random", 2, seed=3) == visualize.select_keys(keys, "random", 2, seed=3)
    assert len(set(visualize.select_keys(keys, "random", 9))) == 4
    assert visualize.select_keys(keys, "worst", 2, {"a": 5.0, "b": 1.0, "c": float("nan"), "d": 3.0}) == ["b", "d"]


def test_visualize_label_free_ignores_cluster_to_class(synthetic_val: Path, tmp_path: Path) -> None:
    subdir = synthetic_val / "pseudo_semantic_raw_k24"
    table = np.load(subdir / "kmeans_centroids.npz")["cluster_to_class"]
    stuff_things = tmp_path / "stuff_things.json"
    stuff_things.write_text(json.dumps({"thing_ids": np.flatnonzero(cs.IS_THING[table]).tolist()}))
    copy = tmp_path / "copy"
    shutil.copytree(synthetic_val, copy)
    scrambled = dict(np.load(subdir / "kmeans_centroids.npz"))
    scrambled["cluster_to_class"] = np.roll(table, 5)  # a different GT vote: must not change label-free pictures
    np.savez(copy / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz", **scrambled)
    args = ("--stems", "frankfurt_000000_000019", "--stuff_things", str(stuff_things))
    first = _visualize(synthetic_val, tmp_path / "a", *args)
    second = _visualize(copy, tmp_path / "b", *args)
    assert first["label_free"] and first["images"] == second["images"]
    name = first["images"][0]["picture"]
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert "stuff" not in first["images"][0] and first["images"][0]["PQ_stuff"] is None
    mapped = _visualize(copy, tmp_path / "c", "--stems", "frankfurt_000000_000019")
    assert not mapped["label_free"] and mapped["images"] != first["images"]


def test_visualize_raw_clusters_without_mapping_names_the_flags(synthetic_val: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(synthetic_val, copy)
    (copy / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz").unlink()
    with pytest.raises(SystemExit) as info:
        _visualize(copy, tmp_path / "out")
    message = capsys.readouterr().err
    assert info.value.code == 2 and "--stuff_things" in message and "--centroids_path" in message


def test_visualize_worst_without_gt_exit_2(synthetic_val: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(synthetic_val, copy, ignore=shutil.ignore_patterns("gtFine"))
    with pytest.raises(SystemExit) as info:
        _visualize(copy, tmp_path / "out", "--select", "worst")
    assert info.value.code == 2 and "--select worst needs ground truth" in capsys.readouterr().err


def test_demo_end_to_end_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--num_images", "2", "--size", "256", "512", "--k", "24"]) == 0
    sweep = json.loads((out / "sweep_k24_spidepth_val.json").read_text())
    text = (out / "report.md").read_text()
    best = sweep["best"]["reference"]
    assert f"PQ {best['PQ']:.2f}" in text and "best (reference protocol)" in capsys.readouterr().out
    assert "SYNTHETIC DATA — not a result on Cityscapes" in text.splitlines()[2]
    assert "with k = 24 clusters (the demo's default is 40" in text and "## Worst images" in text
    for expected in ("pseudo_semantic_raw_k24/kmeans_centroids.npz", "pseudo_semantic_raw_k24/stuff_things.json",
                     "cups_pseudo_labels/stats.json", "report_reference_heatmap.png", "report.html",
                     "pictures/index.json"):
        assert (out / expected).exists(), expected
    assert len(list((out / "pictures").glob("*.png"))) == 2  # --limit 4, two val images
    assert len(list((out / "cups_pseudo_labels").glob("*.pt"))) == 2
    assert len(list((out / "pseudo_semantic_raw_k24" / "train").rglob("*.png"))) == 2
