"""Text (and pose controls) -> motion: the finetuned LLM writes VQ codes, the VQ-VAE decodes them to features,
and the features become joint positions.

A model dir holds everything needed, or points at it:

    pipeline.json   {"model_type": "motiongpt", "vq": "vq", "llm": "llm", "format", "codebook_size"}; "vq",
                    "llm" and "captions" are paths relative to the dir and may lie in another model's dir (the
                    shipped models share one VQ-VAE and caption list): `model_parts` resolves them
    vq/             a VQ-VAE model dir (VQVAE.save_pretrained: config.json, model.safetensors, Mean.npy, Std.npy)
    llm/            a finetuned LLM dir (motiongpt finetune's output: adapter or full weights, tokenizer,
                    motiongpt.json; a LoRA base lies in llm/base/)
    captions/       optional: the training captions for matching free-form descriptions (see matcher.py)
    caption_fidelity.json  optional: how faithfully this model's LLM renders each of those captions (matcher.py)

Make one with `assemble(vq_dir, llm_dir, out)` (`motiongpt assemble`) or `MotionGPT.save_pretrained(out)`.
Sampling settings and their defaults (the original's) are `GenerationSettings` (settings.py).
"""

from __future__ import annotations

import secrets
import shutil
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from motiongpt.errors import MotionGPTError
from motiongpt.generation.constraints import AnswerVocab, CodeConstraint, Controls
from motiongpt.generation.controls import Pose, build_controls
from motiongpt.generation.decoding import sample, sampling_warpers
from motiongpt.generation.matcher import (FIDELITY_NAME, MATCHER_DIR, CaptionMatcher, Match, fidelity_record,
                                          llm_weights_hash, with_fidelity_file)
from motiongpt.generation.models import NAMED_MODELS, model_dir
from motiongpt.generation.settings import MAX_CODES_LIMIT, GenerationSettings
from motiongpt.io import atomic_directory, check_device, dir_hash, read_json, small_model_threads, write_json
from motiongpt.limits import (MAX_DESCRIPTION_CHARS, MAX_ROWS_PER_CALL, MAX_SEED, NO_GUIDANCE, check_guidance,
                              check_int, check_number, check_seed)
from motiongpt.llm.finetuned import META_NAME, encode_prompt, load_finetuned
from motiongpt.llm.formats import build_prompt, check_format, parse_codes
from motiongpt.llm.lit_llama import write_llm_dir
from motiongpt.llm.lite import LiteLlama, lite_from_hf, load_lite
from motiongpt.llm.prompts import MOTION_OPEN
from motiongpt.llm.tasks import Task
from motiongpt.motion.actions import ActionVerdict, judge_action, parse_action
from motiongpt.motion.features import features_to_joints, joints_to_features, mirror_joints
from motiongpt.motion.fit import fit_skeletons
from motiongpt.motion.rig import RigMotion
from motiongpt.motion.sides import SideQuery, Verdict, judge_side, parse_side
from motiongpt.motion.skeleton import T2M, spec_for_dim
from motiongpt.sentences import encoder_installed, sentence_model
from motiongpt.tokenizer.model import VQVAE

PIPELINE_NAME = "pipeline.json"
VQ_DIR = "vq"
LLM_DIR = "llm"
MATCHER_KEY = "captions"  # pipeline.json may point at another model's caption list
GUIDANCE_KEY = "guidance"  # in the LLM's motiongpt.json: the classifier-free guidance it is sampled with by default
FALLBACK_CODE = 1  # the original's evaluation decodes a row of code 1 when nothing parses
CHECK_SEED_STRIDE = 0x9E3779B9  # seeds of a joint check's new samples: far from the seeds of neighbouring rows


