"""The Bandai Namco Research Motion datasets 1 and 2 as a captioned HumanML3D-layout training set.

Each clip has a JSON label `{"content": i, "style": j}` indexing the label lists in `cfg/`. Captions are written
from what each content was measured to show (root trajectory and heading of the clips, hand and foot heights):
- dataset-1 walk-left / walk-right: the actor walks diagonally forward-left / forward-right, about 30 degrees off
  the facing direction, without turning (a veer, not a sidestep); walk-back walks backwards facing forward.
- dataset-2 walk-turn-left / walk-turn-right: walks forward and turns about 90 degrees left / right, then goes on.
- run about 2.4 m/s, dash (a sprint) about 3.2 m/s, walk about 1.1 m/s.
- bye waves goodbye with the right hand, byebye with both hands raised, guide stretches the right arm forward,
  respond raises the left hand above the head, kick is a high right-leg kick, slash swings both hands overhead
  like a sword, bow bends the upper body forward.
Licence CC BY-NC 4.0; cite Kobayashi et al. 2023, arXiv:2306.08861.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from motiongpt.data.archive import DEFAULT_CACHE, unpack_once
from motiongpt.data.captions import Style, compose, mirror_text
from motiongpt.data.humanml3d import ClipJob, build_dataset
from motiongpt.errors import MotionGPTError

DATASET_1 = "Bandai-Namco-Research-Motiondataset-1"
DATASET_2 = "Bandai-Namco-Research-Motiondataset-2"
ARCHIVE = "data.tar.xz"
LICENSE = "CC BY-NC 4.0"
CITATION = ("Kobayashi, M., Liao, C.-C., Inoue, K., Yojima, S., Takahashi, M. (2023). Motion Capture Dataset for "
            "Practical Use of AI-based Motion Editing and Stylization. arXiv:2306.08861")
CAPTIONS_PER_CLIP = 3

_WALK = ["walk forward", "walk straight ahead", "take several steps forward", "walk ahead in a straight line"]
_RUN = ["run forward", "run straight ahead", "jog forward quickly"]

# What each content shows, as verb phrases in the base form ("walk forward" -> "walks forward").
ACTIONS: dict[str, list[str]] = {
    "walk": _WALK,
    "run": _RUN,
    "dash": ["sprint forward", "dash forward", "run forward at full speed", "sprint straight ahead"],
    "walk-back": ["walk backward", "walk backwards while facing forward", "take several steps backward",
                  "step back several times"],
    "walk-left": ["walk diagonally forward to the left", "walk forward while veering to the left",
                  "walk ahead at an angle to the left", "walk forward and to the left"],
    "walk-right": ["walk diagonally forward to the right", "walk forward while veering to the right",
                   "walk ahead at an angle to the right", "walk forward and to the right"],
    "walk-turn-left": ["walk forward and turn left", "walk and make a ninety degree turn to the left",
                       "walk forward, then turn to the left and walk on", "take a left turn while walking"],
    "walk-turn-right": ["walk forward and turn right", "walk and make a ninety degree turn to the right",
                        "walk forward, then turn to the right and walk on", "take a right turn while walking"],
    "bow": ["bow", "bend forward at the waist in a bow", "take a bow", "bow politely"],
    "bye": ["wave goodbye with the right hand", "raise the right hand and wave goodbye",
            "wave the right hand to say goodbye"],
    "byebye": ["wave goodbye with both hands", "raise both hands and wave them to say goodbye",
               "wave both hands in farewell"],
    "guide": ["stretch the right arm forward to show the way", "gesture the way with the right hand",
              "extend the right arm to guide someone"],
    "respond": ["raise the left hand above the head in response", "put the left hand up to answer",
                "lift the left arm high to respond"],
    "call": ["call out to someone", "call to someone with the hands near the mouth", "shout to call someone"],
    "punch": ["throw punches", "punch forward several times", "throw a series of punches"],
    "kick": ["kick high with the right leg", "do a high kick with the right foot", "lift the right leg in a high kick"],
    "slash": ["slash with both hands as if holding a sword", "swing an imaginary sword with both hands",
              "make slashing strikes with both arms overhead"],
    "dance-long": ["dance", "perform a long dance", "dance energetically"],
    "dance-short": ["dance", "perform a dance routine", "dance energetically"],
    "wave-both-hands": ["wave both hands", "raise both hands and wave them", "wave with both arms"],
    "wave-left-hand": ["wave the left hand", "raise the left hand and wave it", "wave with the left arm"],
    "wave-right-hand": ["wave the right hand", "raise the right hand and wave it", "wave with the right arm"],
    "raise-up-both-hands": ["raise both hands", "lift both arms up", "put both hands up"],
    "raise-up-left-hand": ["raise the left hand", "lift the left arm up", "put the left hand up"],
    "raise-up-right-hand": ["raise the right hand", "lift the right arm up", "put the right hand up"],
}

# Locomotion phrases some styles make more vivid ("a tired person drags themself forward").
STYLED_WALKS: dict[str, list[str]] = {
    "tired": ["drag themself forward", "trudge forward"],
    "exhausted": ["drag themself forward", "trudge forward"],
    "old": ["shuffle forward slowly"],
    "elderly": ["shuffle forward slowly"],
    "proud": ["stride forward with the chest out"],
    "angry": ["stomp forward"],
    "chimpira": ["swagger forward"],
}

STYLES: dict[str, Style] = {
    "normal": Style(),
    "happy": Style(("happy", "cheerful", "joyful"), ("happily", "cheerfully", "in a happy mood")),
    "sad": Style(("sad", "gloomy", "sorrowful"), ("sadly", "in a sad way", "gloomily")),
    "angry": Style(("angry", "furious", "irritated"), ("angrily", "in an angry way", "furiously")),
    "proud": Style(("proud", "haughty", "dignified"), ("proudly", "with pride", "in a proud manner")),
    "not-confident": Style(("timid", "unconfident", "hesitant"), ("timidly", "without confidence", "hesitantly")),
    "masculinity": Style(("masculine", "manly"), ("in a masculine way", "in a manly way")),
    "masculine": Style(("masculine", "manly"), ("in a masculine way", "in a manly way")),
    "feminine": Style(("feminine", "graceful"), ("in a feminine way", "gracefully")),
    "childish": Style(("childish", "childlike", "playful"), ("childishly", "like a child", "playfully")),
    "old": Style(("old", "elderly", "frail"), ("like an old person", "slowly like an elderly person")),
    "elderly": Style(("elderly", "old", "frail"), ("like an elderly person", "like an old person")),
    "tired": Style(("tired", "weary"), ("wearily", "in a tired way", "tiredly")),
    "exhausted": Style(("exhausted", "worn out", "tired"), ("in an exhausted way", "wearily", "with exhaustion")),
    "active": Style(("energetic", "active", "lively"), ("energetically", "actively", "with lots of energy")),
    "youthful": Style(("youthful", "young", "sprightly"), ("youthfully", "in a youthful way", "with youthful energy")),
    "musical": Style(("theatrical", "musical"), ("theatrically", "like a musical performer", "rhythmically")),
    "giant": Style(("giant", "huge", "lumbering"), ("heavily like a giant", "like a giant", "with heavy steps")),
    "chimpira": Style(("thuggish", "cocky"), ("like a street thug", "with a swagger", "in a thuggish way")),
}


def read_labels(cfg: Path) -> tuple[list[str], list[str]]:
    """(contents, styles) label lists of one dataset, without the `dataset-N_` prefix."""
    out = []
    for name in ("content_label.txt", "style_label.txt"):
        path = cfg / name
        if not path.is_file():
            raise MotionGPTError(f"{path}: label list not found (is this the Bandai dataset folder?)")
        out.append([ln.strip().split("_", 1)[-1] for ln in path.read_text().splitlines() if ln.strip()])
    return out[0], out[1]


_MOTION_ID = re.compile(r"M?dataset-\d+_([a-z-]+)_([a-z-]+)_\d+(?:_w\d+)?")


def motion_labels(motion_id: str) -> tuple[str, str] | None:
    """(content, style) of a motion id this builder writes (`[M]dataset-N_<content>_<style>_<take>[_wNN]`: mirrored
    copies and windows included); None for any other id."""
    match = _MOTION_ID.fullmatch(motion_id)
    if match is None or match[1] not in ACTIONS or match[2] not in STYLES:
        return None
    return match[1], match[2]


def named_content(motion_id: str) -> str | None:
    """The content a motion's captions name: its clip's, with the sides swapped for a mirrored copy (walk-left ->
    walk-right; a mirrored bye stays bye, its captions naming the left hand); None for an id without labels."""
    labels = motion_labels(motion_id)
    if labels is None:
        return None
    return mirror_text(labels[0]) if motion_id.startswith("M") else labels[0]


OTHER = ("", "")  # the group of motions whose id carries no Bandai labels


def motion_group(motion_id: str) -> tuple[str, str]:
    """(content, style) of a motion id, OTHER for an id without Bandai labels; mirrored copies share their clip's."""
    return motion_labels(motion_id) or OTHER


