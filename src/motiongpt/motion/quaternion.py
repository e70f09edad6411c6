"""Quaternions (w, x, y, z) and the continuous 6D rotation representation, for numpy arrays and torch tensors.

Every function takes arrays of either kind and returns the same kind; rotation quantities sit in the last axis
(4 for quaternions, 3 for vectors, 6 for 6D, 3x3 for matrices) and all leading axes broadcast. Quaternions are
assumed to be unit length wherever a rotation is meant, so the inverse is the conjugate.

The 6D form is the first two columns of the rotation matrix, concatenated: (R00, R10, R20, R01, R11, R21), the
order HumanML3D stores in its `rot` block.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

EPS = 1e-8  # a vector shorter than this counts as zero (normalize keeps it zero)


def _stack(xs: list, axis: int = -1):
    return torch.stack(xs, dim=axis) if isinstance(xs[0], torch.Tensor) else np.stack(xs, axis=axis)


def _cat(xs: list, axis: int = -1):
    return torch.cat(xs, dim=axis) if isinstance(xs[0], torch.Tensor) else np.concatenate(xs, axis=axis)


def _sqrt(x):
    return torch.sqrt(x) if isinstance(x, torch.Tensor) else np.sqrt(x)


def _where(cond, a, b):
    return torch.where(cond, a, b) if isinstance(cond, torch.Tensor) else np.where(cond, a, b)


def cross(a: Array, b: Array) -> Array:
    """Cross product over the last axis (broadcasting, unlike torch.cross with mismatched shapes)."""
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    return _stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx])


def dot(a: Array, b: Array) -> Array:
    """Dot product over the last axis, keeping it as size 1."""
    return (a * b).sum(-1)[..., None]


def normalize(v: Array) -> Array:
    """Scale vectors (or quaternions) in the last axis to unit length; zero vectors stay zero."""
    n = _sqrt(dot(v, v))
    return v / (n + (n < EPS) * 1.0)


def qmul(q: Array, r: Array) -> Array:
    """Hamilton product q * r: rotate by r first, then by q."""
    w1, x1, y1, z1 = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    w2, x2, y2, z2 = r[..., 0], r[..., 1], r[..., 2], r[..., 3]
    return _stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ]
    )


def qinv(q: Array) -> Array:
    """Inverse of a unit quaternion (its conjugate)."""
    return _cat([q[..., :1], -q[..., 1:]])


def qrot(q: Array, v: Array) -> Array:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    w, u = q[..., :1], q[..., 1:]
    uv = cross(u, v)
    return v + 2.0 * (w * uv + cross(u, uv))


def qidentity(shape: tuple, like: Array) -> Array:
    """Identity quaternions of `shape` + (4,), with the dtype/device of `like`."""
    if isinstance(like, torch.Tensor):
        q = torch.zeros(*shape, 4, dtype=like.dtype, device=like.device)
    else:
        q = np.zeros((*shape, 4), dtype=like.dtype)
    q[..., 0] = 1.0
    return q


def qbetween(u: Array, v: Array) -> Array:
    """The shortest-arc rotation taking direction u to direction v (neither needs unit length).

    Opposite directions have no unique shortest arc: we turn by pi about an axis perpendicular to u. A zero
    vector gives the identity.
    """
    u, v = torch.broadcast_tensors(u, v) if isinstance(u, torch.Tensor) else np.broadcast_arrays(u, v)
    scale = _sqrt(dot(u, u) * dot(v, v))
    w = scale + dot(u, v)
    q = _cat([w, cross(u, v)])
    helper = _where(abs(u[..., :1]) > abs(u[..., 2:3]), _basis(u, 2), _basis(u, 0))
    flip = _cat([w * 0, normalize(cross(u, helper))])
    opposite = (w <= 1e-7 * scale) & (scale > EPS)
    q = normalize(_where(opposite, flip, q))
    zero = (scale <= EPS) * 1.0
    return q + _cat([zero, q[..., 1:] * 0])


def _basis(like: Array, axis: int) -> Array:
    if isinstance(like, torch.Tensor):
        e = torch.zeros(3, dtype=like.dtype, device=like.device)
    else:
        e = np.zeros(3, dtype=like.dtype)
    e[axis] = 1.0
    return e


def qyrot(angle: Array) -> Array:
    """Quaternions for rotations by `angle` (radians, any shape) about +Y."""
    half = angle * 0.5
    if isinstance(angle, torch.Tensor):
        c, s = torch.cos(half), torch.sin(half)
    else:
        c, s = np.cos(half), np.sin(half)
    z = angle * 0
    return _stack([c, z, s, z])


def qfix(q: Array, axis: int = 0) -> Array:
    """Flip signs along `axis` (time) so consecutive quaternions have a non-negative dot product.

    q and -q are the same rotation, but differences of consecutive rotations (root angular velocity) need the
    sign to be continuous.
    """
    if isinstance(q, torch.Tensor):
        qm = torch.movedim(q, axis, 0)
        flips = ((qm[1:] * qm[:-1]).sum(-1) < 0).to(torch.int64)
        sign = 1 - 2 * (torch.cumsum(flips, 0) % 2)
        out = torch.cat([qm[:1], qm[1:] * sign[..., None].to(q.dtype)], 0)
        return torch.movedim(out, 0, axis)
    qm = np.moveaxis(q, axis, 0)
    flips = (qm[1:] * qm[:-1]).sum(-1) < 0
    sign = 1 - 2 * (np.cumsum(flips, 0) % 2)
    out = np.concatenate([qm[:1], qm[1:] * sign[..., None].astype(q.dtype)], 0)
    return np.moveaxis(out, 0, axis)


def quat_to_matrix(q: Array) -> Array:
    """Unit quaternions (..., 4) to rotation matrices (..., 3, 3)."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return _stack([_stack(r) for r in rows], axis=-2)


