"""Length control: `frames=N` / `seconds=S` (`--frames`, `--seconds`, the API's fields) give exactly N frames, from
exactly the codes N needs, with every control still met, through the bundled model's constrained decoder."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from fastapi.testclient import TestClient

from motiongpt.app.server import create_app
from motiongpt.cli import main
from motiongpt.errors import MotionGPTError
from motiongpt.generation.pipeline import MotionGPT

LENGTHS = 60


@pytest.fixture(scope="module")
def bundled() -> MotionGPT:
    return MotionGPT.from_pretrained()


def test_random_lengths_are_met_exactly(bundled):
    rng = random.Random(16)
    texts = ["a person walks forward.", "someone jogs", "a tired woman waves the right hand"]
    counts = []
    for k in range(LENGTHS):
        frames = rng.randrange(1, 197)
        controls = rng.choice([{}, {"init_token": rng.randrange(512)}, {"last_token": rng.randrange(512)},
                               {"key_tokens": [rng.randrange(512), rng.randrange(512)]}])
        if sum(len(v) if isinstance(v, list) else 1 for v in controls.values()) > -(-frames // 4):
            controls = {}
        motion = bundled.generate(rng.choice(texts), seed=k, frames=frames, **controls)[0]
        assert len(motion.joints) == len(motion.features) == frames
        assert len(motion.codes) == -(-frames // 4) == motion.settings.max_codes
        assert motion.satisfies_controls and np.isfinite(motion.joints).all()
        counts.append((frames, len(motion.joints)))
    assert all(a == b for a, b in counts)
    print(f"length control: {len(counts)} random lengths, {sum(a == b for a, b in counts)} exact")


def test_seconds_and_batches(bundled):
    motions = bundled.generate(["a person walks forward.", "someone jogs"], num_samples=3, seconds=2.5, seed=1)
    assert {len(m.joints) for m in motions} == {50} and {len(m.codes) for m in motions} == {13}
    alone = bundled.generate("someone jogs", seconds=2.5, seed=5)[0]  # sample 4 of the call: seed 1 + 4
    assert alone.codes == motions[4].codes  # a batch and single runs give the same codes at a forced length
    free = bundled.generate("someone jogs", seed=4)[0]
    assert free.settings.frames is None and len(free.joints) == 4 * len(free.codes)


@pytest.mark.parametrize("kwargs,message", [
    ({"frames": 0}, "length in frames 0"), ({"seconds": 0.01}, "shorter than one frame"),
    ({"seconds": float("nan")}, "length in seconds"), ({"frames": 8, "seconds": 1.0}, "not both"),
    ({"frames": 8, "constrained": False}, "constrained decoding"),
    ({"frames": 4, "key_tokens": [1, 2, 3]}, "at least 3 codes"),
])
def test_bad_lengths_are_one_line_errors(bundled, kwargs, message):
    with pytest.raises(MotionGPTError, match=message):
        bundled.generate("a person walks forward.", **kwargs)


def test_the_command_and_the_api_take_a_length(bundled, tmp_path, monkeypatch):
    monkeypatch.setattr(MotionGPT, "from_pretrained", classmethod(lambda cls, *a, **k: bundled))
    assert main(["generate", "a person walks forward.", "-o", str(tmp_path / "a"), "--frames", "37",
                 "--formats", "npy", "--seed", "2"]) == 0
    assert np.load(tmp_path / "a" / "motion.npy").shape == (37, 22, 3)
    assert json.loads((tmp_path / "a" / "tokens.json").read_text())["settings"]["frames"] == 37
    assert main(["generate", "a person walks forward.", "-o", str(tmp_path / "b"), "--seconds", "1.5",
                 "--formats", "npy"]) == 0
    assert np.load(tmp_path / "b" / "motion.npy").shape == (30, 22, 3)
    with TestClient(create_app(bundled, store_root=tmp_path)) as client:
        by_seconds = client.post("/api/generate", data={"text": "someone jogs", "seconds": "2"})
        by_frames = client.post("/api/generate", data={"text": "someone jogs", "frames": "23"})
        too_long = client.post("/api/generate", data={"text": "someone jogs", "seconds": "60"})
    assert by_seconds.json()["results"][0]["frames"] == 40 and by_frames.json()["results"][0]["frames"] == 23
    assert too_long.status_code == 400 and "length in seconds" in too_long.json()["error"]
