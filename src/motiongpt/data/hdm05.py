"""The HDM05 mocap subset (ASF/AMC, five actors, eleven action classes, 120 fps) as a captioned HumanML3D-layout set.

Each AMC clip holds one repetition of one action; its class is in the file name (`HDM_<actor>_<class>_<nnn>_<fps>`).
Captions are written from what the classes were measured to show on all 287 clips: the right hand goes down to
10-21 cm above the floor (depositFloorR, often after a step forward) or up to 1.5-1.7 m (grabHighR); the right knee
comes up to the left elbow (elbowToKnee1RepsLelbowStart); the hop is a jump 0.5-1.3 m forward on both feet; the
jog turns 50-120 degrees to the left in four steps, right foot first; the kick lifts the left ankle to 0.9-1.4 m
while the right stays below 0.25 m; the sneak goes 0.8-1.6 m forward, left foot first; every lieDownFloor clip
ends on the back with the pelvis below 0.3 m; the basketball throw raises the hands above the head.

The clips are short (0.45 to 6 s), so the set keeps every clip of at least MIN_FRAMES feature frames (0.4 s, two
VQ-VAE codes of 4 frames) instead of HumanML3D's 40; loaders that keep HumanML3D's limits skip the shorter ones.
Licence CC BY-SA 3.0 (share-alike): never train one model on HDM05 and the Bandai data (CC BY-NC 4.0) together.
"""

from __future__ import annotations

from pathlib import Path

from motiongpt.data.archive import DEFAULT_CACHE, unpack_once
from motiongpt.data.captions import Style, compose
from motiongpt.data.humanml3d import ClipJob, build_dataset
from motiongpt.errors import MotionGPTError

ARCHIVE = "HDM05-subset.tar.xz"
MEMBERS = "HDM05-subset"  # the archive's top folder, holding asf/ and amc/
MIN_FRAMES = 8
CAPTIONS_PER_CLIP = 3
LICENSE = "CC BY-SA 3.0"
LICENSE_NOTE = ("share-alike: keep every model trained on HDM05 separate; never train one model on HDM05 and the "
                "Bandai Namco data (CC BY-NC 4.0) together, since no one could satisfy both licences at once")
CITATION = ("M. Müller, T. Röder, M. Clausen, B. Eberhardt, B. Krüger, A. Weber: Documentation Mocap Database "
            "HDM05. Technical report CG-2007-2, Universität Bonn, June 2007")
ACKNOWLEDGEMENT = "The data used in this project was obtained from HDM05."

# What each class shows, as verb phrases in the base form ("kick forward" -> "kicks forward").
ACTIONS: dict[str, list[str]] = {
    "depositFloorR": ["put something down on the floor with the right hand",
                      "bend down and place an object on the floor with the right hand",
                      "reach down to the floor and put something there with the right hand",
                      "step forward and put something on the ground with the right hand"],
    "elbowToKnee1RepsLelbowStart": ["touch the right knee with the left elbow",
                                    "lift the right knee and touch it with the left elbow",
                                    "bring the left elbow down to the raised right knee",
                                    "twist to touch the left elbow to the right knee"],
    "grabHighR": ["reach up high and grab something with the right hand",
                  "stretch the right arm up to grab something overhead",
                  "grab something high above the head with the right hand"],
    "hopBothLegs1hops": ["jump forward with both feet", "hop forward once on both legs",
                         "do one jump forward with the feet together"],
    "jogLeftCircle4StepsRstart": ["jog in a circle to the left", "jog four steps along a curve to the left",
                                  "jog around to the left, starting with the right foot",
                                  "jog a quarter circle counterclockwise"],
    "kickLFront1Reps": ["kick forward with the left leg", "do a front kick with the left foot",
                        "kick the left leg out in front once", "lift the left leg in a high front kick"],
    "lieDownFloor": ["lie down on the floor", "lie down on the back", "get down onto the floor and lie on the back",
                     "lower themself to the ground and lie down"],
    "rotateArmsBothBackward1Reps": ["rotate both arms backward", "circle both arms backwards once",
                                    "swing both arms around backward in a circle",
                                    "make a backward circle with both arms"],
    "sneak2StepsLStart": ["sneak forward two steps", "sneak two steps forward, starting with the left foot",
                          "creep forward quietly for two steps", "take two sneaking steps forward"],
    "squat1Reps": ["do a squat", "do one squat", "lower into a squat and stand back up",
                   "bend the knees into a deep squat and rise again"],
    "throwBasketball": ["throw a basketball", "throw a ball with both hands",
                        "raise a ball above the head and throw it with both hands", "shoot a basketball"],
}


