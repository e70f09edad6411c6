"""The evaluation loop of the T2M-GPT protocol, for real motions and for a MotionGPT model's generations.

Each repeat shuffles the split, draws one caption per motion and one crop (the original loader's rule: a multiple
of 4 frames, one unit shorter with probability 1/3, at most 196), embeds both sides and computes R-Precision,
MM-Dist and Diversity; the repeats give mean ± 95 % interval. With `mismatched=True` every motion is paired with
a caption of some other motion instead (a sanity check: top-k must fall towards chance, k/32).

`evaluate_generation` runs the same loop on generated motions, one task at a time (see docs/eval.md):

- text: caption only; init / last / key: caption + the first / last / 3-5 sorted random codes of the motion's own
  codes (the real crop encoded with the model's VQ-VAE), as the original instruction build picks them.
- Per repeat every task sees the same order, captions, crops and key positions, and row i is sampled with seed
  `base + i` (base drawn from the repeat's seed), so tasks differ only in their controls.
- FID is against the real crops of the repeat; the "Real motion" row's FID compares them with a second crop and
  caption draw of the same motions. Diversity uses 300 pairs (100 for at most 300 motions, N for fewer than 100).
- MultiModality: `mm_samples` generations for each of `mm_texts` motions (30 × 100 in the original), 10 pairs per
  text; computed once with the run's seed, or in every repeat with `mm_per_repeat`.
- Control metrics (`motiongpt.eval.control`) for every control task, and for the text task against each control
  task's poses (the paper's Table 5 baseline).

Results are saved under the output dir after every (repeat, task), and a rerun skips what is there; real-motion
embeddings are cached per repeat under a key of data, split, evaluator, seed and limit.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from motiongpt.data.dataset import TextMotionDataset
from motiongpt.data.layout import MAX_FRAMES, Caption
from motiongpt.errors import MotionGPTError
from motiongpt.eval.control import control_metrics, control_positions, local_joints, mean_metrics, \
    task_controls
from motiongpt.eval.evaluator import load_batch
from motiongpt.eval.metrics import (DIVERSITY_TIMES, DIVERSITY_TIMES_SMALL, MULTIMODALITY_TIMES, R_PRECISION_BATCH,
                                    REPEATS, diversity, fid, matching_metrics, mean_confidence, multimodality,
                                    repeat)
from motiongpt.generation.constraints import Controls
from motiongpt.generation.settings import GenerationSettings
from motiongpt.io import atomic_path, read_json, write_json
from motiongpt.llm.tasks import CONTROL_TASKS, Task

RUN_NAME = "run.json"
REPEATS_DIR = "repeats"


class Evaluator(Protocol):
    feature_dim: int

    def embed_captions(self, captions: Sequence[Caption]) -> np.ndarray: ...

    def embed_motion(self, features: np.ndarray | torch.Tensor, lengths: Sequence[int]) -> np.ndarray: ...


def _other_caption(dataset: TextMotionDataset, index: int, rng: np.random.Generator, tries: int = 100) -> Caption:
    own = {c.text for c in dataset.samples[index].captions}
    for _ in range(tries):
        other = dataset.samples[int(rng.integers(len(dataset)))].captions
        caption = other[int(rng.integers(len(other)))]
        if caption.text not in own:
            break
    return caption


def batch_captions(batch: dict) -> list[Caption]:
    """The captions of a collated batch, for `Evaluator.embed_captions`."""
    return [Caption(text, tokens, 0.0, 0.0) for text, tokens in zip(batch["captions"], batch["tokens"])]


def score_real_motions(evaluator: Evaluator, dataset: TextMotionDataset, repeats: int = REPEATS, seed: int = 0,
                       mismatched: bool = False) -> dict[str, tuple[float, float]]:
    """{metric: (mean, ±1.96·std/√repeats)} for top1..top3, mm_dist and (with ≥ 100 motions) diversity.

    `dataset` must give raw features (see `evaluator.open_split`); each evaluator normalises with its own stats.
    """

    def once(rng: np.random.Generator) -> dict[str, float]:
        order = rng.permutation(len(dataset)).tolist()
        batch = load_batch(dataset, order, epoch=int(rng.integers(2**31)))
        if mismatched:
            captions = [_other_caption(dataset, i, rng) for i in order]
        else:
            captions = batch_captions(batch)
        motion = evaluator.embed_motion(batch["features"], batch["lengths"])
        result = matching_metrics(evaluator.embed_captions(captions), motion)
        if len(motion) >= DIVERSITY_TIMES_SMALL:
            result["diversity"] = diversity(motion, seed=rng)
        return result

    return repeat(once, repeats, seed)


# ---------------------------------------------------------------------------------------------- generation

@dataclass(frozen=True)
class EvalSettings:
    tasks: tuple[Task, ...] = tuple(Task)
    repeats: int = REPEATS
    seed: int = 0
    limit: int | None = None  # only the split's first N captioned motions
    mm_texts: int = 100
    mm_samples: int = 30  # 0: no MultiModality
    mm_per_repeat: bool = False
    batch_size: int = 32
    generation: GenerationSettings = GenerationSettings()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(Task.parse(task) for task in self.tasks))

    def check(self) -> None:
        if not self.tasks:
            raise MotionGPTError(f"no task given; expected some of {','.join(t.value for t in Task)}")
        self.generation.check()
        for name in ("repeats", "batch_size"):
            if getattr(self, name) < 1:
                raise MotionGPTError(f"{name.replace('_', ' ')} {getattr(self, name)}: must be at least 1")
        if self.limit is not None and self.limit < R_PRECISION_BATCH:
            raise MotionGPTError(f"limit {self.limit}: R-Precision needs at least {R_PRECISION_BATCH} motions")
        if self.mm_samples and (self.mm_samples < MULTIMODALITY_TIMES or self.mm_texts < 1):
            raise MotionGPTError(f"MultiModality draws {MULTIMODALITY_TIMES} pairs per text: give at least "
                                 f"{MULTIMODALITY_TIMES} samples and 1 text (got {self.mm_samples} × {self.mm_texts})")

    def fingerprint(self) -> dict:
        """The settings a finished repeat depends on (not how many repeats or which tasks). A guidance left to the
        model is covered by the model's fingerprint, and stays out, as in runs made before guidance existed."""
        keep = ("seed", "limit", "max_codes", "temperature", "top_k", "constrained", "mm_per_repeat", "guidance")
        return {k: v for k, v in {**asdict(self), **asdict(self.generation)}.items()
                if k in keep and not (k == "guidance" and v is None)}


