"""Which evaluator a run uses, and what its results depend on (the run identity that keys caches and run.json)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from motiongpt.errors import MotionGPTError
from motiongpt.eval.evaluator import BUNDLED_EVALUATOR, TextMotionEvaluator
from motiongpt.eval.official import OfficialEvaluator
from motiongpt.generation.pipeline import model_dir, model_parts
from motiongpt.io import dir_hash


def evaluator_dir(name: str) -> Path:
    """The dir of `--evaluator NAME`: a path, or `bundled` for the evaluator shipped with the package."""
    return BUNDLED_EVALUATOR if name == "bundled" else Path(name)


def load_evaluator(evaluator: str | None = None, official: str | None = None, glove: str | None = None,
                   meta: str | None = None):
    """A trained evaluator dir (or `bundled`), or the official Guo et al. one from finest.tar + GloVe + meta."""
    if bool(evaluator) == bool(official):
        raise MotionGPTError("give exactly one evaluator: a trained evaluator dir, or --official finest.tar")
    if official:
        if not (glove and meta):
            raise MotionGPTError("--official needs --glove DIR and --meta DIR")
        return OfficialEvaluator.load(official, glove, meta)
    return TextMotionEvaluator.from_pretrained(evaluator_dir(evaluator))


def evaluator_files(evaluator: str | None = None, official: str | None = None, glove: str | None = None,
                    meta: str | None = None) -> list[Path]:
    """The files an evaluation's results depend on, for `run_identity`."""
    if official:
        return [Path(official), Path(meta), Path(glove)]
    return [evaluator_dir(evaluator)]


def fingerprint(paths: list[Path]) -> str:
    """sha256 over the bytes of files and folders (folders: every file, by relative name)."""
    digest = hashlib.sha256()
    for path in paths:
        if path.is_dir():
            digest.update(dir_hash(path).encode())
        elif path.is_file():
            with open(path, "rb") as f:
                digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def run_identity(model: str | Path | None, data: str | Path, split: str, evaluator_files: list[Path]) -> dict:
    """What evaluation results depend on besides the settings: stored in run.json, keys the real-embedding cache."""
    model = model_dir(model)
    split_file = Path(data) / f"{split}.txt"
    # parts that pipeline.json takes from another dir (the shipped models share one VQ-VAE and caption list)
    shared = [p for p in model_parts(model).values() if p.exists() and model.resolve() not in p.parents]
    return {"model": str(model.resolve()), "model_sha256": fingerprint([model, *shared]),
            "data": str(Path(data).resolve()),
            "split": split, "split_sha256": hashlib.sha256(split_file.read_bytes()).hexdigest(),
            "evaluator": fingerprint(evaluator_files)}
