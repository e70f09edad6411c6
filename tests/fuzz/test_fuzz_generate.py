"""`motiongpt generate` with hostile arguments: exit 0 with finite motions, or exit 2 with one line; a bad argument
is refused before the model loads; nothing is left beside the output.

Over 150 argument sets: issue #16's cases by name, then seeded random mixes of valid and hostile values. The real
bundled model generates (loaded once; `from_pretrained` is wrapped to count loads, so "before any expensive work"
is checked as "before the model loads").
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

from motiongpt.cli import main
from motiongpt.generation.pipeline import MotionGPT

from .conftest import SEED, finite, leftovers, one_line_error

TEXTS = ["a person walks forward.", "a happy person waves with both hands", "someone jogs",
         "the $x^2$ dancer $\\frac{1}{0}$ jumps", "un homme marche 🚶", "  a tired woman runs  ", "<b>bold</b> & 'q'"]
HOSTILE_NUMBERS = ["-1", "0", "1e308", "inf", "-inf", "nan", "5e-324", "9" * 5000, "18446744073709551616",
                   "4294967296", "abc", "", " ", "1.5", "0x10", "+3", "٣", "1_0"]
OPTIONS = ["--seed", "--temperature", "--top-k", "--top-p", "--max-codes", "--num-samples", "--batch-size",
           "--init-token", "--last-token", "--key-tokens", "--device", "--formats"]
RANDOM_CASES = 120


@pytest.fixture()
def loads(monkeypatch, bundled):
    """Counts model loads; each returns the already loaded bundled model."""
    count = {"n": 0}

    def fake(cls, directory=None, device="cpu", dtype=None, **kwargs):
        from motiongpt.io import check_device

        check_device(device)
        count["n"] += 1
        return bundled

    monkeypatch.setattr(MotionGPT, "from_pretrained", classmethod(fake))
    return count


def poses(root: Path) -> dict[str, Path]:
    """Pose files: a good one, and the hostile kinds (npz renamed .npy, complex, huge, NaN, pickled, text)."""
    rng = np.random.default_rng(SEED)
    joints = (rng.standard_normal((12, 22, 3)) * 0.1 + [0, 1, 0]).astype(np.float32)
    files = {"good": joints, "complex": joints.astype(np.complex64), "huge": np.full((12, 22, 3), 1e300),
             "nan": np.where(np.arange(12)[:, None, None] == 3, np.nan, joints), "shape": joints[:, :5]}
    out = {}
    for name, array in files.items():
        out[name] = root / f"{name}.npy"
        np.save(out[name], array)
    np.savez(root / "two.npz", a=joints, b=joints)
    out["npz"] = root / "npz.npy"
    (root / "two.npz").rename(out["npz"])
    out["pickle"] = root / "pickle.npy"
    np.save(out["pickle"], np.array([{"a": 1}], dtype=object), allow_pickle=True)
    out["text"] = root / "text.npy"
    out["text"].write_text("not an array\n")
    return out


def named_cases(root: Path) -> dict[str, list[str]]:
    """Issue #16's generate cases, each refused before the model loads."""
    pose = poses(root)
    (root / "file").write_text("x")
    (root / "dangling").symlink_to(root / "nowhere")
    (root / "loop").symlink_to(root / "loop")
    (root / "binary.txt").write_bytes(bytes(range(256)))
    text = ["a person walks forward."]
    cases = {"init-token-5000-digits": text + ["--init-token", "9" * 5000],
             "key-tokens-5000-digits": text + ["--key-tokens", "1," + "9" * 5000],
             "pose-frame-5000-digits": text + ["--init-pose", f"{pose['good']}:{'9' * 5000}"],
             "out-existing-file": text + ["-o", str(root / "file")], "out-empty": text + ["-o", ""],
             "out-proc": text + ["-o", "/proc"], "out-dev-null": text + ["-o", "/dev/null"],
             "out-dangling-symlink": text + ["-o", str(root / "dangling")],
             "out-symlink-loop": text + ["-o", str(root / "loop")],
             "out-name-over-255-bytes": text + ["-o", str(root / ("é" * 200))],
             "seed-2^64": text + ["--seed", "18446744073709551616"], "seed-minus-1": text + ["--seed", "-1"],
             "seed-2^32": text + ["--seed", str(2**32)],
             "invalid-utf8-text": [os.fsdecode(b"a person \xff\xfe walks")],
             "from-file-binary": ["--from-file", str(root / "binary.txt")],
             "description-20000-chars": ["walk " * 4000], "num-samples-1e9": text + ["--num-samples", "1000000000"],
             "formats-png": text + ["--formats", "png"], "formats-empty": text + ["--formats", ",,"],
             "prompt-without-input": ["--prompt", "x"], "no-text": []}
    for device in ("cuda", "foo", "meta", "cuda:99", ""):
        cases[f"device-{device or 'empty'}"] = text + ["--device", device]
    for value in ("1e308", "inf", "5e-324", "nan", "0", "-1"):
        cases[f"temperature-{value}"] = text + ["--temperature", value]
    for value in ("nan", "0", "2"):
        cases[f"top-p-{value}"] = text + ["--top-p", value]
    for value in ("0", "100000"):
        cases[f"max-codes-{value}"] = text + ["--max-codes", value]
    for kind in ("npz", "complex", "huge", "nan", "shape", "pickle", "text"):
        cases[f"pose-{kind}"] = text + ["--init-pose", str(pose[kind])]
    return cases


