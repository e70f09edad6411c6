"""The left/right set: descriptions that each name one side, and how often a model's motions use that side
(judged in joint space by `motiongpt.motion.sides`)."""

from __future__ import annotations

from pathlib import Path

from motiongpt.data.bandai import ACTIONS
from motiongpt.errors import MotionGPTError
from motiongpt.io import read_tsv
from motiongpt.motion.sides import KINDS, SIDES, SideQuery, judge_side

SIDES_FILE = Path(__file__).with_name("sides.tsv")


def load_side_queries(path: str | Path = SIDES_FILE) -> list[SideQuery]:
    """Rows of a `description<TAB>kind<TAB>side<TAB>content` file (`#` lines are comments)."""
    rows = []
    for number, (description, kind, side, content) in read_tsv(path, ("description", "kind", "side", "content"),
                                                               "left/right description"):
        if kind not in KINDS or side not in SIDES:
            raise MotionGPTError(f"{path}:{number}: kind {kind!r} / side {side!r}: expected one of {KINDS} / {SIDES}")
        if content not in ACTIONS:
            raise MotionGPTError(f"{path}:{number}: unknown content {content!r}")
        rows.append(SideQuery(description, kind, side, content))
    return rows


def side_accuracy(model, queries: list[SideQuery] | None = None, seeds: tuple[int, ...] = (0,),
                  **generate: object) -> dict:
    """Generate every description of the set with each seed and judge the side each motion used.

    `model` is a `MotionGPT`; returns the shares right, opposite (the other side, clearly) and undecided, overall
    and per kind, and the descriptions that came out on the opposite side.
    """
    queries = load_side_queries() if queries is None else queries
    verdicts = []
    for seed in seeds:
        motions = model.generate([q.description for q in queries], seed=seed, **generate)
        verdicts += [(q, judge_side(m.joints, q)) for q, m in zip(queries, motions)]

    def shares(rows: list) -> dict:
        n = max(len(rows), 1)
        return {"n": len(rows), "right": sum(v.correct for _, v in rows) / n,
                "opposite": sum(v.observed not in (None, v.expected) for _, v in rows) / n,
                "undecided": sum(v.observed is None for _, v in rows) / n}

    return {**shares(verdicts), "kinds": {k: shares([r for r in verdicts if r[0].kind == k]) for k in KINDS},
            "opposite_descriptions": sorted({q.description for q, v in verdicts
                                             if v.observed not in (None, v.expected)})}
