"""The held-out wording set: hand-written descriptions of Bandai motions that no caption template produces.

A model trained on the generated Bandai captions has only ever seen their templates; these descriptions (synonyms,
other word orders, slang, typos) measure whether it follows how people actually ask for a motion. Each is labelled
with the Bandai content it means (a name from the datasets' `cfg/content_label.txt`). Never used for training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from motiongpt.data import layout
from motiongpt.data.bandai import ACTIONS, STYLES, clip_captions
from motiongpt.errors import MotionGPTError
from motiongpt.io import read_tsv
from motiongpt.eval.protocol import embed_features

HELDOUT_WORDING = Path(__file__).with_name("heldout_wording.tsv")


def load_heldout_wording(path: str | Path = HELDOUT_WORDING) -> list[tuple[str, str]]:
    """(description, content) rows of a `description<TAB>content` file; `#` lines are comments."""
    rows = []
    for number, (description, content) in read_tsv(path, ("description", "content"), "wording"):
        if content not in ACTIONS:
            raise MotionGPTError(f"{path}:{number}: unknown content {content!r}; expected one of {sorted(ACTIONS)}")
        rows.append((description, content))
    return rows


def bandai_content(motion_id: str) -> str | None:
    """The content of a Bandai motion id `dataset-N_<content>_<style>_<take>`; None for mirrored copies (`M...`),
    whose one-sided contents (bye, guide, kick, ...) have no label of their own."""
    if motion_id.startswith("M"):
        return None
    parts = motion_id.split("_")
    return parts[1] if len(parts) >= 3 and parts[1] in ACTIONS else None


def content_centroids(evaluator, data_dir: str | Path, split: str = "train") -> tuple[list[str], np.ndarray]:
    """(contents, centroids): the mean evaluator embedding of each content's unmirrored motions in `split`."""
    contents, embeddings = real_embeddings(evaluator, data_dir, split)
    if not contents:
        raise MotionGPTError(f"{data_dir}: no Bandai motion in split {split!r} (names dataset-N_content_style_take)")
    names = sorted(set(contents))
    labels = np.asarray(contents)
    return names, np.stack([embeddings[labels == name].mean(axis=0) for name in names])


def real_embeddings(evaluator, data_dir: str | Path, split: str) -> tuple[list[str], np.ndarray]:
    """(content per motion, evaluator embeddings) of the split's unmirrored Bandai motions."""
    ids = [(i, c) for i in layout.split_ids(data_dir, split) if (c := bandai_content(i))]
    if not ids:
        return [], np.zeros((0, 0), np.float32)
    features = [layout.load_features(data_dir, i) for i, _ in ids]
    return [c for _, c in ids], embed_features(evaluator, features)


def nearest_content(embeddings: np.ndarray, contents: Sequence[str], centroids: np.ndarray) -> list[str]:
    """The content whose centroid is nearest (Euclidean, as MM-Dist) to each embedding."""
    distances = np.linalg.norm(embeddings[:, None, :] - centroids[None, :, :], axis=-1)
    return [contents[j] for j in distances.argmin(axis=1)]


def template_captions(rows: Sequence[tuple[str, str]], seed: int = 0) -> list[tuple[str, str]]:
    """One caption from the Bandai templates per held-out row, same content, a style drawn at random: the
    wording the model was trained on, for the baseline figure."""
    rng = np.random.default_rng(seed)
    styles = sorted(STYLES)
    return [(clip_captions(f"wording-{i}", content, styles[rng.integers(len(styles))], 1)[0], content)
            for i, (_, content) in enumerate(rows)]


def _accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    return float(np.mean([p == t for p, t in zip(predicted, truth)])) if truth else float("nan")


def wording_retrieval(model, evaluator, data_dir: str | Path, rows: Sequence[tuple[str, str]] | None = None,
                      samples: int = 3, seed: int = 0, batch_size: int = 32, progress: bool = True,
                      guidance: float | None = None) -> dict:
    """How often motions generated from descriptions are retrieved as the content they name.

    Each description (held-out wording, and a template caption of the same content per row) gets `samples`
    generations; each is embedded by the evaluator and given the content of the nearest train-split centroid.
    Real test motions classified the same way give the ceiling. A model with a caption matcher is measured with
    it (`matched`) and without it (`raw`). `guidance`: the classifier-free guidance (None: the model's own).
    """
    from tqdm.auto import tqdm

    rows = list(load_heldout_wording() if rows is None else rows)
    contents, centroids = content_centroids(evaluator, data_dir, "train")
    skipped = {c: sum(c == r for _, r in rows) for c in sorted({c for _, c in rows} - set(contents))}
    rows = [(t, c) for t, c in rows if c in contents]  # a content the data lacks cannot be retrieved
    if not rows:
        raise MotionGPTError(f"{data_dir}: no train motion of any content the descriptions name")
    test_contents, test_embeddings = real_embeddings(evaluator, data_dir, "test")
    real = nearest_content(test_embeddings, contents, centroids) if test_contents else []

    result = {"descriptions": len(rows), "skipped": skipped, "samples": samples, "seed": seed,
              "real_test": {"motions": len(test_contents), "accuracy": _accuracy(real, test_contents)}}
    sets = {"template": template_captions(rows, seed), "heldout": rows}
    modes = {"matched": True, "raw": False} if getattr(model, "matcher", None) is not None else {"raw": False}
    for mode, match in modes.items():
        figures: dict = {}
        per_content: dict[str, dict[str, list[bool]]] = {}
        for name, texts in sets.items():
            descriptions = [t for t, _ in texts]
            motions = []
            for start in tqdm(range(0, len(descriptions), batch_size), desc=f"wording {mode} {name}",
                              unit="batch", disable=not progress):
                motions += model.generate(descriptions[start:start + batch_size], num_samples=samples,
                                          seed=seed + start * samples, batch_size=batch_size, match_captions=match,
                                          guidance=guidance)
            truth = [c for _, c in texts for _ in range(samples)]
            predicted = nearest_content(embed_features(evaluator, [m.features for m in motions]), contents,
                                        centroids)
            hits = [p == t for p, t in zip(predicted, truth)]
            for j, (_, content) in enumerate(texts):
                per_content.setdefault(content, {}).setdefault(name, []).extend(hits[j * samples:(j + 1) * samples])
            misses = [{"text": m.caption, "given": m.matched.caption if m.matched else m.caption,
                       "content": truth[j], "retrieved": predicted[j]}
                      for j, m in enumerate(motions) if not hits[j]]
            figures[name] = {"accuracy": float(np.mean(hits)), "motions": len(hits), "misses": misses}
        figures["ratio"] = figures["heldout"]["accuracy"] / figures["template"]["accuracy"]
        figures["per_content"] = {c: {k: float(np.mean(v)) for k, v in d.items()}
                                  for c, d in sorted(per_content.items())}
        result[mode] = figures
    return result
