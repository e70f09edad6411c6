"""Motion VQ-VAE: 1-D convolutional encoder/decoder with dilated residual stacks and an EMA-reset codebook.

One code stands for 4 frames (two stride-2 stages). The module tree mirrors the T2M-GPT / MotionGPT network, so
its state_dict keys equal the original checkpoint's keys without their `vqvae.` prefix (see original.py), and an
original checkpoint computes exactly what it computed there.

Inputs to `forward`, `encode` and `decode` are z-normalised features (B, T, D); `encode_motion` and
`decode_codes` take and return raw features and apply the Mean/Std stored with the model.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from motiongpt.data.layout import load_mean_std
from motiongpt.errors import MotionGPTError
from motiongpt.io import load_model_dir, save_model_dir, skip_weight_init, small_model_threads
from motiongpt.tokenizer.config import VQVAEConfig
from motiongpt.tokenizer.original import load_original_checkpoint
from motiongpt.tokenizer.quantizer import EMAResetQuantizer

def vqvae_loss(recon: torch.Tensor, target: torch.Tensor, commit_loss: torch.Tensor, ppl: torch.Tensor,
               num_joints: int, commit: float = 0.02, vel: float = 0.5) -> dict[str, torch.Tensor]:
    """T2M-GPT's objective: smooth-L1 reconstruction + commit * commitment + vel * smooth-L1 on the local joint
    position block [4 : (J-1)*3 + 4] (called the velocity loss in the original code, though it compares positions).
    Separate from the module so a DDP-wrapped model can compute it from `forward`'s outputs."""
    target = target[:, : recon.shape[1]]
    recon_loss = F.smooth_l1_loss(recon, target)
    ric = slice(4, (num_joints - 1) * 3 + 4)
    vel_loss = F.smooth_l1_loss(recon[..., ric], target[..., ric])
    total = recon_loss + commit * commit_loss + vel * vel_loss
    return {"loss": total, "recon": recon_loss, "commit": commit_loss, "vel": vel_loss, "perplexity": ppl}


