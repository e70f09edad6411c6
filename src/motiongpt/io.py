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


def umask() -> int:
    """The process's umask, read without changing it where the system tells it (a change would race threads)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def temp_prefix(target: Path) -> str:
    """Temporary names carry the writer's pid, so a later run can tell a live writer's from a killed one's."""
    return f".{target.name}.{os.getpid()}."


def sweep_stale(target: str | Path) -> list[Path]:
    """Remove the temporary files and folders beside `target` that a killed process left (its pid is gone)."""
    target = Path(target)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\..*\.tmp")
    removed = []
    with contextlib.suppress(OSError):
        for entry in target.parent.iterdir():
            found = pattern.fullmatch(entry.name)
            if found and not _pid_alive(int(found.group(1))):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; it replaces `target` (with the umask's mode) only if the block
    succeeds, and is removed otherwise; one left by a killed process goes at the next write of `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(target)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~umask())
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def recover_directory(target: str | Path) -> Path:
    """`target` as the last finished `atomic_directory` left it, even when a run was killed between moving the old
    folder aside and moving the new one in (then the old one comes back); call it before reading `target`."""
    target = Path(target)
    old = target.with_name(f".{target.name}.old")
    if old.is_dir() and not old.is_symlink():
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, target)
    return target


@contextlib.contextmanager
def atomic_directory(target: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; it becomes `target` (with the umask's mode) only if the block
    succeeds, and is removed otherwise; one left by a killed process goes at the next write of `target`."""
    target = recover_directory(target)
    old = target.with_name(f".{target.name}.old")
    if target.exists() and not overwrite and any(target.iterdir()):
        raise MotionGPTError(f"{target}: already exists and is not empty (pass --overwrite to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(target)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~umask())
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def die_with_parent() -> None:
    """Initializer of worker processes: a worker ends when the process that started it dies, even by kill -9,
    instead of writing on into a folder nobody will use (Linux's parent-death signal; elsewhere a watcher)."""
    parent = os.getppid()
    try:
        import ctypes

        if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) != 0:  # 1 = PR_SET_PDEATHSIG
            raise OSError("prctl failed")
    except (OSError, AttributeError):
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        threading.Event().wait(0.5)
    os._exit(1)


def check_output_dir(path: str | Path, name: str = "output folder") -> Path:
    """An output folder that can be made or written into, refused before any work when it cannot: an empty
    name, a name over 255 bytes, a file, a dangling link or a link loop, or a place where nothing may be written."""
    text = os.fspath(path)
    if not text.strip() or "\0" in text:
        raise MotionGPTError(f"{name} {text!r}: expected a folder path")
    path = Path(text)
    long = [part for part in path.parts if len(os.fsencode(part)) > 255]
    if long:
        raise MotionGPTError(f"{name} {text[:60]!r}: the name {long[0][:20]!r}... is over 255 bytes")
    probe = path
    while True:
        if probe.is_symlink():
            try:
                probe.resolve(strict=True)
            except (OSError, RuntimeError):
                raise MotionGPTError(f"{name} {text}: {probe} is a link to nothing or a link loop") from None
        if probe.exists() or probe == probe.parent:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise MotionGPTError(f"{name} {text}: {probe} exists and is not a folder")
    try:  # the one sure test of writability (root passes os.access even on /proc)
        os.rmdir(tempfile.mkdtemp(prefix=".motiongpt-probe-", dir=probe))
    except OSError as err:
        raise MotionGPTError(f"{name} {text}: cannot write into {probe} ({err.strerror})") from None
    return path


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
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise MotionGPTError(f"{path}: cannot read as a .npy {what} ({type(err).__name__})") from err
    if not isinstance(array, np.ndarray):  # np.load opens a .npz (a zip) whatever its name
        array.close()
        raise MotionGPTError(f"{path}: a .npz archive of several arrays, expected one .npy {what}")
    return array


def read_text_file(path: str | Path, what: str = "text") -> str:
    """A UTF-8 text file, or one line naming the file and the line of its first undecodable byte."""
    path = Path(path)
    if not path.is_file():
        raise MotionGPTError(f"{path}: {what} file not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise MotionGPTError(f"{path}:{line}: not a UTF-8 {what} file (byte 0x{data[err.start]:02x} at offset "
                             f"{err.start})") from None


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


@contextlib.contextmanager
def skip_weight_init() -> Iterator[None]:
    """Build modules whose weights are loaded right after without drawing random ones first (a quarter second for
    the bundled model; the meta device would avoid it too, but importing torch._dynamo for it costs a second)."""
    names = ("kaiming_uniform_", "uniform_", "normal_")
    saved = {name: getattr(torch.nn.init, name) for name in names}
    try:
        for name in names:
            setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, function in saved.items():
            setattr(torch.nn.init, name, function)


SMALL_MODEL_WEIGHTS = 50_000_000


@contextlib.contextmanager
def small_model_threads(model: torch.nn.Module) -> Iterator[None]:
    """One torch thread while a small model runs on the CPU: its operations take microseconds, and keeping several
    threads in step costs milliseconds each when the cores are busy (a 100x slowdown measured on 2 shared cores)."""
    small = next(model.parameters()).device.type == "cpu" and \
        sum(p.numel() for p in model.parameters()) < SMALL_MODEL_WEIGHTS
    threads = torch.get_num_threads()
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(threads)


def load_model_dir(directory: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    directory = Path(directory)
    if not (directory / CONFIG_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
        raise MotionGPTError(f"{directory}: not a model dir (expected {CONFIG_NAME} and {WEIGHTS_NAME})")
    try:
        state = load_file(str(directory / WEIGHTS_NAME))
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise MotionGPTError(f"{directory / WEIGHTS_NAME}: corrupt weights file ({err})") from err
    return read_json(directory / CONFIG_NAME), state


def dir_hash(directory: str | Path, pattern: str = "*") -> str:
    """sha256 over the names and bytes of a dir's files matching `pattern` (pins the VQ-VAE a finetuned LLM belongs
    to, keys runs; "*.safetensors": its weights alone, whatever notes lie beside them)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(directory).rglob(pattern) if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def check_device(device: str | torch.device | None) -> torch.device:
    """A torch device this machine has (None: cuda when available, else cpu), checked before any model loads.

    `meta` holds no data and is refused; cuda and mps must be present, with the index in range."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise MotionGPTError(f"device {str(device)!r}: not a torch device (expected cpu, cuda, cuda:N or mps)"
                             ) from None
    if chosen.type == "cpu":
        return chosen
    if chosen.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise MotionGPTError(f"device {str(device)!r}: no CUDA GPU is available here (use cpu)")
        if chosen.index is not None and chosen.index >= count:
            raise MotionGPTError(f"device {str(device)!r}: this machine has {count} CUDA GPU(s), cuda:0.."
                                 f"cuda:{count - 1}")
        return chosen
    if chosen.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise MotionGPTError(f"device {str(device)!r}: MPS is not available here (use cpu)")
        return chosen
    raise MotionGPTError(f"device {str(device)!r}: cannot generate or train on {chosen.type} (expected cpu, cuda, "
                         "cuda:N or mps)")


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
