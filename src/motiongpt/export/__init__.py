"""Export: stick-figure GIF/MP4 rendering and BVH files of joint motions."""

from motiongpt.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "motiongpt.export.bvh": ["joints_to_bvh", "save_bvh"],
    "motiongpt.export.render": ["render_gif", "render_mp4", "render_grid"],
})
