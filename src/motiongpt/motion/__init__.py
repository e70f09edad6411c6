"""motiongpt.motion: skeletons, rotations, kinematics and the HumanML3D feature format (numpy and torch)."""
