"""The out-of-domain warning: when a description is far from everything the model was trained on, say so in one
line and name what it does know, instead of silently answering with the nearest thing it learnt.

"Far" is measured with the caption matcher's sentence encoder: the larger of (a) the cosine similarity to the
nearest training caption and (b) the similarity to the nearest known action phrase ("a person waves the left
hand"; captions carry style words that lift (a) for any text). Below `FAR_BELOW` the description is far. On the
34 out-of-domain descriptions of `eval/out_of_domain.txt` (sit, cartwheel, swim, ...) and the 189 held-out in-domain
descriptions of `eval/heldout_wording.tsv`, against the bundled model's captions, 0.55 warns on 29 of 34 (85 %) of
the first and 11 of 189 (6 %) of the second, mostly typo-heavy ones such as "persn walkin forwrd"; see
benchmarks/bench_domain_warning.py.
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
from dataclasses import dataclass

import numpy as np

from motiongpt.data.bandai import ACTIONS
from motiongpt.generation.matcher import CaptionMatcher
from motiongpt.sentences import embed_sentences, encoder_installed

FAR_BELOW = 0.55
# what a Bandai-trained model knows: one phrase per content (compared with the description), and in a few words
BANDAI_PHRASES = tuple(dict.fromkeys(phrases[0] for phrases in ACTIONS.values()))
BANDAI_SUMMARY = ("walking (forward, backward, diagonally, turning left or right), running, sprinting, bowing, "
                  "waving or raising one or both hands, guiding, calling, punching, kicking, slashing, dancing, "
                  "in styles such as happy, sad, tired, proud, old, feminine or masculine")


@dataclass(frozen=True)
class DomainNote:
    text: str
    similarity: float  # the larger of the caption and the action similarity
    nearest: str  # the training caption the matcher gives the LLM for it
    known: str  # what the model knows, in a few words
    threshold: float = FAR_BELOW

    @property
    def far(self) -> bool:
        return self.similarity < self.threshold

    def warning(self) -> str | None:
        """One line for the CLI, the API result and the web page; None when the description is in the domain."""
        if not self.far:
            return None
        return (f"{self.text!r} is far from what this model learnt (similarity {self.similarity:.2f}, nearest "
                f"{self.nearest!r}); it knows {self.known}")


class DomainGuard:
    """Checks descriptions against a model's training captions and the actions it knows."""

    def __init__(self, matcher: CaptionMatcher, phrases: Sequence[str] = BANDAI_PHRASES,
                 summary: str = BANDAI_SUMMARY, threshold: float = FAR_BELOW):
        self.matcher, self.summary, self.threshold = matcher, summary, threshold
        self.phrase_vectors = embed_sentences([f"a person {p}" for p in phrases]).numpy() if phrases else None

    def check(self, texts: Sequence[str]) -> list[DomainNote]:
        vectors = embed_sentences(list(texts)).numpy()
        best, captions = self.matcher.nearest(texts, vectors)  # the caption the matcher gives the LLM
        similarity = captions.max(axis=1)
        if self.phrase_vectors is not None:
            similarity = np.maximum(similarity, (vectors @ self.phrase_vectors.T).max(axis=1))
        return [DomainNote(text, float(s), self.matcher.captions[b], self.summary, self.threshold)
                for text, s, b in zip(texts, similarity, best)]


@functools.lru_cache(maxsize=4)
def guard_for(matcher: CaptionMatcher) -> DomainGuard:
    """One guard per loaded matcher (its phrase vectors are computed once)."""
    return DomainGuard(matcher)


def domain_warnings(matcher: CaptionMatcher | None, texts: Sequence[str]) -> dict[str, str]:
    """text -> one-line warning, for the descriptions far from what the model learnt (none without a matcher)."""
    if matcher is None or not texts or not encoder_installed():
        return {}  # without the sentence encoder there is no calibrated similarity to warn by
    notes = guard_for(matcher).check(list(dict.fromkeys(texts)))
    return {note.text: note.warning() for note in notes if note.far}
