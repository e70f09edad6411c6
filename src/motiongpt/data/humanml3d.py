"""Write motion datasets in the HumanML3D layout (see `motiongpt.data.layout`), from BVH or ASF/AMC clips and
captions.

Per clip: BVH or AMC -> global positions (metres, Y up) -> rig map to the 22 SMPL joints -> 20 fps -> windows ->
`joints_to_features` (retargets to the HumanML3D skeleton, floors, faces +Z) -> `new_joints =
features_to_joints(features)`, so joints and features have the same T-1 frames as in HumanML3D. Every window is
also written mirrored as `M<id>` (x negated, left/right joints and caption words swapped).

Long clips are cut into windows of at most MAX_FRAMES feature frames (MAX_FRAMES + 1 joint frames) every
WINDOW_STRIDE frames, the last window ending at the clip's end; clips with fewer than MIN_FRAMES feature frames
are dropped (builders of sets of short clips lower that limit). Splits are by clip (windows and mirrors stay
together), stratified by a group key, seeded.
The dataset is written into a temporary folder that replaces `out` only when everything succeeded.
"""

from __future__ import annotations

import csv
import multiprocessing
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from motiongpt.data.asf_amc import AMC_FPS, pair_skeletons, read_amc, read_asf
from motiongpt.data.bvh import read_bvh, resample
from motiongpt.data.captions import make_caption, mirror_caption
from motiongpt.data.layout import MAX_FRAMES, SPLITS, Caption, format_caption_line
from motiongpt.data.rigmap import RigMap, builtin_map, detect_map
from motiongpt.errors import MotionGPTError
from motiongpt.io import atomic_directory, die_with_parent, write_json
from motiongpt.limits import check_fps, check_int, check_number
from motiongpt.motion.features import feature_slices, features_to_joints, joints_to_features, mirror_joints

FPS = 20.0
MIN_FRAMES = 40
WINDOW_STRIDE = 98
SPLIT_FRACTIONS = {"train": 0.80, "val": 0.05, "test": 0.15}
# HumanML3D averages the std within these groups, so no single dimension dominates after normalisation.
STD_GROUPS = ("root_rot_vel", "root_lin_vel", "root_y", "ric", "rot", "vel", "contacts")


@dataclass(frozen=True)
class ClipJob:
    """One source clip: where it is, how to read it, its captions and the stratum its split is drawn in."""

    path: str
    name: str
    captions: tuple[str, ...]
    group: str = "all"
    rig: str | None = None  # builtin map name or a map file; None = detect from the joint names
    scale: float | None = None  # None = detect cm vs m from the body height (BVH), from the ASF's units (AMC)
    up: str = "y"
    skeleton: str | None = None  # the ASF skeleton of an AMC clip; None for BVH
    fps: float = AMC_FPS  # capture rate of an AMC clip (the file does not store it)


@dataclass
class ClipResult:
    name: str
    group: str
    ids: list[str] = field(default_factory=list)
    captions: int = 0
    sums: np.ndarray | None = None  # per-dimension sum, sum of squares, count of feature frames
    dropped: bool = False


def load_rig(rig: str | None, joint_names: list[str], where: str) -> RigMap:
    """A map file, a built-in map name, or (None) the built-in map that fits `joint_names`."""
    if rig is None:
        return detect_map(joint_names, where)
    if Path(rig).is_file():
        return RigMap.load(rig)
    if Path(rig).suffix.lower() in (".json", ".yaml", ".yml"):
        raise MotionGPTError(f"{rig}: rig map file not found")
    return builtin_map(rig)


def bvh_to_joints(path: str | Path, rig: str | None = None, scale: float | None = None, up: str = "y",
                  fps: float = FPS) -> np.ndarray:
    """(T, 22, 3) float64 SMPL-order joint positions in metres, Y up, at `fps`, from one BVH file."""
    motion = read_bvh(path, scale=1.0 if scale is None else scale, up=up)
    positions = motion.global_positions()
    if scale is None:
        height = np.ptp(positions[0, :, 1])
        positions = positions * (0.01 if height > 10.0 else 1.0)  # a person is 1-2.2 m tall: cm otherwise
    joints = load_rig(rig, motion.names, str(path)).apply(positions, motion.names, path)
    return resample(joints, motion.fps, fps)


