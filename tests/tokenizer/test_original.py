"""Original T2M-GPT/MotionGPT checkpoints: the reference key layout loads 1:1 and computes the original network."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from motiongpt.data.layout import load_mean_std
from motiongpt.errors import MotionGPTError
from motiongpt.tokenizer import VQVAE, VQVAEConfig


def reference_layout(shared_dir) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for line in (shared_dir / "reference" / "original-vq-checkpoint-keys.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, shape = line.split(" ", 1)
            shapes[key] = tuple(int(n) for n in shape.strip("()").split(",") if n.strip())
    return shapes


def original_forward(sd: dict[str, torch.Tensor], x: torch.Tensor, depth=3, down_t=2, growth=3) -> torch.Tensor:
    """The original network written out with functional ops from the recipe (x: normalised (B, T, D))."""

    def conv(h, prefix, **kw):
        return F.conv1d(h, sd[prefix + ".weight"], sd[prefix + ".bias"], **kw)

    def resnet(h, prefix):
        for j, dilation in enumerate(reversed([growth ** i for i in range(depth)])):
            block = f"{prefix}.model.{j}"
            h = h + conv(F.relu(conv(F.relu(h), block + ".conv1", padding=dilation, dilation=dilation)),
                         block + ".conv2")
        return h

    enc, dec = "vqvae.encoder.model", "vqvae.decoder.model"
    h = F.relu(conv(x.permute(0, 2, 1), f"{enc}.0", padding=1))
    for i in range(down_t):
        h = resnet(conv(h, f"{enc}.{2 + i}.0", stride=2, padding=1), f"{enc}.{2 + i}.1")
    h = conv(h, f"{enc}.{2 + down_t}", padding=1)
    codebook = sd["vqvae.quantizer.codebook"]
    flat = h.permute(0, 2, 1)
    idx = torch.cdist(flat, codebook[None].expand(len(flat), -1, -1)).argmin(-1)
    h = codebook[idx].permute(0, 2, 1)
    h = F.relu(conv(h, f"{dec}.0", padding=1))
    for i in range(down_t):
        h = resnet(h, f"{dec}.{2 + i}.0")
        h = conv(F.interpolate(h, scale_factor=2, mode="nearest"), f"{dec}.{2 + i}.2", padding=1)
    h = conv(F.relu(conv(h, f"{dec}.{2 + down_t}", padding=1)), f"{dec}.{4 + down_t}", padding=1)
    return h.permute(0, 2, 1)


def random_state(shapes: dict, seed=0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g) * (0.02 if len(s) > 1 else 0.01) for k, s in shapes.items()}


def test_reference_checkpoint_loads_one_to_one_and_runs(shared_dir, humanml3d_mini, tmp_path):
    shapes = reference_layout(shared_dir)
    sd = random_state(shapes)
    torch.save({"net": sd}, tmp_path / "t2m.pth")
    model = VQVAE.from_pretrained(tmp_path / "t2m.pth", dataset=humanml3d_mini)
    assert model.config == VQVAEConfig()  # 263 -> 512 wide, 512 x 512 codes, down_t 2, depth 3
    mine = model.state_dict()
    for key, value in sd.items():  # every original tensor lands unchanged under the prefix-stripped key
        assert torch.equal(mine[key.removeprefix("vqvae.")], value), key
    assert set(mine) - {k.removeprefix("vqvae.") for k in sd} == {
        "quantizer.code_sum", "quantizer.code_count", "quantizer.initialised"}

    x = torch.randn(1, 32, 263)
    assert model.encode(x).shape == (1, 8)
    torch.testing.assert_close(model.decode(model.encode(x)), original_forward(sd, x), rtol=1e-4, atol=1e-5)
    mean, std = load_mean_std(humanml3d_mini)
    assert np.allclose(model.mean.numpy(), mean) and np.allclose(model.std.numpy(), std)


def test_non_default_checkpoint_shapes_are_inferred(tmp_path):
    cfg = VQVAEConfig(input_dim=251, codebook_size=64, code_dim=24, width=40, down_t=2, depth=2)
    source = VQVAE(cfg)
    sd = {f"vqvae.{k}": torch.randn_like(v) for k, v in source.state_dict().items()
          if not k.startswith(("quantizer.code_", "quantizer.initialised"))}
    torch.save({"net": sd, "epoch": 3}, tmp_path / "kit.pth")
    rng = np.random.default_rng(0)
    model = VQVAE.from_pretrained(tmp_path / "kit.pth", mean=rng.normal(size=251), std=np.ones(251))
    assert model.config == cfg
    x = torch.randn(2, 24, 251)
    torch.testing.assert_close(model.decode(model.encode(x)), original_forward(sd, x, depth=2), rtol=1e-4,
                               atol=1e-5)
    codes = model.encode_motion(rng.normal(size=(20, 251)).astype(np.float32))
    assert codes.shape == (5,)


def test_imported_codebook_counts_as_initialised(tmp_path):
    cfg = VQVAEConfig(codebook_size=16, code_dim=8, width=16, depth=1)
    sd = {f"vqvae.{k}": v for k, v in VQVAE(cfg).state_dict().items()
          if not k.startswith(("quantizer.code_", "quantizer.initialised"))}
    sd["vqvae.quantizer.codebook"] = torch.randn(16, 8)
    torch.save({"net": sd}, tmp_path / "small.pth")
    q = VQVAE.from_pretrained(tmp_path / "small.pth").quantizer
    assert bool(q.initialised)  # fine-tuning starts from the imported codes, not from the first batch
    assert torch.equal(q.code_sum, q.codebook) and torch.equal(q.code_count, torch.ones(16))


def test_corrupt_and_foreign_checkpoints(tmp_path):
    (tmp_path / "corrupt.pth").write_bytes(b"\x80\x02garbage" * 10)
    with pytest.raises(MotionGPTError, match="cannot read as a torch checkpoint.*expected a T2M-GPT"):
        VQVAE.from_pretrained(tmp_path / "corrupt.pth")
    torch.save({"net": {"transformer.weight": torch.zeros(3)}}, tmp_path / "gpt.pth")
    with pytest.raises(MotionGPTError, match="'encoder.model.0.weight' missing; expected a T2M-GPT"):
        VQVAE.from_pretrained(tmp_path / "gpt.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(MotionGPTError, match="holds a list"):
        VQVAE.from_pretrained(tmp_path / "list.pth")
    cfg = VQVAEConfig(codebook_size=16, code_dim=8, width=16, depth=1)
    sd = {f"vqvae.{k}": v for k, v in VQVAE(cfg).state_dict().items() if not k.startswith("quantizer.code_")}
    sd["vqvae.extra.weight"] = torch.zeros(1)
    torch.save({"net": sd}, tmp_path / "extra.pth")
    with pytest.raises(MotionGPTError, match="unexpected"):
        VQVAE.from_pretrained(tmp_path / "extra.pth")
    for path in tmp_path.iterdir():
        with pytest.raises(MotionGPTError) as info:
            VQVAE.from_pretrained(path)
        assert "\n" not in str(info.value)
