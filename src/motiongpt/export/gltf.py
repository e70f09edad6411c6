"""A `RigMotion` as glTF 2.0 binary (.glb): a skinned skeleton animation that Blender, three.js and game engines
read.

One node per joint (rest translation = the joint's offset, no rest rotation), a skin whose inverse bind matrices
undo the rest pose, and one animation: a rotation channel for every joint that turns and a translation channel for
every joint that moves (the root), sampled at the motion's frame rate with linear interpolation. So that viewers
show something, a mesh of one octahedral "bone" per bone (as Blender draws them), each skinned rigidly to the joint
that turns it. glTF's axes are the skeleton's: metres, Y up, the front facing +Z.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pygltflib

from motiongpt.errors import MotionGPTError
from motiongpt.io import atomic_path
from motiongpt.motion.kinematics import children_of
from motiongpt.motion.quaternion import normalize
from motiongpt.motion.rig import RigMotion

BONE_WIDTH = 0.12  # octahedron radius as a fraction of the bone's length ...
BONE_MAX_RADIUS = 0.03  # ... at most this many metres
BONE_WAIST = 0.15  # where along the bone the octahedron is widest
MIN_BONE = 1e-4  # bones shorter than this (metres) get no shape
OCTAHEDRON = np.array([[0, 2, 3], [0, 3, 4], [0, 4, 5], [0, 5, 2], [1, 3, 2], [1, 4, 3], [1, 5, 4], [1, 2, 5]])
_COMPONENT = {np.dtype(np.float32): pygltflib.FLOAT, np.dtype(np.uint16): pygltflib.UNSIGNED_SHORT,
              np.dtype(np.uint32): pygltflib.UNSIGNED_INT}
_TYPE = {1: pygltflib.SCALAR, 3: pygltflib.VEC3, 4: pygltflib.VEC4, 16: pygltflib.MAT4}


class _Buffer:
    """The binary chunk and the accessors pointing into it."""

    def __init__(self, gltf: pygltflib.GLTF2):
        self.gltf, self.chunks, self.size = gltf, [], 0

    def add(self, array: np.ndarray, target: int | None = None, bounds: bool = False) -> int:
        """Append `array` (count, width) and return its accessor's index."""
        array = np.ascontiguousarray(array)
        data = array.tobytes()
        self.gltf.bufferViews.append(pygltflib.BufferView(buffer=0, byteOffset=self.size, byteLength=len(data),
                                                          target=target))
        self.chunks.append(data + b"\0" * (-len(data) % 4))
        self.size += len(data) + (-len(data) % 4)
        width = array.shape[1] if array.ndim > 1 else 1
        accessor = pygltflib.Accessor(bufferView=len(self.gltf.bufferViews) - 1, componentType=_COMPONENT[array.dtype],
                                      count=len(array), type=_TYPE[width])
        if bounds:
            accessor.min = np.atleast_1d(array.min(0)).astype(float).tolist()
            accessor.max = np.atleast_1d(array.max(0)).astype(float).tolist()
        self.gltf.accessors.append(accessor)
        return len(self.gltf.accessors) - 1

    def finish(self) -> None:
        self.gltf.buffers.append(pygltflib.Buffer(byteLength=self.size))
        self.gltf.set_binary_blob(b"".join(self.chunks))


