// three.js reads a motiongpt .glb: GLTFLoader parses it, an AnimationMixer plays its clip frame by frame, and the
// world positions of the skin's bones are printed as JSON {names, fps, frames, positions (T x J x 3)}.
// Usage (three.js installed with npm in a scratch folder; run from there, `three` is found from the working dir):
//   node /path/to/benchmarks/threejs_read_glb.mjs motion.glb > three.json
// then compare with the exported skeleton, e.g. `motiongpt.export.verify.joint_errors(names, positions, ...)`.
import fs from "fs";
import { createRequire } from "module";
import { pathToFileURL } from "url";

const here = createRequire(`${process.cwd()}/`);
const load = (name) => import(pathToFileURL(here.resolve(name)).href);
const THREE = await load("three");
const { GLTFLoader } = await load("three/examples/jsm/loaders/GLTFLoader.js");

const FPS = 20;
const bytes = fs.readFileSync(process.argv[2]);
const data = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
new GLTFLoader().parse(data, "", (gltf) => {
  let mesh = null;
  gltf.scene.traverse((node) => { if (node.isSkinnedMesh) mesh = node; });
  const bones = mesh.skeleton.bones;
  const clip = gltf.animations[0];
  const mixer = new THREE.AnimationMixer(gltf.scene);
  const action = mixer.clipAction(clip);
  action.setLoop(THREE.LoopOnce);
  action.clampWhenFinished = true;
  action.play();
  const frames = Math.round(clip.duration * FPS) + 1;
  const positions = [];
  for (let f = 0; f < frames; f++) {
    mixer.setTime(f / FPS);
    gltf.scene.updateMatrixWorld(true);
    positions.push(bones.map((bone) => bone.getWorldPosition(new THREE.Vector3()).toArray()));
  }
  console.log(JSON.stringify({ names: bones.map((b) => b.name), fps: FPS, frames, positions }));
}, (error) => { console.error(`three.js could not read ${process.argv[2]}: ${error}`); process.exit(1); });