def clip_captions(name: str, action: str, count: int = CAPTIONS_PER_CLIP) -> list[str]:
    """`count` distinct captions for one clip of class `action`, seeded by its name."""
    if action not in ACTIONS:
        raise MotionGPTError(f"{name}: unknown HDM05 class {action!r} (known: {', '.join(ACTIONS)})")
    return compose(ACTIONS[action], Style(), name, count)


def parse_name(path: Path) -> tuple[str, str, float]:
    """(actor, class, fps) from `HDM_<actor>_<class>_<nnn>_<fps>.amc`."""
    parts = path.stem.split("_")
    if len(parts) != 5 or parts[0] != "HDM" or not parts[3].isdigit() or not parts[4].isdigit():
        raise MotionGPTError(f"{path}: expected an HDM05 clip name HDM_<actor>_<class>_<nnn>_<fps>.amc")
    return parts[1], parts[2], float(parts[4])


def clip_jobs(folder: str | Path) -> list[ClipJob]:
    """One job per AMC clip in `folder`/amc, each with its actor's skeleton `folder`/asf/HDM_<actor>.asf."""
    folder = Path(folder)
    clips = sorted((folder / "amc").glob("*.amc"))
    if not clips:
        raise MotionGPTError(f"{folder / 'amc'}: no .amc clips here")
    jobs = []
    for amc in clips:
        actor, action, fps = parse_name(amc)
        asf = folder / "asf" / f"HDM_{actor}.asf"
        if not asf.is_file():
            raise MotionGPTError(f"{amc}: its skeleton {asf} is missing")
        jobs.append(ClipJob(str(amc), amc.stem, tuple(clip_captions(amc.stem, action)), group=action, rig="cmu",
                            skeleton=str(asf), fps=fps))
    return jobs


def hdm05_jobs(root: str | Path, cache: str | Path = DEFAULT_CACHE) -> list[ClipJob]:
    """Every clip of the subset, unpacked once from `root`/HDM05-subset.tar.xz into `cache`; or the clips of an
    unpacked folder holding asf/ and amc/ (such as the samples)."""
    root = Path(root)
    if not (root / ARCHIVE).is_file():
        if (root / "amc").is_dir() and (root / "asf").is_dir():
            return clip_jobs(root)
        raise MotionGPTError(f"{root}: neither {ARCHIVE} nor asf/ and amc/ folders here (is this the HDM05 folder?)")
    return clip_jobs(unpack_once(root / ARCHIVE, Path(cache) / "hdm05", MEMBERS))


def build_hdm05(root: str | Path, out: str | Path, cache: str | Path = DEFAULT_CACHE, seed: int = 0,
                workers: int = 2, overwrite: bool = False, jobs: list[ClipJob] | None = None) -> dict:
    """`motiongpt data hdm05`: the HDM05 subset in the HumanML3D layout. `jobs` restricts the build (tests)."""
    jobs = hdm05_jobs(root, cache) if jobs is None else jobs
    meta = {
        "source": "HDM05 motion capture database, cut subset of 11 action classes (ASF/AMC, 120 fps)",
        "license": LICENSE,
        "license_note": LICENSE_NOTE,
        "citation": CITATION,
        "acknowledgement": ACKNOWLEDGEMENT,
        "caption_source": "generated from each clip's action class by motiongpt.data.hdm05",
        "split": "by clip, stratified by action class, 80/5/15 %",
    }
    return build_dataset(jobs, out, meta, seed=seed, workers=workers, overwrite=overwrite, desc="hdm05 clips",
                         min_frames=MIN_FRAMES)
