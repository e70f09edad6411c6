import pickle

import numpy as np
import pytest
import torch

from motiongpt.cli import main
from motiongpt.data import layout
from motiongpt.errors import MotionGPTError
from motiongpt.eval.official import OfficialEvaluator, WordVectorizer

WORDS = ["sos", "eos", "unk", "a", "person", "walk", "sideways", "and", "almost", "fall", "play", "tennis"]


def _gru(prefix, hidden):
    shapes = {}
    for suffix in ("", "_reverse"):
        shapes[f"{prefix}.weight_ih_l0{suffix}"] = (3 * hidden, hidden)
        shapes[f"{prefix}.weight_hh_l0{suffix}"] = (3 * hidden, hidden)
        shapes[f"{prefix}.bias_ih_l0{suffix}"] = (3 * hidden,)
        shapes[f"{prefix}.bias_hh_l0{suffix}"] = (3 * hidden,)
    return shapes


def _head(hidden, out):
    return {"output_net.0.weight": (hidden, 2 * hidden), "output_net.0.bias": (hidden,),
            "output_net.1.weight": (hidden,), "output_net.1.bias": (hidden,),
            "output_net.3.weight": (out, hidden), "output_net.3.bias": (out,), "hidden": (2, 1, hidden)}


def official_layout(dim_pose, movement=16, text_hidden=8, motion_hidden=12, out=10, word=300, pos=15):
    """Key names and shapes of finest.tar, written out from the original module layout (small sizes)."""
    return {
        "movement_encoder": {"main.0.weight": (movement, dim_pose - 4, 4), "main.0.bias": (movement,),
                             "main.3.weight": (movement, movement, 4), "main.3.bias": (movement,),
                             "out_net.weight": (movement, movement), "out_net.bias": (movement,)},
        "text_encoder": {"pos_emb.weight": (word, pos), "pos_emb.bias": (word,),
                         "input_emb.weight": (text_hidden, word), "input_emb.bias": (text_hidden,),
                         **_gru("gru", text_hidden), **_head(text_hidden, out)},
        "motion_encoder": {"input_emb.weight": (motion_hidden, movement), "input_emb.bias": (motion_hidden,),
                           **_gru("gru", motion_hidden), **_head(motion_hidden, out)},
    }


def write_checkpoint(path, dim_pose):
    gen = torch.Generator().manual_seed(0)
    state = {name: {k: torch.randn(shape, generator=gen) * 0.2 for k, shape in keys.items()}
             for name, keys in official_layout(dim_pose).items()}
    state.update(epoch=7, iter=1234)
    torch.save(state, path)
    return path


def write_glove(folder):
    folder.mkdir()
    vectors = np.random.default_rng(0).normal(size=(len(WORDS), 300)).astype(np.float32)
    np.save(folder / "our_vab_data.npy", vectors)
    with open(folder / "our_vab_words.pkl", "wb") as f:
        pickle.dump(WORDS, f)
    with open(folder / "our_vab_idx.pkl", "wb") as f:
        pickle.dump({w: i for i, w in enumerate(WORDS)}, f)
    return folder


@pytest.fixture()
def glove(tmp_path):
    return write_glove(tmp_path / "glove")


@pytest.fixture()
def t2m_evaluator(tmp_path, glove, humanml3d_mini):
    return OfficialEvaluator.load(write_checkpoint(tmp_path / "finest.tar", 263), glove, humanml3d_mini / "meta")


def test_official_layout_checkpoint_loads_every_key(tmp_path, glove, humanml3d_mini):
    path = write_checkpoint(tmp_path / "finest.tar", 263)
    model = OfficialEvaluator.load(path, glove, humanml3d_mini / "meta")
    saved = torch.load(path, weights_only=True)
    for key in ("movement_encoder", "text_encoder", "motion_encoder"):
        loaded = getattr(model, key).state_dict()
        assert loaded.keys() == saved[key].keys()
        assert all(torch.equal(loaded[k], saved[key][k]) for k in loaded)
    assert model.feature_dim == 263 and model.sizes["motion_hidden"] == 12