def balanced_shares(groups: Sequence[tuple[str, str]], power: float) -> np.ndarray:
    """Each item's share (summing to 1) when rare contents and styles are to be seen often enough, not in
    proportion to clip counts: a content's share goes as (its items)^(1 - power), and within it each style's the
    same way, split evenly over the style's items. `power` 0 keeps the items' proportions, 1 gives every content
    an equal share and every style an equal share within its content."""
    if not 0.0 <= power <= 1.0:
        raise MotionGPTError(f"balance power {power}: expected a number from 0 (clip counts) to 1 (equal shares)")
    pairs = Counter(groups)
    contents = Counter(content for content, _ in groups)
    content_mass = {c: n ** (1.0 - power) for c, n in contents.items()}
    style_mass = {g: n ** (1.0 - power) for g, n in pairs.items()}
    style_total = Counter()
    for (content, _), mass in style_mass.items():
        style_total[content] += mass
    total = sum(content_mass.values())
    return np.array([content_mass[g[0]] / total * style_mass[g] / style_total[g[0]] / pairs[g] for g in groups])


def clip_captions(name: str, content: str, style: str, count: int = CAPTIONS_PER_CLIP) -> list[str]:
    """`count` distinct captions for one clip, seeded by its name."""
    if content not in ACTIONS:
        raise MotionGPTError(f"{name}: no caption phrases for content {content!r}")
    if style not in STYLES:
        raise MotionGPTError(f"{name}: no caption words for style {style!r}")
    actions = list(ACTIONS[content])
    if content == "walk":
        actions += STYLED_WALKS.get(style, [])
    return compose(actions, STYLES[style], name, count)


