"""The folder layout: a plain folder of photos, searched recursively, any size, PNG or JPEG."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pseudo_labels.core.errors import InputError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
"""What the folder layout takes as an image (any letter case)."""


@dataclass(frozen=True)
class FolderLayout:
    """Every PNG or JPEG below ``{root}`` (the split names only the output folder), keyed by relative path.

    ``root/a/b.jpg`` is frame ``a/b``. Two files that differ only in their
    extension (``b.png`` and ``b.jpg``) would share every output: refused.
    Hidden files and folders (``.name``) are skipped.
    """

    name: str = "folder"

    def frames(self, root: Path, split: str) -> dict[str, Path]:
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"{root}: image folder not found. Pass the folder that holds the images.")
        found: dict[str, Path] = {}
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if path.suffix.lower() not in IMAGE_EXTENSIONS or any(p.startswith(".") for p in relative.parts) \
                    or not path.is_file():
                continue
            key = str(PurePosixPath(*relative.parts).with_suffix(""))
            if key in found:
                raise InputError(f"{found[key]} and {path} would write the same outputs (frame {key!r}): rename or "
                                 f"remove one of them.")
            found[key] = path
        if not found:
            raise InputError(f"no image (*{', *'.join(IMAGE_EXTENSIONS)}) under {root}: the folder is empty.")
        return dict(sorted(found.items()))

    def images_folder(self, root: Path, split: str) -> Path:
        return Path(root)