def amc_to_joints(path: str | Path, skeleton: str | Path, rig: str | None = None, scale: float | None = None,
                  source_fps: float = AMC_FPS, fps: float = FPS) -> np.ndarray:
    """(T, 22, 3) float64 SMPL-order joint positions in metres, Y up, at `fps`, from one AMC file and its ASF."""
    motion = read_amc(path, read_asf(skeleton, scale), source_fps)
    joints = load_rig(rig, motion.names, str(path)).apply(motion.global_positions(), motion.names, path)
    return resample(joints, motion.fps, fps)


def clip_joints(job: ClipJob) -> np.ndarray:
    """The joints of one clip at FPS, read as its format says (an AMC clip comes with its skeleton)."""
    if job.skeleton is not None:
        return amc_to_joints(job.path, job.skeleton, job.rig, job.scale, job.fps)
    return bvh_to_joints(job.path, job.rig, job.scale, job.up)


def motion_windows(num_frames: int, max_frames: int = MAX_FRAMES, stride: int = WINDOW_STRIDE) -> list[tuple[int, int]]:
    """[start, end) joint-frame windows giving at most `max_frames` feature frames each; the last ends at the end."""
    if num_frames - 1 <= max_frames:
        return [(0, num_frames)]
    span = max_frames + 1
    starts = list(range(0, num_frames - span + 1, stride))
    if starts[-1] != num_frames - span:
        starts.append(num_frames - span)
    return [(s, s + span) for s in starts]


def process_joints(joints: np.ndarray, spec: str = "t2m") -> tuple[np.ndarray, np.ndarray]:
    """(features (T-1, D), new_joints (T-1, J, 3)) float32 for one window of joint positions, as HumanML3D."""
    features = np.asarray(joints_to_features(joints, spec), dtype=np.float32)
    return features, np.asarray(features_to_joints(features, spec), dtype=np.float32)


def write_motion(root: Path, motion_id: str, joints: np.ndarray, features: np.ndarray,
                 captions: list[Caption]) -> None:
    np.save(root / "new_joints" / f"{motion_id}.npy", joints.astype(np.float32))
    np.save(root / "new_joint_vecs" / f"{motion_id}.npy", features.astype(np.float32))
    text = "".join(format_caption_line(c) + "\n" for c in captions)
    (root / "texts" / f"{motion_id}.txt").write_text(text)


def window_id(name: str, index: int, windows: int) -> str:
    """The motion id of window `index` of a clip cut into `windows` windows (the clip's name if it is one)."""
    return name if windows == 1 else f"{name}_w{index:02d}"


def clip_of(motion_id: str) -> str:
    """The clip a motion id comes from: the inverse of `window_id` (windows of one clip are one clip)."""
    return re.sub(r"_w\d+$", "", motion_id)


def clip_counts(ids: Sequence[str], labels: Sequence[str]) -> dict[str, int]:
    """How many distinct clips carry each label: the windows of a clip and its mirrored copy ("M" + id) count once."""
    clips: dict[str, set[str]] = {}
    for motion_id, label in zip(ids, labels):
        clips.setdefault(label, set()).add(clip_of(motion_id.removeprefix("M")))
    return {label: len(v) for label, v in sorted(clips.items())}


def _process_clip(job: ClipJob, root: Path, spec: str, min_frames: int) -> ClipResult:
    result = ClipResult(job.name, job.group)
    joints = clip_joints(job)
    if len(joints) - 1 < min_frames:
        result.dropped = True
        return result
    captions = [make_caption(text) for text in job.captions]
    mirrored = [mirror_caption(c) for c in captions]
    windows = motion_windows(len(joints))
    dim = None
    for k, (start, end) in enumerate(windows):
        motion_id = window_id(job.name, k, len(windows))
        window = joints[start:end]
        for mid, win, caps in ((motion_id, window, captions), (f"M{motion_id}", mirror_joints(window, spec), mirrored)):
            features, new_joints = process_joints(win, spec)
            write_motion(root, mid, new_joints, features, caps)
            if dim is None:
                dim = features.shape[1]
                result.sums = np.zeros((3, dim))
            result.sums[0] += features.sum(0, dtype=np.float64)
            result.sums[1] += np.square(features, dtype=np.float64).sum(0)
            result.sums[2] += len(features)
            result.ids.append(mid)
            result.captions += len(caps)
    return result


