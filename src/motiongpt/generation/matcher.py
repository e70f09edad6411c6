"""Caption matching: a free-form description is replaced by the nearest caption the LLM was trained on.

A small LLM finetuned on template captions follows only the words those templates use: it knows "walks forward",
not "strolls ahead". The frozen sentence encoder all-MiniLM-L6-v2 was trained on a billion sentence pairs and
knows both, so the description goes to the LLM as the training caption nearest to it: cosine similarity of
sentence vectors plus WORD_WEIGHT x the TF-IDF cosine of shared words and word pairs. The sentence vectors alone
weigh style words over the action ("a feminine man steps back several times" came nearest to "a feminine man takes
several steps forward"); the shared words pull the action back (the matched caption names the content asked for in
0.83 -> 0.88 of template captions and 0.84 -> 0.88 of the held-out wording, MODEL_CARD.md). A description that
already is a training caption goes through unchanged.

Captions of labelled data (Bandai: each motion's content) carry a group. A description then first picks the group
whose mean sentence vector, plus WORD_WEIGHT x the best shared-word cosine of its captions, is nearest, and only then
the nearest caption within it. Every content is captioned in every style, so the styles average out of a group's
mean and the action decides: "a dignified figure is walking forward" no longer lands on "a dignified figure is
walking backward" (the matched caption names the content asked for in 0.866 -> 0.976 of template captions and
0.881 -> 0.919 of the held-out wording: benchmarks/bench_matcher.py). Large LLMs finetuned on rich captions (the
paper's setting) need none of this: a model dir without `captions/` skips the step.

A small LLM also renders some captions of a content as another one: "someone sprints forward energetically" gave
runs in 3 of 3 samples where "someone dashes forward timidly" gave dashes. A model dir may hold each caption's
fidelity to its LLM (FIDELITY_NAME: the share of the caption's generated motions judged to show its own content,
`motiongpt caption-fidelity`). A caption rendered right less often than FIDELITY_MIN is then not handed to the LLM,
not even for a description that is that caption, unless no other caption is left to choose from (in the chosen
group, on the side asked); among the others, similarity + FIDELITY_WEIGHT x fidelity decides.

The encoder's files come with the `matcher` extra (`pip install 'motiongpt[matcher]'`). Without it the matcher
falls back to words: TF-IDF cosine over the words and word pairs of the captions, which finds "a happy person
waves with both hands" but not "someone strolls ahead"; `Match.method` says which was used.

    captions/config.json      {"model_type": "caption-matcher", "encoder": "all-MiniLM-L6-v2", "captions": N}
    captions/captions.txt     one training caption per line
    captions/embeddings.npy   (N, 384) float16 unit sentence vectors, in that order
    captions/groups.txt       optional: the group of each caption, in that order
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motiongpt.data import layout
from motiongpt.data.bandai import named_content
from motiongpt.errors import MotionGPTError
from motiongpt.io import atomic_directory, dir_hash, load_npy, read_json, save_npy, write_json, write_text
from motiongpt.motion.sides import named_side
from motiongpt.sentences import TEXT_MODEL, embed_sentences, encoder_installed

MATCHER_DIR = "captions"
MODEL_TYPE = "caption-matcher"
GROUPS_NAME = "groups.txt"
WORD_WEIGHT = 0.3  # of the TF-IDF word cosine beside the sentence vectors' (0.1 to 0.5 all helped; MODEL_CARD.md)
FIDELITY_NAME = "caption_fidelity.json"  # in the model dir, not captions/: it depends on the LLM, and shipped models
# share one caption list
FIDELITY_MIN = 0.5  # the share of a caption's motions that must show its content for it to be handed to the LLM
FIDELITY_WEIGHT = 0.25  # of a kept caption's fidelity beside its similarity


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


@dataclass(frozen=True)
class Match:
    text: str  # what the user wrote
    caption: str  # what the LLM is given
    similarity: float  # cosine similarity of their sentence vectors (1.0 when the text is a training caption)
    method: str = "encoder"  # "encoder" (sentence vectors + shared words), "words" (TF-IDF alone, without the
    # encoder) or "exact"


def _terms(text: str) -> list[str]:
    """Words (a final s dropped: walks, backwards) and word pairs."""
    words = [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in _key(text).split()]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


class WordIndex:
    """TF-IDF cosine of words and word pairs against the captions: the matcher's fallback without the encoder."""

    def __init__(self, captions: Sequence[str]):
        postings: dict[str, list[int]] = {}
        for row, caption in enumerate(captions):
            for term in set(_terms(caption)):
                postings.setdefault(term, []).append(row)
        self.idf = {t: float(np.log((1 + len(captions)) / (1 + len(rows))) + 1.0) for t, rows in postings.items()}
        self.rows = {t: np.asarray(rows) for t, rows in postings.items()}
        norms = np.zeros(len(captions))
        for term, rows in self.rows.items():
            norms[rows] += self.idf[term] ** 2
        self.norms = np.sqrt(np.maximum(norms, 1e-12))

    def scores(self, text: str) -> np.ndarray:
        """The cosine similarity of the text to every caption (0.0 where no word is shared)."""
        scores = np.zeros(len(self.norms))
        query = [t for t in set(_terms(text)) if t in self.idf]
        for term in query:
            scores[self.rows[term]] += self.idf[term] ** 2
        norm = np.sqrt(sum(self.idf[t] ** 2 for t in query)) or 1.0
        return scores / (self.norms * norm)

    def best(self, text: str, excluded: np.ndarray | None = None) -> tuple[int, float]:
        """(row of the nearest caption, cosine similarity), never an `excluded` row; 0.0 when no word is shared."""
        scores = self.scores(text)
        if excluded is not None:
            scores[excluded] = -1.0
        best = int(scores.argmax())
        return best, float(scores[best])


