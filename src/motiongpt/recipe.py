"""`motiongpt recipe bandai`: the default model from the Bandai mocap in one resumable command.

The steps, each a call of the stage's own function with fixed seeds:

    data          build_bandai: the captioned HumanML3D-layout set        -> DIR/data
    vq_train      the motion VQ-VAE, then finetuned on windows balanced   -> DIR/vq (best/, last/, checkpoint/),
                  by content and style                                       DIR/vq-balanced (the one used)
    vq_eval       reconstruction on the test split (MPJPE, codebook use)  -> DIR/vq_eval.json
    vq_encode     codes of every motion                                   -> DIR/data/VQVAE
    instructions  the four-task instruction records                       -> DIR/instructions
    llm           the `small` LLaMA base, full finetuning, vocab format   -> DIR/llm
                  (`--base smollm2-135m` or FILE.gguf: LoRA on that pretrained base, its own settings)
    evaluator     the trainable text-motion evaluator                     -> DIR/evaluator
    assemble      VQ-VAE + LLM in one model dir                           -> DIR/model
    fidelity      how often each caption's motions show its content, so   -> DIR/model/caption_fidelity.json
                  the caption matcher prefers the faithful captions
    eval          the evaluation protocol of the assembled generator,     -> DIR/eval
                  and the VQ-VAE's reconstruction FID

`--reuse vq_train=DIR` and `--reuse evaluator=DIR` (DIR may be `bundled`, the package's own) take a trained
model instead of training one: an LLM finetuned on the bundled VQ-VAE's codes fits the bundled model's VQ-VAE,
and models scored by the same evaluator compare.

`DIR/recipe_state.json` records each finished step with its figures, so rerunning the command skips what is done;
a step that was interrupted resumes from its own checkpoint (VQ-VAE, LLM and evaluator training all resume
exactly). Each finished step appends one JSON line to `DIR/recipe_log.jsonl`; `DIR/summary.txt` is the readable
summary printed at the end.

Step budgets of the `cpu` preset on this project's 2-core CPU. The default bundled model (`balanced`) was trained
with exactly these settings, its VQ-VAE finetuned from the first model's (`unbalanced`, `motiongpt/assets/model`,
trained as the unbalanced VQ-VAE below, with instructions as the clips come and 800 LLM steps); the wall times
below are those runs':

    data          3,076 clips, 5,314 motions                                   69 s (1 worker)
    vq_train      6,000 steps of 64 windows, lr 4e-4 (x0.05 from step 5,333)   57 min (1.75 steps/s)
                  then 2,400 steps of windows balanced by content and style    10 min (4 steps/s on a
                  (power 0.75), lr 1e-4 (x0.05 from step 1,800)                 quieter day)
    vq_eval       + vq_encode: 794 test and 5,314 motions                      ~1 min
    instructions  51,155 train records, balanced by content and style (0.75),  seconds
                  fresh captions for the repeats of contents under 100 clips
    llm           1,000 steps of 64 records (16 x 4), lr 1e-3, warm-up 30      25 min (~4,600 tokens/s)
    evaluator     1,200 steps of 64, lr 5e-4                                   7 min (2.8 steps/s)
    fidelity      3 samples of each of the 6,905 train captions                ~30 min (~12 motions/s)
    eval          1 repeat of the 4 tasks on the 794 test motions, MultiModality 10 x 10 per task
                                                                               ~3 min (25-40 motions/s)

About 2 h in all; the same steps at half those speeds (a busier machine) still fit 4 h. The VQ-VAE gets
the largest share because every later step depends on its codes. The LLM's 1,000 steps see 64k records, 1.25
epochs of the Bandai instructions (on the balanced tokenizer's codes 800 steps followed the text worse and 1,200
walked slowly: MODEL_CARD.md); batches of 64 (not the paper's 256) give it more updates, and a from-scratch model
of 5 M weights takes lr 1e-3. One eval repeat keeps the test split whole instead of a biased first-N subset; the
20-repeat table of the model card comes from `motiongpt eval` (see MODEL_CARD.md). `--steps STEP=N` and
`--minutes STEP=M` change a training budget (minutes become steps at the slow-end speeds of STEPS_PER_MINUTE; a
new VQ budget moves its LR drop to 2/3 of the steps). The `tiny` preset runs a few steps of tiny networks, for
tests.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from motiongpt.errors import MotionGPTError
from motiongpt.io import atomic_directory, read_json, write_json, write_text

STATE_NAME = "recipe_state.json"
LOG_NAME = "recipe_log.jsonl"
SUMMARY_NAME = "summary.txt"
STEPS = ("data", "vq_train", "vq_eval", "vq_encode", "instructions", "llm", "evaluator", "assemble", "fidelity",
         "eval")
TRAINED_STEPS = ("vq_train", "llm", "evaluator")
REUSABLE = ("vq_train", "evaluator")  # steps whose trained model `--reuse` can take from elsewhere

# balanced by content and style (power 0.75), as the default model's (MODEL_CARD.md: rare contents learnt better
# than with 0.5 or 0); the repeats of contents under 100 clips (the rare ones: 1-12 clips against 164-261) get fresh
# captions. Both presets build them so (recipe_settings deep-copies each preset).
INSTRUCTIONS = dict(seed=1337, balance=0.75, fresh_captions=True, fresh_below=100)
PRESETS: dict[str, dict[str, dict]] = {
    "cpu": {
        "data": dict(seed=0, workers=2),
        # the LR drops x0.05 at step 5,333 (2/3 of an 8,000-step schedule, stopped at the step-6,000 validation)
        "vq_train": dict(preset="cpu", steps=6000, milestones=[5333], lr=4e-4, seed=1234,
                         # then finetuned on windows balanced by content and style, so rare actions (a kick, a
                         # bow) are reconstructed too (MODEL_CARD.md, "A tokenizer that sees every action")
                         balanced_finetune=dict(balance=0.75, steps=2400, lr=1e-4, warmup=100, milestones=[1800],
                                                val_every=400)),
        "vq_eval": dict(split="test"),
        "instructions": INSTRUCTIONS,
        "llm": dict(base="small", format="vocab", full=True, steps=1000, micro_batch=16, grad_accum=4, lr=1e-3,
                    warmup=30, val_every=100, val_batches=25, seed=1337),
        "evaluator": dict(steps=1200, batch_size=64, lr=5e-4, seed=0, save_every=500, val_every=500),
        # the default model's classifier-free guidance (MODEL_CARD.md: 1.5 scored best of 1, 1.5, 2 and 3)
        "assemble": dict(guidance=1.5),
        "fidelity": dict(samples=3, seed=0, batch_size=32),
        "eval": dict(split="test", repeats=1, seed=0, mm_texts=10, mm_samples=10),
    },
    "tiny": {
        "data": dict(seed=0, workers=1),
        "vq_train": dict(preset="tiny", steps=20, batch_size=8, warmup=4, val_every=10, lr=2e-4, seed=1234,
                         balanced_finetune=dict(balance=0.75, steps=2, batch_size=8, warmup=1, val_every=2,
                                                lr=1e-4)),
        "vq_eval": dict(split="test"),
        "instructions": INSTRUCTIONS,
        "llm": dict(base="tiny", format="vocab", full=True, steps=4, micro_batch=4, grad_accum=2, lr=1e-3,
                    warmup=2, val_every=2, val_batches=2, seed=1337),
        "evaluator": dict(steps=4, batch_size=8, lr=5e-4, seed=0, save_every=2, val_every=2),
        "fidelity": dict(samples=1, seed=0, batch_size=32),
        # a smoke run: R-Precision needs 32 motions, more than the test split of a few clips holds
        "eval": dict(split="train", repeats=1, seed=0, limit=32, mm_texts=2, mm_samples=10, max_codes=12),
    },
}
# `--base` with a pretrained base (a .gguf file, smollm2-135m or a local HF dir): LoRA as the paper (r 64, alpha
# 16, dropout 0.05 on q_proj/v_proj of every layer, lr 3e-3) with the CPU tactics of llm/speed.py, on
# instructions balanced by content and style (power 0.5: kick's 48 records become about 400, run's 6,264 about
# 4,600). Measured on SmolLM2 with batches of 16 (val loss per answer token, x 3.77 text tokens or x 1.16 vocab
# tokens per code):
#   text, every layer, 24 steps (277 s):          0.695 per token = 2.6 nats per code
#   text, top 8 layers, 40 steps (408 s):         0.744 = 2.8 (1.7x the tokens/s, but each step learns less)
#   text, top 8 layers, lr 1e-3, 20 steps:        0.851 against 0.763 at lr 3e-3
#   vocab, every layer, 24 steps (125 s):         4.80 per token = 5.6 nats per code (uniform: 6.2), with the
#                                                 code rows started at the mean of their digits' rows (not kept:
#                                                 codes spelt with the same digits then start tied)
# The text format leads on any short budget (its digits reuse what the base knows; the vocab format's 514 new
# rows start from nothing), but a text step costs 2.3x a vocab step, and text stopped improving after about 60
# steps. Per code on 200 val records (bench_code_likelihood.py): text 60 steps (12 min) 3.88 nats, 480 steps (86
# min) 3.41; vocab 130 steps (10 min) 3.88, 400 steps (31 min) 3.25; R-Precision top-3 0.237 for the 480 text
# steps, 0.302 for the 400 vocab steps. So vocab answers on every layer: 1,000 steps fit about 90 minutes.
PRETRAINED_INSTRUCTIONS = dict(balance=0.5)  # both presets (recipe_settings deep-copies each)
PRETRAINED = {
    "cpu": {"instructions": PRETRAINED_INSTRUCTIONS,
            # vocab answers: a step costs under half a text step, and at equal time they learn as much
            # (30 min: 400 vocab steps, 3.25 nats per code; 86 min: 480 text steps, 3.41; MODEL_CARD.md)
            "llm": dict(format="vocab", full=False, steps=1000, micro_batch=8, grad_accum=2, lr=3e-3, warmup=20,
                        val_every=100, val_batches=10, seed=1337, prompt="compact", answer_logits=True,
                        length_groups=True),
            # guidance was measured on the bundled LLM only, and would double a 135 M base's decoding: off
            "assemble": dict(guidance=None),
            # a 135 M base writes a vocab answer in about 0.25 s per motion here (batch 32), 10x the bundled
            # model: the text task only (794 test motions + MultiModality's 100), about 5 minutes
            "eval": dict(tasks=["text"]),
            # and 3 samples of each of 6,905 captions would take about 1.5 hours
            "fidelity": dict(skip="a 135 M base renders about 4 motions/s on a CPU; run `motiongpt "
                                  "caption-fidelity` where a GPU is")},
    "tiny": {"instructions": PRETRAINED_INSTRUCTIONS,
             "llm": dict(format="vocab", full=False, lora_r=4, steps=2, micro_batch=2, grad_accum=1, lr=3e-3,
                         warmup=1, val_every=2, val_batches=1, seed=1337, prompt="compact", answer_logits=True,
                         length_groups=True)},
}
# Training steps per minute on the 2-core CPU (see the module docstring), to turn `--minutes` into steps.
STEPS_PER_MINUTE = {"cpu": {"vq_train": 60.0, "llm": 12.0, "evaluator": 90.0, "llm_pretrained": 10.0}}


def recipe_settings(preset: str, steps: dict[str, int] | None = None, minutes: dict[str, float] | None = None,
                    base: str | None = None, reuse: dict[str, str] | None = None) -> dict[str, dict]:
    """Each step's settings: the preset's, with training budgets given as steps or as minutes; `base` swaps the
    LLM step for LoRA on that pretrained base (the PRETRAINED settings); `reuse` maps vq_train or evaluator to
    a trained model dir ("bundled": the package's own) used instead of training one."""
    if preset not in PRESETS:
        raise MotionGPTError(f"unknown recipe preset {preset!r}; expected one of {', '.join(PRESETS)}")
    settings = {name: {} for name in STEPS} | copy.deepcopy(PRESETS[preset])
    if base == PRESETS[preset]["llm"]["base"]:
        base = None  # the preset's own base
    if base is not None:
        for name, changes in copy.deepcopy(PRETRAINED[preset]).items():
            settings[name] = {**settings[name], **changes}
        settings["llm"]["base"] = base
    for name, value in (minutes or {}).items():
        _check_trained(name)
        if preset not in STEPS_PER_MINUTE:
            raise MotionGPTError(f"--minutes: no measured speeds for preset {preset!r}; give --steps instead")
        speed = "llm_pretrained" if name == "llm" and base is not None else name
        settings[name]["steps"] = max(1, round(value * STEPS_PER_MINUTE[preset][speed]))
    for name, value in (steps or {}).items():
        _check_trained(name)
        settings[name]["steps"] = int(value)
    if "milestones" in settings["vq_train"] and ("vq_train" in (steps or {}) or "vq_train" in (minutes or {})):
        del settings["vq_train"]["milestones"]  # the stage puts the LR drop at 2/3 of the new budget
    for name, directory in (reuse or {}).items():
        if name not in REUSABLE:
            raise MotionGPTError(f"--reuse {name}: only {', '.join(REUSABLE)} can reuse a trained model")
        if name in (steps or {}) or name in (minutes or {}):
            raise MotionGPTError(f"--reuse {name}: a reused model is not trained; drop its --steps/--minutes")
        settings[name] = {"reuse": str(_reused_dir(name, directory))}
    for name in TRAINED_STEPS:
        if "reuse" not in settings[name] and settings[name]["steps"] < 1:
            raise MotionGPTError(f"{name}: {settings[name]['steps']} steps; expected at least 1")
    return settings


def _reused_dir(name: str, directory: str) -> Path:
    """The model dir that `--reuse name=directory` names; "bundled" is the package's own VQ-VAE or evaluator."""
    from motiongpt.eval.evaluators import evaluator_dir
    from motiongpt.generation.pipeline import model_parts

    if directory == "bundled":
        path = model_parts(None)["vq"] if name == "vq_train" else evaluator_dir(directory)
    else:
        path = Path(directory).resolve()
    if not (path / "config.json").is_file():
        raise MotionGPTError(f"--reuse {name}={directory}: no config.json there; expected a trained model dir")
    return path


def _check_trained(name: str) -> None:
    if name not in TRAINED_STEPS:
        raise MotionGPTError(f"{name}: not a training step; budgets apply to {', '.join(TRAINED_STEPS)}")


@dataclass
class RecipeRun:
    """One recipe in `out`: where each step writes, and the settings it runs with."""

    shared_data: Path
    out: Path
    preset: str
    settings: dict[str, dict]
    cache: Path
    jobs: list | None = None  # ClipJobs of a subset of clips (tests); None = every clip
    progress: bool = True
    state: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data, self.vq = self.out / "data", self.out / "vq"
        tuned = "balanced_finetune" in self.settings["vq_train"]
        self.vq_model = self.out / "vq-balanced" / "best" if tuned else self.vq / "best"
        self.instructions, self.llm, self.evaluator = self.out / "instructions", self.out / "llm", self.out / "evaluator"
        self.vq_model = Path(self.settings["vq_train"].get("reuse", self.vq_model))
        self.evaluator = Path(self.settings["evaluator"].get("reuse", self.evaluator))
        self.model, self.eval = self.out / "model", self.out / "eval"


# ----- the steps: each calls its stage and returns the figures worth logging

def _data(run: RecipeRun) -> dict:
    from motiongpt.data.bandai import build_bandai

    s = run.settings["data"]
    summary = build_bandai(run.shared_data, run.data, cache=run.cache, seed=s["seed"], workers=s["workers"],
                           overwrite=True, jobs=run.jobs)
    return {"clips": summary["clips"], "clips_kept": summary["clips_kept"], "motions": summary["motions"],
            "captions": summary["captions"],
            "split_motions": {k: v["motions"] for k, v in summary["splits"].items()}}


def _vq_train(run: RecipeRun) -> dict:
    from motiongpt.tokenizer.train import TrainConfig, train

    s = dict(run.settings["vq_train"])
    if "reuse" in s:
        return {"reused": s["reuse"]}
    preset, tune = s.pop("preset"), s.pop("balanced_finetune", None)
    figures = _vq_figures(train(TrainConfig.for_preset(run.data, run.vq, preset, quiet=not run.progress, **s)))
    if tune:
        tuned = TrainConfig.for_preset(run.data, run.vq_model.parent, preset, init=str(run.vq / "best"),
                                       seed=s.get("seed"), quiet=not run.progress, **tune)
        figures["balanced"] = _vq_figures(train(tuned))
    return figures


def _vq_figures(result) -> dict:
    best = result.best_val
    return {"steps": result.steps, "best_step": result.best_step, "val_recon_loss": best["recon_loss"],
            "val_mpjpe_mm": best["mpjpe_mm"], "val_codebook_usage": best["codebook_usage"]}


def _vq_eval(run: RecipeRun) -> dict:
    from motiongpt.tokenizer.reconstruction import reconstruction_metrics
    from motiongpt.tokenizer.model import VQVAE

    metrics = reconstruction_metrics(VQVAE.from_pretrained(run.vq_model), run.data, run.settings["vq_eval"]["split"])
    write_json(run.out / "vq_eval.json", {"model": str(run.vq_model), **metrics})
    keys = ("split", "motions", "mpjpe_mm", "mpjpe_root_aligned_mm", "feature_l1", "codes_used", "codebook_usage",
            "perplexity")
    return {k: metrics[k] for k in keys}


def _vq_encode(run: RecipeRun) -> dict:
    from motiongpt.tokenizer.encode import encode_dataset
    from motiongpt.tokenizer.model import VQVAE

    result = encode_dataset(VQVAE.from_pretrained(run.vq_model), run.data, progress=run.progress)
    return {"encoded": result["encoded"], "skipped_short": len(result["skipped_short"])}


def _instructions(run: RecipeRun) -> dict:
    from motiongpt.llm.instructions import (build_instructions, codebook_size_from_vq, instructions_info,
                                            save_instructions)

    seed = run.settings["instructions"]["seed"]
    codebook_size = codebook_size_from_vq(run.vq_model)
    balance = run.settings["instructions"].get("balance", 0.0)
    fresh = dict(fresh_captions=run.settings["instructions"].get("fresh_captions", False),
                 fresh_below=run.settings["instructions"].get("fresh_below"))
    splits = build_instructions(run.data, seed=seed, codebook_size=codebook_size, balance=balance, **fresh)
    if not splits["train"] or not splits["val"]:
        raise MotionGPTError(f"{run.data}: no train or no val motion has codes (train {len(splits['train'])}, "
                             f"val {len(splits['val'])} records)")
    info = instructions_info(splits, run.data, codebook_size, seed, one_caption=False, vq=run.vq_model,
                             balance=balance, **fresh)
    with atomic_directory(run.instructions, overwrite=True) as tmp:
        save_instructions(tmp, splits, info)
    return {"records": info["records"], "motions": info["motions"]}


def _llm(run: RecipeRun) -> dict:
    from motiongpt.llm.finetune import FinetuneConfig, finetune

    config = FinetuneConfig(instructions=str(run.instructions), out=str(run.llm), vq=str(run.vq_model),
                            quiet=not run.progress, **run.settings["llm"])
    result = finetune(config)
    speeds = [r["tokens_per_s"] for r in result.log() if "tokens_per_s" in r]
    return {"steps": result.steps, "val_loss": result.last_val["loss"], "val_acc": result.last_val["acc"],
            "tokens_per_s": sum(speeds) / len(speeds) if speeds else None}


def _evaluator(run: RecipeRun) -> dict:
    from motiongpt.eval.evaluator import TrainSettings, train

    if "reuse" in run.settings["evaluator"]:
        return {"reused": run.settings["evaluator"]["reuse"]}
    result = train(run.data, run.evaluator, TrainSettings(quiet=not run.progress, **run.settings["evaluator"]))
    return {"steps": result.steps, "val": result.last_val}


def _assemble(run: RecipeRun) -> dict:
    from motiongpt.generation.pipeline import assemble

    assemble(run.vq_model, run.llm, run.model, overwrite=True, half=True, captions_from=run.data,
             **run.settings["assemble"])
    return {"model": str(run.model)}


def _fidelity(run: RecipeRun) -> dict:
    import numpy as np

    from motiongpt.eval.evaluator import TextMotionEvaluator
    from motiongpt.eval.fidelity import write_caption_fidelity
    from motiongpt.generation.matcher import FIDELITY_MIN
    from motiongpt.generation.pipeline import MotionGPT

    from motiongpt.generation.pipeline import model_parts

    if run.settings["fidelity"].get("skip"):
        return {"skipped": run.settings["fidelity"]["skip"]}
    values, _ = write_caption_fidelity(MotionGPT.from_pretrained(run.model), TextMotionEvaluator.from_pretrained(
        run.evaluator), run.data, run.model, model_parts(run.model)["llm"], evaluator_name=str(run.evaluator),
        progress=run.progress, **run.settings["fidelity"])
    judged = values[~np.isnan(values)]
    return {"captions": len(values), "judged": len(judged), "mean": float(judged.mean()) if len(judged) else None,
            "below_min": int((judged < FIDELITY_MIN).sum())}


def _eval(run: RecipeRun) -> dict:
    from motiongpt.eval.evaluators import run_identity
    from motiongpt.eval.evaluator import TextMotionEvaluator, open_split
    from motiongpt.eval.protocol import EvalSettings, evaluate_generation
    from motiongpt.eval.report import markdown, write_report
    from motiongpt.generation.pipeline import MotionGPT
    from motiongpt.generation.settings import GenerationSettings
    from motiongpt.eval.tokenizer import evaluator_metrics
    from motiongpt.tokenizer.model import VQVAE

    s = dict(run.settings["eval"])
    split = s.pop("split")
    s["generation"] = GenerationSettings().updated(**{k: s.pop(k) for k in list(s) if k in GenerationSettings.__dataclass_fields__})
    evaluator = TextMotionEvaluator.from_pretrained(run.evaluator)
    dataset = open_split(run.data, split, evaluator.feature_dim)
    identity = run_identity(run.model, run.data, split, [run.evaluator])
    results = evaluate_generation(MotionGPT.from_pretrained(run.model), evaluator, dataset, run.eval,
                                  EvalSettings(**s), identity=identity, progress=run.progress)
    json_path, _ = write_report(run.eval, results)
    saved = read_json(json_path)  # NaN written as null
    vq = evaluator_metrics(VQVAE.from_pretrained(run.vq_model), evaluator, run.data, split)
    write_json(run.eval / "vq_evaluator_metrics.json", vq)
    return {"split": split, "motions": saved["motions"], "repeats": saved["repeats"],
            "rows": {row: {k: v["mean"] for k, v in metrics.items()} for row, metrics in saved["rows"].items()},
            "vq_fid": vq["fid"], "table": markdown(results)}


STEP_FUNCTIONS: dict[str, Callable[[RecipeRun], dict]] = {
    "data": _data, "vq_train": _vq_train, "vq_eval": _vq_eval, "vq_encode": _vq_encode,
    "instructions": _instructions, "llm": _llm, "evaluator": _evaluator, "assemble": _assemble,
    "fidelity": _fidelity, "eval": _eval,
}


# ----- running, resuming, reporting

def _load_state(out: Path, preset: str, shared_data: Path) -> dict:
    path = out / STATE_NAME
    if not path.is_file():
        return {"preset": preset, "shared_data": str(shared_data), "steps": {}}
    state = read_json(path)
    if state.get("preset") != preset:
        raise MotionGPTError(f"{path}: this recipe was started with preset {state.get('preset')!r}, not {preset!r}; "
                             "rerun with the same preset or choose a new --out")
    return state


def run_recipe(shared_data: str | Path, out: str | Path, preset: str = "cpu", until: str | None = None,
               steps: dict[str, int] | None = None, minutes: dict[str, float] | None = None,
               cache: str | Path | None = None, jobs: list | None = None, progress: bool = True,
               echo: Callable[[str], None] = print, base: str | None = None,
               reuse: dict[str, str] | None = None) -> dict:
    """Run the recipe's steps in order up to `until` (default: all), skipping those finished earlier.

    Returns the state (also in `out/recipe_state.json`): per finished step its settings, figures and seconds.
    `jobs` builds the data from those clips only (see `motiongpt.data.bandai.dataset_jobs`).
    """
    from motiongpt.data.bandai import DEFAULT_CACHE

    if until is not None and until not in STEPS:
        raise MotionGPTError(f"--until {until!r}: expected one of {', '.join(STEPS)}")
    out, shared_data = Path(out), Path(shared_data)
    settings = recipe_settings(preset, steps, minutes, base, reuse)
    run = RecipeRun(shared_data, out, preset, settings, Path(cache) if cache else DEFAULT_CACHE, jobs, progress)
    out.mkdir(parents=True, exist_ok=True)
    run.state = _load_state(out, preset, shared_data)
    last = STEPS.index(until) if until else len(STEPS) - 1
    for number, name in enumerate(STEPS[:last + 1], 1):
        done = run.state["steps"].get(name)
        if done is not None:
            if done["settings"] != settings[name]:
                echo(f"[{number}/{len(STEPS)}] {name}: finished earlier with {done['settings']}; kept (use a new "
                     "--out to redo it with other settings)")
            else:
                echo(f"[{number}/{len(STEPS)}] {name}: finished earlier, skipped")
            continue
        echo(f"[{number}/{len(STEPS)}] {name} ...")
        began = time.time()
        figures = STEP_FUNCTIONS[name](run)
        record = {"settings": settings[name], "figures": figures, "seconds": round(time.time() - began, 1)}
        run.state["steps"][name] = record
        write_json(out / STATE_NAME, run.state)
        log_path = out / LOG_NAME
        previous = log_path.read_text() if log_path.is_file() else ""
        write_text(log_path, previous + json.dumps({"step": name, **record}) + "\n")
        echo(f"[{number}/{len(STEPS)}] {name}: {SUMMARY_LINES[name](figures)} ({record['seconds']:.0f} s)")
    text = summary(run.state)
    write_text(out / SUMMARY_NAME, text)
    echo(text)
    return run.state


def _fmt(value: object, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _evaluator_line(f: dict) -> str:
    if "reused" in f:
        return f"reused {f['reused']}"
    val = f["val"] or {}
    figures = ", ".join(f"{k} {_fmt(val[k])}" for k in ("top1", "top2", "top3", "mm_dist") if k in val)
    return f"{f['steps']} steps; val {figures or 'R-precision n/a (fewer than 32 val motions)'}"


def _vq_line(f: dict) -> str:
    return (f"{f['steps']} steps; best val at step {f['best_step']}: MPJPE {f['val_mpjpe_mm']:.1f} mm, "
            f"codebook usage {f['val_codebook_usage']:.2f}")


# One readable line per finished step (the eval step adds its tables below).
SUMMARY_LINES: dict[str, Callable[[dict], str]] = {
    "data": lambda f: f"{f['clips_kept']}/{f['clips']} clips kept, {f['motions']} motions, {f['captions']} "
                      f"captions; motions per split {f['split_motions']}",
    "vq_train": lambda f: f"reused {f['reused']}" if "reused" in f else _vq_line(f) + (
        f"; balanced finetune {_vq_line(f['balanced'])}" if "balanced" in f else ""),
    "vq_eval": lambda f: f"{f['split']}: MPJPE {f['mpjpe_mm']:.1f} mm (root-aligned {f['mpjpe_root_aligned_mm']:.1f} "
                         f"mm), codebook usage {f['codebook_usage']:.2f}, perplexity {f['perplexity']:.0f}, "
                         f"{f['motions']} motions",
    "vq_encode": lambda f: f"{f['encoded']} motions encoded, {f['skipped_short']} too short",
    "instructions": lambda f: f"{f['records']['train']} train / {f['records']['val']} val records",
    "llm": lambda f: f"{f['steps']} steps; val loss {_fmt(f['val_loss'])}, val accuracy {_fmt(f['val_acc'])}, "
                     f"{_fmt(f['tokens_per_s'], 0)} tokens/s",
    "evaluator": _evaluator_line,
    "assemble": lambda f: f["model"],
    "fidelity": lambda f: f"skipped: {f['skipped']}" if "skipped" in f else (
        f"{f['judged']}/{f['captions']} captions judged, mean fidelity {_fmt(f['mean'])}, {f['below_min']} below the "
        "matcher's minimum"),
    "eval": lambda f: f"{f['split']} split, {f['motions']} motions, {f['repeats']} repeat(s); VQ reconstruction FID "
                      f"{_fmt(f['vq_fid'])}",
}


def summary(state: dict) -> str:
    """The figures of the finished steps as readable lines, with the eval tables at the end."""
    steps = state["steps"]
    lines = [f"motiongpt recipe ({state['preset']} preset): {len(steps)}/{len(STEPS)} steps finished, "
             f"{sum(s['seconds'] for s in steps.values()) / 60:.1f} min of work"]
    lines += [f"  {name:<13}{SUMMARY_LINES[name](steps[name]['figures'])}" for name in STEPS if name in steps]
    if "eval" in steps:
        lines += ["", steps["eval"]["figures"]["table"]]
    return "\n".join(lines) + "\n"
