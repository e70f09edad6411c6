import os
import signal

import numpy as np
import pytest
import torch

from motiongpt import io
from motiongpt.errors import MotionGPTError


def test_model_dir_round_trip(tmp_path):
    state = {"w": torch.randn(3, 4), "b": torch.zeros(4)}
    io.save_model_dir(tmp_path / "m", {"width": 4}, state, {"Mean.npy": np.ones(3, np.float32)})
    config, loaded = io.load_model_dir(tmp_path / "m")
    assert config == {"width": 4}
    assert torch.equal(loaded["w"], state["w"])
    assert np.load(tmp_path / "m" / "Mean.npy").tolist() == [1, 1, 1]


def test_failed_atomic_directory_keeps_old_content(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with io.atomic_directory(target, overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError("boom")
    assert (target / "keep.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_directory_refuses_non_empty_target(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("x")
    with pytest.raises(MotionGPTError, match="not empty"):
        with io.atomic_directory(tmp_path / "out"):
            pass


def test_corrupt_weights_are_a_clear_error(tmp_path):
    io.save_model_dir(tmp_path, {}, {"w": torch.ones(2)})
    (tmp_path / io.WEIGHTS_NAME).write_bytes(b"garbage")
    with pytest.raises(MotionGPTError, match="corrupt"):
        io.load_model_dir(tmp_path)


def test_load_npy_errors_name_the_file(tmp_path):
    with pytest.raises(MotionGPTError, match="missing.npy: features file not found"):
        io.load_npy(tmp_path / "missing.npy", "features")
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(MotionGPTError, match="bad.npy: cannot read"):
        io.load_npy(tmp_path / "bad.npy")
    np.save(tmp_path / "ok.npy", np.arange(3))
    assert io.load_npy(tmp_path / "ok.npy").tolist() == [0, 1, 2]


def test_check_resume_names_the_changed_setting(tmp_path):
    saved = {"lr": 0.001, "seed": 1, "steps": 100}
    io.check_resume(saved, {**saved, "steps": 200}, tmp_path, ignore=["steps"])
    with pytest.raises(MotionGPTError, match=r"ckpt: cannot resume: setting lr was 0.001, now 0.002 \(rerun"):
        io.check_resume(saved, {**saved, "lr": 0.002}, tmp_path / "ckpt", ignore=["steps"])
    with pytest.raises(MotionGPTError, match="setting workers was None, now 2"):
        io.check_resume(saved, {**saved, "workers": 2}, tmp_path)


def test_stop_request_turns_ctrl_c_into_a_flag_and_restores_the_handler():
    # a process started in the background of a script inherits SIGINT ignored; start from Python's own handler
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _check_stop_request()
    finally:
        signal.signal(signal.SIGINT, inherited)


def _check_stop_request() -> None:
    before = signal.getsignal(signal.SIGINT)
    with io.StopRequest() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt), io.StopRequest(enabled=False) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs at the next bytecode boundary
            pass
    assert not stop.requested


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_outputs_follow_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        io.write_text(tmp_path / "file.txt", "x")
        with io.atomic_directory(tmp_path / "folder") as tmp:
            io.save_npy(tmp / "a.npy", np.zeros(2))
    finally:
        os.umask(old)
    assert (tmp_path / "file.txt").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o777 & ~mask
    assert (tmp_path / "folder" / "a.npy").stat().st_mode & 0o777 == 0o666 & ~mask


def test_temp_files_of_a_killed_writer_go_at_the_next_write(tmp_path):
    """A kill -9 during a save leaves `.NAME.<pid>.*.tmp`; the next write of NAME removes it (its pid is gone),
    and never one of a live writer."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale_file = tmp_path / f".checkpoint.pt.{pid}.abc.tmp"
    stale_file.write_bytes(b"")
    stale_dir = tmp_path / f".out.{pid}.xyz.tmp"
    (stale_dir / "new_joints").mkdir(parents=True)
    live = tmp_path / f".checkpoint.pt.{os.getpid()}.live.tmp"
    live.write_bytes(b"")
    io.save_torch(tmp_path / "checkpoint.pt", {"step": 1})
    with io.atomic_directory(tmp_path / "out") as tmp:
        (tmp / "x").write_text("x")
    assert not stale_file.exists() and not stale_dir.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "checkpoint.pt", "out"])


def test_a_folder_renamed_aside_by_a_killed_run_comes_back(tmp_path):
    """Killed between moving the old folder aside and moving the new one in: the next write restores the old."""
    (tmp_path / ".out.old").mkdir()
    (tmp_path / ".out.old" / "state.json").write_text("{}")
    with pytest.raises(MotionGPTError, match="not empty"):
        with io.atomic_directory(tmp_path / "out"):
            pass
    assert (tmp_path / "out" / "state.json").is_file() and not (tmp_path / ".out.old").exists()
