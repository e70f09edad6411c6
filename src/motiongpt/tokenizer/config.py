"""The VQ-VAE's shape: one frozen config and the named presets (the paper's network, a CPU size, a test size)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from motiongpt.errors import MotionGPTError

FRAMES_PER_CODE_PER_STAGE = 2
LEGACY_NAMES = {"nb_code": "codebook_size"}


@dataclass(frozen=True)
class VQVAEConfig:
    input_dim: int = 263
    codebook_size: int = 512
    code_dim: int = 512
    width: int = 512
    down_t: int = 2
    depth: int = 3
    dilation_growth_rate: int = 3
    mu: float = 0.99

    @property
    def frames_per_code(self) -> int:
        return FRAMES_PER_CODE_PER_STAGE ** self.down_t

    @property
    def num_joints(self) -> int:
        """D = 4 + (J-1)*3 + (J-1)*6 + J*3 + 4 = 12J - 1 (263 -> 22 joints, 251 -> 21)."""
        return (self.input_dim + 1) // 12

    @classmethod
    def from_dict(cls, d: dict) -> "VQVAEConfig":
        """From a config.json; `nb_code` (T2M-GPT's name, and this project's before 0.2) reads as `codebook_size`."""
        d = {LEGACY_NAMES.get(k, k): v for k, v in d.items()}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise MotionGPTError(f"VQ-VAE config: unknown fields {unknown}; expected some of {sorted(known)}")
        return cls(**d)


PRESETS: dict[str, dict] = {
    # The MotionGPT / T2M-GPT network: 512 codes x 512 dims, width 512 (19.4 M parameters).
    "paper": dict(codebook_size=512, code_dim=512, width=512),
    # Trains in about 90 minutes on a 2-core CPU (measured by benchmarks/bench_tokenizer.py).
    "cpu": dict(codebook_size=512, code_dim=256, width=192),
    # For tests only.
    "tiny": dict(codebook_size=32, code_dim=16, width=24, depth=2),
}


def preset_config(name: str, input_dim: int = 263) -> VQVAEConfig:
    if name not in PRESETS:
        raise MotionGPTError(f"unknown VQ-VAE preset {name!r}; expected one of {sorted(PRESETS)}")
    return VQVAEConfig(input_dim=input_dim, **PRESETS[name])
