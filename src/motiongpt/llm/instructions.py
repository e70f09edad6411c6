"""Instruction data: four records per (motion, caption), as the original `generate_dataset.py` writes them.

Records are `{instruction, input, output, id, task}` with codes in the text form (`81,81,207`); the answer format
(`text` or `vocab`) is chosen later, at finetuning time. Tasks: `t2m` (caption only), `initial` (+ first code),
`last` (+ last code), `key` (+ 3-5 codes at random positions, in order). The original uses one random caption per
motion; here every caption is used unless `one_caption` is set. Randomness is seeded per motion id, so a motion's
records do not depend on which other motions are present.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np

from motiongpt.data.bandai import balanced_shares, fresh_caption, motion_group
from motiongpt.data.humanml3d import clip_counts
from motiongpt.data.layout import load_captions, split_ids
from motiongpt.errors import MotionGPTError
from motiongpt.io import atomic_path, load_npy, read_json, write_json
from motiongpt.llm.formats import parse_codes
from motiongpt.llm.prompts import format_input, split_input, text_codes
from motiongpt.llm.tasks import Task
from motiongpt.tokenizer.config import VQVAEConfig

RECORD_FIELDS = ("instruction", "input", "output", "id", "task")
INFO_NAME = "info.json"


def codebook_size_from_vq(vq_dir: str | Path) -> int:
    """The number of codes of a VQ model dir: `codebook_size` of the VQ-VAE config in its `config.json`."""
    path = Path(vq_dir) / "config.json"
    config = read_json(path)
    if not isinstance(config, dict):
        raise MotionGPTError(f"{path}: expected a JSON object (a VQ-VAE config)")
    config.pop("model_type", None)
    codebook_size = VQVAEConfig.from_dict(config).codebook_size
    if isinstance(codebook_size, bool) or not isinstance(codebook_size, int) or codebook_size < 1:
        raise MotionGPTError(f"{path}: codebook_size {codebook_size!r}, expected a positive integer")
    return codebook_size


def load_codes(path: str | Path, codebook_size: int | None = None) -> np.ndarray:
    """A motion's 1-D int64 code array from `<data>/VQVAE/<id>.npy`, checked against the codebook."""
    path = Path(path)
    codes = load_npy(path, "codes")
    codes = np.squeeze(codes) if codes.ndim > 1 else codes
    if codes.ndim != 1 or codes.size == 0 or not np.issubdtype(codes.dtype, np.integer):
        raise MotionGPTError(f"{path}: expected a non-empty 1-D integer array of codes, got {codes.dtype} {codes.shape}")
    bad = np.flatnonzero((codes < 0) | (codes >= (codebook_size if codebook_size else np.iinfo(np.int64).max)))
    if bad.size:
        i = int(bad[0])
        raise MotionGPTError(f"{path}: code {int(codes[i])} at position {i} is outside the codebook "
                             f"(expected 0..{(codebook_size or 1) - 1})")
    return codes.astype(np.int64)


def motion_records(motion_id: str, codes: list[int], captions: list[str], rng: random.Random) -> list[dict]:
    """The four task records for each caption of one motion."""
    records = []
    for caption in captions:
        k = min(rng.randint(3, 5), len(codes))
        key = [codes[i] for i in sorted(rng.sample(range(len(codes)), k))]
        controls = {Task.TEXT: None, Task.INIT: [codes[0]], Task.LAST: [codes[-1]], Task.KEY: key}
        for task, control in controls.items():
            records.append({
                "instruction": task.instruction,
                "input": format_input(caption, None if control is None else text_codes(control)),
                "output": text_codes(codes),
                "id": motion_id,
                "task": task.value,
            })
    return records


def drop_captions(records: list[dict], fraction: float, seed: int) -> list[dict]:
    """The records with the description left out of a seeded `fraction` of them (their controls kept): the
    unconditional answers classifier-free guidance compares with at generation (`generation.decoding`)."""
    chosen = set(random.Random(seed).sample(range(len(records)), round(fraction * len(records))))
    return [{**r, "input": format_input("", split_input(r["input"])[1])} if i in chosen else r
            for i, r in enumerate(records)]


