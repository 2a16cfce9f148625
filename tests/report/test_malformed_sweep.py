"""``report --sweep X.json`` on malformed sweep records: exit 2 naming the file and the field, nothing written.

The record is a small real one (:func:`~pseudo_labels.evaluation.sweep_record.write_results`
on synthetic per-image counts, no image processed); the property tests change
one field of it at random.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pseudo_labels.cli import report as report_cli
from pseudo_labels.core.errors import InputError
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import sweep
from pseudo_labels.evaluation.sweep_record import grid_from, write_results
from pseudo_labels.report import markdown as report

KEYS = ["aachen/aachen_000000_000019", "aachen/aachen_000001_000019", "bremen/bremen_000000_000019"]
META = {"split": "val", "k": 24, "eval_resolution": [64, 128], "depth_subdir": "depth_spidepth",
        "semantic_subdir": "pseudo_semantic_raw_k24", "protocols": ["reference", "official"],
        "grid": [[None, 10], [0.1, 30], [0.2, 30]], "depth_blur_sigma": 1.0, "dilation_iters": 3}
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
REQUIRED = ["k", "split", "protocols", "n_images", "eval_resolution", "results", "best", "depth_subdir",
            "depth_blur_sigma", "dilation_iters"]
ROW_FIELDS = ["PQ", "PQ_stuff", "PQ_things", "SQ", "RQ", "mode", "protocol", "min_area", "avg_instances", "per_class"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6)


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep JSON of three images, two protocols and three configurations (and its per-image statistics)."""
    grid = grid_from(META)
    totals = sweep.SweepTotals.empty(sweep.SweepParams(tuple(grid), tuple(META["protocols"])), keep_images=True)
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 3, (len(KEYS), 2, len(grid), 3, cs.NUM_CLASSES)).astype(np.float64)
    stats = np.concatenate([counts, 0.8 * counts[:, :, :, :1]], axis=3)
    instances = rng.integers(0, 9, (len(KEYS), len(grid)))
    for key, result in zip(KEYS, sweep.results_from_array(stats, instances, META["protocols"])):
        totals.add(key, result)
    path = tmp_path_factory.mktemp("sweep") / "sweep.json"
    write_results(path, META, grid, totals, {"semantic": {"count": 3, "sha256": "ab" * 32}})
    return path


