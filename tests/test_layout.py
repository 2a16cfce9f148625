"""The package's layout rules: imports run one way, command lines stay apart, shells stay thin, no shadowing."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pseudo_labels"
LAYERS = ("core", "data", "formats", "semantics", "depth", "instances", "evaluation", "export", "report", "pipeline",
          "cli")
"""Subpackages from the bottom up: a module may import its own subpackage and the ones before it, never a later one."""
SHELLS = ("classify_stuff_things.py", "convert_to_cups_format.py", "extract_dinov2_features.py",
          "generate_depth_guided_instances.py", "generate_depth_spidepth.py", "generate_overclustered_semantics.py",
          "generate_panoptic_pseudolabels.py", "generate_semantic_pseudolabels_cause.py", "overclustering_cause.py",
          "remap_cause27_to_trainid.py", "remap_raw_clusters_to_trainid.py", "restore_centroids_k80.py",
          "sweep_k50_spidepth.py", "evaluation/evaluate_cascade_pseudolabels.py")
"""The 14 original script paths (relative to the package), kept as shells over ``pseudo_labels.cli``."""
SHARED_CLI = ("pseudo_labels.cli.help", "pseudo_labels.cli.options")
"""The modules of ``cli`` every stage may use: the help formatter and the shared options."""
COMMON_NAMES = {"datasets", "evaluate", "utils", "config", "models", "tools", "data_utils", "common"}
"""Top-level names of widespread packages that may be installed beside this one (Hugging Face ``datasets``...)."""


def _internal_imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported ``pseudo_labels...`` module) of every import in ``path``, inside functions too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pseudo_labels":
            if node.module == "pseudo_labels":
                found += [(node.lineno, f"pseudo_labels.{alias.name}") for alias in node.names]
            else:
                found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "pseudo_labels"]
    return found


def _layer(module: str) -> str | None:
    """The subpackage of ``pseudo_labels.X...`` (None for the package root: ``__version__``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def _library_modules() -> list[Path]:
    shells = {PACKAGE / s for s in SHELLS}
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p not in shells and p.parent != PACKAGE]


def _installed(name: str) -> bool:
    """A regular module or package of that name is importable here (test folders are namespace packages: not counted)."""
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.origin is not None


def test_the_14_original_script_paths_exist(shared_dir: Path) -> None:
    assert sorted(json.loads((shared_dir / "original_cli.json").read_text())["scripts"]) == sorted(SHELLS)
    assert all((PACKAGE / s).is_file() for s in SHELLS)


def test_imports_run_one_way() -> None:
    """core -> data -> formats -> semantics -> depth -> instances -> evaluation -> export -> report -> pipeline -> cli."""
    wrong = []
    for path in _library_modules():
        own = path.relative_to(PACKAGE).parts[0]
        for line, module in _internal_imports(path):
            target = _layer(module)
            if target is not None and LAYERS.index(target) > LAYERS.index(own):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({own}) imports {module} ({target})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_command_lines_do_not_import_each_other() -> None:
    """A stage's command line uses the library; across ``cli`` only the shared help and options are imported."""
    wrong = []
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        for line, module in _internal_imports(path):
            if module.startswith("pseudo_labels.cli") and module.rsplit(".", 1)[0] not in SHARED_CLI:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    assert not wrong, "command lines importing command lines:\n" + "\n".join(wrong)


@pytest.mark.parametrize("shell", SHELLS)
def test_original_script_is_a_shell_over_its_command_line(shell: str) -> None:
    """A docstring, one import of ``pseudo_labels.cli.X`` and the ``__main__`` call: no logic of its own."""
    path = PACKAGE / shell
    tree = ast.parse(path.read_text())
    imports = _internal_imports(path)
    assert len(imports) == 1 and imports[0][1].startswith("pseudo_labels.cli.")
    assert len(path.read_text().splitlines()) <= 8
    assert [type(node).__name__ for node in tree.body] == ["Expr", "ImportFrom", "If"]


def test_no_library_module_imports_a_shell() -> None:
    shells = {".".join(("pseudo_labels", *Path(s).with_suffix("").parts)) for s in SHELLS}
    wrong = [f"{p}:{line} {m}" for p in PACKAGE.rglob("*.py") for line, m in _internal_imports(p)
             if m in shells or m.rsplit(".", 1)[0] in shells]
    assert not wrong


def test_no_name_beside_a_shell_shadows_another_module() -> None:
    """Running ``python pseudo_labels/X.py`` puts X's folder first on sys.path: nothing there may hide a module."""
    folders = {(PACKAGE / s).parent for s in SHELLS}
    names = {p.stem for folder in folders for p in folder.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").is_file()) and not p.name.startswith("__")}
    shadowing = sorted(n for n in names if n in sys.stdlib_module_names or n in COMMON_NAMES
                       or _installed(n))
    assert not shadowing, f"names beside the original scripts that hide other modules: {shadowing}"