def build_instructions(data_dir: str | Path, one_caption: bool = False, seed: int = 1337,
                       codebook_size: int | None = None, balance: float = 0.0,
                       fresh_captions: bool = False, fresh_below: int | None = None) -> dict[str, list[dict]]:
    """Train and val records from a dataset in the HumanML3D layout with codes in `VQVAE/`; `balance` > 0
    resamples the train records by content and style (`balance_records`), val stays as it is."""
    data_dir = Path(data_dir)
    out = {}
    for split in ("train", "val"):
        records = []
        for motion_id in split_ids(data_dir, split):
            path = data_dir / "VQVAE" / f"{motion_id}.npy"
            if not path.is_file():
                continue  # as the original: motions without codes (filtered by length) are skipped
            codes = load_codes(path, codebook_size).tolist()
            captions = [c.text for c in load_captions(data_dir, motion_id) if c.text]
            rng = random.Random(f"{seed}:{motion_id}")
            if one_caption and captions:
                captions = [rng.choice(captions)]
            records.extend(motion_records(motion_id, codes, captions, rng))
        if split == "train" and balance:
            records = balance_records(records, balance, seed=seed, fresh_captions=fresh_captions,
                                      fresh_below=fresh_below)
        out[split] = records
    return out


def record_group(record: dict) -> tuple[str, str]:
    """(content, style) of a record's motion; mirrored copies share their clip's group."""
    return motion_group(str(record.get("id", "")))


def group_counts(records: list[dict]) -> dict[str, dict[str, int]]:
    """How many records each content and each style holds: what a finetuning run samples from."""
    contents, styles = Counter(), Counter()
    for record in records:
        content, style = record_group(record)
        contents[content or "other"] += 1
        styles[style or "other"] += 1
    return {"contents": dict(contents.most_common()), "styles": dict(styles.most_common())}


def balance_records(records: list[dict], power: float = 1.0, size: int | None = None,
                    seed: int = 1337, fresh_captions: bool = False, fresh_below: int | None = None) -> list[dict]:
    """Resample records so that rare contents and styles are seen often enough, not in proportion to clip counts.

    A Bandai content's share of the result goes as (its records)^(1 - power), and within it each style's share the
    same way: `power` 0 keeps today's proportions, 1 gives every content an equal share and every style an equal
    share within its content (the single kick clip then weighs as much as the 500 runs). Each record is repeated
    by seeded stochastic rounding of its expected count; the result holds about `size` records (default: as many
    as given) in the order given, repeats adjacent (finetuning shuffles them). `fresh_captions`: each repeat of a
    Bandai record after the first gets a caption composed anew for its content and style (`fresh_caption`);
    with `fresh_below`, only the records of contents with fewer clips than that (a common content's own captions
    are already many, and its records are not repeated much).
    """
    groups = [record_group(r) for r in records]
    shares = balanced_shares(groups, power)
    size = len(records) if size is None else size
    rng = np.random.default_rng(seed)
    draws = rng.random(len(records))
    contents = [content for content, _ in groups]
    fresh = _fresh_contents(records, contents, fresh_below) if fresh_captions else set()
    out = []
    for index, (record, content, share, u) in enumerate(zip(records, contents, shares, draws)):
        expected = share * size
        repeats = int(expected) + (u < expected - int(expected))
        out.extend(_recaptioned(record, f"{seed}:{index}:{k}") if content in fresh and k else record
                   for k in range(repeats))
    return out


def _fresh_contents(records: list[dict], contents: list[str], below: int | None) -> set[str]:
    """The contents whose repeats get fresh captions: all, or those with fewer than `below` clips."""
    counts = clip_counts([str(r.get("id", "")) for r in records], contents)
    return {c for c, n in counts.items() if below is None or n < below}