@dataclass
class GeneratedMotion:
    caption: str
    prompt: str
    answer: str  # what the LLM wrote after `### Response:`
    codes: list[int]
    features: np.ndarray  # (frames_per_code * len(codes), D), raw (un-normalised)
    joints: np.ndarray  # (frames_per_code * len(codes), J, 3), metres, Y up, at `fps`: `rig`'s when it is set
    seed: int
    controls: Controls
    fallback: bool  # nothing parsed (unconstrained only): the original's row of code 1
    fps: float
    settings: GenerationSettings
    fmt: str  # the model's answer format
    matched: Match | None = None  # the training caption the LLM was given instead of `caption` (see matcher.py)
    side: Verdict | None = None  # the side the caption names and the side the joints use (motion.sides)
    action: ActionVerdict | None = None  # the action the caption names and how much of it the joints show
    retries: int = 0  # samples drawn again because the joints failed the side or action check
    mirrored: bool = False  # no sample clearly used the asked side: one that used the other, mirrored
    rig: RigMotion | None = None  # the rigid skeleton fitted to the decoded joints (settings.rigid_bones)

    @property
    def satisfies_controls(self) -> bool:
        return not self.fallback and self.controls.satisfied_by(self.codes)

    def record(self) -> dict:
        """What `tokens.json` holds: enough to reproduce the sample (seed, prompt, settings)."""
        return {"caption": self.caption, "codes": self.codes, "prompt": self.prompt, "answer": self.answer,
                "seed": self.seed, "format": self.fmt, "controls": asdict(self.controls), "task": self.controls.task.value,
                "settings": asdict(self.settings), "fallback": self.fallback,
                "satisfies_controls": self.satisfies_controls, "frames": len(self.joints), "fps": self.fps,
                "matched_caption": self.matched.caption if self.matched else None,
                "match_similarity": self.matched.similarity if self.matched else None,
                "match_method": self.matched.method if self.matched else None,
                "side": None if self.side is None else {"asked": self.side.expected, "used": self.side.observed,
                                                        "retries": self.retries, "mirrored": self.mirrored},
                "action": None if self.action is None else {"asked": self.action.action, "needs": self.action.needs,
                                                            "measured": round(self.action.measured, 3),
                                                            "met": self.action.correct, "retries": self.retries},
                "check_note": self.check_note}

    @property
    def check_note(self) -> str | None:
        """What the side or action check did, in words, when it drew more samples (None when it did not)."""
        if not self.retries:
            return None
        note = f"sampled {self.retries} more time(s): the first "
        if self.side is not None:
            return note + (f"did not clearly use the {self.side.expected} side asked for" +
                           ("; none did, so one that used the other side is mirrored" if self.mirrored else ""))
        return note + (f"fell short of the {self.action.action} asked for ({self.action.needs})" +
                       ("" if self.action.correct else f"; none reached it, so the closest "
                                                       f"({self.action.measured:.2f}) is kept"))


