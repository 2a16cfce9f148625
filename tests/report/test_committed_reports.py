"""reports/ never goes stale: regenerated into a temporary folder, it must equal the committed files byte for byte."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from pseudo_labels.cli import report as report_cli
from pseudo_labels.report import refresh

REPORTS = Path(__file__).resolve().parents[2] / "reports"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every committed report, made now by the one recipe ``pseudo-labels report --refresh`` runs (about 25 s)."""
    out = tmp_path_factory.mktemp("reports")
    refresh.generate(out)
    return out


def test_committed_reports_are_current(fresh: Path) -> None:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the committed reports are made and checked on x86-64: elsewhere Pillow's PNG encoder (zlib-ng) "
                    "may compress the demo's label maps differently, which changes their sha256 in the report")
    problems = refresh.compare(REPORTS, fresh)
    assert not problems, refresh.stale_message(problems)


def test_each_report_starts_with_its_data_origin_and_command(fresh: Path) -> None:
    for spec in refresh.COMMITTED:
        lines = (fresh / f"{spec.name}.md").read_text().splitlines()
        assert lines[0] == f"# Parameter sweep: k={spec.k}, val split (synthetic data)"
        assert lines[2].startswith("> **SYNTHETIC DATA — not a result on Cityscapes. The val images under "
                                   "`outputs/demo`") and f"seed {spec.seed}," in lines[2]
        assert lines[4].startswith(f"Made by `{refresh.REFRESH_COMMAND}`") and f"--k {spec.k} --seed {spec.seed}" in lines[4]
    text = "".join(p.read_text() for p in fresh.iterdir())
    for machine_specific in ("/tmp", str(fresh), str(Path.home()), "started_at", "elapsed", "seconds"):
        assert machine_specific not in text, machine_specific
    assert not list(fresh.glob("*stuff_things*")) and not list(fresh.glob("*.png"))  # retired figure; SVG only


def test_compare_names_the_file_the_first_differing_line_and_the_command(tmp_path: Path) -> None:
    committed, fresh = tmp_path / "reports", tmp_path / "fresh"
    committed.mkdir(), fresh.mkdir()
    (committed / "a.md").write_text("# title\nPQ 64.24\nsame\n")
    (fresh / "a.md").write_text("# title\nPQ 64.25\nsame\n")
    (committed / "a_stuff_things.png").write_bytes(b"\x89PNG old")  # no command makes it any more
    (fresh / "a_heatmap.svg").write_text("<svg/>\n")  # made now, not committed
    (committed / "same.svg").write_text("<svg/>\n"), (fresh / "same.svg").write_text("<svg/>\n")
    problems = refresh.compare(committed, fresh)
    assert problems == ["reports/a_stuff_things.png: no command makes this file (refresh removes it)",
                        "reports/a_heatmap.svg: missing (the refresh makes it)",
                        "reports/a.md: stale, first differing line 2:\n    committed: 'PQ 64.24'\n    fresh:     'PQ 64.25'"]
    assert "Run `pseudo-labels report --refresh` from the repository root" in refresh.stale_message(problems)
    assert refresh.first_difference(b"a\nb\n", b"a\nb\nc\n", text=True) == ("the committed copy ends at line 2; the "
                                                                          "other has 1 more")
    assert refresh.first_difference(b"\x00\x01\x02", b"\x00\x01\x03", text=False).startswith("first differing byte at "
                                                                                             "offset 2")


def test_refresh_rewrites_what_changed_and_removes_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def generate(dest: Path, work: Path | None = None) -> list[str]:  # the recipe's output, without running the demo
        (dest / "r.md").write_text("new\n"), (dest / "r_fig.svg").write_text("<svg/>\n")
        return ["r.md", "r_fig.svg"]
    monkeypatch.setattr(refresh, "generate", generate)
    reports = tmp_path / "reports"
    (reports / "old").mkdir(parents=True)
    (reports / "r.md").write_text("old\n"), (reports / "r_fig.svg").write_text("<svg/>\n")
    (reports / "r_stuff_things.png").write_bytes(b"png"), (reports / "old" / "x.md").write_text("x")
    assert refresh.refresh(reports) == (["r.md"], ["old/x.md", "r_stuff_things.png"])
    assert sorted(p.name for p in reports.iterdir()) == ["r.md", "r_fig.svg"] and (reports / "r.md").read_text() == "new\n"
    assert refresh.refresh(reports) == ([], [])  # up to date: nothing rewritten


def test_refresh_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        report_cli.main(["--refresh", "--format", "png"])
    assert info.value.code == 2 and "--refresh takes none of --format" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        report_cli.main(["--refresh", "--sweep", "x.json"])
    assert info.value.code == 2 and "give either --sweep SWEEP_JSON (one report) or --refresh" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        report_cli.main(["--sweep", "x.json", "--reports_dir", "reports"])
    assert info.value.code == 2 and "--reports_dir goes with --refresh" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        report_cli.main(["--refresh", "--reports_dir", str(tmp_path / "absent")])
    assert info.value.code == 2 and "absent: no such folder. Run from the repository root" in capsys.readouterr().err
