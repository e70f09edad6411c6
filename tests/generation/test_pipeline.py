"""MotionGPT.generate on an untrained tiny model (both answer formats): every result parses and meets its controls,
batching and the KV cache do not change the codes, and model dirs round-trip."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from transformers import LogitsProcessorList

from motiongpt.errors import MotionGPTError
from motiongpt.generation.constraints import CodeConstraint, Controls
from motiongpt.generation.pipeline import MotionGPT, assemble
from motiongpt.io import write_json
from motiongpt.llm.finetuned import META_NAME, encode_prompt
from motiongpt.llm.formats import parse_codes
from motiongpt.llm.prompts import split_input
from motiongpt.motion.features import joints_to_features

CAPTIONS = ["a person walks forward.", "a man jumps.", "someone turns around and sits down slowly.",
            "the person waves", "a figure kicks twice with the left leg.", "crawling on the floor"]


def test_random_prompts_and_controls_all_parse_and_meet_the_controls(pipeline):
    """200 prompts: 50 random control sets x 4 random descriptions, random sampling settings."""
    rng = random.Random(0)
    n = pipeline.codebook_size
    checked = 0
    for trial in range(50):
        kwargs = {"init_token": rng.randrange(n) if rng.random() < 0.5 else None,
                  "last_token": rng.randrange(n) if rng.random() < 0.5 else None,
                  "key_tokens": [rng.randrange(n) for _ in range(rng.randint(1, 5))] if rng.random() < 0.5 else None}
        need = Controls(kwargs["init_token"], kwargs["last_token"], tuple(kwargs["key_tokens"] or ())).min_codes()
        results = pipeline.generate(rng.sample(CAPTIONS, 4), **kwargs, max_codes=need + rng.randrange(5),
                                    temperature=rng.choice([0.5, 0.8, 2.0]), top_k=rng.choice([None, 5, 200]),
                                    top_p=rng.choice([None, 0.9]), seed=trial)
        for r in results:
            assert r.codes == parse_codes(r.answer, pipeline.fmt, n)
            assert 1 <= len(r.codes) <= need + 4 and not r.fallback
            assert r.satisfies_controls, (kwargs, r.codes)
            assert r.joints.shape == (4 * len(r.codes), 22, 3) and r.features.shape == (4 * len(r.codes), 263)
            assert np.isfinite(r.joints).all()
            checked += 1
    assert checked == 200


def test_batched_and_single_generation_give_the_same_codes(pipeline):
    kwargs = dict(key_tokens=[17, 250], max_codes=8, seed=100, num_samples=2)
    batched = pipeline.generate(CAPTIONS, **kwargs)
    chunked = pipeline.generate(CAPTIONS, **kwargs, batch_size=5)
    assert [r.codes for r in batched] == [r.codes for r in chunked]
    for j, r in enumerate(batched):
        alone = pipeline.generate(r.caption, key_tokens=[17, 250], max_codes=8, seed=100 + j)[0]
        assert alone.codes == r.codes and alone.seed == r.seed == 100 + j
    assert len({tuple(r.codes) for r in batched}) > len(batched) // 2  # different seeds, different samples


def test_cache_and_no_cache_give_the_same_codes(pipeline):
    kwargs = dict(init_token=3, max_codes=6, seed=7, num_samples=3)
    cached = pipeline.generate(CAPTIONS[:2], **kwargs)
    before = dict(pipeline.stats)
    uncached = pipeline.generate(CAPTIONS[:2], **kwargs, use_cache=False)
    assert [r.codes for r in cached] == [r.codes for r in uncached]
    assert pipeline.stats["forward_passes"] > before["forward_passes"]


def test_unconstrained_is_free_sampling_with_the_original_fallback(pipeline):
    results = pipeline.generate(CAPTIONS[:3], max_codes=5, seed=3, num_samples=2, constrained=False,
                                init_token=12)
    for r in results:
        parsed = parse_codes(r.answer, pipeline.fmt, pipeline.codebook_size)[:5]
        assert r.codes == (parsed if parsed else [1] * 5)
        assert r.fallback == (not parsed)
    # an untrained model does not write valid answers by itself
    assert not all(r.satisfies_controls for r in results)


def test_the_constraint_works_inside_transformers_generate(pipeline):
    tokenizer, vocab = pipeline.tokenizer, pipeline.answer_vocab
    controls = [Controls(init=5), Controls(last=299, keys=(10, 20)), Controls()]
    prompts = [encode_prompt(tokenizer, pipeline.prompt(c, k)) for c, k in zip(CAPTIONS, controls)]
    width = max(map(len, prompts))
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    torch.manual_seed(0)
    out = pipeline.llm.generate(input_ids=ids, attention_mask=mask, do_sample=True, top_k=50,
                                logits_processor=LogitsProcessorList([CodeConstraint(vocab, controls, 6)]),
                                max_new_tokens=vocab.max_new_tokens(6) + 1, pad_token_id=tokenizer.pad_token_id)
    for row, c in zip(out[:, width:], controls):
        codes = parse_codes(tokenizer.decode(row, skip_special_tokens=True), pipeline.fmt, pipeline.codebook_size)
        assert 1 <= len(codes) <= 6 and c.satisfied_by(codes)


def test_pose_controls_become_the_vq_codes_of_the_frames(pipeline, humanml3d_mini, tmp_path):
    joints = np.load(humanml3d_mini / "new_joints" / "012314.npy")
    features = np.load(humanml3d_mini / "new_joint_vecs" / "012314.npy")
    np.save(tmp_path / "joints.npy", joints)
    np.save(tmp_path / "features.npy", features)
    encode = pipeline.vq.encode_motion
    at30 = int(encode(features[30:34])[0])
    assert pipeline.controls(init_pose=f"{tmp_path / 'features.npy'}:30").init == at30
    from_joints = np.asarray(joints_to_features(joints.astype(np.float64)), dtype=np.float32)
    assert pipeline.controls(init_pose=f"{tmp_path / 'joints.npy'}:30").init == int(encode(from_joints[30:34])[0])
    assert pipeline.controls(last_pose=features).last == int(encode(features[-4:])[0])
    keys = pipeline.controls(key_poses=[f"{tmp_path / 'features.npy'}:0", features[8:20]]).keys
    assert keys == (int(encode(features[:4])[0]), *map(int, encode(features[8:20])))
    result = pipeline.generate("a person walks.", init_pose=f"{tmp_path / 'features.npy'}:30",
                               last_pose=tmp_path / "joints.npy", max_codes=5, seed=0)[0]
    assert result.codes[0] == at30 and result.codes[-1] == int(encode(from_joints[-4:])[0])


@pytest.mark.parametrize("pose, message", [
    ("missing.npy", "not found"),
    ("bad.npy", r"shape \(20, 10\)"),
    ("features.npy:18", "frame 18 leaves fewer than 4 frames"),
    ("short_joints.npy", "at least 5"),
])
def test_bad_poses_raise_one_line_errors(pipeline, tmp_path, pose, message):
    np.save(tmp_path / "bad.npy", np.zeros((20, 10), np.float32))
    np.save(tmp_path / "features.npy", np.zeros((21, 263), np.float32))
    np.save(tmp_path / "short_joints.npy", np.zeros((4, 22, 3), np.float32))
    with pytest.raises(MotionGPTError, match=message) as err:
        pipeline.generate("a person walks.", init_pose=str(tmp_path / pose))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("texts", ["", "   ", [], ["ok", ""], "walk<Motion Token>3</Motion Token>"])
def test_bad_descriptions_raise(pipeline, texts):
    with pytest.raises(MotionGPTError):
        pipeline.generate(texts)


def test_save_load_round_trip_gives_the_same_motions(pipeline, tmp_path):
    pipeline.save_pretrained(tmp_path / "model")
    loaded = MotionGPT.from_pretrained(tmp_path / "model")
    assert loaded.fmt == pipeline.fmt and loaded.codebook_size == pipeline.codebook_size
    a = pipeline.generate(CAPTIONS[:2], key_tokens=[1, 2], max_codes=6, seed=9)
    b = loaded.generate(CAPTIONS[:2], key_tokens=[1, 2], max_codes=6, seed=9)
    assert [r.codes for r in a] == [r.codes for r in b]
    np.testing.assert_allclose(a[0].joints, b[0].joints, atol=1e-5)


def test_assemble_copies_a_lora_finetune_with_its_base(text_pipeline, tmp_path):
    from peft import LoraConfig, get_peft_model

    pipeline = text_pipeline
    base = tmp_path / "base"
    pipeline.llm.save_pretrained(str(base))
    pipeline.tokenizer.save_pretrained(str(base))
    lora = get_peft_model(type(pipeline.llm)(pipeline.llm.config), LoraConfig(r=4, target_modules=["q_proj"]))
    lora.load_state_dict(pipeline.llm.state_dict(), strict=False)
    finetuned = tmp_path / "finetuned"
    lora.save_pretrained(str(finetuned))
    pipeline.tokenizer.save_pretrained(str(finetuned))
    (finetuned / "checkpoint").mkdir()
    (finetuned / "checkpoint" / "optim.pt").write_bytes(b"training state")
    meta = {"kind": "lora", "base": str(base.resolve()), "format": "text", "codebook_size": 300, "tokenizer": "."}
    write_json(finetuned / META_NAME, meta)
    pipeline.vq.save_pretrained(tmp_path / "vq")

    out = assemble(tmp_path / "vq", finetuned, tmp_path / "model")
    assert (out / "llm" / "base" / "config.json").is_file() and not (out / "llm" / "checkpoint").exists()
    model = MotionGPT.from_pretrained(out)
    assert model.generate("a man jumps.", init_token=7, max_codes=3, seed=1)[0].codes[0] == 7

    write_json(finetuned / META_NAME, {**meta, "codebook_size": 512})
    with pytest.raises(MotionGPTError, match="512 codes"):
        assemble(tmp_path / "vq", finetuned, tmp_path / "model2")


def test_missing_model_dir_errors(tmp_path):
    with pytest.raises(MotionGPTError, match="not a MotionGPT model dir"):
        MotionGPT.from_pretrained(tmp_path)


def test_invalid_settings_raise(pipeline):
    for kwargs in (dict(temperature=0), dict(top_k=0), dict(top_p=1.5), dict(max_codes=0), dict(num_samples=0),
                   dict(guidance=-1), dict(guidance=float("nan"))):
        with pytest.raises(MotionGPTError):
            pipeline.generate("a man jumps.", **kwargs)


def test_decode_lengths(pipeline):
    features, joints = pipeline.decode([0])
    assert features.shape == (4, 263) and joints.shape == (4, 22, 3)


def test_record_holds_the_settings_and_format_of_the_call(pipeline):
    result = pipeline.generate("a person walks.", seed=3, max_codes=4, top_p=0.9, top_k=None, use_cache=False)[0]
    record = result.record()
    assert record["format"] == pipeline.fmt and record["seed"] == 3
    assert record["settings"] == {"temperature": 0.8, "top_k": None, "top_p": 0.9, "max_codes": 4,
                                  "constrained": True, "use_cache": False, "frames": None, "check_retries": 3,
                                  "rigid_bones": True, "guidance": 1.0}
    assert record["side"] is None  # the description names no side


def test_pose_features_cut_one_code_from_the_given_frame(pipeline, tmp_path):
    from motiongpt.generation.controls import pose_features

    features = np.random.default_rng(0).normal(size=(20, 263)).astype(np.float32)
    np.save(tmp_path / "features.npy", features)
    config = pipeline.vq.config
    k = config.frames_per_code
    assert np.array_equal(pose_features(features, config, frame=6), features[6:6 + k])
    assert np.array_equal(pose_features(str(tmp_path / "features.npy"), config, frame=6), features[6:6 + k])
    assert np.array_equal(pose_features(features, config), features)
    with pytest.raises(MotionGPTError, match="frame is given twice"):
        pose_features(f"{tmp_path / 'features.npy'}:2", config, frame=6)
    with pytest.raises(MotionGPTError, match=r"expected joints \(T, 22, 3\) or features \(T, 263\) for this model"):
        pose_features(np.zeros((20, 251), np.float32), config)


def test_models_by_name_and_a_caption_list_shared_through_pipeline_json(text_pipeline, tmp_path, monkeypatch):
    from motiongpt.generation import pipeline as module
    from motiongpt.generation.matcher import CaptionMatcher
    from motiongpt.generation.models import BUNDLED_MODEL

    assert module.model_dir(None) == module.model_dir("balanced") == BUNDLED_MODEL
    assert module.model_dir("unbalanced") != BUNDLED_MODEL
    default, first = module.model_parts(None), module.model_parts("unbalanced")
    assert default["captions"] == first["captions"] and default["vq"] != first["vq"]  # captions shared, own VQ-VAE
    assert module.model_dir(tmp_path) == tmp_path
    monkeypatch.setitem(module.NAMED_MODELS, "elsewhere", tmp_path / "absent")
    with pytest.raises(MotionGPTError, match="no model 'absent' in this package"):
        MotionGPT.from_pretrained("elsewhere")
    text_pipeline.save_pretrained(tmp_path / "a")
    CaptionMatcher(["a person walks forward."], np.ones((1, 4))).save_pretrained(tmp_path / "shared")
    config = tmp_path / "a" / "pipeline.json"
    write_json(config, {**json.loads(config.read_text()), "captions": "../shared"})
    monkeypatch.setitem(module.NAMED_MODELS, "elsewhere", tmp_path / "a")
    loaded = MotionGPT.from_pretrained("elsewhere")
    assert loaded.matcher is not None and loaded.matcher.captions == ["a person walks forward."]


def test_guided_sampling_takes_the_guided_argmax_row_by_row(pipeline):
    """With top-k 1 a row takes argmax(u + g (c - u)) of its own prompt's logits (c) and its prompt without the
    description (u), whichever rows share its batch and whether or not the cache runs."""
    from motiongpt.generation.decoding import TopK, sample

    prompts = [encode_prompt(pipeline.tokenizer, pipeline.prompt(c)) for c in CAPTIONS[:3]]
    plain = encode_prompt(pipeline.tokenizer, pipeline.unconditional_prompt())
    with torch.no_grad():
        conditioned = [pipeline.llm(input_ids=torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                                    position_ids=torch.arange(len(p))[None]).logits[0, -1] for p in prompts]
        free = pipeline.llm(input_ids=torch.tensor([plain]), attention_mask=torch.ones(1, len(plain), dtype=torch.long),
                            position_ids=torch.arange(len(plain))[None]).logits[0, -1]
    for guidance in (0.0, 3.0):
        decoded = sample(pipeline.llm, prompts, [0, 1, 2], processors=[TopK(1)], stop_ids=frozenset(),
                         pad_id=pipeline.tokenizer.pad_token_id, max_new_tokens=1,
                         unconditional=[plain] * 3, guidance=guidance)
        assert [t[0] for t in decoded.tokens] == [int((free + guidance * (c - free)).argmax()) for c in conditioned]
    assert len({int((free + 3.0 * (c - free)).argmax()) for c in conditioned} | {int(free.argmax())}) > 1


def test_rows_fitted_while_the_llm_decodes_are_the_rows_fitted_after_it(text_pipeline, monkeypatch):
    """`rigid_rows` makes and fits each row on a second thread as soon as the LLM has written it: the same motions
    as fitting the whole batch afterwards, each row handed over once. (The text format: its untrained rows stop
    at different steps.)"""
    from motiongpt.generation import pipeline as module
    from motiongpt.generation.settings import GenerationSettings

    settings, seeds = GenerationSettings(max_codes=12), list(range(10, 16))
    controls = [text_pipeline.controls()] * len(CAPTIONS)
    after = text_pipeline.rigid(text_pipeline.generate_rows(CAPTIONS, controls, seeds, settings), settings)
    assert len({len(m.codes) for m in after}) > 1  # rows finish at different steps
    handed = []
    sample = module.sample
    monkeypatch.setattr(module, "sample", lambda *a, finished=None, **k: sample(
        *a, finished=lambda row, tokens: (handed.append(row), finished(row, tokens)), **k))
    during = text_pipeline.rigid_rows(CAPTIONS, controls, seeds, settings)
    assert sorted(handed) == list(range(len(CAPTIONS)))
    assert [m.codes for m in during] == [m.codes for m in after]
    assert all(np.array_equal(a.joints, b.joints) and b.rig is not None for a, b in zip(after, during))


def test_guidance_keeps_batches_seeds_and_the_cache_exact(pipeline):
    kwargs = dict(key_tokens=[17, 250], max_codes=8, seed=100, num_samples=2, guidance=2.5)
    batched = pipeline.generate(CAPTIONS[:4], **kwargs)
    assert [r.codes for r in batched] == [r.codes for r in pipeline.generate(CAPTIONS[:4], **kwargs, batch_size=3)]
    assert [r.codes for r in batched] == [r.codes for r in pipeline.generate(CAPTIONS[:4], **kwargs, use_cache=False)]
    alone = pipeline.generate(CAPTIONS[1], key_tokens=[17, 250], max_codes=8, seed=102, guidance=2.5)[0]
    assert alone.codes == batched[2].codes and all(r.satisfies_controls for r in batched)
    unguided = pipeline.generate(CAPTIONS[:4], **{**kwargs, "guidance": 1.0})
    assert [r.codes for r in unguided] == [r.codes for r in pipeline.generate(CAPTIONS[:4], **{**kwargs,
                                                                                                "guidance": None})]
    strongly = pipeline.generate(CAPTIONS[:4], **{**kwargs, "guidance": 10.0})  # an untrained model's c - u is small
    assert [r.codes for r in unguided] != [r.codes for r in strongly]
    assert batched[0].settings.guidance == 2.5 and unguided[0].settings.guidance == 1.0
    as_text = pipeline.generate(CAPTIONS[0], **{**kwargs, "guidance": "2.5", "num_samples": 1})  # as a form gives it
    assert as_text[0].codes == batched[0].codes and as_text[0].settings.guidance == 2.5  # a float in the record


def test_a_model_dir_carries_its_guidance(text_pipeline, tmp_path):
    text_pipeline.save_pretrained(tmp_path / "model")
    out = assemble(tmp_path / "model" / "vq", tmp_path / "model" / "llm", tmp_path / "guided", guidance=2.0)
    guided = MotionGPT.from_pretrained(out)
    assert guided.guidance == 2.0 and MotionGPT.from_pretrained(tmp_path / "model").guidance == 1.0
    result = guided.generate("a man jumps.", max_codes=4, seed=5)[0]
    assert result.settings.guidance == 2.0
    assert result.codes == text_pipeline.generate("a man jumps.", max_codes=4, seed=5, guidance=2.0)[0].codes
    guided.save_pretrained(tmp_path / "again")
    assert MotionGPT.from_pretrained(tmp_path / "again").guidance == 2.0
    with pytest.raises(MotionGPTError, match="guidance 11"):
        assemble(tmp_path / "model" / "vq", tmp_path / "model" / "llm", tmp_path / "bad", guidance=11)
    meta_path = tmp_path / "again" / "llm" / META_NAME
    write_json(meta_path, {**json.loads(meta_path.read_text()), "guidance": None})
    with pytest.raises(MotionGPTError, match=r"llm/motiongpt.json: guidance None: expected a number"):
        MotionGPT.from_pretrained(tmp_path / "again")


@pytest.mark.parametrize("task", ["text", "init", "key"])
def test_the_unconditional_prompt_is_the_prompt_caption_dropout_trains_on(pipeline, task):
    from motiongpt.llm.formats import render_record
    from motiongpt.llm.instructions import drop_captions, motion_records

    records = [r for r in motion_records("m", [4, 9, 9, 30, 2], ["a man jumps."], random.Random(0)) if r["task"] == task]
    (dropped,) = drop_captions(records, 0.99, seed=0)
    caption, control = split_input(dropped["input"])
    codes = parse_codes(control, "text", None) if control else []
    controls = pipeline.controls(**({"key_tokens": codes} if task == "key" else {"init_token": codes[0]} if codes else {}))
    assert caption == "" and render_record(dropped, pipeline.fmt, pipeline.template)[0] == pipeline.unconditional_prompt(controls)
