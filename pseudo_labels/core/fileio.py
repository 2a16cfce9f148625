"""Atomic, deterministic file writers (PNG, NPY, NPZ, JSON, text, ``.pt``) and file hashing.

Every output is encoded in memory, written to a hidden temporary file in the
destination folder, flushed to disk and renamed over the destination
(``os.replace`` is atomic on POSIX). A run that is killed therefore leaves
either the old file or the complete new one, never a partial file; at worst a
temporary ``.pl-tmp-*`` file remains, which :func:`remove_stale_temp_files`
clears. Temporary names contain neither the destination's name nor its
extension, so loaders that glob by extension or by substring (the CUPS loader
takes every name containing ``".pt"``) never see them.

Encoders are deterministic: the same array gives the same bytes on every run
(NPZ members carry a fixed timestamp, unlike ``np.savez``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import socket
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pseudo_labels.core.errors import InputError

TEMP_PREFIX = ".pl-tmp-"
"""Name prefix of in-flight temporary files."""

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold

_HOST_TAG = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
"""This machine in temporary names (a hash: host names may hold ``.pt`` or other loader-visible text)."""

ABANDONED_AFTER_S = 600.0
"""A temporary file this old is abandoned whoever wrote it: writers rename theirs within seconds."""


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TEMP_PREFIX}{_HOST_TAG}-{os.getpid()}-{secrets.token_hex(6)}"
    # os.open with mode 0o666 lets the umask decide permissions, like a plain open() would.
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:  # name the output the user asked for, not our temporary name
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno is not None and (exc.filename is None or Path(exc.filename) == tmp):
            # a full disk reports no file name, a failed rename the temporary one: name the output
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    if not Path("/proc/self").exists():  # no /proc (not Linux): os.kill is all we can ask
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # it exited between the two checks
        return False


def is_stale_temp_file(path: Path, now: float | None = None) -> bool:
    """True when ``path`` is a temporary file no live writer will rename.

    Written on this machine by a process that has exited, or older than
    :data:`ABANDONED_AFTER_S` (another machine of a job array sharing the folder,
    or an old name format). A live writer's file (another shard, another rank) is kept.
    """
    parts = path.name[len(TEMP_PREFIX):].split("-")
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > ABANDONED_AFTER_S:
        return True
    if len(parts) == 3 and parts[0] == _HOST_TAG and parts[1].isdigit():
        return not _pid_alive(int(parts[1]))
    return False


def remove_stale_temp_files(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Delete temporary files that killed runs left in ``folder``; return what was removed.

    ``recursive=False`` looks at ``folder`` itself only (for the dataset root,
    where a single-file output such as a sweep JSON lands beside the images).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = folder.rglob(f"{TEMP_PREFIX}*") if recursive else folder.glob(f"{TEMP_PREFIX}*")
    stale = sorted(path for path in found if path.is_file() and is_stale_temp_file(path))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def check_not_an_input(output: str | Path, inputs: Iterable[str | Path | None], flag: str = "the output") -> None:
    """Refuse an output that is one of ``inputs`` or lies inside one of them, links resolved (before anything is written).

    Writing there would overwrite data the run reads (a GT PNG, a centroid
    file, the maps being remapped), and a re-run would read its own output.
    ``inputs`` are files or folders; None entries are skipped.
    """
    target = Path(output).resolve()
    for source in inputs:
        if source is None:
            continue
        place = Path(source).resolve()
        if target == place or place in target.parents:
            where = "is" if target == place else "lies inside"
            raise InputError(f"{flag} {output} {where} the input {source}: writing there would overwrite what this "
                             f"run reads. Choose an output outside the inputs.")


def prepare_output_file(path: str | Path, inputs: Iterable[str | Path | None] = (), flag: str = "--output") -> Path:
    """Before a command writes the single file ``path``: check it is no input, create its folder, clear stale temp files."""
    path = Path(path)
    check_not_an_input(path, inputs, flag)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path.parent, recursive=False)
    return path


# --------------------------------------------------------------------------- encoders


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of an HxW uint8 (grey), HxWx3 uint8 (RGB) or HxW uint16 (16-bit grey) array."""
    array = np.asarray(array)
    if array.dtype == np.uint8 and array.ndim == 2:
        image = Image.fromarray(array)  # mode "L"
    elif array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3:
        image = Image.fromarray(array)  # mode "RGB"
    elif array.dtype == np.uint16 and array.ndim == 2:
        image = Image.fromarray(array)  # mode "I;16", written as a 16-bit PNG
    else:
        raise ValueError(
            f"PNG output must be HxW uint8, HxWx3 uint8 or HxW uint16; got shape {array.shape} dtype {array.dtype}"
        )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def encode_npy(array: np.ndarray) -> bytes:
    """``.npy`` bytes of an array (no pickling)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


@dataclass(frozen=True)
class RowStream:
    """A C-order array that an ``.npz`` member receives row by row, never held whole in memory.

    ``rows()`` yields ``shape[0]`` arrays of ``shape[1:]`` (it may reuse one
    buffer: each row is copied out before the next is asked for). The member's
    bytes equal those of the materialised array.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    rows: Callable[[], Iterable[np.ndarray]]

    def write_to(self, handle: Any) -> None:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(self.dtype)), "fortran_order": False,
                  "shape": tuple(self.shape)}
        np.lib.format.write_array_header_1_0(handle, header)
        count = 0
        for row in self.rows():
            row = np.ascontiguousarray(row, dtype=self.dtype)
            if row.shape != tuple(self.shape[1:]):
                raise ValueError(f"row of shape {row.shape}, expected {self.shape[1:]}")
            handle.write(row.tobytes())
            count += 1
        if count != self.shape[0]:
            raise ValueError(f"{count} rows written, expected {self.shape[0]}")


