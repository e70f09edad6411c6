import numpy as np
import pytest
import torch

from motiongpt.data.layout import load_features, load_mean_std
from motiongpt.errors import MotionGPTError
from motiongpt.tokenizer import VQVAE, VQVAEConfig, preset_config
from motiongpt.tokenizer.quantizer import EMAResetQuantizer


def tiny_model(dataset=None, seed=0) -> VQVAE:
    torch.manual_seed(seed)
    mean, std = load_mean_std(dataset) if dataset is not None else (None, None)
    model = VQVAE(preset_config("tiny"), mean, std)
    model.train()
    model(torch.randn(4, 32, 263))  # initialises the codebook from a batch
    return model.eval()


def test_frames_to_codes_to_frames(dataset):
    model = tiny_model(dataset)
    x = torch.randn(2, 64, 263)
    codes = model.encode(x)
    assert codes.shape == (2, 16) and codes.dtype == torch.int64
    assert 0 <= int(codes.min()) and int(codes.max()) < model.config.codebook_size
    assert model.decode(codes).shape == (2, 64, 263)
    assert model.encode(torch.randn(1, 66, 263)).shape == (1, 16)  # trailing frames are dropped

    raw = load_features(dataset, "000100")
    codes = model.encode_motion(raw)
    assert codes.dtype == np.int64 and codes.shape == (len(raw) // 4,)
    back = model.decode_codes(codes)
    assert back.shape == (4 * len(codes), 263) and back.dtype == np.float32
    # raw helpers are the normalised core plus the stored statistics
    mean, std = load_mean_std(dataset)
    expected = model.decode(model.encode(torch.from_numpy((raw[: len(codes) * 4] - mean) / std)[None]))[0]
    np.testing.assert_allclose(back, expected.numpy() * std + mean, rtol=1e-5, atol=1e-5)


def test_encoding_is_nearest_code():
    model = tiny_model()
    x = torch.randn(1, 32, 263)
    latent = model.encoder(x.permute(0, 2, 1))[0].t()
    nearest = torch.cdist(latent, model.quantizer.codebook).argmin(-1)
    assert torch.equal(model.encode(x)[0], nearest)


def test_dead_codes_are_reset_to_encoder_outputs():
    torch.manual_seed(0)
    q = EMAResetQuantizer(codebook_size=8, code_dim=4).train()
    q(torch.randn(1, 4, 64))  # the first batch initialises the codebook
    first = q.codebook.clone()
    # from now on every encoder output sits near code 0, far from the 7 other codes
    cluster = first[0][None, :, None] + 0.01 * torch.randn(1, 4, 64)
    rows = cluster[0].t()
    assert set(q.quantize(rows).tolist()) == {0}
    revived = set()
    for _ in range(30):
        q(cluster)
        dead = (q.code_count < 1).nonzero().flatten().tolist()
        for i in dead:  # a dead code is replaced by one of the batch's encoder outputs
            assert torch.isclose(rows, q.codebook[i]).all(-1).any(), i
        revived.update(dead)
    assert revived >= set(range(1, 8))
    # the revived codes now sit among the data and share its assignments
    assert len(set(q.quantize(rows).tolist())) > 1


def test_straight_through_gradient_reaches_encoder():
    model = tiny_model().train()
    loss = model.loss(torch.randn(2, 32, 263))["loss"]
    loss.backward()
    assert model.encoder.model[0].weight.grad.abs().sum() > 0
    assert model.decoder.model[0].weight.grad.abs().sum() > 0


def test_codebook_is_not_trained_by_gradient():
    model = tiny_model().train()
    assert "quantizer.codebook" not in dict(model.named_parameters())


def test_save_and_load_pretrained(dataset, tmp_path):
    model = tiny_model(dataset)
    model.save_pretrained(tmp_path / "vq")
    assert {p.name for p in (tmp_path / "vq").iterdir()} == {"config.json", "model.safetensors", "Mean.npy",
                                                             "Std.npy"}
    loaded = VQVAE.from_pretrained(tmp_path / "vq")
    raw = load_features(dataset, "000101")
    assert np.array_equal(loaded.encode_motion(raw), model.encode_motion(raw))
    assert loaded.config == model.config


def test_bad_inputs_are_one_line_errors(dataset, tmp_path):
    model = tiny_model(dataset)
    with pytest.raises(MotionGPTError, match=r"expected \(batch, frames, 263\)"):
        model.encode_motion(np.zeros((40, 251), np.float32))
    with pytest.raises(MotionGPTError, match="3 frames, expected at least 4"):
        model.encode_motion(np.zeros((3, 263), np.float32))
    with pytest.raises(MotionGPTError, match="expected 0..31"):
        model.decode_codes([0, 32])
    with pytest.raises(MotionGPTError, match="n >= 1"):
        model.decode_codes(np.zeros(0, np.int64))
    with pytest.raises(MotionGPTError, match="no Mean/Std"):
        tiny_model().encode_motion(np.zeros((8, 263), np.float32))
    with pytest.raises(MotionGPTError, match="not found"):
        VQVAE.from_pretrained(tmp_path / "missing")
    model.save_pretrained(tmp_path / "vq")
    (tmp_path / "vq" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(MotionGPTError, match="corrupt"):
        VQVAE.from_pretrained(tmp_path / "vq")


def test_presets():
    paper = VQVAE(preset_config("paper"))
    assert sum(p.numel() for p in paper.parameters()) == 19_436_807  # the original network's parameter count
    assert preset_config("cpu", input_dim=251).num_joints == 21
    with pytest.raises(MotionGPTError, match="expected one of"):
        preset_config("huge")
    with pytest.raises(MotionGPTError, match="unknown fields"):
        VQVAEConfig.from_dict({"width": 8, "colour": 1})


def test_loss_terms():
    model = tiny_model().train()
    x = torch.randn(2, 32, 263)
    out = model.loss(x, commit=0.0, vel=0.0)
    assert torch.isclose(out["loss"], out["recon"])
    both = model.loss(x, commit=0.02, vel=0.5)
    assert both["vel"] > 0 and both["commit"] > 0
    assert torch.isfinite(both["perplexity"]) and 1 <= both["perplexity"] <= model.config.codebook_size


def test_corrupt_statistics_in_a_model_dir_are_a_one_line_error(dataset, tmp_path):
    tiny_model(dataset).save_pretrained(tmp_path / "vq")
    (tmp_path / "vq" / "Std.npy").write_bytes(b"not numpy")
    with pytest.raises(MotionGPTError, match=r"Std\.npy: cannot read") as err:
        VQVAE.from_pretrained(tmp_path / "vq")
    assert "\n" not in str(err.value)
    mean, std = load_mean_std(dataset)
    assert VQVAE.from_pretrained(tmp_path / "vq", dataset=dataset).std.numpy() == pytest.approx(std)