def mean_std(sums: np.ndarray, spec: str = "t2m") -> tuple[np.ndarray, np.ndarray]:
    """HumanML3D statistics from summed features: per-dimension mean, std averaged within each feature group."""
    count = sums[2]
    mean = sums[0] / count
    std = np.sqrt(np.maximum(sums[1] / count - mean**2, 0.0))
    slices = feature_slices(spec)
    for group in STD_GROUPS:
        std[slices[group]] = std[slices[group]].mean()
    std[std < 1e-8] = 1.0  # a constant group (e.g. no foot contact change in a tiny set) is left unscaled
    return mean.astype(np.float32), std.astype(np.float32)


def split_clips(groups: dict[str, list[str]], seed: int = 0,
                fractions: dict[str, float] = SPLIT_FRACTIONS) -> dict[str, str]:
    """Clip name -> split, drawn per group so every group with >= 2 clips has one in test and one in train.

    A group of a single clip goes to train (it cannot be both learnt and tested).
    """
    rng = np.random.default_rng(seed)
    assignment = {}
    for key in sorted(groups):
        names = sorted(groups[key])
        order = [names[i] for i in rng.permutation(len(names))]
        n = len(order)
        n_test = max(1, round(fractions["test"] * n)) if n >= 2 else 0
        n_val = round(fractions["val"] * n) if n - n_test >= 3 else 0
        n_val = max(n_val, 1) if n >= 10 else n_val
        for i, name in enumerate(order):
            assignment[name] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return assignment


def write_split_files(root: Path, splits: dict[str, list[str]]) -> None:
    for split in SPLITS:
        (root / f"{split}.txt").write_text("".join(f"{i}\n" for i in splits[split]))
    (root / "train_val.txt").write_text("".join(f"{i}\n" for i in splits["train"] + splits["val"]))
    (root / "all.txt").write_text("".join(f"{i}\n" for s in SPLITS for i in splits[s]))


def _worker(args: tuple[ClipJob, str, str, int]) -> ClipResult:
    job, root, spec, min_frames = args
    return _process_clip(job, Path(root), spec, min_frames)


def build_dataset(jobs: list[ClipJob], out: str | Path, meta: dict | None = None, spec: str = "t2m",
                  seed: int = 0, workers: int = 2, overwrite: bool = False, desc: str = "clips",
                  min_frames: int = MIN_FRAMES) -> dict:
    """Write `jobs` as a HumanML3D-layout dataset at `out`; returns the summary also saved as dataset.json.
    Clips with fewer than `min_frames` feature frames are dropped."""
    if not jobs:
        raise MotionGPTError(f"{out}: no clips to build a dataset from")
    check_int(workers, "workers", 1, 256)
    names = [job.name for job in jobs]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[0]
        raise MotionGPTError(f"{dup}: two input clips have this name; clip names must be unique")
    began = time.time()
    with atomic_directory(out, overwrite=overwrite) as root:
        for sub in ("new_joints", "new_joint_vecs", "texts"):
            (root / sub).mkdir()
        tasks = [(job, str(root), spec, min_frames) for job in jobs]
        results: list[ClipResult] = []
        with tqdm(total=len(tasks), desc=desc) as bar:  # closed (its line ended) before any error is printed
            if workers > 1 and len(jobs) > 1:
                with multiprocessing.get_context("spawn").Pool(workers, initializer=die_with_parent) as pool:
                    for result in pool.imap(_worker, tasks, chunksize=4):
                        results.append(result)
                        bar.update()
            else:
                for task in tasks:
                    results.append(_worker(task))
                    bar.update()
        kept = [r for r in results if not r.dropped]
        if not kept:
            raise MotionGPTError(f"{out}: every clip is shorter than {min_frames} frames at {FPS:g} fps")
        split_of = split_clips({g: [r.name for r in kept if r.group == g] for g in {r.group for r in kept}}, seed)
        splits = {s: [] for s in SPLITS}
        summary_splits = {s: {"clips": 0, "motions": 0, "mirrored": 0, "captions": 0} for s in SPLITS}
        for r in kept:
            split = split_of[r.name]
            splits[split] += r.ids
            counts = summary_splits[split]
            counts["clips"] += 1
            counts["motions"] += len(r.ids)
            counts["mirrored"] += sum(i.startswith("M") for i in r.ids)
            counts["captions"] += r.captions
        write_split_files(root, splits)
        mean, std = mean_std(sum(r.sums for r in kept), spec)
        np.save(root / "Mean.npy", mean)
        np.save(root / "Std.npy", std)
        summary = dict(meta or {})
        summary.update({
            "format": "HumanML3D", "skeleton": spec, "fps": FPS, "min_frames": min_frames,
            "max_frames": MAX_FRAMES, "window_stride": WINDOW_STRIDE, "seed": seed,
            "clips": len(results), "clips_kept": len(kept),
            "clips_dropped": sorted(r.name for r in results if r.dropped),
            "windows": sum(len(r.ids) for r in kept) // 2, "motions": sum(len(r.ids) for r in kept),
            "captions": sum(r.captions for r in kept),
            "frames": int(sum(r.sums[2, 0] for r in kept)), "splits": summary_splits,
            "build_seconds": round(time.time() - began, 1),
        })
        write_json(root / "dataset.json", summary)
    return summary