def test_embeds_a_real_clip_and_its_captions(t2m_evaluator, humanml3d_mini):
    features = layout.load_features(humanml3d_mini, "012314")
    captions = layout.load_captions(humanml3d_mini, "012314")
    text = t2m_evaluator.embed_captions(captions)
    assert text.shape == (3, 10) and np.isfinite(text).all()
    # a caption's embedding does not depend on the other captions of the batch (packing, sorting)
    assert np.allclose(t2m_evaluator.embed_text([captions[1].tokens]), text[1], atol=1e-5)

    padded = np.zeros((2, 170, 263), np.float32)
    padded[0], padded[1, :120] = features, features[:120]
    batch = t2m_evaluator.embed_motion(padded, [170, 120])
    assert batch.shape == (2, 10) and np.isfinite(batch).all()
    assert not np.allclose(batch[0], batch[1])
    garbage = padded.copy()
    garbage[1, 120:] = 100.0  # frames past the length are masked like the official zero padding
    assert np.allclose(t2m_evaluator.embed_motion(garbage, [170, 120]), batch, atol=1e-5)
    # the 4 foot-contact channels are dropped
    changed = features[None].copy()
    changed[..., -4:] += 5.0
    assert np.allclose(t2m_evaluator.embed_motion(changed, [170]), batch[0], atol=1e-5)


def test_word_vectorizer_tokens(glove):
    vectorizer = WordVectorizer(glove)
    vec, pos = vectorizer["walk/VERB"]
    assert np.array_equal(vec, vectorizer.word_to_vector["walk"]) and pos.argmax() == 12  # Act_VIP
    assert vectorizer["person/NOUN"][1].argmax() == 1
    vec, pos = vectorizer["zebra/NOUN"]
    assert np.array_equal(vec, vectorizer.word_to_vector["unk"]) and pos.argmax() == 14  # OTHER
    words, onehots, length = vectorizer.encode_caption(["a/DET", "person/NOUN"])
    assert words.shape == (22, 300) and onehots.shape == (22, 15) and length == 4
    assert np.array_equal(words[0], vectorizer.word_to_vector["sos"])
    assert np.array_equal(words[3], vectorizer.word_to_vector["eos"])
    assert np.array_equal(words[-1], vectorizer.word_to_vector["unk"])
    assert vectorizer.encode_caption(["a/DET"] * 30)[2] == 22  # at most 20 words + sos/eos


def test_kit_checkpoint_and_width_mismatch(tmp_path, glove, shared_dir, humanml3d_mini):
    kit = OfficialEvaluator.load(write_checkpoint(tmp_path / "kit.tar", 251), glove,
                                 shared_dir / "fixtures" / "kit-ml-stats")
    assert kit.feature_dim == 251
    assert kit.embed_motion(np.zeros((1, 40, 251), np.float32), [40]).shape == (1, 10)
    with pytest.raises(MotionGPTError, match=r"expects \(B, T, 251\)"):
        kit.embed_motion(layout.load_features(humanml3d_mini, "012314")[None], [170])
    with pytest.raises(MotionGPTError, match="expected \\(251,\\)"):
        OfficialEvaluator.load(tmp_path / "kit.tar", glove, humanml3d_mini / "meta")


def test_missing_glove_file_is_a_one_line_error(tmp_path, glove, humanml3d_mini, capsys):
    (glove / "our_vab_idx.pkl").unlink()
    checkpoint = write_checkpoint(tmp_path / "finest.tar", 263)
    with pytest.raises(MotionGPTError, match="our_vab_idx.pkl"):
        OfficialEvaluator.load(checkpoint, glove, humanml3d_mini / "meta")
    code = main(["evaluator", "score", "--data", str(humanml3d_mini), "--official", str(checkpoint),
                 "--glove", str(glove), "--meta", str(humanml3d_mini / "meta")])
    err = capsys.readouterr().err
    assert code == 2 and "our_vab_idx.pkl" in err and err.count("\n") == 1


def test_checkpoint_with_other_keys_is_rejected(tmp_path, glove, humanml3d_mini):
    state = {name: {k: torch.zeros(s) for k, s in keys.items()} for name, keys in official_layout(263).items()}
    del state["text_encoder"]["pos_emb.weight"]
    torch.save(state, tmp_path / "bad.tar")
    with pytest.raises(MotionGPTError, match="pos_emb.weight"):
        OfficialEvaluator.load(tmp_path / "bad.tar", glove, humanml3d_mini / "meta")