def _recaptioned(record: dict, seed: str) -> dict:
    """The record with a fresh caption for its motion (controls kept); as it is for a motion without labels."""
    caption, control = split_input(record["input"])
    fresh = fresh_caption(str(record.get("id", "")), seed) if caption else None
    return record if fresh is None else {**record, "input": format_input(fresh, control)}


def write_records(path: str | Path, records: list[dict]) -> None:
    """JSON Lines for `.jsonl`, otherwise one JSON list as the original's `train.json`."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        if path.suffix == ".jsonl":
            for record in records:
                f.write(json.dumps(record) + "\n")
        else:
            json.dump(records, f, indent=2)


def read_records(path: str | Path) -> list[dict]:
    """Records from a `.jsonl` or `.json` file, each checked for the required fields."""
    path = Path(path)
    if not path.is_file():
        raise MotionGPTError(f"{path}: instruction file not found")
    text = path.read_text()
    try:
        if path.suffix == ".jsonl":
            items = [(i + 1, json.loads(line)) for i, line in enumerate(text.splitlines()) if line.strip()]
        else:
            data = json.loads(text)
            if not isinstance(data, list):
                raise MotionGPTError(f"{path}: expected a JSON list of records")
            items = [(i, r) for i, r in enumerate(data)]
    except json.JSONDecodeError as err:
        raise MotionGPTError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from err
    where = "line" if path.suffix == ".jsonl" else "record"
    for n, record in items:
        if not isinstance(record, dict):
            raise MotionGPTError(f"{path}: {where} {n}: expected an object with {', '.join(RECORD_FIELDS)}")
        missing = [k for k in ("instruction", "input", "output") if not isinstance(record.get(k), str)]
        if missing:
            raise MotionGPTError(f"{path}: {where} {n}: missing or non-string field(s) {', '.join(missing)}")
    return [r for _, r in items]


def find_split(directory: str | Path, split: str) -> Path:
    directory = Path(directory)
    for suffix in (".jsonl", ".json"):
        if (directory / f"{split}{suffix}").is_file():
            return directory / f"{split}{suffix}"
    raise MotionGPTError(f"{directory}: no {split}.jsonl or {split}.json (build it with `motiongpt instructions build`)")


def load_instructions(directory: str | Path) -> tuple[list[dict], list[dict], dict]:
    """(train records, val records, info) of an instructions dir; info is {} if it has no info.json."""
    directory = Path(directory)
    info = read_json(directory / INFO_NAME) if (directory / INFO_NAME).is_file() else {}
    return read_records(find_split(directory, "train")), read_records(find_split(directory, "val")), info


def instructions_info(splits: dict[str, list[dict]], data: str | Path, codebook_size: int | None, seed: int,
                      one_caption: bool, vq: str | Path | None, balance: float = 0.0,
                      fresh_captions: bool = False, fresh_below: int | None = None) -> dict:
    """The `info.json` saved beside the records: where they came from, how many there are, and the train records
    per content and style (what sampling sees)."""
    return {"data": str(Path(data).resolve()), "codebook_size": codebook_size, "seed": seed,
            "one_caption": one_caption, "vq": str(Path(vq).resolve()) if vq else None, "balance": balance,
            "fresh_captions": fresh_captions,
            "fresh_below": fresh_below if fresh_captions else None, "records": {k: len(v) for k, v in splits.items()},
            "motions": {k: len({r["id"] for r in v}) for k, v in splits.items()},
            "train_groups": group_counts(splits.get("train", []))}


def save_instructions(out_dir: str | Path, splits: dict[str, list[dict]], info: dict, as_json: bool = False) -> None:
    out_dir = Path(out_dir)
    for split, records in splits.items():
        write_records(out_dir / f"{split}.{'json' if as_json else 'jsonl'}", records)
    write_json(out_dir / INFO_NAME, info)


def max_code(records: list[dict]) -> int:
    """The largest code in the records' answers (-1 if none)."""
    return max((max(parse_codes(r["output"], "text", None), default=-1) for r in records), default=-1)