def matrix_to_quat(m: Array) -> Array:
    """Rotation matrices (..., 3, 3) to unit quaternions (..., 4) with w >= 0.

    Each of the four standard branches is computed for every element and the best-conditioned one (the largest
    denominator) is kept, which keeps this vectorised and differentiable.
    """
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    cands = _stack(
        [
            _stack([1 + m00 + m11 + m22, m21 - m12, m02 - m20, m10 - m01]),
            _stack([m21 - m12, 1 + m00 - m11 - m22, m01 + m10, m02 + m20]),
            _stack([m02 - m20, m01 + m10, 1 - m00 + m11 - m22, m12 + m21]),
            _stack([m10 - m01, m02 + m20, m12 + m21, 1 - m00 - m11 + m22]),
        ],
        axis=-2,
    )  # (..., 4 candidates, 4); candidate k has 4 * q_k**2 in slot k
    diag = _stack([cands[..., 0, 0], cands[..., 1, 1], cands[..., 2, 2], cands[..., 3, 3]])
    if isinstance(m, torch.Tensor):
        best = diag.argmax(-1)
        q = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4))[..., 0, :]
    else:
        best = diag.argmax(-1)
        q = np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    q = normalize(q)
    return q * (1 - 2 * (q[..., :1] < 0))


def matrix_to_cont6d(m: Array) -> Array:
    """Rotation matrices (..., 3, 3) to 6D: the first two columns, concatenated."""
    return _cat([m[..., :, 0], m[..., :, 1]])


def cont6d_to_matrix(d6: Array) -> Array:
    """6D (..., 6) to rotation matrices by Gram-Schmidt; any 6 numbers with independent halves give a rotation."""
    x = normalize(d6[..., 0:3])
    z = normalize(cross(x, d6[..., 3:6]))
    y = cross(z, x)
    return _stack([x, y, z], axis=-1)


def quat_to_cont6d(q: Array) -> Array:
    return matrix_to_cont6d(quat_to_matrix(q))


def cont6d_to_quat(d6: Array) -> Array:
    return matrix_to_quat(cont6d_to_matrix(d6))
