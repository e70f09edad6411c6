"""Import T2M-GPT / MotionGPT VQ-VAE checkpoints (`torch.save({'net': state_dict, ...})`, keys `vqvae.…`).

Our module tree is the original's, so the weights map 1:1 after stripping the `vqvae.` prefix. The network's
size (input width, channel width, code size, codebook size, stages, residual depth) is read from the tensor shapes,
so non-default checkpoints load too. The dilation growth rate leaves no trace in the shapes; it is 3 in every
released checkpoint. The EMA statistics (not saved by the original) start from the codebook, so fine-tuning an
imported model continues with every code alive.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from motiongpt.errors import MotionGPTError
from motiongpt.tokenizer.config import VQVAEConfig

EXPECTED = ("a T2M-GPT/MotionGPT VQ-VAE checkpoint: torch.save({'net': state_dict}) with keys "
            "'vqvae.encoder.model.…', 'vqvae.decoder.model.…', 'vqvae.quantizer.codebook'")


def _strip(key: str) -> str:
    for prefix in ("module.", "vqvae."):
        if key.startswith(prefix):
            key = key[len(prefix):]
    return key


def infer_config(state: dict[str, torch.Tensor], where: str = "checkpoint",
                 dilation_growth_rate: int = 3) -> VQVAEConfig:
    """Read the network size from the shapes of a state_dict in our (prefix-stripped) key layout."""
    try:
        first = state["encoder.model.0.weight"]  # (width, input_dim, 3)
        codebook = state["quantizer.codebook"]  # (codebook_size, code_dim)
        down_t = len({m.group(1) for k in state if (m := re.fullmatch(r"encoder\.model\.(\d+)\.0\.weight", k))})
        depth = len({m.group(1) for k in state
                     if (m := re.fullmatch(r"encoder\.model\.2\.1\.model\.(\d+)\.conv1\.weight", k))})
        stride_kernel = state["encoder.model.2.0.weight"].shape[-1]
    except KeyError as err:
        raise MotionGPTError(f"{where}: key {err.args[0]!r} missing; expected {EXPECTED}") from err
    if stride_kernel != 4:
        raise MotionGPTError(f"{where}: down-sampling kernel {stride_kernel}, expected 4 (stride 2)")
    return VQVAEConfig(input_dim=first.shape[1], codebook_size=codebook.shape[0], code_dim=codebook.shape[1],
                       width=first.shape[0], down_t=down_t, depth=depth, dilation_growth_rate=dilation_growth_rate)


def convert_state_dict(original: dict[str, torch.Tensor], where: str = "checkpoint",
                       dilation_growth_rate: int = 3) -> tuple[VQVAEConfig, dict[str, torch.Tensor]]:
    """Original `{'vqvae.…': tensor}` -> (config, state_dict for `VQVAE`), EMA statistics filled from the codebook."""
    if not original or not all(isinstance(v, torch.Tensor) for v in original.values()):
        raise MotionGPTError(f"{where}: no tensors found; expected {EXPECTED}")
    state = {_strip(k): v.float() for k, v in original.items()}
    config = infer_config(state, where, dilation_growth_rate)
    codebook = state["quantizer.codebook"]
    state["quantizer.code_sum"] = codebook.clone()
    state["quantizer.code_count"] = torch.ones(codebook.shape[0])
    state["quantizer.initialised"] = torch.tensor(True)
    return config, state


def load_original_checkpoint(path: str | Path,
                             dilation_growth_rate: int = 3) -> tuple[VQVAEConfig, dict[str, torch.Tensor]]:
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, pickle of arbitrary objects, not a torch file at all, ...
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise MotionGPTError(f"{path}: cannot read as a torch checkpoint ({first_line}); expected {EXPECTED}") from err
    if isinstance(blob, dict) and isinstance(blob.get("net"), dict):
        blob = blob["net"]
    if not isinstance(blob, dict):
        raise MotionGPTError(f"{path}: holds a {type(blob).__name__}; expected {EXPECTED}")
    return convert_state_dict(blob, str(path), dilation_growth_rate)
