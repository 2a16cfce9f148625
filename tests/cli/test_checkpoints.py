"""``pseudo-labels checkpoints verify|download`` on generated weights in the official layout."""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from pseudo_labels.cli import checkpoints
from refs.official_files import SPIDEPTH_HF_REPO
from refs.random_release import write_spidepth_release

SMALL_BACKBONE = "convnextv2_atto"


@pytest.fixture(scope="module")
def folder(cause_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CAUSE files (random, full size) and an atto-backbone SPIdepth pair in the official layout."""
    root = tmp_path_factory.mktemp("checkpoints")
    for name in ("dinov2_vitb14_pretrain.pth", "segment_tr.pth", "modular.npy"):
        shutil.copy(cause_release / name, root / name)
    write_spidepth_release(root / "spidepth", SMALL_BACKBONE)
    return root


def _verify(folder: Path, *extra: str) -> int:
    return checkpoints.main(["verify", "--checkpoint_dir", str(folder), "--spidepth_backbone", SMALL_BACKBONE, *extra])


def test_verify_reports_hashes_and_strict_loads(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _verify(folder) == 0
    out = capsys.readouterr().out
    digest = hashlib.sha256((folder / "segment_tr.pth").read_bytes()).hexdigest()
    assert digest in out and "no recorded hash" in out
    assert "CAUSE features (semantics): loads strictly" in out and "SPIdepth (depth): loads strictly" in out
    assert "CAUSE cluster probe (cause27): not checked: cluster_tr.pth missing" in out


def test_verify_fails_on_a_file_that_does_not_fit(folder: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    state = torch.load(copy / "spidepth" / "depth.pth", weights_only=True)
    state.pop(next(iter(state)))
    torch.save(state, copy / "spidepth" / "depth.pth")
    (copy / "segment_tr.pth").write_bytes(b"")  # a zero-byte download
    assert _verify(copy) == 2
    out = capsys.readouterr().out
    assert "SPIdepth (depth): FAILS" in out and "missing keys" in out
    assert "CAUSE features (semantics): FAILS" in out and "segment_tr.pth" in out


def test_a_damaged_file_fails_even_when_its_partner_is_missing(folder: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    (copy / "spidepth").mkdir(parents=True)
    (copy / "spidepth" / "encoder.pth").write_bytes(b"truncated")  # depth.pth missing: the network cannot load
    assert _verify(copy) == 2
    out = capsys.readouterr().out
    assert "SPIdepth (depth): FAILS: encoder.pth cannot be read" in out and "depth.pth missing" in out


def test_verify_of_an_empty_or_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _verify(tmp_path) == 2
    assert "no official file found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        _verify(tmp_path / "nowhere")
    assert info.value.code == 2 and "--checkpoint_dir" in capsys.readouterr().err


class _HubLayout(BaseHTTPRequestHandler):
    """Serves files at /{repo}/resolve/{revision}/{name} with the headers huggingface_hub reads."""

    files: dict[str, bytes] = {}

    def _headers(self) -> bytes | None:
        body = self.files.get(self.path.split("?")[0])
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
        self.send_header("X-Repo-Commit", "0" * 40)
        self.end_headers()
        return body

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
        self._headers()

    def do_GET(self) -> None:  # noqa: N802
        body = self._headers()
        if body is not None:
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def hub(folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, bytes]]:
    files = {f"/{SPIDEPTH_HF_REPO}/resolve/main/cityscapes/{name}": (folder / "spidepth" / name).read_bytes()
             for name in ("encoder.pth", "depth.pth")}
    _HubLayout.files = files
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HubLayout)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    yield files
    server.shutdown()


def test_download_fetches_the_hugging_face_files_into_place(hub: dict[str, bytes], folder: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "fresh"
    assert checkpoints.main(["download", "--checkpoint_dir", str(target)]) == 0
    for name in ("encoder.pth", "depth.pth"):
        assert (target / "spidepth" / name).read_bytes() == (folder / "spidepth" / name).read_bytes()
    assert sorted(p.name for p in target.rglob("*")) == ["depth.pth", "encoder.pth", "spidepth"]  # no leftovers
    assert checkpoints.main(["verify", "--checkpoint_dir", str(target), "--spidepth_backbone", SMALL_BACKBONE]) == 0
    assert "SPIdepth (depth): loads strictly" in capsys.readouterr().out


def test_a_failed_download_exits_2_and_leaves_nothing(hub: dict[str, bytes], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    hub.pop(next(k for k in hub if k.endswith("depth.pth")))
    target = tmp_path / "fresh"
    with pytest.raises(SystemExit) as info:
        checkpoints.main(["download", "--checkpoint_dir", str(target)])
    assert info.value.code == 2 and "cityscapes/depth.pth: download failed" in capsys.readouterr().err
    assert not (target / "spidepth" / "depth.pth").exists()
    assert [p.name for p in (target / "spidepth").iterdir()] == ["encoder.pth"]


def test_download_fetches_the_kitti_pair_only_when_asked(hub: dict[str, bytes], folder: Path, tmp_path: Path) -> None:
    for name in ("encoder.pth", "depth.pth"):
        hub[f"/{SPIDEPTH_HF_REPO}/resolve/main/kitti/{name}"] = (folder / "spidepth" / name).read_bytes()
    target = tmp_path / "fresh"
    assert checkpoints.main(["download", "--checkpoint_dir", str(target)]) == 0
    assert not (target / "spidepth_kitti").exists()  # the default is Cityscapes' pair, as before
    assert checkpoints.main(["download", "--checkpoint_dir", str(target), "--dataset", "kitti"]) == 0
    assert sorted(p.name for p in (target / "spidepth_kitti").iterdir()) == ["depth.pth", "encoder.pth"]
