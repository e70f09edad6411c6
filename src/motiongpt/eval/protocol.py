"""The evaluation loop of the T2M-GPT protocol, applied to real (ground-truth) motions.

Each repeat shuffles the split, draws one caption per motion and one crop (the original loader's rule: a multiple
of 4 frames, one unit shorter with probability 1/3, at most 196), embeds both sides and computes R-Precision,
MM-Dist and Diversity; the repeats give mean ± 95 % interval. With `mismatched=True` every motion is paired with
a caption of some other motion instead (a sanity check: top-k must fall towards chance, k/32).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch

from motiongpt.data.dataset import TextMotionDataset
from motiongpt.data.layout import Caption
from motiongpt.eval.evaluator import load_batch
from motiongpt.eval.metrics import DIVERSITY_TIMES_SMALL, REPEATS, diversity, matching_metrics, repeat


class Evaluator(Protocol):
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
            captions = [Caption(text, tokens, 0.0, 0.0) for text, tokens in zip(batch["captions"], batch["tokens"])]
        motion = evaluator.embed_motion(batch["features"], batch["lengths"])
        result = matching_metrics(evaluator.embed_captions(captions), motion)
        if len(motion) >= DIVERSITY_TIMES_SMALL:
            result["diversity"] = diversity(motion, seed=rng)
        return result

    return repeat(once, repeats, seed)
