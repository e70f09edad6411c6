"""Motion data: BVH in and out, rig maps, datasets in the HumanML3D layout and their torch loaders."""

from motiongpt.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "motiongpt.data.bvh": ["BVHMotion", "read_bvh", "write_bvh", "resample"],
    "motiongpt.data.rigmap": ["RigMap", "builtin_map", "detect_map"],
    "motiongpt.data.humanml3d": ["build_from_bvh", "build_dataset"],
    "motiongpt.data.bandai": ["build_bandai"],
    "motiongpt.data.layout": ["Caption", "load_captions", "load_features", "load_joints", "load_mean_std",
                              "split_ids"],
    "motiongpt.data.dataset": ["TextMotionDataset", "WindowDataset"],
})
