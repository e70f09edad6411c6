"""The out-of-domain warning on the bundled model's real training captions: it fires on descriptions of motions
the Bandai data does not hold and rarely on held-out in-domain wording."""

from __future__ import annotations

import pytest

from motiongpt.eval.domain import load_out_of_domain, warning_rates
from motiongpt.generation.domain import DomainGuard
from motiongpt.generation.pipeline import MotionGPT


@pytest.fixture(scope="module")
def guard() -> DomainGuard:
    matcher = MotionGPT.from_pretrained().matcher  # the default model's captions (another shipped model's dir)
    assert matcher is not None
    return DomainGuard(matcher)


def test_the_warning_fires_out_of_domain_and_rarely_in_it(guard):
    assert len(load_out_of_domain()) >= 30
    rates = warning_rates(guard)
    assert rates["in_domain"] == 189
    assert rates["out_of_domain_warned"] >= 0.8 and rates["in_domain_warned"] <= 0.06, rates


def test_the_warning_is_one_line_naming_what_the_model_knows(guard):
    sit, caption = guard.check(["a person sits down on a chair", guard.matcher.captions[0]])
    message = sit.warning()
    assert sit.far and "\n" not in message and "sits down on a chair" in message and "kicking" in message
    assert not caption.far and caption.warning() is None


def test_the_nearest_caption_named_follows_the_matchers_side_rule(guard):
    from motiongpt.motion.sides import named_side

    texts = ["someone kicks with the right leg", "somebody waves using the left hand"]
    notes = guard.check(texts)
    assert [named_side(n.nearest) for n in notes] == ["right", "left"]
    assert [n.nearest for n in notes] == [m.caption for m in guard.matcher.match(texts)]


def test_the_cli_warns_in_one_line_for_a_far_description(guard, tmp_path, capsys):
    from motiongpt.cli import main

    texts = ["a person sits down on a chair", "a happy person waves with both hands"]
    assert main(["generate", *texts, "-o", str(tmp_path / "out"), "--formats", "npy", "--seed", "0"]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "sits down on a chair" in warnings[0] and "it knows walking" in warnings[0]
