"""`motiongpt data from-bvh|bandai` end to end, and one-line errors that leave nothing half-written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile

import pytest

from motiongpt.cli import main
from motiongpt.data.layout import split_ids
from motiongpt.data.rigmap import SMPL_JOINTS, builtin_map

SAMPLE = "dataset-2_walk_normal_001"


def _fails(capsys, argv, out, *expected):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()  # a progress bar may come before the error
    assert err[-1].startswith("motiongpt: error:") and sum("error" in line for line in err) == 1, err
    err = err[-1]
    for text in expected:
        assert text in err, err
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def _copy_lines(src, dst, edit):
    lines = src.read_text(encoding="latin-1").splitlines(keepends=True)  # HDM05 files hold non-UTF-8 comments
    dst.write_text("".join(edit(lines)), encoding="latin-1")
    return dst


def test_truncated_bvh(bandai_sample_bvh, tmp_path, capsys):
    bad = _copy_lines(bandai_sample_bvh / f"{SAMPLE}.bvh", tmp_path / "cut.bvh", lambda ls: ls[: len(ls) // 2])
    out = tmp_path / "out"
    _fails(capsys, ["data", "from-bvh", str(bad), str(bandai_sample_bvh / f"{SAMPLE}.bvh"), "--out", str(out),
                    "--workers", "2"], out, "cut.bvh:")


def test_wrong_channel_count(bandai_sample_bvh, tmp_path, capsys):
    def edit(lines):
        i = next(k for k, ln in enumerate(lines) if "CHANNELS 6" in ln and k > 10)
        lines[i] = lines[i].replace("CHANNELS 6 Xposition Yposition Zposition", "CHANNELS 3")
        return lines

    bad = _copy_lines(bandai_sample_bvh / f"{SAMPLE}.bvh", tmp_path / "chan.bvh", edit)
    out = tmp_path / "out"
    _fails(capsys, ["data", "from-bvh", str(bad), "--out", str(out), "--workers", "1"], out, "chan.bvh:")


def test_map_naming_a_missing_joint(bandai_sample_bvh, tmp_path, capsys):
    bandai = builtin_map("bandai")  # the Bandai map with one joint renamed
    rig = {"name": "mine", "joints": {j: (list(a) if a else {"midpoint": list(m)}) for j, a, m in
                                      zip(SMPL_JOINTS, bandai.alternatives, bandai.midpoints)}}
    rig["joints"]["head"] = "Kopf"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(rig))
    out = tmp_path / "out"
    _fails(capsys, ["data", "from-bvh", str(bandai_sample_bvh / f"{SAMPLE}.bvh"), "--map", str(path), "--out",
                    str(out), "--workers", "1"], out, "Kopf", f"{SAMPLE}.bvh")


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    _fails(capsys, ["data", "from-bvh", str(tmp_path / "empty"), "--out", str(out)], out, "empty", "no .bvh")


def test_existing_output_is_kept(bandai_sample_bvh, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["data", "from-bvh", str(bandai_sample_bvh / f"{SAMPLE}.bvh"), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"


def test_bandai_command_unpacks_the_archive(bandai_sample_bvh, tmp_path):
    """A small stand-in for the dataset root: dataset-2's cfg and an archive of four sample clips."""
    root = tmp_path / "bandai"
    dataset = root / "Bandai-Namco-Research-Motiondataset-2"
    (dataset / "cfg").mkdir(parents=True)
    for name in ("content_label.txt", "style_label.txt"):
        (dataset / "cfg" / name).write_text((bandai_sample_bvh.parent / "cfg" / name).read_text())
    clips = [f"dataset-2_{c}_001" for c in ("walk_normal", "walk_elderly", "run_normal", "wave-left-hand_active")]
    with tarfile.open(dataset / "data.tar.xz", "w:xz") as tar:
        for clip in clips:
            for ext in (".bvh", ".json"):
                tar.add(bandai_sample_bvh / f"{clip}{ext}", f"Bandai-Namco-Research-Motiondataset-2/data/{clip}{ext}")
    out, cache = tmp_path / "set", tmp_path / "cache"
    proc = subprocess.run([sys.executable, "-m", "motiongpt", "data", "bandai", str(root), "--out", str(out),
                           "--cache", str(cache), "--workers", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "dataset.json").read_text())
    assert summary["clips"] == 4 and summary["motions"] == 2 * summary["windows"] >= 8
    ids = [i for s in ("train", "val", "test") for i in split_ids(out, s) if not i.startswith("M")]
    assert len(ids) == summary["windows"] and {re.sub(r"_w\d\d$", "", i) for i in ids} == set(clips)
    assert json.loads(proc.stdout)["captions"] == summary["captions"] >= 24
    assert (cache / "bandai" / "Bandai-Namco-Research-Motiondataset-2").is_dir()


