"""Stick-figure videos of joint motions (T x J x 3, metres, Y up): GIF and MP4, one motion or several side by side.

Each figure is drawn once with its static parts (floor grid enclosing the whole motion, the full root path, titles)
and cached as a background; every frame then only restores that background and redraws the moving lines
(blitting on a fixed camera), which keeps rendering at a few milliseconds per frame.
"""

from __future__ import annotations

import itertools
import math
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the "3d" projection)
from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection
from PIL import Image

from motiongpt.errors import MotionGPTError
from motiongpt.io import atomic_path
from motiongpt.motion.skeleton import SkeletonSpec, load_motion
from motiongpt.motion.skeleton import spec_for_joints

LEFT_COLOR = "#1f77b4"
RIGHT_COLOR = "#d62728"
CENTER_COLOR = "#333333"
PATH_COLOR = "#ff7f0e"
FLOOR_COLOR = "#eeeeee"
GRID_COLOR = "#b0b0b0"
FORMATS = ("gif", "mp4")
DPI = 100
TITLE_LINE_PX = 14
MAX_TITLE_LINES = 3
ZOOM = 1.45


def checked_skeleton(joints: np.ndarray, name: str = "joints") -> SkeletonSpec:
    """The skeleton of a (T, J, 3) array of finite joints (22: HumanML3D, 21: KIT-ML), or a one-line error."""
    shape = tuple(np.shape(joints))
    if len(shape) != 3 or shape[2] != 3 or shape[0] < 1:
        raise MotionGPTError(f"{name}: joints of shape {shape}, expected (T, 22, 3) or (T, 21, 3) with T >= 1")
    try:
        spec = spec_for_joints(shape[1])
    except MotionGPTError:
        raise MotionGPTError(f"{name}: joints of shape {shape}, expected (T, 22, 3) or (T, 21, 3)") from None
    if not np.all(np.isfinite(joints)):
        raise MotionGPTError(f"{name}: joints contain NaN or infinite values")
    return spec


def load_joints(path: str | Path) -> np.ndarray:
    """Joints (T, J, 3) from a .npy of joints (T x 22|21 x 3) or of features (T x 263|251, HumanML3D/KIT-ML)."""
    array, spec, is_joints = load_motion(path)
    if is_joints:
        return array.astype(np.float32)
    from motiongpt.motion.features import features_to_joints

    return np.asarray(features_to_joints(array.astype(np.float32), spec=spec))


def chain_colors(spec: SkeletonSpec) -> list[str]:
    """Colour each kinematic chain by the side its end joint lies on."""
    left, right = set(spec.left_chain), set(spec.right_chain)
    return [LEFT_COLOR if c[-1] in left else RIGHT_COLOR if c[-1] in right else CENTER_COLOR
            for c in spec.kinematic_chain]


