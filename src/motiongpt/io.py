"""File I/O shared by every stage: atomic writes, model dirs (JSON config + safetensors), seeding, and the
resume / Ctrl-C plumbing that every training loop shares.

Nothing already on disk is lost when a write fails half-way: files are written beside their target and renamed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from motiongpt.errors import MotionGPTError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; it replaces `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(target: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; it becomes `target` only if the block succeeds."""
    target = Path(target)
    if target.exists() and not overwrite and any(target.iterdir()):
        raise MotionGPTError(f"{target}: already exists and is not empty (pass --overwrite to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise MotionGPTError(f"{path}: not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise MotionGPTError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from err


def read_tsv(path: str | Path, columns: tuple[str, ...], what: str) -> list[tuple[int, list[str]]]:
    """(line number, stripped fields) of each row of a tab-separated file with exactly `columns`; blank and `#`
    lines are skipped; a missing file or a malformed row is a one-line error naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise MotionGPTError(f"{path}: {what} file not found")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) != len(columns) or not parts[0]:
            raise MotionGPTError(f"{path}:{number}: expected `{'<TAB>'.join(columns)}`, got {line!r}")
        rows.append((number, parts))
    return rows


def load_npy(path: str | Path, what: str = "array") -> np.ndarray:
    """np.load with one-line errors: a missing, unreadable or pickled file names the path and what was expected."""
    path = Path(path)
    if not path.is_file():
        raise MotionGPTError(f"{path}: {what} file not found")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise MotionGPTError(f"{path}: cannot read as a .npy {what} ({type(err).__name__})") from err


def save_npy(path: str | Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def save_torch(path: str | Path, obj: Any) -> None:
    """Atomic torch.save, for training checkpoints (optimiser and RNG state)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_model_dir(directory: str | Path, config: dict, state_dict: dict[str, torch.Tensor],
                   extra_arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write `config.json` + `model.safetensors` (+ named .npy arrays) into `directory`, file by file atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp))
    for name, array in (extra_arrays or {}).items():
        save_npy(directory / name, array)
    write_json(directory / CONFIG_NAME, config)


def load_model_dir(directory: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    directory = Path(directory)
    if not (directory / CONFIG_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
        raise MotionGPTError(f"{directory}: not a model dir (expected {CONFIG_NAME} and {WEIGHTS_NAME})")
    try:
        state = load_file(str(directory / WEIGHTS_NAME))
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise MotionGPTError(f"{directory / WEIGHTS_NAME}: corrupt weights file ({err})") from err
    return read_json(directory / CONFIG_NAME), state


def dir_hash(directory: str | Path) -> str:
    """sha256 over the names and bytes of a dir's files (pins the VQ-VAE a finetuned LLM belongs to, keys runs)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Every random generator's state, saved in training checkpoints so a resumed run continues bit-identically."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def check_resume(saved: dict, now: dict, path: str | Path, ignore: Iterable[str] = ()) -> None:
    """Refuse to resume a training run whose result-affecting settings changed since `path` was written.

    `saved` and `now` map setting names to values; names in `ignore` may change between runs (logging and
    checkpoint intervals, the total length, output paths).
    """
    skip = set(ignore)
    names = [k for k in now if k not in skip] + [k for k in saved if k not in skip and k not in now]
    changed = [f"setting {k} was {saved.get(k)!r}, now {now.get(k)!r}" for k in names if saved.get(k) != now.get(k)]
    if changed:
        raise MotionGPTError(f"{path}: cannot resume: {'; '.join(changed)} (rerun with the original settings, "
                             "or choose a new --out)")


class StopRequest:
    """Turns Ctrl-C into a request that a training loop honours at its next optimiser-step boundary, so it can
    save a consistent checkpoint before stopping.

    With `enabled=False` (multi-process runs, whose processes could not agree on a step, or outside the main
    thread, where no signal handler can be installed) Ctrl-C interrupts at once and the run resumes from its last
    periodic checkpoint.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False

    def __enter__(self) -> StopRequest:
        if self.enabled:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self.enabled:
            signal.signal(signal.SIGINT, self.previous)


def slug(text: str, sep: str = "_", limit: int = 40) -> str:
    """A file-name-safe form of a description: its lower-case ASCII letters and digits, words joined by `sep`."""
    return sep.join(re.findall(r"[a-z0-9]+", text.lower()))[:limit].rstrip(sep) or "motion"
