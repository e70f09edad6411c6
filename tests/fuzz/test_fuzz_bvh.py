"""Malformed BVH files: each is read (and put through the rig map and resampling) or refused with one line.

330 files: the named cases of issue #16 and seeded random mutations (lines dropped, doubled or swapped, tokens
replaced with hostile values, bytes inserted, the file cut) of real BVH files. A subset goes through the whole
`motiongpt data from-bvh` command, which must exit 0 or 2 with one line, leave no temporary folder, and write no
NaN and no all-zero joints.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from motiongpt.cli import main
from motiongpt.data.humanml3d import bvh_to_joints
from motiongpt.errors import MotionGPTError
from motiongpt.limits import MAX_CLIP_SECONDS

from .conftest import SEED, finite, leftovers, one_line_error

HOSTILE = ["", "nan", "inf", "-inf", "1e309", "1e200", "-1e200", "5e-324", "abc", "{", "}", "JOINT", "ROOT",
           "CHANNELS", "End", "Site", "MOTION", "-0", "9" * 50, "9" * 5000, "0x10", "1_000", "\u00e9", "\t", "12 13",
           "OFFSET", "Xrotation", "Frames:", "Frame Time:", "-1", "0", "3.5", "1e5"]
RANDOM_CASES = 300


def header_edit(text: str, label: str, value: str) -> str:
    return "\n".join(f"{label} {value}" if line.strip().startswith(label) else line for line in text.split("\n"))


def nested(depth: int) -> str:
    """A hierarchy of `depth` joints, each inside the last, and one frame."""
    head = ["HIERARCHY", "ROOT Hips", "{", "OFFSET 0 0 0", "CHANNELS 3 Zrotation Xrotation Yrotation"]
    head += [line for k in range(depth) for line in (f"JOINT j{k}", "{", "OFFSET 0 1 0", "CHANNELS 1 Zrotation")]
    head += ["}"] * (depth + 1)
    return "\n".join(head + ["MOTION", "Frames: 1", "Frame Time: 0.05", " ".join(["0"] * (3 + depth))]) + "\n"


def named_cases(base: str) -> dict[str, str | bytes]:
    """Issue #16's cases by name, and their neighbours."""
    cases: dict[str, str | bytes] = {}
    for value in ("inf", "1e300", "1e5", "5e-324", "1000", "0", "-0.033", "nan", "-inf", "abc", ""):
        cases[f"frame-time-{value or 'empty'}"] = header_edit(base, "Frame Time:", value)
    for value in ("0", "-1", "9" * 5000, "1.5", "", "1000000000"):
        cases[f"frames-{value[:8] or 'empty'}"] = header_edit(base, "Frames:", value)
    cases["nested-1200"] = nested(1200)
    cases["nested-250"] = nested(250)
    lines = base.split("\n")
    motion = next(i for i, line in enumerate(lines) if line.strip() == "MOTION")
    values = [" ".join("1e200" for _ in line.split()) for line in lines[motion + 3:] if line.strip()]
    cases["every-value-1e200"] = "\n".join(lines[:motion + 3] + values) + "\n"
    cases["offsets-1e200"] = "\n".join(line.replace("OFFSET", "OFFSET 1e200 1e200 1e200 #") if "OFFSET" in line
                                       else line for line in lines)
    cases["empty"] = ""
    cases["binary"] = bytes(range(256)) * 4
    cases["invalid-utf8"] = base.encode()[:200] + b"\xff\xfe" + base.encode()[200:]
    cases["no-motion"] = "\n".join(lines[:motion]) + "\n"
    cases["only-header"] = "HIERARCHY\n"
    return cases


def mutate(text: str, rng: random.Random) -> str | bytes:
    """One seeded random mutation of a BVH text."""
    lines = text.split("\n")
    kind = rng.randrange(8)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    if kind == 0:
        del lines[i]
    elif kind == 1:
        lines.insert(i, lines[j])
    elif kind == 2:
        lines[i], lines[j] = lines[j], lines[i]
    elif kind in (3, 4, 5):
        words = lines[i].split() or [""]
        words[rng.randrange(len(words))] = rng.choice(HOSTILE)
        lines[i] = " ".join(words)
    elif kind == 6:
        data = text.encode()
        cut = rng.randrange(len(data))
        return data[:cut] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8))) + data[cut:]
    else:
        return text[:rng.randrange(len(text))]
    return "\n".join(lines)


def cases(sources: list[Path]) -> list[tuple[str, str | bytes]]:
    rng = random.Random(SEED)
    texts = [source.read_text() for source in sources]
    out = [(f"{name}@{source.stem}", case) for source, text in zip(sources, texts)
           for name, case in named_cases(text).items()]
    for k in range(RANDOM_CASES):
        source = rng.randrange(len(texts))
        out.append((f"random-{k}@{sources[source].stem}", mutate(texts[source], rng)))
    return out


def write(path: Path, case: str | bytes) -> Path:
    if isinstance(case, bytes):
        path.write_bytes(case)
    else:
        path.write_text(case)
    return path


def test_malformed_bvh_is_read_or_refused_in_one_line(bvh_sources, tmp_path):
    outcomes = {"read": 0, "refused": 0}
    failures = []
    all_cases = cases(bvh_sources)
    assert len(all_cases) >= 300
    for name, case in all_cases:
        path = write(tmp_path / "case.bvh", case)
        try:
            joints = bvh_to_joints(path)
        except MotionGPTError as err:
            message = str(err)
            if "\n" in message or not message.startswith(str(path)):
                failures.append(f"{name}: message {message[:120]!r}")
            outcomes["refused"] += 1
            continue
        except Exception as err:  # noqa: BLE001 - the point: nothing else may escape
            failures.append(f"{name}: {type(err).__name__}: {str(err)[:120]}")
            continue
        outcomes["read"] += 1
        if not finite(joints) or joints.shape[1:] != (22, 3) or len(joints) > MAX_CLIP_SECONDS * 20 + 1:
            failures.append(f"{name}: read as {joints.shape} with finite={finite(joints)}")
    print(f"BVH fuzz: {len(all_cases)} cases, {outcomes}, {len(failures)} failures")
    assert not failures, failures[:20]
    assert outcomes["refused"] >= 100 and outcomes["read"] >= 10


@pytest.mark.parametrize("which", ["frame-time-1000", "frames-0", "every-value-1e200", "nested-1200",
                                   "random-0", "random-1", "random-2", "random-3", "random-4", "random-5"])
def test_data_from_bvh_exits_cleanly_and_leaves_nothing(bvh_sources, tmp_path, capsys, which):
    name, case = next((n, c) for n, c in cases(bvh_sources) if n.startswith(f"{which}@"))
    clip = write(tmp_path / "clip.bvh", case)
    out = tmp_path / "data"
    code = main(["data", "from-bvh", str(clip), "--out", str(out), "--workers", "1"])
    err = capsys.readouterr().err
    assert code in (0, 2), name
    if code == 2:
        assert one_line_error(err), err
        assert leftovers(tmp_path, {"clip.bvh"}) == []
    else:
        assert leftovers(tmp_path, {"clip.bvh", "data"}) == []
        for path in (out / "new_joints").glob("*.npy"):
            joints = np.load(path)
            assert finite(joints) and np.abs(joints).max() > 0, path