class ResConv1DBlock(nn.Module):
    """Pre-activation residual block: x + conv2(relu(conv1(relu(x)))), conv1 dilated (k=3), conv2 pointwise."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class Resnet1D(nn.Module):
    """`depth` residual blocks with dilations growth**i, applied largest dilation first (9, 3, 1)."""

    def __init__(self, width: int, depth: int, dilation_growth_rate: int):
        super().__init__()
        dilations = [dilation_growth_rate ** i for i in range(depth)][::-1]
        self.model = nn.Sequential(*[ResConv1DBlock(width, d) for d in dilations])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Encoder(nn.Module):
    def __init__(self, cfg: VQVAEConfig):
        super().__init__()
        w = cfg.width
        stages = [nn.Sequential(nn.Conv1d(w, w, 4, stride=2, padding=1),
                                Resnet1D(w, cfg.depth, cfg.dilation_growth_rate)) for _ in range(cfg.down_t)]
        self.model = nn.Sequential(nn.Conv1d(cfg.input_dim, w, 3, padding=1), nn.ReLU(), *stages,
                                   nn.Conv1d(w, cfg.code_dim, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Decoder(nn.Module):
    def __init__(self, cfg: VQVAEConfig):
        super().__init__()
        w = cfg.width
        stages = [nn.Sequential(Resnet1D(w, cfg.depth, cfg.dilation_growth_rate),
                                nn.Upsample(scale_factor=2, mode="nearest"),
                                nn.Conv1d(w, w, 3, padding=1)) for _ in range(cfg.down_t)]
        self.model = nn.Sequential(nn.Conv1d(cfg.code_dim, w, 3, padding=1), nn.ReLU(), *stages,
                                   nn.Conv1d(w, w, 3, padding=1), nn.ReLU(),
                                   nn.Conv1d(w, cfg.input_dim, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class VQVAE(nn.Module):
    def __init__(self, config: VQVAEConfig, mean: np.ndarray | None = None, std: np.ndarray | None = None):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantizer = EMAResetQuantizer(config.codebook_size, config.code_dim, config.mu)
        self.register_buffer("mean", torch.zeros(config.input_dim), persistent=False)
        self.register_buffer("std", torch.ones(config.input_dim), persistent=False)
        self.has_statistics = False
        if mean is not None or std is not None:
            self.set_normalisation(mean, std)

    # ---------------------------------------------------------------- normalisation statistics
    def set_normalisation(self, mean: np.ndarray, std: np.ndarray) -> None:
        d = self.config.input_dim
        mean, std = np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)
        if mean.shape != (d,) or std.shape != (d,):
            raise MotionGPTError(f"Mean/Std: shapes {mean.shape}/{std.shape}, expected ({d},) for this model")
        self.mean.copy_(torch.from_numpy(mean))
        if (std <= 0).any() or not (np.isfinite(mean).all() and np.isfinite(std).all()):
            raise MotionGPTError("Std: expected finite, positive values (and a finite Mean)")
        self.std.copy_(torch.from_numpy(std))
        self.has_statistics = True

    def require_statistics(self) -> None:
        if not self.has_statistics:
            raise MotionGPTError("this VQ-VAE has no Mean/Std: pass mean= and std=, or dataset=, to from_pretrained")

    def normalise(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.std

    def denormalise(self, features: torch.Tensor) -> torch.Tensor:
        return features * self.std + self.mean

    # ---------------------------------------------------------------- core network
    def _checked(self, x: torch.Tensor) -> torch.Tensor:
        """x cropped to whole codes (trailing frames would only blur the last code), after checking its shape."""
        d, k = self.config.input_dim, self.config.frames_per_code
        if x.ndim != 3 or x.shape[-1] != d:
            raise MotionGPTError(f"features: shape {tuple(x.shape)}, expected (batch, frames, {d})")
        if x.shape[1] < k:
            raise MotionGPTError(f"features: {x.shape[1]} frames, expected at least {k} (one code = {k} frames)")
        return x[:, : x.shape[1] // k * k]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Normalised (B, T, D) -> reconstruction (B, T', D) with T' = T rounded down to a multiple of 4,
        commitment loss, perplexity of the batch's code usage."""
        x = self._checked(x)
        latent = self.encoder(x.permute(0, 2, 1))
        quantised, commit_loss, ppl = self.quantizer(latent)
        return self.decoder(quantised).permute(0, 2, 1), commit_loss, ppl

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised features (B, T, D) -> codes (B, T // 4), int64."""
        x = self._checked(x)
        latent = self.encoder(x.permute(0, 2, 1))  # (B, C, T')
        b, c, t = latent.shape
        return self.quantizer.quantize(latent.permute(0, 2, 1).reshape(-1, c)).view(b, t)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, N) -> normalised features (B, 4N, D)."""
        if codes.ndim != 2 or codes.shape[1] < 1:
            raise MotionGPTError(f"codes: shape {tuple(codes.shape)}, expected (batch, n) with n >= 1")
        nb = self.config.codebook_size
        if codes.min() < 0 or codes.max() >= nb:
            raise MotionGPTError(f"codes: values {int(codes.min())}..{int(codes.max())}, expected 0..{nb - 1}")
        quantised = self.quantizer.dequantize(codes.long()).permute(0, 2, 1)
        return self.decoder(quantised).permute(0, 2, 1)

    # ---------------------------------------------------------------- raw-feature helpers
    def encode_motion(self, features: np.ndarray | torch.Tensor) -> np.ndarray:
        """Raw features (T, D) or (B, T, D) -> int64 codes (T // 4,) or (B, T // 4); trailing frames are dropped."""
        self.require_statistics()
        x = torch.as_tensor(np.asarray(features, dtype=np.float32) if isinstance(features, np.ndarray) else features)
        single = x.ndim == 2
        x = self._checked(x[None] if single else x)
        x = self.normalise(x.to(self.mean.device, torch.float32))
        codes = self.encode(x).cpu().numpy().astype(np.int64)
        return codes[0] if single else codes

    def decode_codes(self, codes: np.ndarray | torch.Tensor | list[int]) -> np.ndarray:
        """Codes (N,) or (B, N) -> raw features (4N, D) or (B, 4N, D), float32 numpy."""
        self.require_statistics()
        c = torch.as_tensor(np.asarray(codes) if not isinstance(codes, torch.Tensor) else codes)
        if c.is_floating_point():
            raise MotionGPTError(f"codes: dtype {c.dtype}, expected integers")
        single = c.ndim == 1
        c = c[None] if single else c
        out = self.denormalise(self.decode(c.to(self.mean.device)))
        out = out.cpu().numpy().astype(np.float32)
        return out[0] if single else out

    # ---------------------------------------------------------------- training loss
    def loss(self, x: torch.Tensor, commit: float = 0.02, vel: float = 0.5) -> dict[str, torch.Tensor]:
        recon, commit_loss, ppl = self(x)
        return vqvae_loss(recon, x, commit_loss, ppl, self.config.num_joints, commit, vel)

    # ---------------------------------------------------------------- persistence
    def save_pretrained(self, directory: str | Path) -> None:
        """config.json + model.safetensors + Mean.npy/Std.npy: the folder alone is enough to encode and decode."""
        stats = {"Mean.npy": self.mean.cpu().numpy(), "Std.npy": self.std.cpu().numpy()} if self.has_statistics else {}
        save_model_dir(directory, {"model_type": "motion-vqvae", **asdict(self.config)}, self.state_dict(), stats)

    @classmethod
    def from_pretrained(cls, path: str | Path, mean: np.ndarray | None = None, std: np.ndarray | None = None,
                        dataset: str | Path | None = None, map_location: str = "cpu") -> "VQVAE":
        """Load a model dir written by `save_pretrained`, or an original T2M-GPT/MotionGPT .pth checkpoint.

        Mean/Std are `mean`/`std` when given, else `dataset`'s (a HumanML3D-layout folder), else the model dir's
        Mean.npy/Std.npy when it has them; an original .pth carries none, so it needs one of the first two.
        """
        path = Path(path)
        if path.is_file():
            config, state = load_original_checkpoint(path)
        else:
            if not path.is_dir():
                raise MotionGPTError(f"{path}: not found (expected a VQ-VAE model dir or an original .pth file)")
            raw_config, state = load_model_dir(path)
            if raw_config.pop("model_type", None) != "motion-vqvae":
                raise MotionGPTError(f"{path}/config.json: not a motion VQ-VAE config (model_type must be "
                                     "'motion-vqvae')")
            config = VQVAEConfig.from_dict(raw_config)
            if mean is None and std is None and dataset is None and (path / "Mean.npy").is_file():
                mean, std = load_mean_std(path)
        if mean is None and std is None and dataset is not None:
            mean, std = load_mean_std(dataset)
        with skip_weight_init():  # the weights come next
            model = cls(config)
        try:
            with small_model_threads(model):  # copies of a few MB: threads in step would cost more than they do
                missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as err:  # size mismatch
            raise MotionGPTError(f"{path}: weights do not fit a VQ-VAE with config {asdict(config)} "
                                 f"({str(err).splitlines()[-1].strip()})") from err
        if missing or unexpected:
            raise MotionGPTError(f"{path}: weights do not fit a VQ-VAE with config {asdict(config)} "
                                 f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        if mean is not None or std is not None:
            if mean is None or std is None:
                raise MotionGPTError(f"{path}: pass both mean and std, or neither")
            model.set_normalisation(mean, std)
        return model.to(map_location).eval()
