import numpy as np
import pytest
import scipy.linalg

from motiongpt.errors import MotionGPTError
from motiongpt.eval import metrics


def test_fid_of_a_set_against_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 16)) @ np.random.default_rng(1).normal(size=(16, 16))
    assert abs(metrics.fid(x, x)) < 1e-6


def test_frechet_distance_matches_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 0.25])
    closed = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(var1) - np.sqrt(var2)) ** 2).sum()
    assert metrics.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(closed, rel=1e-10)


def test_fid_of_samples_from_two_gaussians_approaches_closed_form():
    rng = np.random.default_rng(0)
    std1, std2 = np.array([1.0, 2.0, 0.5, 1.0]), np.array([1.5, 1.0, 0.5, 3.0])
    shift = np.array([1.0, 0.0, -1.0, 0.5])
    a = rng.normal(size=(40000, 4)) * std1
    b = rng.normal(size=(40000, 4)) * std2 + shift
    closed = (shift ** 2).sum() + ((std1 - std2) ** 2).sum()
    assert metrics.fid(a, b) == pytest.approx(closed, rel=0.03)


def test_frechet_distance_agrees_with_general_sqrtm_for_full_covariances():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(8, 8)), rng.normal(size=(8, 8))
    s1, s2 = a @ a.T, b @ b.T
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    reference = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-8)


def test_fid_is_finite_with_singular_covariances():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(10, 32)), rng.normal(size=(12, 32))  # fewer samples than dimensions
    value = metrics.fid(a, b)
    assert np.isfinite(value) and value > 0


def test_r_precision_is_one_when_texts_and_motions_embed_identically():
    x = np.random.default_rng(0).normal(size=(96, 16))
    result = metrics.matching_metrics(x, x.copy())
    assert result["top1"] == result["top2"] == result["top3"] == 1.0
    assert result["mm_dist"] == pytest.approx(0.0, abs=1e-6)


def test_r_precision_is_chance_for_random_embeddings():
    rng = np.random.default_rng(1)
    text, motion = rng.normal(size=(32 * 300, 8)), rng.normal(size=(32 * 300, 8))
    result = metrics.matching_metrics(text, motion)
    for k in (1, 2, 3):
        assert result[f"top{k}"] == pytest.approx(k / 32, abs=0.012)


def test_r_precision_and_mm_dist_on_hand_made_pairs():
    text = np.array([[0.0], [10.0], [0.0], [10.0], [5.0]])
    motion = np.array([[1.0], [2.0], [2.0], [1.0], [0.0]])  # last pair is cut: not a full batch of 2
    result = metrics.matching_metrics(text, motion, batch_size=2, top_k=2)
    # batch 1: both texts nearest to their own motion (distances 1 and 8); batch 2: both second (2 and 9)
    assert result == {"top1": 0.5, "top2": 1.0, "mm_dist": pytest.approx((1 + 8 + 2 + 9) / 4)}


def test_r_precision_needs_a_full_batch():
    with pytest.raises(MotionGPTError, match="at least one full batch of 32"):
        metrics.matching_metrics(np.zeros((10, 4)), np.zeros((10, 4)))


def test_diversity_is_seeded_and_matches_the_mean_pairwise_distance():
    points = np.repeat([[0.0], [1.0]], 100, axis=0)  # half at 0, half at 1: mean |xi - xj| over all pairs = 0.5
    assert metrics.diversity(points, seed=4) == metrics.diversity(points, seed=4)
    values = [metrics.diversity(points, seed=s) for s in range(300)]
    assert np.mean(values) == pytest.approx(0.5, abs=0.01)
    assert metrics.diversity(np.ones((150, 3)), seed=0) == 0.0


def test_diversity_draws_300_pairs_above_300_samples_and_100_below():
    with pytest.raises(MotionGPTError, match="100 distinct samples"):
        metrics.diversity(np.zeros((99, 2)))
    assert metrics.diversity(np.zeros((100, 2))) == 0.0  # 100 pairs fit in 100 samples
    assert metrics.diversity(np.zeros((301, 2))) == 0.0
    with pytest.raises(MotionGPTError, match="300 distinct samples"):
        metrics.diversity(np.zeros((250, 2)), times=300)


def test_multimodality_on_a_ladder_of_generations():
    # 30 generations per text at 0, 1, ..., 29 (plus a per-text offset): for independent uniform indices
    # E|f - s| = (30^2 - 1) / (3 * 30)
    ladder = np.arange(30.0)[None, :, None] + np.arange(5.0)[:, None, None] * 100
    values = [metrics.multimodality(ladder, seed=s) for s in range(400)]
    assert np.mean(values) == pytest.approx(899 / 90, rel=0.03)
    assert metrics.multimodality(np.zeros((4, 30, 3)), seed=0) == 0.0
    with pytest.raises(MotionGPTError, match="10 distinct generations"):
        metrics.multimodality(np.zeros((4, 5, 3)))


def test_mean_confidence_and_seeded_repeats():
    mean, conf = metrics.mean_confidence([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and conf == pytest.approx(1.96 * np.sqrt(1.25) / 2)
    draw = lambda rng: {"x": float(rng.random())}  # noqa: E731
    first = metrics.repeat(draw, repeats=20, seed=7)
    assert first == metrics.repeat(draw, repeats=20, seed=7)
    assert first != metrics.repeat(draw, repeats=20, seed=8)
    assert 0.0 < first["x"][0] < 1.0 and first["x"][1] > 0