def run_report(sweep_json: Path, out: Path) -> tuple[int, str]:
    """(exit status, stderr) of ``report --sweep sweep_json --out out``; another exception fails the test."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = report_cli.main(["--sweep", str(sweep_json), "--out", str(out), "--resamples", "0"])
        except SystemExit as exc:
            code = exc.code
    return int(code or 0), err.getvalue()


def refused(folder: Path, record: object, *expected: str) -> None:
    """Writing ``record`` and reporting it ends with exit 2, one line naming the file (and ``expected``), no report."""
    sweep_json = folder / "bad.json"
    sweep_json.write_text(json.dumps(record))
    code, err = run_report(sweep_json, folder / "r.md")
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(lines) == 1 and str(sweep_json) in lines[0] and "re-run the sweep" in lines[0], err
    assert all(text in lines[0] for text in expected), lines[0]
    assert "Traceback" not in err and not (folder / "r.md").exists()


def test_good_record_reports(good: Path, tmp_path: Path) -> None:
    code, err = run_report(good, tmp_path / "r.md")
    assert code == 0, err
    assert "Parameter sweep: k=24" in (tmp_path / "r.md").read_text()


@pytest.mark.parametrize("field", REQUIRED)
def test_record_without_a_field_exit_2(good: Path, tmp_path: Path, field: str) -> None:
    record = json.loads(good.read_text())
    del record[field]
    refused(tmp_path, record, f"no {field!r}")


@pytest.mark.parametrize(("change", "expected"), [
    (lambda r: r.update(results={"a": 1}), "'results' is {'a': 1}"),
    (lambda r: r.update(results=[]), "'results' is []"),
    (lambda r: r["results"][1].pop("PQ"), "results[1] has no 'PQ'"),
    (lambda r: r["results"][0].update(PQ="52.9"), "results[0] has 'PQ' '52.9'"),
    (lambda r: r["results"][2].update(per_class={"road": {"evaluated": True}}), "results[2] has a per_class row"),
    (lambda r: r["results"][1].update(grad_threshold="0.1"), "results[1] is a depth configuration"),
    (lambda r: r["results"][0].update(protocol="cups"), "results[0] has protocol 'cups'"),
    (lambda r: r.update(protocols=["reference", "panoptic"]), "'protocols'"),
    (lambda r: r.update(eval_resolution=[64]), "'eval_resolution'"),
    (lambda r: r.update(k="24"), "'k' is '24'"),
    (lambda r: r["best"].pop("official"), "best['official']"),
    (lambda r: r["best"]["reference"].update(PQ=99.0), "best['reference']"),
    (lambda r: r.update(inputs={"semantic": None}), "'inputs'"),
    (lambda r: r.update(sources={"semantics": "x"}), "'sources'"),
    (lambda r: r.clear() or r.update(results=[]), "no 'k'"),
], ids=["results dict", "results empty", "row without PQ", "PQ a string", "class row", "tau a string",
        "unlisted protocol", "unknown protocol", "eval_resolution", "k a string", "best missing", "best not a row",
        "inputs", "sources", "only results"])
def test_malformed_record_exit_2(good: Path, tmp_path: Path, change: object, expected: str) -> None:
    record = json.loads(good.read_text())
    change(record)
    refused(tmp_path, record, expected)


@pytest.mark.parametrize("text", ["", "{\"results\": [", "[]", "null", "3"])
def test_not_json_or_not_an_object_exit_2(tmp_path: Path, text: str) -> None:
    (tmp_path / "bad.json").write_text(text)
    code, err = run_report(tmp_path / "bad.json", tmp_path / "r.md")
    assert code == 2 and str(tmp_path / "bad.json") in err and "Traceback" not in err
    assert not (tmp_path / "r.md").exists()


WRONG_TYPES = {"k": st.text(max_size=3) | st.none() | st.floats(), "split": st.integers() | st.none(),
               "n_images": st.text(max_size=3) | st.floats() | st.integers(max_value=-1),
               "eval_resolution": st.lists(st.integers(1, 9), max_size=1) | st.text(max_size=3) | st.none(),
               "protocols": st.lists(st.text(max_size=3), max_size=2) | st.text(max_size=3),
               "results": st.dictionaries(st.text(max_size=3), st.integers(), max_size=2) | st.just([]) | st.none(),
               "depth_subdir": st.integers() | st.none(), "depth_blur_sigma": st.text(max_size=2) | st.none(),
               "dilation_iters": st.floats() | st.text(max_size=2) | st.none()}


@FAST
@given(data=st.data())
def test_top_level_field_of_a_wrong_type_exit_2(good: Path, tmp_path_factory: pytest.TempPathFactory,
                                                data: st.DataObject) -> None:
    record = json.loads(good.read_text())
    field = data.draw(st.sampled_from(sorted(WRONG_TYPES)))
    record[field] = data.draw(WRONG_TYPES[field])
    refused(tmp_path_factory.mktemp("type"), record, repr(field))


@FAST
@given(row=st.integers(0, 5), field=st.sampled_from(ROW_FIELDS), delete=st.booleans(), value=json_values)
def test_results_row_field_deleted_or_replaced_exit_2_or_valid(good: Path, tmp_path_factory: pytest.TempPathFactory,
                                                               row: int, field: str, delete: bool,
                                                               value: object) -> None:
    """A changed row is refused by the one reader (naming the file) or, when it still fits the schema, renders."""
    record = json.loads(good.read_text())
    entry = record["results"][row]
    if delete:
        del entry[field]
    else:
        entry[field] = value
    sweep_json = tmp_path_factory.mktemp("row") / "sweep.json"
    sweep_json.write_text(json.dumps(record))
    try:
        checked = report.read_sweep(sweep_json)
    except InputError as exc:
        assert str(sweep_json) in str(exc) and f"results[{row}]" in str(exc) or "best[" in str(exc)
        return
    figures = {name: mock.patch.object(report.figs, name, return_value={"png": b""})
               for name in ("heatmap", "area_lines", "per_class")}  # rendering text only: fast
    with figures["heatmap"], figures["area_lines"], figures["per_class"]:
        blocks, _ = report.render(copy.deepcopy(checked), "f")
    assert report.to_markdown(blocks)