@pytest.mark.parametrize("argv", [["data", "--help"], ["data", "from-bvh", "--help"], ["data", "bandai", "--help"],
                                  ["data", "hdm05", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0 and "usage" in capsys.readouterr().out


# --- ASF/AMC ---------------------------------------------------------------------------------------------------

KICK = "HDM_bd_kickLFront1Reps_001_120"


def test_amc_bone_the_skeleton_lacks(hdm05_sample, tmp_path, capsys):
    def edit(lines):
        i = [k for k, ln in enumerate(lines) if ln.startswith("lfemur ")][4]
        lines[i] = lines[i].replace("lfemur", "lthigh")
        return lines

    bad = _copy_lines(hdm05_sample / "amc" / f"{KICK}.amc", tmp_path / "renamed.amc", edit)
    out = tmp_path / "out"
    _fails(capsys, ["data", "from-bvh", str(bad), str(hdm05_sample / "amc" / f"{KICK}.amc"), "--asf",
                    str(hdm05_sample / "asf" / "HDM_bd.asf"), "--out", str(out), "--workers", "2"], out,
           "renamed.amc:", "'lthigh' is not in the skeleton HDM_bd.asf")


def test_truncated_amc(hdm05_sample, tmp_path, capsys):
    bad = _copy_lines(hdm05_sample / "amc" / f"{KICK}.amc", tmp_path / "HDM_bd_cut.amc",
                      lambda ls: ls[: len(ls) // 2 + 7])
    out = tmp_path / "out"
    _fails(capsys, ["data", "from-bvh", str(bad), str(hdm05_sample / "asf"), "--out", str(out), "--workers", "1"],
           out, "HDM_bd_cut.amc:", "lacks bone(s)", "truncated")


def test_asf_with_a_cycle(hdm05_sample, tmp_path, capsys):
    def edit(lines):
        i = next(k for k, ln in enumerate(lines) if ln.split() == ["lfoot", "ltoes"])
        lines.insert(i + 1, "    ltoes lfemur\n")
        return lines

    asf = _copy_lines(hdm05_sample / "asf" / "HDM_bd.asf", tmp_path / "HDM_bd.asf", edit)
    out = tmp_path / "out"
    _fails(capsys, ["data", "from-bvh", str(hdm05_sample / "amc" / f"{KICK}.amc"), "--asf", str(asf), "--out",
                    str(out)], out, "HDM_bd.asf:", "cycle: lfemur -> ltibia -> lfoot -> ltoes -> lfemur")


def test_from_bvh_takes_amc_clips_with_their_skeletons(hdm05_sample, tmp_path, capsys):
    """The sample folder: ASF skeletons in asf/, AMC clips in amc/; each clip finds its actor's skeleton."""
    out = tmp_path / "out"
    assert main(["data", "from-bvh", str(hdm05_sample), "--out", str(out), "--workers", "1"]) == 0
    summary = json.loads((out / "dataset.json").read_text())
    assert summary["source"] == "ASF/AMC files" and summary["clips"] == 11
    assert summary["clips_kept"] == 5  # HumanML3D's limit (40 frames at 20 fps) drops 6 of these short clips
    assert "warning: no --captions" in capsys.readouterr().err


def test_hdm05_command_unpacks_the_archive(hdm05_sample, tmp_path, capsys):
    root = tmp_path / "hdm05"
    root.mkdir()
    clips = [KICK, "HDM_bd_hopBothLegs1hops_001_120", "HDM_bd_squat1Reps_001_120"]
    with tarfile.open(root / "HDM05-subset.tar.xz", "w:xz") as tar:
        tar.add(hdm05_sample / "asf" / "HDM_bd.asf", "HDM05-subset/asf/HDM_bd.asf")
        for clip in clips:
            tar.add(hdm05_sample / "amc" / f"{clip}.amc", f"HDM05-subset/amc/{clip}.amc")
    out, cache = tmp_path / "set", tmp_path / "cache"
    assert main(["data", "hdm05", str(root), "--out", str(out), "--cache", str(cache), "--workers", "1"]) == 0
    summary = json.loads((out / "dataset.json").read_text())
    assert summary["clips"] == summary["clips_kept"] == 3 and summary["license"] == "CC BY-SA 3.0"
    assert json.loads(capsys.readouterr().out)["captions"] == summary["captions"] == 18
    assert sorted(p.name for p in (cache / "hdm05" / "HDM05-subset" / "amc").iterdir()) == [f"{c}.amc" for c in
                                                                                            sorted(clips)]


def test_hdm05_command_with_a_broken_archive(tmp_path, capsys):
    root = tmp_path / "hdm05"
    root.mkdir()
    (root / "HDM05-subset.tar.xz").write_bytes(b"not an archive")
    out, cache = tmp_path / "set", tmp_path / "cache"
    _fails(capsys, ["data", "hdm05", str(root), "--out", str(out), "--cache", str(cache)], out,
           "HDM05-subset.tar.xz: cannot unpack")
    assert not (cache / "hdm05").exists()
