"""Caption fidelity: how often a model's motions for each caption of its caption list show the caption's content.

The caption matcher hands the LLM one of its training captions. A small LLM renders some captions of a content as a
neighbouring content: with the default model, "someone sprints forward energetically" gave runs in 3 of 3 samples
where "someone dashes forward timidly" gave dashes. Each caption gets `samples` generations (the caption itself,
unmatched), judged by a ContentJudge fitted on the real train motions; its fidelity is the share judged as the
content its group names. Only train captions and train motions take part: the held-out wording that measures the
matcher is never seen.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from motiongpt.errors import MotionGPTError
from motiongpt.eval.wording import fitted_judge, judged_generations
from motiongpt.generation.matcher import FIDELITY_MIN, FIDELITY_NAME, fidelity_record, llm_weights_hash, read_fidelity
from motiongpt.io import read_json, write_json

FIDELITY_SAMPLES = 3  # generations per caption


def caption_fidelity(model, evaluator, data_dir: str | Path, samples: int = FIDELITY_SAMPLES, seed: int = 0,
                     batch_size: int = 32, progress: bool = True, done: np.ndarray | None = None,
                     on_batch: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
    """The fidelity of each caption of `model.matcher` (NaN where the data has no train motion of its content).

    Caption k of the judged ones takes seeds seed + k x samples onwards, whatever the batches, so a run resumed from
    `done` (an interrupted run's values, NaN from the first caption it did not reach) gives the same values;
    `on_batch(values)` is called after each batch, to save them.
    """
    from tqdm.auto import tqdm

    matcher = getattr(model, "matcher", None)
    if matcher is None or matcher.groups is None:
        raise MotionGPTError("caption fidelity: the model has no caption list grouped by content (assemble it with "
                             "--captions from Bandai data)")
    if samples < 1:
        raise MotionGPTError(f"caption fidelity: {samples} samples; expected at least 1")
    judge, _ = fitted_judge(evaluator, data_dir)
    fidelity = np.full(len(matcher.captions), np.nan, np.float32) if done is None else np.array(done, np.float32)
    rows = [i for i, group in enumerate(matcher.groups) if group in judge.contents]
    first = next((k for k, row in enumerate(rows) if np.isnan(fidelity[row])), len(rows))
    bar = tqdm(total=len(rows), initial=first, desc="caption fidelity", unit="caption", disable=not progress)
    for start in range(first, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        _, predicted = judged_generations(model, judge, evaluator, [matcher.captions[r] for r in chunk], samples,
                                          seed + start * samples, batch_size, match_captions=False)
        for j, row in enumerate(chunk):
            fidelity[row] = np.mean([p == matcher.groups[row] for p in predicted[j * samples:(j + 1) * samples]])
        bar.update(len(chunk))
        if on_batch is not None:
            on_batch(fidelity)
    bar.close()
    return fidelity


def fidelity_by_group(groups: list[str], fidelity: np.ndarray) -> dict[str, dict]:
    """Per group: its captions, their mean fidelity (None: not judged) and how many stay below FIDELITY_MIN."""
    table: dict[str, dict] = {}
    for group in sorted(set(groups)):
        values = fidelity[[i for i, g in enumerate(groups) if g == group]]
        judged = values[~np.isnan(values)]
        table[group] = {"captions": len(values), "mean": float(judged.mean()) if len(judged) else None,
                        "below_min": int((judged < FIDELITY_MIN).sum())}
    return table


def partial_path(directory: str | Path) -> Path:
    """Where an unfinished run keeps its values: beside the model dir, whose hash keys evaluation runs."""
    directory = Path(directory).resolve()
    return directory.parent / f".{directory.name}.{FIDELITY_NAME}.partial"


def write_caption_fidelity(model, evaluator, data_dir: str | Path, directory: str | Path, llm_dir: str | Path,
                           samples: int = FIDELITY_SAMPLES, seed: int = 0, batch_size: int = 32,
                           evaluator_name: str = "bundled", progress: bool = True,
                           on_batch: Callable[[np.ndarray], None] | None = None) -> tuple[np.ndarray, int]:
    """Measure the fidelity of the captions of the model in `directory` (its LLM in `llm_dir`) into
    `directory`/FIDELITY_NAME, resuming an unfinished run of the same settings. Returns (the values, how many
    captions an earlier run had measured)."""
    directory = Path(directory)
    llm_sha256 = llm_weights_hash(llm_dir)
    settings = {"samples": samples, "seed": seed, "evaluator": evaluator_name, "data": str(Path(data_dir).resolve())}
    partial = partial_path(directory)
    done = None
    try:
        if partial.is_file() and read_json(partial).get("settings") == settings:
            done = read_fidelity(partial, model.matcher, llm_sha256)
    except (MotionGPTError, AttributeError):  # unreadable, or of another caption list or LLM: nothing to resume
        done = None

    def save(values: np.ndarray) -> None:
        write_json(partial, {**fidelity_record(model.matcher, values, llm_sha256), "settings": settings})
        if on_batch is not None:
            on_batch(values)

    values = caption_fidelity(model, evaluator, data_dir, samples=samples, seed=seed, batch_size=batch_size,
                              progress=progress, done=done, on_batch=save)
    write_json(directory / FIDELITY_NAME, fidelity_record(
        model.matcher, values, llm_sha256, samples=samples, seed=seed, evaluator=Path(evaluator_name).name,
        groups=fidelity_by_group(model.matcher.groups, values)))
    partial.unlink(missing_ok=True)
    return values, 0 if done is None else int((~np.isnan(done)).sum())