def read_captions_tsv(path: str | Path) -> dict[str, list[str]]:
    """`file-id<TAB>caption` lines (several per id allowed) -> id -> captions."""
    path = Path(path)
    if not path.is_file():
        raise MotionGPTError(f"{path}: captions file not found")
    out: dict[str, list[str]] = {}
    with open(path, newline="") as f:
        for lineno, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if not row or not "".join(row).strip() or row[0].startswith("#"):
                continue
            if len(row) < 2 or not row[1].strip():
                raise MotionGPTError(f"{path}:{lineno}: expected `file-id<TAB>caption`, got {row!r}")
            out.setdefault(Path(row[0].strip()).stem, []).append(row[1].strip())
    return out


def find_clip_files(inputs: list[str | Path]) -> tuple[list[Path], list[Path]]:
    """(BVH and AMC clips, ASF skeletons) named directly or found (recursively) in folders, sorted per input."""
    files: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.suffix.lower() in (".bvh", ".amc", ".asf") and p.is_file())
            if not found:
                raise MotionGPTError(f"{item}: no .bvh, .amc or .asf files in this folder")
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise MotionGPTError(f"{item}: not found")
    return [f for f in files if f.suffix.lower() != ".asf"], [f for f in files if f.suffix.lower() == ".asf"]


def build_from_bvh(inputs: list[str | Path], out: str | Path, rig: str | None = None,
                   captions: str | Path | None = None, scale: float | None = None, up: str = "y", seed: int = 0,
                   workers: int = 2, overwrite: bool = False, asf: str | Path | None = None,
                   amc_fps: float = AMC_FPS) -> dict:
    """`motiongpt data from-bvh`: BVH or AMC files (+ a captions TSV) -> a HumanML3D-layout dataset. An AMC clip
    uses `asf`, or else the ASF skeleton `asf_amc.find_skeleton` picks among the inputs and beside the clip."""
    if scale is not None:
        check_number(scale, "scale", 1e-6, 1e6)
    files, skeletons = find_clip_files(inputs)
    if any(f.suffix.lower() == ".amc" for f in files):
        check_fps(amc_fps, "--amc-fps")
    texts = read_captions_tsv(captions) if captions else {}
    if captions:
        missing = [f.stem for f in files if f.stem not in texts]
        if missing:
            raise MotionGPTError(f"{captions}: no caption for clip {missing[0]!r} ({len(missing)} clips lack one)")
    else:
        print("motiongpt: warning: no --captions; texts/ files stay empty and text-to-motion loaders skip these "
              "motions", file=sys.stderr)
    if rig is not None:
        load_rig(rig, [], str(rig))  # fail now, not in every worker, on a bad map file or name
    amcs = [f for f in files if f.suffix.lower() == ".amc"]
    paired = {f: str(asf) for f in amcs} if asf else {f: str(a) for f, a in pair_skeletons(amcs, skeletons).items()}
    for skeleton in sorted(set(paired.values())):
        read_asf(skeleton, scale)  # a bad skeleton fails once, here
    jobs = [ClipJob(str(f), f.stem, tuple(texts.get(f.stem, ())), rig=rig, scale=scale, up=up,
                    skeleton=paired.get(f), fps=amc_fps) for f in files]
    kinds = ["BVH files"] * (len(paired) < len(files)) + ["ASF/AMC files"] * bool(paired)
    meta = {"source": " and ".join(kinds) or "no files", "inputs": [str(i) for i in inputs]}
    return build_dataset(jobs, out, meta, seed=seed, workers=workers, overwrite=overwrite)
