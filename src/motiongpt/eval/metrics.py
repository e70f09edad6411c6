"""Text-to-motion metrics on embeddings, as in the T2M-GPT protocol (Guo et al. 2022 evaluator).

Every function takes plain arrays of embeddings (rows = samples) from one evaluator and returns numbers; the
randomised ones take a seed or `np.random.Generator`, so the same seed gives the same value.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from motiongpt.errors import MotionGPTError

R_PRECISION_BATCH = 32
DIVERSITY_TIMES = 300
DIVERSITY_TIMES_SMALL = 100  # used when there are at most DIVERSITY_TIMES samples
MULTIMODALITY_TIMES = 10
REPEATS = 20

Seed = int | np.random.Generator | None


def _as_matrix(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise MotionGPTError(f"{name}: expected a non-empty (N, D) array of embeddings, got shape {x.shape}")
    return x


def gaussian_statistics(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the Gaussian fitted to a set of embeddings."""
    x = _as_matrix(embeddings, "embeddings")
    if len(x) < 2:
        raise MotionGPTError("embeddings: need at least 2 samples to fit a covariance")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^1/2).

    tr((S1 S2)^1/2) equals the sum of square roots of the eigenvalues of the symmetric S1^1/2 S2 S1^1/2, which
    are real and non-negative; this avoids the complex parts and singular-matrix retries of a general sqrtm.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise MotionGPTError(f"frechet_distance: shapes differ: mu {mu1.shape}/{mu2.shape}, "
                             f"sigma {sigma1.shape}/{sigma2.shape}")
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_covmean)


def fid(real: np.ndarray, generated: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to real and generated motion embeddings."""
    return frechet_distance(*gaussian_statistics(real), *gaussian_statistics(generated))


def euclidean_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) matrix of Euclidean distances between the rows of a and b."""
    a, b = _as_matrix(a, "a"), _as_matrix(b, "b")
    squared = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.clip(squared, 0.0, None))


def _paired(text: np.ndarray, motion: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    text, motion = _as_matrix(text, "text embeddings"), _as_matrix(motion, "motion embeddings")
    if text.shape != motion.shape:
        raise MotionGPTError(f"text embeddings {text.shape} and motion embeddings {motion.shape} must pair row by row")
    n_batches = len(text) // batch_size
    if n_batches == 0:
        raise MotionGPTError(f"R-Precision needs at least one full batch of {batch_size} pairs, got {len(text)}")
    return text, motion, n_batches


def matching_metrics(text: np.ndarray, motion: np.ndarray, batch_size: int = R_PRECISION_BATCH,
                     top_k: int = 3) -> dict[str, float]:
    """R-Precision top-1..top_k and MM-Dist of paired (text i, motion i) embeddings.

    Pairs are cut into consecutive batches of `batch_size`; a trailing partial batch is left out (the official
    loader drops it). Within a batch each text ranks the batch's motions by Euclidean distance; top-k counts how
    often its own motion is among the k nearest. MM-Dist is the mean distance between a text and its own motion.
    """
    text, motion, n_batches = _paired(text, motion, batch_size)
    hits = np.zeros(top_k)
    matched = 0.0
    for b in range(n_batches):
        rows = slice(b * batch_size, (b + 1) * batch_size)
        dist = euclidean_distances(text[rows], motion[rows])
        rank_of_own = (dist < np.diag(dist)[:, None]).sum(axis=1)  # motions strictly nearer than its own
        hits += [(rank_of_own < k).sum() for k in range(1, top_k + 1)]
        matched += np.trace(dist)
    n = n_batches * batch_size
    result = {f"top{k}": float(hits[k - 1] / n) for k in range(1, top_k + 1)}
    result["mm_dist"] = float(matched / n)
    return result


def diversity(embeddings: np.ndarray, times: int | None = None, seed: Seed = None) -> float:
    """Mean distance between `times` random pairs (300, or 100 for at most 300 samples) of embeddings."""
    x = _as_matrix(embeddings, "embeddings")
    if times is None:
        times = DIVERSITY_TIMES if len(x) > DIVERSITY_TIMES else DIVERSITY_TIMES_SMALL
    if len(x) < times:
        raise MotionGPTError(f"Diversity draws {times} distinct samples per side, got only {len(x)} embeddings")
    rng = np.random.default_rng(seed)
    first = rng.choice(len(x), times, replace=False)
    second = rng.choice(len(x), times, replace=False)
    return float(np.linalg.norm(x[first] - x[second], axis=1).mean())


def multimodality(embeddings: np.ndarray, times: int = MULTIMODALITY_TIMES, seed: Seed = None) -> float:
    """Mean distance between `times` random pairs of motions generated for the same text.

    `embeddings` is (texts, generations per text, D), e.g. 30 generations per text; the same pair indices are
    used for every text.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 3 or x.shape[0] == 0:
        raise MotionGPTError(f"MultiModality expects (texts, generations, D) embeddings, got shape {x.shape}")
    if x.shape[1] < times:
        raise MotionGPTError(f"MultiModality draws {times} distinct generations per text, got {x.shape[1]}")
    rng = np.random.default_rng(seed)
    first = rng.choice(x.shape[1], times, replace=False)
    second = rng.choice(x.shape[1], times, replace=False)
    return float(np.linalg.norm(x[:, first] - x[:, second], axis=2).mean())


def mean_confidence(values: np.ndarray) -> tuple[float, float]:
    """Mean and 95 % half-width 1.96·std/√N over repeats (population std, as the protocol does)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(1.96 * values.std() / np.sqrt(len(values)))


def repeat(evaluate: Callable[[np.random.Generator], dict[str, float]], repeats: int = REPEATS,
           seed: int = 0) -> dict[str, tuple[float, float]]:
    """Run `evaluate(rng)` `repeats` times with independent seeded generators; (mean, ±) for each metric."""
    if repeats < 1:
        raise MotionGPTError(f"repeats must be at least 1, got {repeats}")
    streams = np.random.SeedSequence(seed).spawn(repeats)
    runs = [evaluate(np.random.default_rng(stream)) for stream in streams]
    return {name: mean_confidence([run[name] for run in runs]) for name in runs[0]}