def fresh_caption(motion_id: str, seed: str) -> str | None:
    """One caption composed anew (seeded by `seed`) for a Bandai motion id, naming the other side for a mirrored
    copy; None for an id without Bandai labels. A motion repeated for balance gets new wordings this way instead of
    its clip's three, so that a small LLM learns a rare content's words, not three sentences."""
    labels = motion_labels(motion_id)
    if labels is None:
        return None
    options = clip_captions(seed, *labels, count=5)  # the five cover every template kind (adjective, adverb, plain)
    caption = options[zlib.crc32(seed.encode()) % len(options)]
    return mirror_text(caption) if motion_id.startswith("M") else caption


def unpack_archive(archive: Path, cache: Path) -> Path:
    """Unpack dataset-2's archive once into `cache` (atomically) and return the folder holding the clips."""
    return unpack_once(archive, cache / "bandai" / DATASET_2, f"{DATASET_2}/data")


def dataset_jobs(data: Path, cfg: Path, tag: str) -> list[ClipJob]:
    contents, styles = read_labels(cfg)
    jobs = []
    for bvh in sorted(data.glob("*.bvh")):
        label_path = bvh.with_suffix(".json")
        try:
            label = json.loads(label_path.read_text())
            content, style = contents[label["content"]], styles[label["style"]]
        except FileNotFoundError:
            raise MotionGPTError(f"{label_path}: label file missing beside {bvh.name}") from None
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise MotionGPTError(f"{label_path}: bad label ({err}); expected {{\"content\": i, \"style\": j}}") from err
        captions = tuple(clip_captions(bvh.stem, content, style))
        jobs.append(ClipJob(str(bvh), bvh.stem, captions, group=f"{tag}/{content}", rig="bandai", scale=0.01))
    return jobs


def bandai_jobs(root: str | Path, cache: str | Path = DEFAULT_CACHE) -> list[ClipJob]:
    """One job per clip of dataset-1 (unpacked) and dataset-2 (unpacked from its archive into `cache`)."""
    root = Path(root)
    if not (root / DATASET_1).is_dir() and not (root / DATASET_2).is_dir():
        raise MotionGPTError(f"{root}: neither {DATASET_1} nor {DATASET_2} found here")
    jobs = []
    if (root / DATASET_1).is_dir():
        jobs += dataset_jobs(root / DATASET_1 / "data", root / DATASET_1 / "cfg", "dataset-1")
    if (root / DATASET_2).is_dir():
        data = unpack_archive(root / DATASET_2 / ARCHIVE, Path(cache))
        jobs += dataset_jobs(data, root / DATASET_2 / "cfg", "dataset-2")
    if not jobs:
        raise MotionGPTError(f"{root}: no .bvh clips found")
    return jobs


def build_bandai(root: str | Path, out: str | Path, cache: str | Path = DEFAULT_CACHE, seed: int = 0,
                 workers: int = 2, overwrite: bool = False, jobs: list[ClipJob] | None = None) -> dict:
    """`motiongpt data bandai`: the project's training set. `jobs` restricts the build (e.g. to a few clips)."""
    jobs = bandai_jobs(root, cache) if jobs is None else jobs
    meta = {
        "source": "Bandai Namco Research Motion datasets 1 and 2 (https://github.com/BandaiNamcoResearchInc/"
                  "Bandai-Namco-Research-Motiondataset)",
        "license": LICENSE,
        "license_note": "non-commercial: never train one model on this and HDM05 (CC BY-SA 3.0) together",
        "citation": CITATION,
        "caption_source": "generated from each clip's content and style labels by motiongpt.data.bandai",
        "split": "by clip, stratified by dataset and content, 80/5/15 %",
    }
    return build_dataset(jobs, out, meta, seed=seed, workers=workers, overwrite=overwrite, desc="bandai clips")