def encode_npz(arrays: Mapping[str, Any], compressed: bool = True) -> bytes:
    """``.npz`` bytes readable by ``np.load``, byte-identical for identical arrays.

    ``np.savez`` stamps each member with the current time; here every member
    gets the same fixed timestamp and permissions, and members keep the given order.
    A :class:`RowStream` value is written row by row (large mask stacks).
    """
    buffer = io.BytesIO()
    compression = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                if isinstance(value, RowStream):
                    value.write_to(member)
                else:
                    np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
    return buffer.getvalue()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def encode_json(obj: Any) -> bytes:
    """Indented UTF-8 JSON with a trailing newline; NaN/inf are refused (not valid JSON)."""
    text = json.dumps(obj, indent=2, allow_nan=False, default=_json_default, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


# --------------------------------------------------------------------------- atomic writers


def write_png(path: str | Path, array: np.ndarray) -> Path:
    """Atomically write an 8-bit or 16-bit PNG (see :func:`encode_png`)."""
    return write_bytes_atomic(path, encode_png(array))


def write_npy(path: str | Path, array: np.ndarray) -> Path:
    """Atomically write a ``.npy`` file."""
    return write_bytes_atomic(path, encode_npy(array))


def write_npz(path: str | Path, arrays: Mapping[str, Any], compressed: bool = True) -> Path:
    """Atomically write a deterministic ``.npz`` file (see :func:`encode_npz`)."""
    return write_bytes_atomic(path, encode_npz(arrays, compressed))


def write_json(path: str | Path, obj: Any) -> Path:
    """Atomically write JSON (see :func:`encode_json`)."""
    return write_bytes_atomic(path, encode_json(obj))


def write_text(path: str | Path, text: str) -> Path:
    """Atomically write UTF-8 text."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_pt(path: str | Path, obj: Any) -> Path:
    """Atomically write a ``torch.save`` file (tensors and plain containers only)."""
    import torch  # deferred: most stages never need torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return write_bytes_atomic(path, buffer.getvalue())


# --------------------------------------------------------------------------- hashing


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_optional(path: str | Path | None) -> str | None:
    """sha256 of a file, or None when no file is given (for settings that name optional inputs)."""
    return None if path is None else sha256_file(path)


def sha256_lines(paths: Iterable[str | Path], root: str | Path | None = None) -> list[str]:
    """One ``name\0sha256\n`` line per file (names relative to ``root``): what :func:`sha256_files` hashes."""
    return [f"{os.path.relpath(path, root) if root is not None else str(path)}\0{sha256_file(path)}\n" for path in paths]


def sha256_of_lines(lines: Iterable[str]) -> str:
    """The hex sha256 of :func:`sha256_lines` output (so shards' lines combine into a whole run's hash)."""
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode())
    return digest.hexdigest()


def sha256_files(paths: Iterable[str | Path], root: str | Path | None = None) -> str:
    """One hex sha256 over many files: their names (relative to ``root``) and contents, in the given order."""
    return sha256_of_lines(sha256_lines(paths, root))


# --------------------------------------------------------------------------- readers

UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
"""What numpy raises for a missing, zero-byte, truncated or wrong-format array file."""


def read_json(path: str | Path, what: str, fix: str) -> Any:
    """The parsed JSON of ``path``; a missing or unreadable file, or one that is not JSON, is an InputError naming
    it, ``what`` it should be and ``fix``. The schema is the caller's: each file kind's reader checks its own."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found. {fix}") from None
    except (OSError, ValueError) as exc:  # a folder, no permission, truncated or invalid JSON, not UTF-8
        raise InputError(f"{path}: cannot be read as JSON ({exc}); expected {what}. {fix}") from None


def is_json_int(value: object) -> bool:
    """Whether a parsed JSON value is an integer (``true``/``false`` are not, though Python counts them as ints)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_json_number(value: object) -> bool:
    """Whether a parsed JSON value is a number, integer or not (never ``true``/``false``)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_npy(path: str | Path, fix: str = "Re-run the stage that wrote it.") -> np.ndarray:
    """The array of a ``.npy`` file (no pickles); an unreadable file is an InputError naming it and ``fix``."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except UNREADABLE as exc:
        raise InputError(f"{path}: cannot be read as .npy ({type(exc).__name__}: {exc or 'empty or truncated'}). "
                         f"{fix}") from None
    if not isinstance(loaded, np.ndarray):  # an .npz archive under another name
        loaded.close()
        raise InputError(f"{path}: a .npz archive, where a .npy array is expected. {fix}")
    return loaded


def read_npz(path: str | Path, fix: str = "Re-run the stage that wrote it.") -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` file, read at once (a truncated member fails here, not later)."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise InputError(f"{path}: a .npy array, where a .npz archive is expected. {fix}")
        with loaded as npz:
            return {name: np.asarray(npz[name]) for name in npz.files}
    except UNREADABLE as exc:
        raise InputError(f"{path}: cannot be read as .npz ({type(exc).__name__}: {exc or 'empty or truncated'}). "
                         f"{fix}") from None
