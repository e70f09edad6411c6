"""Caption fidelity with the bundled model on real Bandai sample clips: measured, written, resumed, and loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest



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
    from motiongpt.eval.fidelity import partial_path, write_caption_fidelity
    from motiongpt.generation.matcher import FIDELITY_NAME
    from motiongpt.generation.pipeline import MotionGPT
    from motiongpt.io import dir_hash

    args = ["caption-fidelity", "--model", str(fidelity_model), "--data", str(sample_set), "--samples", "3",
            "--batch-size", "5", "--quiet"]
    assert main(args) == 0
    record = json.loads((fidelity_model / FIDELITY_NAME).read_text())
    values = np.array(record["fidelity"], np.float32)
    assert record["captions"] == 12 and record["samples"] == 3
    assert set(np.round(values * 3)) <= {0, 1, 2, 3}
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
    model_hash = dir_hash(fidelity_model)
    with pytest.raises(Interrupted):  # stopped after its first batch of 5 captions was saved
        write_caption_fidelity(model, evaluator, sample_set, fidelity_model, fidelity_model / "llm", samples=3,
                               batch_size=5, progress=False, on_batch=stop)
    assert partial_path(fidelity_model).is_file() and dir_hash(fidelity_model) == model_hash  # kept outside
    (fidelity_model / FIDELITY_NAME).unlink()
    assert main(args[:-3] + ["--batch-size", "4", "--quiet"]) == 0  # other batches: the same seeds per caption
    assert "resumed: 5 captions" in capsys.readouterr().out and not partial_path(fidelity_model).exists()
    resumed = json.loads((fidelity_model / FIDELITY_NAME).read_text())
    assert resumed == record  # the same values and group means as one run


def test_a_fidelity_file_of_another_llm_is_ignored_with_a_warning(fidelity_model, tmp_path):
    import shutil

    from motiongpt.generation.matcher import FIDELITY_NAME, fidelity_record
    from motiongpt.generation.pipeline import MotionGPT
    from motiongpt.io import write_json

    copy = tmp_path / "model"
    shutil.copytree(fidelity_model, copy)
    model = MotionGPT.from_pretrained(copy)
    write_json(copy / FIDELITY_NAME, fidelity_record(model.matcher, np.ones(12, np.float32), "another-llm"))
    with pytest.warns(UserWarning, match="measured with another LLM"):
        assert MotionGPT.from_pretrained(copy).matcher.fidelity is None
    (copy / FIDELITY_NAME).write_text("[1, 2")
    with pytest.warns(UserWarning, match="caption_fidelity.json"):
        assert MotionGPT.from_pretrained(copy).matcher.fidelity is None


def test_a_shipped_model_or_one_without_grouped_captions_is_one_line(sample_set, tmp_path, capsys):
    from motiongpt.cli import main
    from motiongpt.generation.pipeline import MotionGPT

    assert main(["caption-fidelity", "--data", str(sample_set)]) != 0
    assert "a model shipped in the package" in capsys.readouterr().err
    model = MotionGPT.from_pretrained()
    model.matcher = None
    model.save_pretrained(tmp_path / "model")
    assert main(["caption-fidelity", "--model", str(tmp_path / "model"), "--data", str(sample_set)]) != 0
    assert "grouped by content" in capsys.readouterr().err
