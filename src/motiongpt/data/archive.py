"""Dataset archives unpacked once into a cache outside the project, since the shared data folder is read-only and
clips must never be copied into the repository."""

from __future__ import annotations

import lzma
import tarfile
from pathlib import Path

from motiongpt.errors import MotionGPTError
from motiongpt.io import atomic_directory

DEFAULT_CACHE = Path("~/.cache/motiongpt").expanduser()


def unpack_once(archive: Path, target: Path, inside: str) -> Path:
    """Unpack a tar archive into `target` (atomically) unless a previous run did; return `target / inside`, the
    folder the archive's clips lie in."""
    data = target / inside
    if data.is_dir():
        return data
    if not archive.is_file():
        raise MotionGPTError(f"{archive}: archive not found")
    try:
        with atomic_directory(target, overwrite=True) as tmp, tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
    except (tarfile.TarError, lzma.LZMAError, EOFError) as err:
        raise MotionGPTError(f"{archive}: cannot unpack: not a complete tar archive ({type(err).__name__})") from err
    if not data.is_dir():
        raise MotionGPTError(f"{archive}: expected members under {inside}/")
    return data