def bone_mesh(motion: RigMotion) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertices (V, 3) in the rest pose, triangles (F, 3), the joint each vertex follows (V,)): an octahedron
    from each joint to each child and to its End Site, turned by that joint."""
    rest = motion.rest_positions()
    segments = [(p, rest[p], rest[j]) for j, p in enumerate(motion.parents) if p >= 0]
    segments += [(j, rest[j], rest[j] + site) for j, site in motion.end_sites.items()]
    vertices, faces, owners = [], [], []
    for joint, head, tail in segments:
        axis = tail - head
        length = float(np.linalg.norm(axis))
        if length < MIN_BONE:
            continue
        d = axis / length
        u = normalize(np.cross(d, [1.0, 0.0, 0.0] if abs(d[0]) < 0.9 else [0.0, 1.0, 0.0]))
        v = np.cross(d, u)
        radius = min(BONE_WIDTH * length, BONE_MAX_RADIUS)
        waist = head + BONE_WAIST * axis
        ring = [waist + radius * w for w in (u, v, -u, -v)]
        faces.append(OCTAHEDRON + len(vertices))
        vertices += [head, tail, *ring]
        owners += [joint] * 6
    return np.array(vertices), np.concatenate(faces), np.array(owners)


def rig_to_gltf(motion: RigMotion) -> pygltflib.GLTF2:
    """The glTF document of `motion` (see the module docstring)."""
    if motion.num_frames < 1:
        raise MotionGPTError("a motion without frames cannot be written as glTF")
    gltf = pygltflib.GLTF2(asset=pygltflib.Asset(generator="motiongpt", version="2.0"))
    buffer = _Buffer(gltf)
    kids = children_of(motion.parents)
    for j, name in enumerate(motion.names):
        gltf.nodes.append(pygltflib.Node(name=name, translation=motion.offsets[j].astype(float).tolist(),
                                         children=list(kids[j])))
    roots = [j for j, p in enumerate(motion.parents) if p < 0]

    rest = motion.rest_positions()
    inverse_bind = np.tile(np.eye(4, dtype=np.float32), (len(rest), 1, 1))
    inverse_bind[:, 3, :3] = -rest  # column-major: the translation is the last column
    skin = pygltflib.Skin(name="skeleton", joints=list(range(len(rest))), skeleton=roots[0],
                          inverseBindMatrices=buffer.add(inverse_bind.reshape(-1, 16)))
    gltf.skins.append(skin)

    vertices, faces, owners = bone_mesh(motion)
    joints = np.zeros((len(owners), 4), dtype=np.uint16)
    joints[:, 0] = owners
    weights = np.zeros((len(owners), 4), dtype=np.float32)
    weights[:, 0] = 1.0
    attributes = pygltflib.Attributes(
        POSITION=buffer.add(vertices.astype(np.float32), pygltflib.ARRAY_BUFFER, bounds=True),
        JOINTS_0=buffer.add(joints, pygltflib.ARRAY_BUFFER), WEIGHTS_0=buffer.add(weights, pygltflib.ARRAY_BUFFER))
    indices = buffer.add(faces.reshape(-1).astype(np.uint32), pygltflib.ELEMENT_ARRAY_BUFFER)
    gltf.materials.append(pygltflib.Material(name="bone", pbrMetallicRoughness=pygltflib.PbrMetallicRoughness(
        baseColorFactor=[0.55, 0.6, 0.7, 1.0], metallicFactor=0.0, roughnessFactor=0.8)))
    gltf.meshes.append(pygltflib.Mesh(name="bones", primitives=[
        pygltflib.Primitive(attributes=attributes, indices=indices, material=0)]))
    gltf.nodes.append(pygltflib.Node(name="bones", mesh=0, skin=0))
    gltf.scenes.append(pygltflib.Scene(name="motion", nodes=[*roots, len(gltf.nodes) - 1]))
    gltf.scene = 0

    times = buffer.add((np.arange(motion.num_frames) / motion.fps).astype(np.float32), bounds=True)
    animation = pygltflib.Animation(name="motion")
    for j in range(len(motion.names)):
        tracks = []
        if not np.allclose(motion.rotations[:, j, 1:], 0.0, atol=1e-12):
            tracks.append(("rotation", motion.rotations[:, j][:, [1, 2, 3, 0]]))  # glTF stores x, y, z, w
        if not np.allclose(motion.translations[:, j], motion.offsets[j], atol=1e-12):
            tracks.append(("translation", motion.translations[:, j]))
        for path, values in tracks:
            animation.samplers.append(pygltflib.AnimationSampler(input=times, output=buffer.add(
                values.astype(np.float32)), interpolation=pygltflib.ANIM_LINEAR))
            animation.channels.append(pygltflib.AnimationChannel(
                sampler=len(animation.samplers) - 1, target=pygltflib.AnimationChannelTarget(node=j, path=path)))
    gltf.animations.append(animation)
    buffer.finish()
    return gltf


def save_glb(motion: RigMotion, path: str | Path) -> None:
    """Write `motion` as a .glb file (atomically)."""
    gltf = rig_to_gltf(motion)
    with atomic_path(path) as tmp:
        gltf.save_binary(str(tmp))