def _check_caption(text: object) -> str:
    """A description as the LLM may see it: non-empty UTF-8 text of at most MAX_DESCRIPTION_CHARS characters."""
    if not isinstance(text, str) or not text.strip():
        raise MotionGPTError(f"description {text!r}: expected a non-empty text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:  # lone surrogates: bytes that were not UTF-8 on the command line
        raise MotionGPTError(f"description {text[:40]!r}: not valid UTF-8 (undecodable byte at character "
                             f"{err.start})") from None
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise MotionGPTError(f"description of {len(text)} characters: at most {MAX_DESCRIPTION_CHARS} are "
                             "allowed (describe one motion in a sentence or two)")
    if MOTION_OPEN in text:
        raise MotionGPTError(f"description {text!r}: holds {MOTION_OPEN}; give control codes as init/last/key "
                             "tokens (or, in the CLI, --prompt with --input as the original)")
    return text.strip()


def check_request(texts: str | Sequence[str], num_samples: int, batch_size: int, seed: int | None) -> list[str]:
    """The checked descriptions of a generate call, refused before any model work when any argument is bad."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise MotionGPTError("no description given")
    captions = [_check_caption(t) for t in texts]
    check_int(num_samples, "number of samples", 1, MAX_ROWS_PER_CALL)
    if len(captions) * num_samples > MAX_ROWS_PER_CALL:
        raise MotionGPTError(f"{len(captions)} descriptions x {num_samples} samples: at most {MAX_ROWS_PER_CALL} "
                             "motions per call")
    check_int(batch_size, "batch size", 1, MAX_ROWS_PER_CALL)
    if seed is not None:
        check_seed(seed)
    return captions


class MotionGPT:
    """VQ-VAE + finetuned LLM; `generate` turns descriptions (and controls) into motions."""

    def __init__(self, vq: VQVAE, llm: torch.nn.Module, tokenizer, fmt: str, matcher: CaptionMatcher | None = None,
                 answer_follows_prompt: bool = False, template: str = "alpaca", guidance: float = NO_GUIDANCE):
        self.vq, self.llm, self.tokenizer, self.fmt = vq, llm.eval(), tokenizer, check_format(fmt)
        self.template = template  # the prompt template the LLM was finetuned with
        self.guidance = guidance  # the classifier-free guidance its sampling takes when the settings give none
        self.matcher = matcher
        self.answer_follows_prompt = answer_follows_prompt
        if not vq.has_statistics:
            raise MotionGPTError("the VQ-VAE has no Mean/Std; it cannot decode codes into motion")
        self.codebook_size = vq.config.codebook_size
        self.spec = spec_for_dim(vq.config.input_dim)
        self.answer_vocab = AnswerVocab.from_tokenizer(tokenizer, self.fmt, self.codebook_size, answer_follows_prompt)
        self.stats = {"rows": 0, "forward_passes": 0, "generated_tokens": 0}

    # ---------------------------------------------------------------- persistence
    @classmethod
    def from_pretrained(cls, directory: str | Path | None = None, device: str | torch.device = "cpu",
                        dtype: torch.dtype | None = None, load_in_4bit: bool = False,
                        quantize: str | None = None) -> "MotionGPT":
        """Load a model dir (see the module docstring), or a shipped model by name; None: the default one.

        `load_in_4bit` loads the LLM's linear layers in 4-bit NF4 on a CUDA `device` (bitsandbytes);
        `quantize="int8"` makes the layers' linear maps dynamic int8 on the CPU.
        """
        if quantize not in (None, "int8"):
            raise MotionGPTError(f"quantize {quantize!r}: expected int8 or nothing")
        directory = model_dir(directory)
        if directory in NAMED_MODELS.values() and not directory.is_dir():
            raise MotionGPTError(f"no model {directory.name!r} in this package ({directory} does not exist); pass "
                                 "--model DIR, a dir made by `motiongpt assemble`")
        if not (directory / PIPELINE_NAME).is_file():
            raise MotionGPTError(f"{directory}: not a MotionGPT model dir (expected {PIPELINE_NAME}, {VQ_DIR}/ and "
                                 f"{LLM_DIR}/; make one with `motiongpt assemble`)")
        device = check_device(device)
        parts = model_parts(directory)
        vq = VQVAE.from_pretrained(parts["vq"], map_location=str(device))
        llm_dir = parts["llm"]
        # plain torch when it can (transformers takes seconds to import); 4-bit loading needs transformers
        loaded = None if load_in_4bit else load_lite(llm_dir, device, dtype)
        llm, tokenizer, meta = loaded or load_finetuned(llm_dir, device=device, dtype=dtype, merge=True,
                                                        load_in_4bit=load_in_4bit)
        if loaded is None and not load_in_4bit:
            llm = lite_from_hf(llm) or llm  # a merged pretrained LLaMA decodes with row-restricted logits
        if quantize == "int8":
            if not isinstance(llm, LiteLlama) or device.type != "cpu":
                raise MotionGPTError("int8 weights need a LLaMA-architecture LLM on the CPU")
            llm.quantize_int8()
        if int(meta.get("codebook_size", vq.config.codebook_size)) != vq.config.codebook_size:
            raise MotionGPTError(f"{directory}: the LLM writes {meta['codebook_size']} codes but the VQ-VAE has "
                                 f"{vq.config.codebook_size}")
        matcher = None
        if parts[MATCHER_KEY].is_dir():
            matcher = CaptionMatcher.from_pretrained(parts[MATCHER_KEY])
            if (directory / FIDELITY_NAME).is_file():
                try:
                    matcher = with_fidelity_file(matcher, directory / FIDELITY_NAME, llm_weights_hash(llm_dir))
                except MotionGPTError as err:  # optional: the model still works without it
                    warnings.warn(f"{err}; generating without it", stacklevel=2)
            if encoder_installed():
                sentence_model()  # loaded now, not inside the first generation
        return cls(vq, llm, tokenizer, meta.get("format", "text"), matcher,
                   bool(meta.get("answer_follows_prompt", False)), meta.get("prompt", "alpaca"),
                   llm_guidance(meta, llm_dir))

    def save_pretrained(self, directory: str | Path, overwrite: bool = False) -> None:
        """Write a self-contained model dir with the LLM as full weights (adapters already merged), its caption
        fidelity (and how it was measured) re-tied to them."""
        with atomic_directory(directory, overwrite=overwrite) as tmp:
            self.vq.save_pretrained(tmp / VQ_DIR)
            self.llm.save_pretrained(str(tmp / LLM_DIR))
            self.tokenizer.save_pretrained(str(tmp / LLM_DIR))
            write_json(tmp / LLM_DIR / META_NAME, {"kind": "full", "base": ".", "format": self.fmt,
                                                   "codebook_size": self.codebook_size, "tokenizer": ".",
                                                   "answer_follows_prompt": self.answer_follows_prompt,
                                                   "prompt": self.template, GUIDANCE_KEY: self.guidance})
            if self.matcher is not None:
                self.matcher.save_pretrained(tmp / MATCHER_DIR)
                if self.matcher.fidelity is not None:  # measured with this LLM's numbers: tied to its saved weights
                    write_json(tmp / FIDELITY_NAME, fidelity_record(self.matcher, self.matcher.fidelity,
                                                                     llm_weights_hash(tmp / LLM_DIR),
                                                                     **self.matcher.fidelity_notes))
            _write_pipeline_config(tmp, self.fmt, self.codebook_size)

    # ---------------------------------------------------------------- building blocks
    def prompt(self, caption: str, controls: Controls = Controls()) -> str:
        """The original's prompt for a description and its controls, in this model's answer format."""
        return build_prompt(controls.instruction, _check_caption(caption), controls.prompt_codes(), self.fmt,
                            self.template)

    def unconditional_prompt(self, controls: Controls = Controls()) -> str:
        """The prompt without a description (controls kept): what classifier-free guidance compares with; a model
        finetuned with caption dropout was trained on such prompts (`llm.instructions.drop_captions`)."""
        return build_prompt(controls.instruction, "", controls.prompt_codes(), self.fmt, self.template)

    def controls(self, *, init_token=None, last_token=None, key_tokens=None, init_pose: Pose | None = None,
                 last_pose: Pose | None = None, key_poses: Sequence[Pose] | Pose | None = None,
                 max_codes: int | None = None) -> Controls:
        """Checked controls; poses are encoded into codes with the VQ encoder."""
        return build_controls(self.codebook_size, init_token=init_token, last_token=last_token,
                              key_tokens=key_tokens, init_pose=init_pose, last_pose=last_pose, key_poses=key_poses,
                              vq=self.vq, max_codes=max_codes)

    def decode(self, codes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(raw features (kn, D), joints (kn, J, 3)) of a code list, k = the VQ-VAE's frames per code."""
        features = self.vq.decode_codes(np.asarray(codes, dtype=np.int64))
        return features, np.asarray(features_to_joints(features, self.spec), dtype=np.float32)

    # ---------------------------------------------------------------- generation
    def generate(self, texts: str | Sequence[str], *, init_token: int | None = None, last_token: int | None = None,
                 key_tokens: Sequence[int] | None = None, init_pose: Pose | None = None,
                 last_pose: Pose | None = None, key_poses: Sequence[Pose] | Pose | None = None,
                 num_samples: int = 1, seed: int | None = None, settings: GenerationSettings | None = None,
                 batch_size: int = 32, match_captions: bool = True, seconds: float | None = None,
                 **changes) -> list[GeneratedMotion]:
        """`num_samples` motions per text, in order (text 0's samples first).

        A length, `frames=N` or `seconds=S` (S x fps frames), makes every answer exactly the codes that length needs
        (through the constrained decoder), and the motion exactly N frames (the last code's extra frames are cut).

        Sample j of the call (counting over texts, then samples) uses seed `seed + j`, so any sample can be
        reproduced alone with that seed; a batch and single runs give the same codes. `constrained=False` samples
        freely and parses as the original's evaluation (digits, cut at the first out-of-codebook code, a row of
        code 1 when nothing is left). With `match_captions` (and a model with a caption list), each text reaches
        the LLM as its nearest training caption (`GeneratedMotion.matched`). The joints are those of a rigid
        skeleton fitted to the decoded ones (`rigid_bones=False`: the decoder's), and a description naming a side
        or an action with a plain physical signature (bow, sprint, walk backwards: motion.actions) is sampled again
        while its joints do not clearly show it (`check_retries`). `settings` (default:
        `GenerationSettings()`) may be changed field by field with keywords: `generate(text, temperature=1.0)`.
        """
        captions = check_request(texts, num_samples, batch_size, seed)
        with small_model_threads(self.llm):  # a small model runs faster on one thread
            settings = (settings or GenerationSettings()).updated(**changes)
            if seconds is not None:
                if settings.frames is not None:
                    raise MotionGPTError("give the length in frames or in seconds, not both")
                limit = MAX_CODES_LIMIT * self.vq.config.frames_per_code / self.spec.fps
                frames = round(check_number(seconds, "length in seconds", 0.0, limit) * self.spec.fps)
                if frames < 1:
                    raise MotionGPTError(f"length of {seconds} s: shorter than one frame at {self.spec.fps:g} fps")
                settings = settings.updated(frames=frames)
            settings = self.sized(settings)
            controls = self.controls(init_token=init_token, last_token=last_token, key_tokens=key_tokens,
                                     init_pose=init_pose, last_pose=last_pose, key_poses=key_poses,
                                     max_codes=settings.max_codes)
            base_seed = secrets.randbelow(MAX_SEED + 1) if seed is None else int(seed)
            matching = self.matcher is not None and match_captions
            matches = self.matcher.match(captions) if matching else [None] * len(captions)
            self.check_room([m.caption if m else c for c, m in zip(captions, matches)], controls, settings)
            rows = [(caption, match) for caption, match in zip(captions, matches) for _ in range(int(num_samples))]
            results = []
            for start in range(0, len(rows), batch_size):
                chunk = rows[start:start + batch_size]
                seeds = [base_seed + start + i for i in range(len(chunk))]
                given = [match.caption if match else caption for caption, match in chunk]
                motions = self.rigid_rows(given, [controls] * len(chunk), seeds, settings)
                for result, (caption, match) in zip(motions, chunk):
                    if match is not None and match.caption != caption:
                        result.caption, result.matched = caption, match
                results.extend(self.checked(motions, settings))
            return results

    def checked(self, motions: list[GeneratedMotion], settings: GenerationSettings) -> list[GeneratedMotion]:
        """`motions`, each replaced where its joints fail its caption's check by new samples of the same prompt
        (seed + k x CHECK_SEED_STRIDE, k = 1..check_retries) until one passes. The check: the side the caption names
        (`side_choice`), else the action it names (`action_choice`). The k-th new samples of all such rows are drawn
        in one batch; each row's seeds are its own, so a batch and single calls still agree."""
        checks = [joint_check(m.caption) if self.spec == T2M and len(m.joints) >= 2 else None for m in motions]
        tried = {i: [(m, judge_check(m.joints, check))] for i, (m, check) in enumerate(zip(motions, checks))
                 if check is not None}
        for k in range(1, settings.check_retries + 1):
            rows = [i for i, samples in tried.items() if not samples[-1][1].correct]
            if not rows:
                break
            given = [motions[i].matched.caption if motions[i].matched else motions[i].caption for i in rows]
            seeds = [(motions[i].seed + k * CHECK_SEED_STRIDE) % (MAX_SEED + 1) for i in rows]
            again = self.rigid_rows(given, [motions[i].controls for i in rows], seeds, settings)
            for i, redrawn in zip(rows, again):
                # the asked seed stays the result's: with the same settings it gives this sample again
                asked = motions[i]
                redrawn.caption, redrawn.matched, redrawn.seed = asked.caption, asked.matched, asked.seed
                tried[i].append((redrawn, judge_check(redrawn.joints, checks[i])))
        chosen = {i: self.side_choice(samples, checks[i], settings) if isinstance(checks[i], SideQuery)
                  else action_choice(samples) for i, samples in tried.items()}
        return [chosen.get(i, m) for i, m in enumerate(motions)]

    def side_choice(self, tried: list[tuple[GeneratedMotion, Verdict]], query: SideQuery,
                    settings: GenerationSettings) -> GeneratedMotion:
        """Of one row's samples, the last if it clearly used the side asked. Failing that: for a text prompt, the
        mirror of the first sample that clearly used the other side, unless re-encoding blurred it and an
        undecided sample exists; else the first undecided sample, else the first."""
        motion = tried[0][0]
        chosen, verdict = tried[-1]
        if not verdict.correct:
            opposite = [m for m, v in tried if v.observed is not None]
            mirror = None
            if opposite and settings.check_retries and motion.controls.task == Task.TEXT:
                (mirror,) = self.rigid([self.mirrored(opposite[0])], settings)
                mirror = (mirror, judge_side(mirror.joints, query))
            undecided = [(m, v) for m, v in tried if v.observed is None]
            if mirror is not None and (mirror[1].correct or not undecided):
                chosen, verdict = mirror  # never a sample that clearly used the other side when a mirror exists
            else:
                chosen, verdict = (undecided or tried)[0]
        chosen.side, chosen.retries = verdict, len(tried) - 1
        return chosen

    def rigid(self, motions: list[GeneratedMotion], settings: GenerationSettings) -> list[GeneratedMotion]:
        """`motions` with the joints of the rigid skeleton fitted to their decoded joints (kept in `rig`), so that
        the joints, the GIF and every rig file (BVH, FBX, glTF) show one body whose bones keep their length."""
        if not settings.rigid_bones or self.spec != T2M:
            return motions
        rigs = fit_skeletons([m.joints for m in motions], fps=self.spec.fps)
        return [replace(m, joints=rig.positions().astype(np.float32), rig=rig) for m, rig in zip(motions, rigs)]

    def mirrored(self, motion: GeneratedMotion) -> GeneratedMotion:
        """The left-right mirror image of a motion, as codes of this VQ-VAE (the data's mirrored clips are made the
        same way: mirrored joints, their features): the side check's last resort, for a description none of whose
        samples clearly used the side asked and one the other. The codes decode to the returned motion (its decoder
        joints: `rig` is reset); `answer` stays the LLM's."""
        features = np.asarray(joints_to_features(mirror_joints(motion.joints, self.spec), self.spec))
        frames, unit = len(motion.joints), self.vq.config.frames_per_code
        # the features of T frames of joints are T - 1 long; the last frame fills up to whole codes
        features = np.concatenate([features, np.repeat(features[-1:], -(-frames // unit) * unit - len(features), 0)])
        codes = [int(c) for c in self.vq.encode_motion(features.astype(np.float32))]
        features, joints = self.decode(codes)
        return replace(motion, codes=codes, features=features[:frames], joints=joints[:frames], mirrored=True,
                       rig=None)

    def sized(self, settings: GenerationSettings) -> GenerationSettings:
        """The settings as this model runs them: max codes set to the codes their length needs when they ask for a
        length, and the model's own guidance when they give none."""
        if settings.guidance is None:
            settings = settings.updated(guidance=self.guidance)
        codes = settings.exact_codes(self.vq.config.frames_per_code)
        return settings if codes is None else settings.updated(max_codes=codes)

    def check_room(self, captions: Sequence[str], controls: Controls, settings: GenerationSettings) -> None:
        """Refuse, before any sampling, a prompt plus answer longer than the LLM's positions."""
        room = getattr(self.llm.config, "max_position_embeddings", None)
        if not room:
            return
        answer = self.answer_vocab.max_new_tokens(settings.max_codes)
        for caption in captions:
            used = len(encode_prompt(self.tokenizer, self.prompt(caption, controls)))
            if used + answer > room:
                raise MotionGPTError(f"description {caption[:40]!r}...: its prompt takes {used} tokens and "
                                     f"{settings.max_codes} codes take {answer}, more than the model's {room} "
                                     "positions (shorten the description or lower max codes)")

    def generate_rows(self, captions: Sequence[str], controls: Sequence[Controls], seeds: Sequence[int],
                      settings: GenerationSettings) -> list[GeneratedMotion]:
        """One batch, one motion per row, each row with its own controls and seed (the evaluation's entry point)."""
        settings = self.sized(settings)
        prompts = [self.prompt(caption, ctl) for caption, ctl in zip(captions, controls)]
        with small_model_threads(self.llm):
            answers = self._sample(prompts, list(controls), list(seeds), settings)
            return [self._result(c, p, a, s, ctl, settings)
                    for c, p, a, s, ctl in zip(captions, prompts, answers, seeds, controls)]

    def rigid_rows(self, captions: Sequence[str], controls: Sequence[Controls], seeds: Sequence[int],
                   settings: GenerationSettings) -> list[GeneratedMotion]:
        """`rigid(generate_rows(...))`, faster: the LLM decodes on one core, so each row is made into a motion and
        fitted on a second thread as soon as the LLM has written it; the rows not started when the LLM is done are
        fitted together on every core (32 rows of the default model: the LLM writes them in 1.6-1.9 s while 19-20 are
        fitted, the last 12-13 take 0.4 s more). The same motions."""
        if not settings.rigid_bones or self.spec != T2M:
            return self.generate_rows(captions, controls, seeds, settings)
        settings = self.sized(settings)
        prompts = [self.prompt(caption, ctl) for caption, ctl in zip(captions, controls)]

        def motion(row: int, answer: str) -> GeneratedMotion:
            return self._result(captions[row], prompts[row], answer, seeds[row], controls[row], settings)

        with small_model_threads(self.llm), ThreadPoolExecutor(1) as pool:
            early: dict[int, Future] = {}

            def finished(row: int, answer: str) -> None:
                early[row] = pool.submit(lambda: self.rigid([motion(row, answer)], settings)[0])

            answers = self._sample(prompts, list(controls), list(seeds), settings, finished)
            late = [row for row in range(len(prompts)) if row not in early or early[row].cancel()]
            fitted = dict(zip(late, self.rigid([motion(row, answers[row]) for row in late], settings)))
            return [fitted[row] if row in fitted else early[row].result() for row in range(len(prompts))]

    def _sample(self, prompts: list[str], controls: list[Controls], seeds: list[int],
                settings: GenerationSettings,
                finished: Callable[[int, str], object] | None = None) -> list[str]:
        vocab = self.answer_vocab
        processors = sampling_warpers(settings.temperature, settings.top_k, settings.top_p)
        if settings.constrained:
            processors.insert(0, CodeConstraint(vocab, controls, settings.max_codes, exact=settings.frames is not None))
        unconditional = None
        if settings.guidance != NO_GUIDANCE:
            unconditional = [encode_prompt(self.tokenizer, self.unconditional_prompt(c)) for c in controls]
        decoded = sample(self.llm, [encode_prompt(self.tokenizer, p) for p in prompts], seeds,
                         processors=processors, stop_ids=vocab.stop_ids, pad_id=self.tokenizer.pad_token_id,
                         max_new_tokens=vocab.max_new_tokens(settings.max_codes), use_cache=settings.use_cache,
                         rows=vocab.token_ids if settings.constrained else None, unconditional=unconditional,
                         guidance=settings.guidance,
                         finished=None if finished is None else
                         lambda row, tokens: finished(row, self.tokenizer.decode(tokens, skip_special_tokens=True)))
        self.stats["rows"] += len(prompts)
        self.stats["forward_passes"] += decoded.forward_passes
        self.stats["generated_tokens"] += sum(len(t) for t in decoded.tokens)
        return [self.tokenizer.decode(t, skip_special_tokens=True) for t in decoded.tokens]

    def _result(self, caption: str, prompt: str, answer: str, seed: int, controls: Controls,
                settings: GenerationSettings) -> GeneratedMotion:
        codes = parse_codes(answer, self.fmt, self.codebook_size)[: settings.max_codes]
        fallback = not codes
        exact = settings.frames is not None and len(codes) != settings.max_codes
        if settings.constrained and (fallback or exact or not controls.satisfied_by(codes)):
            raise RuntimeError(f"constrained decoding wrote an invalid answer {answer!r} for {controls}")
        if fallback:
            codes = [min(FALLBACK_CODE, self.codebook_size - 1)] * settings.max_codes
        features, joints = self.decode(codes)
        if settings.frames is not None:
            features, joints = features[:settings.frames], joints[:settings.frames]
        return GeneratedMotion(caption, prompt, answer, codes, features, joints, seed, controls, fallback,
                               self.spec.fps, settings, self.fmt)


def joint_check(caption: str) -> SideQuery | str | None:
    """What a caption's joints must show: the side it names (motion.sides), else the action it names (a key of
    motion.actions.FLOORS), else nothing."""
    side = parse_side(caption)
    return side if side is not None else parse_action(caption)


def judge_check(joints: np.ndarray, check: SideQuery | str) -> Verdict | ActionVerdict:
    """The joints judged by a caption's check (`joint_check`)."""
    return judge_side(joints, check) if isinstance(check, SideQuery) else judge_action(joints, check)


def action_choice(tried: list[tuple[GeneratedMotion, ActionVerdict]]) -> GeneratedMotion:
    """Of one row's samples, the last if it showed enough of the action asked; else the one that showed most."""
    chosen, verdict = tried[-1] if tried[-1][1].correct else max(tried, key=lambda pair: pair[1].measured)
    chosen.action, chosen.retries = verdict, len(tried) - 1
    return chosen


def llm_guidance(meta: dict, llm_dir: Path) -> float:
    """The classifier-free guidance a finetuned LLM dir's metadata records (`assemble --guidance`), checked; 1 (off)
    when it records none."""
    return check_guidance(meta.get(GUIDANCE_KEY, NO_GUIDANCE), f"{llm_dir / META_NAME}: guidance")


def model_parts(model: str | Path | None) -> dict[str, Path]:
    """Where a model's VQ-VAE ("vq"), LLM ("llm") and caption list ("captions") lie: its pipeline.json may point
    into another dir (the shipped models share one VQ-VAE and caption list). `model` as `model_dir` takes it."""
    directory = model_dir(model)
    config = read_json(directory / PIPELINE_NAME) if (directory / PIPELINE_NAME).is_file() else {}
    defaults = {"vq": VQ_DIR, "llm": LLM_DIR, MATCHER_KEY: MATCHER_DIR}
    return {part: (directory / config.get(part, default)).resolve() for part, default in defaults.items()}


def _write_pipeline_config(directory: Path, fmt: str, codebook_size: int) -> None:
    write_json(directory / PIPELINE_NAME, {"model_type": "motiongpt", "vq": VQ_DIR, "llm": LLM_DIR, "format": fmt,
                                           "codebook_size": codebook_size})


def assemble(vq_dir: str | Path, llm_dir: str | Path | None, out: str | Path, overwrite: bool = False,
             half: bool = False, captions_from: str | Path | None = None, base: str | Path | None = None,
             adapter: str | Path | None = None, stats: str | Path | None = None,
             guidance: float | None = None) -> Path:
    """Copy a VQ-VAE and a finetuned LLM dir (and its LoRA base, if it lies elsewhere) into one model dir.

    Instead of `llm_dir`, `base` (a Hugging Face LLaMA dir with its tokenizer) and `adapter` (a PEFT LoRA dir), as
    `motiongpt convert` makes from the original release, give the paper's model in its `text` format.
    `vq_dir` may be an original T2M-GPT/MotionGPT `.pth`; `stats` is then the folder of the Mean/Std it was trained
    with. `half` stores the weights in float16 (half the size; loading still computes in float32). The LLM's
    metadata keeps the VQ-VAE's hash but points at the copy inside the model dir, so no path of this machine is
    written. `captions_from` (the dataset the LLM was finetuned on) adds the caption matcher of its train captions.
    `guidance` is recorded as the classifier-free guidance the model samples with by default.
    """
    if guidance is not None:
        guidance = check_guidance(guidance)
    vq_dir, out = Path(vq_dir), Path(out)
    if (llm_dir is None) == (base is None) or (adapter is not None and base is None):
        raise MotionGPTError("give a finetuned LLM dir (--llm), or a converted base (--base) with its adapter "
                             "(--adapter), not both")
    vq = VQVAE.from_pretrained(vq_dir, dataset=stats)
    if not vq.has_statistics:
        raise MotionGPTError(f"{vq_dir}: no Mean.npy/Std.npy beside the weights; the model could not decode codes"
                             + (" (pass --stats, the folder of the Mean/Std it was trained with)" if vq_dir.is_file()
                                else ""))
    if llm_dir is not None:
        llm_dir = Path(llm_dir)
        meta, skip = _finetuned_meta(llm_dir, vq_dir, vq)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        if vq_dir.is_file() or stats is not None:
            vq.save_pretrained(tmp / VQ_DIR)
        else:
            shutil.copytree(vq_dir, tmp / VQ_DIR, ignore=shutil.ignore_patterns(".*"))
        if llm_dir is None:
            meta = write_llm_dir(tmp / LLM_DIR, base, adapter, vq.config.codebook_size)
        else:
            shutil.copytree(llm_dir, tmp / LLM_DIR, ignore=shutil.ignore_patterns(*skip))
            lora_base = meta.get("base")
            if meta.get("kind") != "full" and lora_base and Path(lora_base).is_absolute():
                if Path(lora_base).is_file():  # a GGUF file: copied beside the adapter, converted on first load
                    (tmp / LLM_DIR / "base").mkdir()
                    shutil.copyfile(lora_base, tmp / LLM_DIR / "base" / Path(lora_base).name)
                    meta = {**meta, "base": f"base/{Path(lora_base).name}"}
                else:
                    shutil.copytree(lora_base, tmp / LLM_DIR / "base", ignore=shutil.ignore_patterns(".*"))
                    meta = {**meta, "base": "base"}
            if meta.get("vq"):
                meta = {**meta, "vq": {**meta["vq"], "dir": f"../{VQ_DIR}"}}
        if guidance is not None:
            meta = {**meta, GUIDANCE_KEY: guidance}
        write_json(tmp / LLM_DIR / META_NAME, meta)
        if half:
            for path in sorted(tmp.rglob("*.safetensors")):
                store_half(path)
        if captions_from is not None:
            CaptionMatcher.from_dataset(captions_from).save_pretrained(tmp / MATCHER_DIR)
        _write_pipeline_config(tmp, meta.get("format", "text"), vq.config.codebook_size)
    return out


def _finetuned_meta(llm_dir: Path, vq_dir: Path, vq: VQVAE) -> tuple[dict, list[str]]:
    """A finetuned dir's checked metadata (as the model dir will hold it) and the names not to copy from it."""
    meta = read_json(llm_dir / META_NAME)
    check_format(meta.get("format", "text"))
    if int(meta.get("codebook_size", vq.config.codebook_size)) != vq.config.codebook_size:
        raise MotionGPTError(f"{llm_dir}: finetuned on {meta['codebook_size']} codes, but {vq_dir} has "
                             f"{vq.config.codebook_size}")
    pinned = (meta.get("vq") or {}).get("sha256")
    if pinned and pinned != dir_hash(vq_dir):
        raise MotionGPTError(f"{llm_dir}: finetuned on the codes of another VQ-VAE than {vq_dir} (its files differ "
                             f"from the ones recorded in {META_NAME})")
    from motiongpt.training import CHECKPOINT_DIR

    if meta.get("kind") == "full":  # a full finetune never reads its base again
        return {k: v for k, v in meta.items() if k != "base"}, [".*", CHECKPOINT_DIR, "base"]
    return meta, [".*", CHECKPOINT_DIR]


def store_half(path: Path) -> None:
    """Rewrite a safetensors file with its float32 tensors in float16 (values beyond float16's range stay)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    tensors = {name: t.half() if t.dtype == torch.float32 and (t.numel() == 0 or t.abs().max() < 6e4) else t
               for name, t in load_file(str(path)).items()}
    save_file(tensors, str(path), metadata=metadata)
