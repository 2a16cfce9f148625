"""``demo --layout folder``: a folder of photos of mixed sizes and formats, labelled and exported with no GT."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pseudo_labels.cli import demo
from pseudo_labels.data.frames import FolderLayout, cityscapes_names, frame_size
from pseudo_labels.data.synthetic import PHOTO_KINDS
from pseudo_labels.export.cups import image_link


def test_a_folder_of_photos_is_labelled_and_exported_for_cups(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert demo.main(["--layout", "folder", "--out", str(out), "--num_images", str(len(PHOTO_KINDS))]) == 0
    printed = capsys.readouterr().out
    photos = FolderLayout().frames(out / demo.PHOTO_FOLDER, "train")
    assert len(photos) == len(PHOTO_KINDS) and {p.suffix for p in photos.values()} == {".jpg", ".png"}
    assert Image.open(photos["mono/0003"]).mode == "L" and frame_size(photos["phone/0002"]) == (640, 360)
    assert not (out / "gtFine").exists()  # nothing to read ground truth from
    names = cityscapes_names(list(photos))
    labels = out / "cups_pseudo_labels"
    for key, photo in photos.items():
        height, width = frame_size(photo)
        semantic = np.asarray(Image.open(labels / f"{names[key]}_leftImg8bit_semantic.png"))
        assert semantic.shape == (int(height * 0.625), int(width * 0.625))
        link = image_link(out, "train", names[key])
        assert link.is_symlink() and Path(os.readlink(link)) == photo.resolve()
    assert 'DATA.CROP_RESOLUTION "(224, 224)"' in printed and "no ground truth" in printed
    assert "layout: folder" in (out / "runs" / "demo" / "config.yaml").read_text()
    coco = json.loads((out / "panoptic_pseudolabels" / "train.json").read_text())
    assert {i["file_name"] for i in coco["images"]} == {p.relative_to(out / demo.PHOTO_FOLDER).as_posix() for p in photos.values()}
    assert len(coco["categories"]) == 40 and any(c["isthing"] for c in coco["categories"])
