import numpy as np
import pytest
import torch

from motiongpt.motion.quaternion import (
    cont6d_to_matrix,
    cont6d_to_quat,
    matrix_to_cont6d,
    matrix_to_quat,
    normalize,
    qbetween,
    qfix,
    qinv,
    qmul,
    qrot,
    quat_to_cont6d,
    quat_to_matrix,
    qyrot,
)


@pytest.fixture
def quats() -> np.ndarray:
    return normalize(np.random.default_rng(0).normal(size=(64, 4)))


@pytest.fixture
def vecs() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(64, 3))


def test_qrot_matches_matrix_and_composes(quats, vecs):
    np.testing.assert_allclose(qrot(quats, vecs), (quat_to_matrix(quats) @ vecs[..., None])[..., 0], atol=1e-12)
    r = quats[::-1].copy()
    np.testing.assert_allclose(qrot(qmul(quats, r), vecs), qrot(quats, qrot(r, vecs)), atol=1e-12)
    np.testing.assert_allclose(qrot(qinv(quats), qrot(quats, vecs)), vecs, atol=1e-12)


def test_matrix_to_quat_round_trip_and_sign(quats):
    back = matrix_to_quat(quat_to_matrix(quats))
    assert (back[:, 0] >= 0).all()
    np.testing.assert_allclose(np.abs((back * quats).sum(-1)), 1.0, atol=1e-12)


def test_6d_round_trip(quats):
    m = quat_to_matrix(quats)
    np.testing.assert_allclose(cont6d_to_matrix(matrix_to_cont6d(m)), m, atol=1e-12)
    np.testing.assert_allclose(quat_to_cont6d(quats)[:, :3], m[:, :, 0], atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(cont6d_to_quat(quat_to_cont6d(quats))), m, atol=1e-12)


def test_qbetween_maps_direction_including_opposite_and_zero(vecs):
    targets = np.concatenate([vecs[1:], -vecs[:1]])
    q = qbetween(vecs, targets)
    np.testing.assert_allclose(normalize(qrot(q, vecs)), normalize(targets), atol=1e-9)
    np.testing.assert_allclose(qbetween(np.zeros(3), np.array([1.0, 0, 0])), [1.0, 0, 0, 0])


def test_qfix_makes_sign_continuous(quats):
    path = normalize(np.cumsum(quats * 0.05, 0) + np.array([1.0, 0, 0, 0]))
    flipped = path * np.where(np.random.default_rng(2).random(len(path)) < 0.5, -1.0, 1.0)[:, None]
    fixed = qfix(flipped)
    assert ((fixed[1:] * fixed[:-1]).sum(-1) >= 0).all()
    np.testing.assert_allclose(np.abs((fixed * path).sum(-1)), 1.0, atol=1e-12)
    np.testing.assert_allclose(qfix(torch.from_numpy(flipped)).numpy(), fixed)


def test_torch_matches_numpy(quats, vecs):
    tq, tv = torch.from_numpy(quats), torch.from_numpy(vecs)
    pairs = [
        (qrot(quats, vecs), qrot(tq, tv)),
        (qmul(quats, quats[::-1].copy()), qmul(tq, tq.flip(0))),
        (qbetween(vecs, vecs[::-1].copy()), qbetween(tv, tv.flip(0))),
        (matrix_to_quat(quat_to_matrix(quats)), matrix_to_quat(quat_to_matrix(tq))),
        (cont6d_to_matrix(quat_to_cont6d(quats)), cont6d_to_matrix(quat_to_cont6d(tq))),
        (qyrot(vecs[:, 0]), qyrot(tv[:, 0])),
    ]
    for a, b in pairs:
        assert isinstance(b, torch.Tensor)
        np.testing.assert_allclose(b.numpy(), a, atol=1e-12)