class CaptionMatcher:
    def __init__(self, captions: Sequence[str], embeddings: np.ndarray, groups: Sequence[str] | None = None,
                 fidelity: np.ndarray | None = None, fidelity_notes: dict | None = None):
        if len(captions) != len(embeddings) or not len(captions):
            raise MotionGPTError(f"caption matcher: {len(captions)} captions but {len(embeddings)} vectors")
        if groups is not None and len(groups) != len(captions):
            raise MotionGPTError(f"caption matcher: {len(captions)} captions but {len(groups)} groups")
        if fidelity is not None and len(fidelity) != len(captions):
            raise MotionGPTError(f"caption matcher: {len(captions)} captions but {len(fidelity)} fidelities")
        self.captions = list(captions)
        self.embeddings = np.asarray(embeddings, np.float32)
        self.groups = None if groups is None else list(groups)
        self.fidelity = None if fidelity is None else np.asarray(fidelity, np.float32)
        self.fidelity_notes = dict(fidelity_notes or {})  # how it was measured (samples, seed, judge, per group)
        # NaN (a caption whose content could not be judged) counts as faithful
        self._faithful = None if fidelity is None else np.nan_to_num(self.fidelity, nan=1.0)
        if self.groups is not None:
            names = sorted(set(self.groups))
            rows = {name: i for i, name in enumerate(names)}
            self.members = np.array([rows[g] for g in self.groups])[None, :] == np.arange(len(names))[:, None]
            means = np.stack([self.embeddings[m].mean(axis=0) for m in self.members])
            self.group_vectors = means / np.linalg.norm(means, axis=1, keepdims=True)
        self.index = {_key(c): row for row, c in enumerate(self.captions)}
        self._words: WordIndex | None = None  # built on first use (`word_index`)
        sides = np.array([named_side(c) or "" for c in self.captions])
        # a description naming one side never gets a caption naming the other ("kicks with the right leg" was
        # read as a left-leg caption, similarity 0.76, before this)
        self.other_side = {"left": sides == "right", "right": sides == "left"}

    @classmethod
    def build(cls, captions: Sequence[str], groups: Sequence[str] | None = None) -> "CaptionMatcher":
        """A matcher of the distinct captions; with `groups` (one per caption given), each distinct caption keeps
        the group it is given with most often."""
        votes: dict[str, Counter] = {}
        for i, caption in enumerate(captions):
            if caption.strip():
                votes.setdefault(caption.strip(), Counter())[None if groups is None else groups[i]] += 1
        unique = sorted(votes)
        grouped = None if groups is None else [min(votes[c].items(), key=lambda kv: (-kv[1], kv[0]))[0]
                                               for c in unique]
        return cls(unique, embed_sentences(unique).numpy(), grouped)

    @classmethod
    def from_dataset(cls, data_dir: str | Path, split: str = "train") -> "CaptionMatcher":
        """The captions of a dataset split in HumanML3D layout (the ones the LLM was finetuned on), grouped by the
        content they name when every motion of the split has Bandai labels."""
        pairs = [(c.text, named_content(i)) for i in layout.split_ids(data_dir, split)
                 for c in layout.load_captions(data_dir, i)]
        groups = [g for _, g in pairs]
        return cls.build([t for t, _ in pairs], None if None in groups else groups)

    def match(self, texts: Sequence[str]) -> list[Match]:
        out: list[Match | None] = [None] * len(texts)
        unknown = []
        for i, text in enumerate(texts):
            known = self.index.get(_key(text))
            if known is not None and (self._faithful is None or self._faithful[known] >= FIDELITY_MIN):
                out[i] = Match(text, text, 1.0, "exact")
            else:
                unknown.append(i)
        if unknown and not encoder_installed():
            for i in unknown:
                excluded = self._excluded(texts[i])
                if self._faithful is not None:
                    refused = self._faithful < FIDELITY_MIN if excluded is None else excluded | (
                        self._faithful < FIDELITY_MIN)
                    excluded = excluded if refused.all() else refused
                row, similarity = self.word_index().best(texts[i], excluded)
                out[i] = Match(texts[i], self.captions[row], similarity, "words")
        elif unknown:
            asked = [texts[i] for i in unknown]
            best, similarity = self.nearest(asked, embed_sentences(asked).numpy())  # not cached: any text comes
            for row, i in enumerate(unknown):
                out[i] = Match(texts[i], self.captions[best[row]], float(similarity[row, best[row]]))
        return out

    def nearest(self, texts: Sequence[str], vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the row of the caption each text is matched to, the (texts, captions) sentence-vector similarities): the
        rows maximise similarity + WORD_WEIGHT x the shared-word cosine (+ FIDELITY_WEIGHT x the caption's
        fidelity, among the captions of at least FIDELITY_MIN where any is left to choose from), under the side
        rule of `similarity`."""
        similarity = self.similarity(texts, vectors)
        words = np.stack([self.word_index().scores(text) for text in texts])
        score = similarity + WORD_WEIGHT * words
        if self._faithful is not None:
            score = score + FIDELITY_WEIGHT * self._faithful
        if self.groups is not None:
            group_score = vectors @ self.group_vectors.T + WORD_WEIGHT * np.stack(
                [np.where(m, words, -np.inf).max(axis=1) for m in self.members], axis=1)
            allowed = np.stack([np.isfinite(similarity[:, m]).any(axis=1) for m in self.members], axis=1)
            chosen = np.where(allowed, group_score, -np.inf).argmax(axis=1)
            score = np.where(self.members[chosen], score, -np.inf)
        if self._faithful is not None:
            kept = np.where(self._faithful >= FIDELITY_MIN, score, -np.inf)
            score = np.where(np.isfinite(kept).any(axis=1, keepdims=True), kept, score)
        return score.argmax(axis=1), similarity

    def with_fidelity(self, fidelity: np.ndarray | None, notes: dict | None = None) -> "CaptionMatcher":
        """This matcher choosing among its captions by their fidelity too (see the module docstring); `notes`: how
        the fidelity was measured, which a saved copy writes beside it."""
        return CaptionMatcher(self.captions, self.embeddings, self.groups, fidelity, notes)

    def captions_sha256(self) -> str:
        """The hash of the caption list, which a fidelity file is tied to."""
        return hashlib.sha256("\n".join(self.captions).encode("utf-8")).hexdigest()

    def word_index(self) -> WordIndex:
        """The TF-IDF index of the captions, built on first use."""
        if self._words is None:
            self._words = WordIndex(self.captions)
        return self._words

    def similarity(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """(texts, captions) cosine similarities of the texts' sentence vectors to the captions, -inf for the
        captions a text may not be matched to (those naming the other side)."""
        similarity = vectors @ self.embeddings.T
        for row, text in enumerate(texts):
            excluded = self._excluded(text)
            if excluded is not None:
                similarity[row, excluded] = -np.inf
        return similarity

    def _excluded(self, text: str) -> np.ndarray | None:
        """The captions a text may not be matched to: those naming the side it does not; None if it names none
        or every caption would go."""
        side = named_side(text)
        if side is None or self.other_side[side].all():
            return None
        return self.other_side[side]

    def save_pretrained(self, directory: str | Path, overwrite: bool = False) -> None:
        with atomic_directory(directory, overwrite=overwrite) as tmp:
            write_json(tmp / "config.json", {"model_type": MODEL_TYPE, "encoder": TEXT_MODEL,
                                             "captions": len(self.captions)})
            write_text(tmp / "captions.txt", "\n".join(self.captions) + "\n")
            save_npy(tmp / "embeddings.npy", self.embeddings.astype(np.float16))
            if self.groups is not None:
                write_text(tmp / GROUPS_NAME, "\n".join(self.groups) + "\n")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "CaptionMatcher":
        directory = Path(directory)
        config = read_json(directory / "config.json")
        if config.get("model_type") != MODEL_TYPE or config.get("encoder") != TEXT_MODEL:
            raise MotionGPTError(f"{directory}/config.json: not a caption matcher for {TEXT_MODEL}")
        captions = (directory / "captions.txt").read_text(encoding="utf-8").splitlines()
        groups = (directory / GROUPS_NAME).read_text(encoding="utf-8").splitlines() \
            if (directory / GROUPS_NAME).is_file() else None
        return cls(captions, load_npy(directory / "embeddings.npy", "caption vectors"), groups)


def llm_weights_hash(llm_dir: str | Path) -> str:
    """What ties a fidelity file to the LLM it was measured with: the hash of its weights (not of the notes and
    logs beside them)."""
    return dir_hash(llm_dir, "*.safetensors")


def fidelity_record(matcher: CaptionMatcher, fidelity: np.ndarray, llm_sha256: str, **info) -> dict:
    """The JSON of a fidelity file: one value per caption of the matcher (null: not judged), tied to its caption
    list and to the LLM it was measured with (the hash of its weights)."""
    if len(fidelity) != len(matcher.captions):
        raise MotionGPTError(f"caption fidelity: {len(fidelity)} values for {len(matcher.captions)} captions")
    values = [None if np.isnan(v) else float(v) for v in np.asarray(fidelity, np.float32)]  # float32 exactly
    return {"captions": len(values), "captions_sha256": matcher.captions_sha256(), "llm_sha256": llm_sha256, **info,
            "fidelity": values}


FIDELITY_TIES = ("captions", "captions_sha256", "llm_sha256", "fidelity")  # a fidelity file's values and what
# they are tied to; its other fields say how they were measured (samples, seed, evaluator, per-group summary)


def read_fidelity(path: str | Path, matcher: CaptionMatcher, llm_sha256: str) -> np.ndarray:
    """The fidelity of each caption from a fidelity file (NaN: not judged), which must have been measured on this
    caption list with this LLM."""
    return _fidelity_values(read_json(path), path, matcher, llm_sha256)


def with_fidelity_file(matcher: CaptionMatcher, path: str | Path, llm_sha256: str) -> CaptionMatcher:
    """`matcher` choosing by a fidelity file's values (`read_fidelity`), keeping how they were measured, from one
    read of the file."""
    record = read_json(path)
    values = _fidelity_values(record, path, matcher, llm_sha256)
    return matcher.with_fidelity(values, {k: v for k, v in record.items() if k not in FIDELITY_TIES})


def _fidelity_values(record: object, path: str | Path, matcher: CaptionMatcher, llm_sha256: str) -> np.ndarray:
    values = record.get("fidelity") if isinstance(record, dict) else None
    if not isinstance(values, list) or not all(v is None or (isinstance(v, (int, float)) and 0 <= v <= 1)
                                               for v in values):
        raise MotionGPTError(f"{path}: not a caption fidelity file (expected \"fidelity\": a list of values in "
                             "[0, 1] or null)")
    if record.get("captions_sha256") != matcher.captions_sha256() or len(values) != len(matcher.captions):
        raise MotionGPTError(f"{path}: measured on another caption list ({len(values)} captions against "
                             f"{len(matcher.captions)}); rerun `motiongpt caption-fidelity`")
    if record.get("llm_sha256") != llm_sha256:
        raise MotionGPTError(f"{path}: measured with another LLM than this model's; rerun `motiongpt "
                             "caption-fidelity`")
    return np.array([np.nan if v is None else v for v in values], np.float32)