@dataclass
class Draw:
    """Real motions of one draw, in evaluation order: captions, raw crops, their codes and local joints."""

    captions: list[Caption]
    features: torch.Tensor  # (N, T, D) raw, zero-padded
    lengths: torch.Tensor
    codes: list[np.ndarray] = field(default_factory=list)
    local: list[np.ndarray] = field(default_factory=list)
    positions: dict[str, list[list[int]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.captions)


def _draw(dataset: TextMotionDataset, indices: Sequence[int], epoch: int, model, position_seed: list[int]) -> Draw:
    batch = load_batch(dataset, indices, epoch)
    draw = Draw(batch_captions(batch), batch["features"], batch["lengths"])
    for i, n in enumerate(draw.lengths.tolist()):
        crop = draw.features[i, :n].numpy()
        draw.codes.append(model.vq.encode_motion(crop))
        draw.local.append(local_joints(crop, model.spec))
    draw.positions = {task: [] for task in CONTROL_TASKS}
    for index, codes in zip(indices, draw.codes):
        rng = np.random.default_rng([*position_seed, int(index)])
        for task in CONTROL_TASKS:
            draw.positions[task].append(control_positions(task, len(codes), rng))
    return draw


def _row_controls(task: str, draw: Draw, i: int) -> Controls:
    return Controls() if task == Task.TEXT else task_controls(task, draw.codes[i], draw.positions[task][i])


def embed_features(evaluator: Evaluator, features: Sequence[np.ndarray]) -> np.ndarray:
    """Evaluator embeddings of motions of different lengths (raw features, each cut at MAX_FRAMES)."""
    lengths = [min(len(f), MAX_FRAMES) for f in features]
    padded = np.zeros((len(features), max(lengths), features[0].shape[1]), np.float32)
    for row, (f, n) in enumerate(zip(features, lengths)):
        padded[row, :n] = f[:n]
    return evaluator.embed_motion(padded, lengths)


def sample_diversity(embeddings: np.ndarray, seed: int | list[int]) -> float:
    """Diversity with the protocol's pair count: 300, or 100 for at most 300 embeddings, or N below 100."""
    n = len(embeddings)
    times = DIVERSITY_TIMES if n > DIVERSITY_TIMES else min(DIVERSITY_TIMES_SMALL, n)
    return diversity(embeddings, times=times, seed=np.random.default_rng(seed))


class _Run:
    """Generation, embedding and scoring for one model, evaluator and dataset."""

    def __init__(self, model, evaluator: Evaluator, dataset: TextMotionDataset, settings: EvalSettings,
                 progress: bool):
        self.model, self.evaluator, self.dataset, self.settings = model, evaluator, dataset, settings
        self.generation = settings.generation
        self.progress = progress

    def generate(self, task: str, draw: Draw, rows: list[int], base_seed: int, desc: str):
        """Yield (row indices, generated motions) batch by batch; row j of `rows` uses seed base_seed + j."""
        bar = tqdm(total=len(rows), desc=desc, unit="motion", leave=False, disable=not self.progress)
        for start in range(0, len(rows), self.settings.batch_size):
            chunk = rows[start:start + self.settings.batch_size]
            motions = self.model.generate_rows([draw.captions[i].text for i in chunk],
                                               [_row_controls(task, draw, i) for i in chunk],
                                               [base_seed + start + j for j in range(len(chunk))], self.generation)
            bar.update(len(chunk))
            yield chunk, motions
        bar.close()

    def score_task(self, task: str, draw: Draw, text: np.ndarray, real: np.ndarray, base_seed: int,
                   seed: list[int], desc: str) -> dict[str, float]:
        """Matching metrics, FID, Diversity and control metrics of one task's generations for `draw`."""
        embeddings, rows = [], {t: [] for t in CONTROL_TASKS}
        scored = CONTROL_TASKS if task == Task.TEXT else (task,)
        fps = self.model.spec.fps
        for chunk, motions in self.generate(task, draw, list(range(len(draw))), base_seed, desc):
            embeddings.append(embed_features(self.evaluator, [m.features for m in motions]))
            for i, motion in zip(chunk, motions):
                generated = local_joints(motion.features, self.model.spec)
                for control in scored:
                    rows[control].append(control_metrics(control, motion.codes, generated, draw.codes[i],
                                                         draw.local[i], draw.positions[control][i], fps,
                                                         frames_per_code=self.model.vq.config.frames_per_code))
        generated = np.concatenate(embeddings)
        result = matching_metrics(text, generated)
        result["fid"] = fid(real, generated)
        result["diversity"] = sample_diversity(generated, seed)
        for control in scored:
            prefix = f"{control}_" if task == Task.TEXT else ""
            result.update({prefix + k: v for k, v in mean_metrics(rows[control]).items()})
        return result

    def multimodality(self, task: str, seed: list[int], desc: str) -> float:
        """MultiModality of `task` on `mm_texts` random motions × `mm_samples` generations each."""
        s = self.settings
        rng = np.random.default_rng(seed)
        picks = rng.choice(len(self.dataset), min(s.mm_texts, len(self.dataset)), replace=False).tolist()
        draw = _draw(self.dataset, picks, int(rng.integers(2**31)), self.model, seed)
        rows = [i for i in range(len(draw)) for _ in range(s.mm_samples)]
        embeddings = [embed_features(self.evaluator, [m.features for m in motions])
                      for _, motions in self.generate(task, draw, rows, int(rng.integers(2**30)), desc)]
        per_text = np.concatenate(embeddings).reshape(len(draw), s.mm_samples, -1)
        return multimodality(per_text, seed=rng)


def _cache_key(identity: dict, settings: EvalSettings) -> str:
    text = json.dumps({"data": identity.get("data"), "split": identity.get("split"),
                       "split_sha256": identity.get("split_sha256"), "evaluator": identity.get("evaluator"),
                       "seed": settings.seed, "limit": settings.limit}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _real_embeddings(run: _Run, draw: Draw, second_epoch: int, order: list[int], path: Path | None
                     ) -> dict[str, np.ndarray]:
    """Caption, real-crop and second-draw embeddings of a repeat, read from or written to the cache `path`."""
    if path is not None and path.is_file():
        with np.load(path) as cached:
            return dict(cached)
    other = load_batch(run.dataset, order, second_epoch)
    out = {"text": run.evaluator.embed_captions(draw.captions),
           "motion": run.evaluator.embed_motion(draw.features, draw.lengths),
           "second": run.evaluator.embed_motion(other["features"], other["lengths"])}
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **out)
    return out


def _check_run_file(out_dir: Path, run_info: dict) -> None:
    path = out_dir / RUN_NAME
    if path.is_file():
        saved = read_json(path)
        if saved != run_info:
            changed = sorted(k for k in set(saved) | set(run_info) if saved.get(k) != run_info.get(k))
            raise MotionGPTError(f"{path}: {out_dir} holds results of another run (differs in {', '.join(changed)}); "
                                 f"use a new --out or delete it")
    else:
        write_json(path, run_info)


def evaluate_generation(model, evaluator: Evaluator, dataset: TextMotionDataset, out_dir: str | Path,
                        settings: EvalSettings = EvalSettings(), identity: dict | None = None,
                        cache_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Run (or resume) the protocol for `settings.tasks`; returns {"rows": {row: {metric: {mean, conf95}}}, ...}.

    `dataset` gives raw features (`evaluator.open_split`); `identity` (model, data, split, evaluator fingerprints)
    is stored in out_dir/run.json so that a rerun with other inputs is refused, and keys the real-embedding cache
    (default out_dir/cache).
    """
    settings.check()
    out_dir = Path(out_dir)
    identity = dict(identity or {})
    if model.vq.config.input_dim != evaluator.feature_dim:
        raise MotionGPTError(f"the model writes {model.vq.config.input_dim}-d features, the evaluator expects "
                             f"{evaluator.feature_dim}")
    if settings.limit is not None:
        dataset = copy.copy(dataset)
        dataset.samples = dataset.samples[:settings.limit]
    if len(dataset) < R_PRECISION_BATCH:
        raise MotionGPTError(f"{identity.get('split', 'split')}: {len(dataset)} motions, R-Precision needs at least "
                             f"{R_PRECISION_BATCH}")
    _check_run_file(out_dir, {**identity, **settings.fingerprint(), "motions": len(dataset)})
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / "cache"
    key = _cache_key(identity, settings)
    run = _Run(model, evaluator, dataset, settings, progress)
    mm_on = settings.mm_samples > 0
    mm_path = out_dir / f"multimodality-{settings.mm_texts}x{settings.mm_samples}.json"
    mm_once = read_json(mm_path) if mm_path.is_file() else {}

    per_repeat = []
    for r in tqdm(range(settings.repeats), desc="repeats", unit="repeat", disable=not progress):
        path = out_dir / REPEATS_DIR / f"r{r:02d}.json"
        done = read_json(path) if path.is_file() else {}
        wanted = ["real", *settings.tasks]
        mm_wanted = [t for t in settings.tasks if mm_on and settings.mm_per_repeat and
                     "multimodality" not in done.get(t, {})]
        if all(t in done for t in wanted) and not mm_wanted:
            per_repeat.append(done)
            continue
        rng = np.random.default_rng([settings.seed, r])
        order = rng.permutation(len(dataset)).tolist()
        epoch, second_epoch, base_seed = (int(v) for v in rng.integers(2**30, size=3))
        draw = _draw(dataset, order, epoch, model, [settings.seed, r])
        real = _real_embeddings(run, draw, second_epoch, order, cache_dir / f"real-{key}-r{r:02d}.npz")
        if "real" not in done:
            done["real"] = {**matching_metrics(real["text"], real["motion"]),
                            "fid": fid(real["motion"], real["second"]),
                            "diversity": sample_diversity(real["motion"], [settings.seed, r, 0])}
            write_json(path, done)
        for task in settings.tasks:
            if task not in done:
                done[task] = run.score_task(task, draw, real["text"], real["motion"], base_seed,
                                            [settings.seed, r, list(Task).index(task) + 1], f"repeat {r} {task}")
                write_json(path, done)
            if task in mm_wanted:
                done[task]["multimodality"] = run.multimodality(task, [settings.seed, r, 100 + list(Task).index(task)],
                                                                f"repeat {r} {task} multimodality")
                write_json(path, done)
        per_repeat.append(done)

    if mm_on and not settings.mm_per_repeat:
        for task in settings.tasks:
            if task not in mm_once:
                mm_once[task] = run.multimodality(task, [settings.seed, 1000 + list(Task).index(task)],
                                                  f"{task} multimodality")
                write_json(mm_path, mm_once)
    result = summarise(per_repeat, settings, mm_once if mm_on and not settings.mm_per_repeat else {},
                       len(dataset), identity)
    result["settings"]["generation"]["guidance"] = model.sized(settings.generation).guidance  # the one sampled with
    return result


def summarise(per_repeat: list[dict], settings: EvalSettings, mm_once: dict[str, float], motions: int,
              identity: dict) -> dict:
    """Mean and 95 % interval over repeats of every metric of every row; once-computed MultiModality as is."""
    rows = {}
    for row in ["real", *settings.tasks]:
        names = per_repeat[0][row].keys()
        rows[row] = {}
        for name in names:
            values = np.array([rep[row][name] for rep in per_repeat], dtype=np.float64)
            values = values[~np.isnan(values)]
            mean, conf = mean_confidence(values) if len(values) else (float("nan"), float("nan"))
            rows[row][name] = {"mean": mean, "conf95": conf}
        if row in mm_once:
            rows[row]["multimodality"] = {"mean": float(mm_once[row]), "conf95": None}
    return {"identity": identity, "settings": asdict(settings), "motions": motions, "repeats": len(per_repeat),
            "rows": rows}
