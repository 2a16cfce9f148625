"""The committed reports under ``reports/``: the one recipe that makes them, and the check that they are current.

    pseudo-labels report --refresh [--reports_dir reports]

Every file under ``reports/`` is made here, and nothing else lies there (a
hand-written page belongs in ``docs/``). :data:`COMMITTED` lists the reports:
each runs ``pseudo-labels demo`` (synthetic data, stand-in features, no weights)
in a temporary folder, then renders the demo's sweep JSON with
:func:`pseudo_labels.report.markdown.write_report` as Markdown and SVG figures,
without the demo's pictures (several MB of PNG). :func:`refresh` writes them
into ``reports/`` and removes every other file there; :func:`compare` is what
``tests/report/test_committed_reports.py`` runs on a fresh copy.

Same bytes on every x86-64 machine with the pinned requirements: the report
names no absolute path (the demo's root is named ``outputs/demo``, as a plain
``pseudo-labels demo`` writes it), no date and no timing (those go to the log);
the SVG figures carry a fixed hash salt and no date (:mod:`pseudo_labels.report.figures`);
the demo runs with one thread per BLAS/OpenMP pool, so the core count cannot
change a sum. The demo's files were identical under OpenBLAS' Sandybridge,
Haswell, Zen and SkylakeX kernels, torch's default/AVX2/AVX-512 kernels and
numpy without AVX2/AVX-512 (checked once, 2026-12, on an AVX-512 x86-64).
SVG rather than PNG: text, so a difference shows as a line; only the heat maps'
cells and colour scales are embedded as small PNGs.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_bytes_atomic
from pseudo_labels.report.markdown import write_report

log = logging.getLogger(__name__)

REFRESH_COMMAND = "pseudo-labels report --refresh"
"""The command that regenerates ``reports/`` (named in every committed report and in the staleness test's failure)."""
REPORTS_DIR = Path("reports")
DEMO_ROOT = Path("outputs/demo")
"""Where the demo writes, relative to the temporary work folder: the path the report names, as ``pseudo-labels demo`` does."""
FORMATS = ("svg",)
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""The demo's environment: sums cannot depend on how many cores the machine has."""
TEXT_SUFFIXES = (".md", ".svg", ".html", ".json", ".txt")


@dataclass(frozen=True)
class DemoReport:
    """A committed report of ``pseudo-labels demo`` on its synthetic data: ``reports/{name}.md`` and its figures."""

    name: str
    num_images: int
    k: int
    seed: int
    size: tuple[int, int]

    def demo_arguments(self) -> list[str]:
        return ["--num_images", str(self.num_images), "--k", str(self.k), "--seed", str(self.seed),
                "--size", str(self.size[0]), str(self.size[1])]

    def note(self) -> str:
        """The report's first paragraph after the banner: the data's origin and the commands that made the report."""
        demo = " ".join(["pseudo-labels demo --out", DEMO_ROOT.as_posix(), *self.demo_arguments()])
        sweep = (DEMO_ROOT / f"sweep_k{self.k}_spidepth_val.json").as_posix()
        return (f"Made by `{REFRESH_COMMAND}` (pseudo_labels/report/refresh.py), which runs `{demo}` in a temporary "
                f"folder, then renders its sweep JSON as `pseudo-labels report --sweep {sweep} --out "
                f"{REPORTS_DIR.as_posix()}/{self.name}.md --format {' '.join(FORMATS)}` would, with this paragraph "
                f"added. Synthetic data: {self.num_images} val images (seed {self.seed}) and "
                f"{self.num_images} train images (seed {self.seed + 1}) at {self.size[0]}x{self.size[1]}, k = "
                f"{self.k} clusters of weight-free stand-in features (the published runs use k = 80 on CAUSE "
                f"features). The demo's pictures of its worst images are left out here: run the demo to see them.")


COMMITTED = (DemoReport("demo_synthetic_k40", num_images=8, k=40, seed=0, size=(512, 1024)),)
"""Every report under ``reports/``."""


def _run_demo(spec: DemoReport, work: Path) -> Path:
    """``pseudo-labels demo`` for ``spec`` in ``work`` (a fresh process, single-threaded); its sweep JSON."""
    root = work / DEMO_ROOT
    command = [sys.executable, "-m", "pseudo_labels", "demo", "--out", str(root), *spec.demo_arguments()]
    env = {**os.environ, **SINGLE_THREAD}
    with open(work / "demo.log", "w") as output:
        done = subprocess.run(command, cwd=work, env=env, stdout=output, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = (work / "demo.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(command)} failed (exit status {done.returncode}):\n{tail}")
    return root / f"sweep_k{spec.k}_spidepth_val.json"


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_file()}


def generate(dest: Path, work: Path | None = None) -> list[str]:
    """Write every committed report into ``dest`` (created); the names written, sorted.

    ``work``: where the demos run (kept afterwards); None: a temporary folder, removed.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="reports-refresh-") as temporary:
        base = Path(work) if work is not None else Path(temporary)
        for spec in COMMITTED:
            started = time.perf_counter()
            folder = base / spec.name
            folder.mkdir(parents=True, exist_ok=True)
            sweep = _run_demo(spec, folder)
            demo_s = time.perf_counter() - started
            write_report(sweep, dest / f"{spec.name}.md", note=spec.note(), formats=FORMATS, relative_to=folder)
            log.info("%s: demo %.1f s, report %.1f s", spec.name, demo_s, time.perf_counter() - started - demo_s)
    return sorted(_files(dest))


def first_difference(committed: bytes, fresh: bytes, text: bool) -> str:
    """Where two versions of a file first differ: line number and both lines (text), or the byte offset."""
    if text:
        old, new = committed.decode("utf-8", "replace").splitlines(), fresh.decode("utf-8", "replace").splitlines()
        for number, (a, b) in enumerate(zip(old, new), start=1):
            if a != b:
                column = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                start = max(0, column - 60)
                where = f", from column {start + 1}" if start else ""
                return (f"first differing line {number}{where}:\n    committed: {a[start:column + 100]!r}\n"
                        f"    fresh:     {b[start:column + 100]!r}")
        if len(old) != len(new):
            shorter = "committed" if len(old) < len(new) else "fresh"
            return f"the {shorter} copy ends at line {min(len(old), len(new))}; the other has {abs(len(old) - len(new))} more"
        return "the lines agree; line endings or the final newline differ"
    at = next((i for i, (a, b) in enumerate(zip(committed, fresh)) if a != b), min(len(committed), len(fresh)))
    return f"first differing byte at offset {at} ({len(committed)} bytes committed, {len(fresh)} fresh)"


def compare(committed: Path, fresh: Path) -> list[str]:
    """Every way ``committed`` (``reports/``) differs from a fresh :func:`generate` output; empty when current.

    Each message names the file and, for a changed file, its first differing line (text) or byte.
    """
    have, want = _files(committed), _files(fresh)
    label = Path(committed).name
    problems = [f"{label}/{name}: no command makes this file (refresh removes it)" for name in sorted(have - want)]
    problems += [f"{label}/{name}: missing (the refresh makes it)" for name in sorted(want - have)]
    for name in sorted(have & want):
        old, new = (Path(committed) / name).read_bytes(), (Path(fresh) / name).read_bytes()
        if old != new:
            problems.append(f"{label}/{name}: stale, {first_difference(old, new, name.endswith(TEXT_SUFFIXES))}")
    return problems


def stale_message(problems: list[str]) -> str:
    """The staleness test's failure: the problems, then the command that fixes them."""
    return ("reports/ is not what the code makes now:\n" + "\n".join(problems)
            + f"\nRun `{REFRESH_COMMAND}` from the repository root (about 20 s) and commit reports/.")


def refresh(reports_dir: Path = REPORTS_DIR) -> tuple[list[str], list[str]]:
    """Regenerate ``reports_dir``: write every committed report, remove every file no command makes.

    Returns (names written or rewritten, names removed). Files that did not change are not rewritten.
    """
    reports_dir = Path(reports_dir)
    if not reports_dir.is_dir():
        raise InputError(f"{reports_dir}: no such folder. Run from the repository root, or pass --reports_dir.")
    with tempfile.TemporaryDirectory(prefix="reports-fresh-") as temporary:
        fresh = Path(temporary)
        names = generate(fresh)
        written = []
        for name in names:
            data, target = (fresh / name).read_bytes(), reports_dir / name
            if not target.is_file() or target.read_bytes() != data:
                write_bytes_atomic(target, data)
                written.append(name)
    removed = sorted(_files(reports_dir) - set(names))
    for name in removed:
        (reports_dir / name).unlink()
    for folder in sorted((p for p in reports_dir.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            shutil.rmtree(folder)
    return written, removed
