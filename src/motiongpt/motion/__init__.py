"""Motion representation: skeletons, rotations, forward/inverse kinematics, HumanML3D features <-> joints."""

from motiongpt.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "motiongpt.motion.skeleton": ["SkeletonSpec", "get_spec", "spec_for_dim", "spec_for_joints", "load_motion"],
    "motiongpt.motion.features": ["features_to_joints", "joints_to_features", "feature_slices", "mirror_joints"],
    "motiongpt.motion.kinematics": ["forward_kinematics", "inverse_kinematics"],
    "motiongpt.motion.sides": ["judge_side", "parse_side", "named_side"],
})
