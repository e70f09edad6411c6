"""Rendering speed: ms per frame for stick-figure GIF and MP4 (render + encode), one motion and a 2x grid.

Usage: python benchmarks/bench_render.py JOINTS.npy  (e.g. a HumanML3D new_joints file)
Prints and writes benchmarks/results/render.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from motiongpt.export.render import StickFigureVideo, write_gif, write_mp4


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python benchmarks/bench_render.py JOINTS.npy  (T x 22 x 3)")
    joints = np.load(sys.argv[1])
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, motions, titles in (("single_320", [joints], [None]),
                                      ("single_320_titled", [joints], ["a person lunges and hits something"]),
                                      ("grid2_320", [joints, joints[::-1]], ["a", "b"])):
            start = time.perf_counter()
            video = StickFigureVideo(motions, titles, size=320)
            setup = time.perf_counter() - start
            start = time.perf_counter()
            frames = list(video)
            draw = (time.perf_counter() - start) / len(frames)
            start = time.perf_counter()
            write_gif(frames, Path(tmp) / "a.gif")
            gif = (time.perf_counter() - start) / len(frames)
            start = time.perf_counter()
            write_mp4(frames, Path(tmp) / "a.mp4")
            mp4 = (time.perf_counter() - start) / len(frames)
            results[name] = {"size": list(video.shape), "frames": len(frames), "setup_ms": 1e3 * setup,
                             "draw_ms_per_frame": 1e3 * draw, "gif_encode_ms_per_frame": 1e3 * gif,
                             "mp4_encode_ms_per_frame": 1e3 * mp4, "gif_total_ms_per_frame": 1e3 * (draw + gif),
                             "mp4_total_ms_per_frame": 1e3 * (draw + mp4)}
            print(name, json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in results[name].items()}))
    out = Path(__file__).resolve().parent / "results" / "render.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