def _plot_xyz(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Data (x, y up, z) -> matplotlib (x, -z, y): a proper rotation, so the figure is upright and not mirrored."""
    return points[..., 0], -points[..., 2], points[..., 1]


def _nice_step(span: float) -> float:
    """A 1/2/5 x 10^k grid spacing giving roughly eight cells over `span`."""
    raw = span / 8.0
    base = 10.0 ** math.floor(math.log10(raw))
    return next(m * base for m in (1.0, 2.0, 5.0, 10.0) if m * base >= raw)


def _wrap_title(title: str, panel_px: int) -> str:
    lines = textwrap.wrap(title, width=max(10, panel_px // 7)) or [""]
    if len(lines) > MAX_TITLE_LINES:
        lines = lines[:MAX_TITLE_LINES]
        lines[-1] = lines[-1][:-1] + "…"
    return "\n".join(lines)


class _Panel:
    """One 3D axes: a fixed camera on a floor that encloses the whole motion, and the moving lines."""

    def __init__(self, fig: Figure, rect: Sequence[float], joints: np.ndarray, spec: SkeletonSpec):
        self.joints = joints
        self.chains = [list(c) for c in spec.kinematic_chain]
        lo, hi = joints.min(axis=(0, 1)), joints.max(axis=(0, 1))
        floor = min(0.0, float(lo[1]))
        height = float(hi[1]) - floor
        half = 0.5 * max(hi[0] - lo[0], hi[2] - lo[2], height) + 0.1 * max(height, 1e-6)
        if not half > 1e-6:
            half = 1.0
        cx, cz = 0.5 * (lo[0] + hi[0]), 0.5 * (lo[2] + hi[2])

        ax = fig.add_axes(rect, projection="3d", computed_zorder=False)
        ax.set_axis_off()
        ax.view_init(elev=20, azim=-60)
        ax.set_xlim(cx - half, cx + half)
        ax.set_ylim(-cz - half, -cz + half)
        top = floor + max(1.05 * height, 0.5 * half)
        ax.set_zlim(floor, top)
        ax.set_box_aspect((2 * half, 2 * half, top - floor), zoom=ZOOM)
        self.ax = ax

        step = _nice_step(2 * half)
        xs = np.arange(math.ceil((cx - half) / step), math.floor((cx + half) / step) + 1) * step
        zs = np.arange(math.ceil((cz - half) / step), math.floor((cz + half) / step) + 1) * step
        x0, x1, z0, z1 = cx - half, cx + half, cz - half, cz + half
        corners = np.array([[x0, 0, z0], [x1, 0, z0], [x1, 0, z1], [x0, 0, z1]])
        ax.add_collection3d(Poly3DCollection([np.stack(_plot_xyz(corners), -1)], facecolor=FLOOR_COLOR,
                                             edgecolor="none", zorder=0))
        segments = [[[x, 0, z0], [x, 0, z1]] for x in xs] + [[[x0, 0, z], [x1, 0, z]] for z in zs]
        segments = np.stack(_plot_xyz(np.array(segments)), -1)
        ax.add_collection3d(Line3DCollection(segments, colors=GRID_COLOR, linewidths=0.5, zorder=1))

        self.root_path = joints[:, 0].copy()
        self.root_path[:, 1] = 0.0
        ax.plot(*_plot_xyz(self.root_path), color=PATH_COLOR, linewidth=1.0, alpha=0.35, zorder=2)
        self.path_line = ax.plot([], [], [], color=PATH_COLOR, linewidth=1.5, zorder=3, animated=True)[0]
        self.lines = [ax.plot([], [], [], color=color, linewidth=2.0 if i < 3 else 1.6, solid_capstyle="round",
                              zorder=4 + i, animated=True)[0]
                      for i, color in enumerate(chain_colors(spec))]

    def draw(self, t: int) -> None:
        t = min(t, len(self.joints) - 1)
        self.path_line.set_data_3d(*_plot_xyz(self.root_path[: t + 1]))
        for line, chain in zip(self.lines, self.chains):
            line.set_data_3d(*_plot_xyz(self.joints[t, chain]))
        self.ax.draw_artist(self.path_line)
        for line in self.lines:
            self.ax.draw_artist(line)


class StickFigureVideo:
    """Frames of one or more motions side by side (shorter ones hold their last pose); iterate to get RGB arrays.

    A frame counter is drawn on every frame, so consecutive frames always differ and no encoder merges them.
    """

    def __init__(self, motions: Sequence[np.ndarray], titles: Sequence[str | None] | None = None,
                 size: int = 320, columns: int = 4):
        if not motions:
            raise MotionGPTError("render: no motions given")
        titles = list(titles) if titles is not None else [None] * len(motions)
        if len(titles) != len(motions):
            raise MotionGPTError(f"render: {len(titles)} titles for {len(motions)} motions")
        motions = [np.asarray(m, dtype=np.float32) for m in motions]
        specs = [checked_skeleton(m, name=t or f"motion {i}") for i, (m, t) in enumerate(zip(motions, titles))]

        size = max(64, int(size) // 2 * 2)
        texts = [_wrap_title(t, size) if t else "" for t in titles]
        n_lines = max(len(t.splitlines()) for t in texts)
        band = 0 if n_lines == 0 else (n_lines * TITLE_LINE_PX + 8) // 2 * 2
        cols = min(len(motions), max(1, columns))
        rows = math.ceil(len(motions) / cols)
        width, height = cols * size, rows * (size + band)

        # Agg truncates the pixel size, so a hair more than the exact inches keeps it at width x height (even).
        self.fig = Figure(figsize=((width + 1e-3) / DPI, (height + 1e-3) / DPI), dpi=DPI, facecolor="white")
        self.canvas = FigureCanvasAgg(self.fig)
        self.panels = []
        for i, (joints, spec, text) in enumerate(zip(motions, specs, texts)):
            r, c = divmod(i, cols)
            left, top = c * size / width, 1.0 - r * (size + band) / height
            rect = (left, top - (band + size) / height, size / width, size / height)
            self.panels.append(_Panel(self.fig, rect, joints, spec))
            if text:
                self.fig.text(left + 0.5 * size / width, top - 4 / height, text, ha="center", va="top",
                              fontsize=9, linespacing=1.1, parse_math=False, usetex=False)  # user text, literal
        self.num_frames = max(len(m) for m in motions)
        self.counter = self.fig.text(4 / width, 4 / height, "", fontsize=7, color="#666666", animated=True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    @property
    def shape(self) -> tuple[int, int]:
        width, height = self.canvas.get_width_height()
        return height, width

    def __len__(self) -> int:
        return self.num_frames

    def frame(self, t: int) -> np.ndarray:
        """Frame `t` as an (H, W, 3) uint8 array."""
        self.canvas.restore_region(self.background)
        for panel in self.panels:
            panel.draw(t)
        self.counter.set_text(f"{t + 1}/{self.num_frames}")
        self.fig.draw_artist(self.counter)
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.frame(t) for t in range(self.num_frames))


def write_gif(frames: Iterable[np.ndarray], path: str | Path, fps: float = 20.0) -> int:
    """Write RGB frames as a looping GIF, each shown 1/fps s (GIF counts in 10 ms units: 20 fps is exact).

    Frames are quantised with Pillow's fast octree (about 3 ms at 320x320) rather than the median cut that
    imageio's writer applies (about 20 ms); a stick figure has few colours, so the two look the same.
    """
    images = [Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8)).quantize(
        colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE) for frame in frames]
    if not images:
        raise MotionGPTError(f"{path}: no frames to write")
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=round(1000.0 / fps),
                       loop=0)
    return len(images)


def write_mp4(frames: Iterable[np.ndarray], path: str | Path, fps: float = 20.0) -> int:
    """Write RGB frames as H.264 (yuv420p) MP4 through imageio-ffmpeg's bundled ffmpeg; sizes must be even."""
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise MotionGPTError(f"{path}: no frames to write")
    h, w = first.shape[:2]
    if h % 2 or w % 2:
        raise MotionGPTError(f"{path}: frame size {w}x{h} must be even for yuv420p")
    count = 0
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(str(tmp), (w, h), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
                                             macro_block_size=2, quality=7, output_params=["-f", "mp4"])
        writer.send(None)
        try:
            for frame in itertools.chain([first], frames):
                writer.send(np.ascontiguousarray(frame, dtype=np.uint8))
                count += 1
        finally:
            writer.close()
    return count


def render_gif(joints: np.ndarray, path: str | Path, fps: float = 20.0, title: str | None = None,
               size: int = 320) -> int:
    """One motion (T, J, 3) -> GIF with exactly T frames at `fps`."""
    return write_gif(StickFigureVideo([joints], [title], size=size), path, fps=fps)


def render_mp4(joints: np.ndarray, path: str | Path, fps: float = 20.0, title: str | None = None,
               size: int = 320) -> int:
    """One motion (T, J, 3) -> H.264 MP4 with exactly T frames at `fps`."""
    return write_mp4(StickFigureVideo([joints], [title], size=size), path, fps=fps)


def render_grid(motions: Sequence[np.ndarray], titles: Sequence[str | None] | None, path: str | Path,
                fps: float = 20.0, size: int = 320, columns: int = 4) -> int:
    """Several motions side by side (wrapping after `columns`), each under its title; .gif or .mp4 by suffix.

    Returns the number of frames written: the longest motion's length (shorter ones hold their last pose).
    """
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in FORMATS:
        raise MotionGPTError(f"{path}: unknown video format {kind!r}, expected one of {', '.join(FORMATS)}")
    video = StickFigureVideo(motions, titles, size=size, columns=columns)
    writer = write_gif if kind == "gif" else write_mp4
    return writer(video, path, fps=fps)
