"""Caption fidelity with the bundled model on real Bandai sample clips: measured, written, resumed, and loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from motiongpt.errors import MotionGPTError


@pytest.fixture(scope="module")
def fidelity_model(sample_set, tmp_path_factory):
    """The bundled model with a small caption list: 3 train captions of each of 4 sample-set contents."""
    from motiongpt.data import layout
    from motiongpt.data.bandai import named_content
    from motiongpt.generation.matcher import CaptionMatcher
    from motiongpt.generation.pipeline import MotionGPT

    chosen: dict[str, list[str]] = {}
    for motion in layout.split_ids(sample_set, "train"):
        content = named_content(motion)
        if content in ("run", "walk", "raise-up-both-hands", "wave-left-hand"):
            for caption in layout.load_captions(sample_set, motion):
                if len(chosen.setdefault(content, [])) < 3 and caption.text not in chosen[content]:
                    chosen[content].append(caption.text)
    model = MotionGPT.from_pretrained()
    model.matcher = CaptionMatcher.build([c for cs in chosen.values() for c in cs],
                                         [g for g, cs in chosen.items() for _ in cs])
    out = tmp_path_factory.mktemp("fidelity") / "model"
    model.save_pretrained(out)
    return out


def test_fidelity_is_measured_written_resumed_and_used(fidelity_model, sample_set, capsys):
    from motiongpt.cli import main
    from motiongpt.eval.evaluator import TextMotionEvaluator
    from motiongpt.eval.evaluators import evaluator_dir
    from motiongpt.eval.fidelity import PARTIAL_NAME, write_caption_fidelity
    from motiongpt.generation.matcher import FIDELITY_NAME
    from motiongpt.generation.pipeline import MotionGPT

    args = ["caption-fidelity", "--model", str(fidelity_model), "--data", str(sample_set), "--samples", "2",
            "--batch-size", "4", "--quiet"]
    assert main(args) == 0
    record = json.loads((fidelity_model / FIDELITY_NAME).read_text())
    values = np.array(record["fidelity"], np.float32)
    assert record["captions"] == 12 and record["samples"] == 2 and set(values) <= {0.0, 0.5, 1.0}
    assert values.mean() > 0.6  # the bundled model mostly renders its own kind of caption as its content
    assert set(record["groups"]) == {"run", "walk", "raise-up-both-hands", "wave-left-hand"}
    printed = capsys.readouterr().out
    assert "12 captions judged" in printed and "run " in printed

    model = MotionGPT.from_pretrained(fidelity_model)
    np.testing.assert_array_equal(model.matcher.fidelity, values)  # loaded beside the captions

    class Interrupted(Exception):
        pass

    def stop(_values):
        raise Interrupted

    evaluator = TextMotionEvaluator.from_pretrained(evaluator_dir("bundled"))
    with pytest.raises(Interrupted):  # stopped after its first batch of 4 captions was saved
        write_caption_fidelity(model, evaluator, sample_set, fidelity_model, samples=2, batch_size=4,
                               progress=False, on_batch=stop)
    assert (fidelity_model / PARTIAL_NAME).is_file()
    (fidelity_model / FIDELITY_NAME).unlink()
    assert main(args) == 0
    assert "resumed: 4 captions" in capsys.readouterr().out and not (fidelity_model / PARTIAL_NAME).exists()
    resumed = np.array(json.loads((fidelity_model / FIDELITY_NAME).read_text())["fidelity"], np.float32)
    np.testing.assert_array_equal(resumed, values)  # same seeds per batch: the same values as one run


def test_a_model_without_grouped_captions_is_one_line(sample_set, tmp_path, capsys):
    from motiongpt.cli import main
    from motiongpt.generation.pipeline import MotionGPT

    model = MotionGPT.from_pretrained()
    model.matcher = None
    model.save_pretrained(tmp_path / "model")
    assert main(["caption-fidelity", "--model", str(tmp_path / "model"), "--data", str(sample_set)]) != 0
    assert "no caption list" in capsys.readouterr().err
    with pytest.raises(MotionGPTError, match="grouped by content"):
        from motiongpt.eval.fidelity import caption_fidelity
        from motiongpt.generation.matcher import CaptionMatcher

        model.matcher = CaptionMatcher.build(["a person walks forward."])
        caption_fidelity(model, None, sample_set)