def random_case(rng: random.Random, pose: Path) -> list[str]:
    """A mix of valid arguments and, with some chance, hostile values of random options."""
    argv = [rng.choice(TEXTS) for _ in range(rng.choice([1, 1, 1, 2]))]
    argv += ["--seed", str(rng.randrange(2**32)), "--max-codes", str(rng.randrange(2, 9)),
             "--formats", rng.choice(["npy", "bvh", "npy,bvh"])]
    if rng.random() < 0.3:
        argv += ["--num-samples", "2"]
    if rng.random() < 0.3:
        argv += ["--temperature", f"{rng.uniform(0.05, 3):.3f}", "--top-k", str(rng.randrange(0, 300))]
    if rng.random() < 0.3:
        argv += [rng.choice(["--init-token", "--last-token"]), str(rng.randrange(0, 600))]
    if rng.random() < 0.2:
        argv += ["--key-tokens", ",".join(str(rng.randrange(0, 520)) for _ in range(rng.randrange(1, 4)))]
    if rng.random() < 0.2:
        argv += ["--init-pose", f"{pose}:{rng.randrange(0, 12)}"]
    for _ in range(rng.choice([0, 0, 1, 2])):
        option = rng.choice(OPTIONS)
        argv += [option, rng.choice(HOSTILE_NUMBERS + ["cpu", "npy,gif", "1,2,,3", "-5,3"])]
    return argv


def run(argv: list[str]) -> tuple[int, str]:
    """(exit code, the exception that escaped `main` if one did: a traceback for the user)."""
    try:
        return main(argv), ""
    except SystemExit as stop:  # argparse's own refusals
        return int(stop.code), ""
    except Exception as err:  # noqa: BLE001 - the point: nothing may escape
        return -1, f"{type(err).__name__}: {str(err)[:100]}"


def test_generate_arguments_fuzz(tmp_path, capsys, loads, bundled):
    root = tmp_path / "inputs"
    root.mkdir()
    named = named_cases(root)
    rng = random.Random(SEED)
    random_cases = {f"random-{k}": random_case(rng, root / "good.npy") for k in range(RANDOM_CASES)}
    failures, outcomes = [], {"generated": 0, "refused": 0}
    work = tmp_path / "work"
    for name, argv in [*named.items(), *random_cases.items()]:
        work.mkdir()
        out = str(work / "out")
        if "-o" not in argv:
            argv = argv + ["-o", out]
        before = loads["n"]
        code, escaped = run(["generate", *argv])
        err = capsys.readouterr().err + escaped
        if code == 2:
            outcomes["refused"] += 1
            if not one_line_error(err):
                failures.append(f"{name}: stderr {err[-300:]!r}")
            if name in named and loads["n"] != before:
                failures.append(f"{name}: refused only after the model loaded")
            if leftovers(work):
                failures.append(f"{name}: left {leftovers(work)}")
        elif code == 0:
            outcomes["generated"] += 1
            if name in named:
                failures.append(f"{name}: accepted")
            records = sorted(Path(out).rglob("tokens.json"))
            if not records or leftovers(work, {"out"}):
                failures.append(f"{name}: wrote {records}, left {leftovers(work, {'out'})}")
            for record in records:
                motion = record.parent / "motion.npy"
                if motion.is_file() and not finite(np.load(motion)):
                    failures.append(f"{name}: NaN in {motion}")
                if not json.loads(record.read_text())["satisfies_controls"]:
                    failures.append(f"{name}: controls not met")
        else:
            failures.append(f"{name}: exit {code}, stderr {err[-300:]!r}")
        _remove(work)
    total = len(named) + len(random_cases)
    print(f"generate fuzz: {total} argument sets, {outcomes}, {len(failures)} failures")
    assert total >= 150
    assert not failures, failures[:20]
    assert outcomes["generated"] >= 30


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path)


def test_a_dollar_title_renders_literally(tmp_path, loads):
    out = tmp_path / "out"
    assert main(["generate", "the $x^2$ dancer $\\frac{1}{0}$ jumps", "-o", str(out), "--max-codes", "3", "--seed", "1",
                 "--formats", "gif,mp4", "--no-match"]) == 0
    assert (out / "motion.gif").stat().st_size > 0 and (out / "motion.mp4").stat().st_size > 0
