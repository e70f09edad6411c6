// A 3D stick-figure player on a 2D canvas: perspective projection from an orbit camera (drag to rotate, wheel to
// zoom, double-click to reset), a floor grid, the root trajectory and the 22-joint skeleton, played at the
// motion's frame rate with play/pause and a timeline slider. Joints are [T][J][3] in metres, Y up.
"use strict";

(function () {
  const LEFT = "#1f77b4", RIGHT = "#d62728", CENTER = "#37474f", PATH = "#ff7f0e", GRID = "#d0d4d8";
  const FOV = 45 * Math.PI / 180, NEAR = 0.05;

  function sub(a, b) { return [a[0] - b[0], a[1] - b[1], a[2] - b[2]]; }
  function dot(a, b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
  function cross(a, b) { return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]; }
  function unit(a) { const n = Math.hypot(a[0], a[1], a[2]) || 1; return [a[0] / n, a[1] / n, a[2] / n]; }

  class MotionViewer {
    // canvas: the <canvas>; motion: {joints, fps}; skeleton: {chains, left, right}; ui: {play, timeline, label}
    constructor(canvas, motion, skeleton, ui) {
      this.canvas = canvas;
      this.ctx = canvas.getContext("2d");
      this.joints = motion.joints;
      this.fps = motion.fps || 20;
      this.ui = ui || {};
      const left = new Set(skeleton.left), right = new Set(skeleton.right);
      this.chains = skeleton.chains.map(c => ({
        joints: c, color: left.has(c[c.length - 1]) ? LEFT : right.has(c[c.length - 1]) ? RIGHT : CENTER,
      }));
      this.frame = 0;
      this.playing = true;
      this.alive = true;
      this.measure();
      this.resetView();
      this.bindInput();
      this.bindControls();
      this.clock = performance.now();
      this.startFrame = 0;
      this.dirty = true;
      this.tick = this.tick.bind(this);
      requestAnimationFrame(this.tick);
    }

    // Bounds of the whole motion: floor height, root path, centre and size for the camera.
    measure() {
      let lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
      for (const pose of this.joints) {
        for (const p of pose) {
          for (let k = 0; k < 3; k++) { lo[k] = Math.min(lo[k], p[k]); hi[k] = Math.max(hi[k], p[k]); }
        }
      }
      this.floor = Math.min(lo[1], 0);
      this.path = this.joints.map(pose => [pose[0][0], this.floor, pose[0][2]]);
      this.center = [(lo[0] + hi[0]) / 2, (this.floor + hi[1]) / 2, (lo[2] + hi[2]) / 2];
      this.size = Math.max(hi[0] - lo[0], hi[1] - this.floor, hi[2] - lo[2], 1.0);
      const step = 0.5, margin = 1.0;
      this.grid = {
        step,
        x0: Math.floor((lo[0] - margin) / step) * step, x1: Math.ceil((hi[0] + margin) / step) * step,
        z0: Math.floor((lo[2] - margin) / step) * step, z1: Math.ceil((hi[2] + margin) / step) * step,
      };
    }

    resetView() {
      this.yaw = 0.6;
      this.pitch = 0.3;
      this.distance = 2.2 * this.size + 1.0;
      this.dirty = true;
    }

    bindInput() {
      const c = this.canvas;
      let last = null;
      c.addEventListener("pointerdown", e => { last = [e.clientX, e.clientY]; c.setPointerCapture(e.pointerId); });
      c.addEventListener("pointerup", e => { last = null; c.releasePointerCapture(e.pointerId); });
      c.addEventListener("pointermove", e => {
        if (!last) return;
        this.yaw -= (e.clientX - last[0]) * 0.01;
        this.pitch = Math.min(1.5, Math.max(-0.2, this.pitch + (e.clientY - last[1]) * 0.01));
        last = [e.clientX, e.clientY];
        this.dirty = true;
      });
      c.addEventListener("wheel", e => {
        e.preventDefault();
        this.distance = Math.min(50, Math.max(0.5, this.distance * Math.exp(e.deltaY * 0.001)));
        this.dirty = true;
      }, { passive: false });
      c.addEventListener("dblclick", () => this.resetView());
    }

    bindControls() {
      const { play, timeline } = this.ui;
      if (timeline) {
        timeline.max = String(this.joints.length - 1);
        timeline.addEventListener("input", () => { this.setPlaying(false); this.seek(Number(timeline.value)); });
      }
      if (play) play.addEventListener("click", () => this.setPlaying(!this.playing));
    }

    setPlaying(on) {
      this.playing = on;
      this.clock = performance.now();
      this.startFrame = this.frame;
      if (this.ui.play) this.ui.play.textContent = on ? "Pause" : "Play";
    }

    seek(frame) {
      this.frame = Math.max(0, Math.min(this.joints.length - 1, frame | 0));
      this.clock = performance.now();
      this.startFrame = this.frame;
      this.dirty = true;
    }

    destroy() { this.alive = false; }

    tick(now) {
      if (!this.alive || !this.canvas.isConnected) return;
      if (this.playing) {
        const elapsed = Math.max(0, now - this.clock);  // a frame's timestamp may precede the last seek
        const frame = (this.startFrame + Math.floor(elapsed * this.fps / 1000)) % this.joints.length;
        if (frame !== this.frame) { this.frame = frame; this.dirty = true; }
      }
      if (this.dirty) { this.draw(); this.dirty = false; }
      requestAnimationFrame(this.tick);
    }

    // World point -> [screen x, screen y, depth], or null behind the near plane.
    camera() {
      const cp = Math.cos(this.pitch);
      const dir = [Math.sin(this.yaw) * cp, Math.sin(this.pitch), Math.cos(this.yaw) * cp];
      const eye = [0, 1, 2].map(k => this.center[k] + this.distance * dir[k]);
      const forward = unit(sub(this.center, eye));
      const right = unit(cross(forward, [0, 1, 0]));
      const up = cross(right, forward);
      const w = this.canvas.width, h = this.canvas.height;
      const focal = 0.5 * h / Math.tan(FOV / 2);
      return p => {
        const v = sub(p, eye), z = dot(v, forward);
        if (z < NEAR) return null;
        return [w / 2 + focal * dot(v, right) / z, h / 2 - focal * dot(v, up) / z, z];
      };
    }

    line(project, a, b) {
      const pa = project(a), pb = project(b);
      if (!pa || !pb) return;
      this.ctx.moveTo(pa[0], pa[1]);
      this.ctx.lineTo(pb[0], pb[1]);
    }

    draw() {
      const ctx = this.ctx, canvas = this.canvas;
      const scale = window.devicePixelRatio || 1;
      const cssW = canvas.clientWidth || canvas.width, cssH = canvas.clientHeight || canvas.height;
      if (canvas.width !== Math.round(cssW * scale) || canvas.height !== Math.round(cssH * scale)) {
        canvas.width = Math.round(cssW * scale);
        canvas.height = Math.round(cssH * scale);
      }
      const project = this.camera();
      const px = canvas.height / 360;
      ctx.fillStyle = "#fafafa";
      ctx.fillRect(0, 0, canvas.width, canvas.height);

      const g = this.grid, y = this.floor;
      ctx.strokeStyle = GRID;
      ctx.lineWidth = px;
      ctx.beginPath();
      for (let x = g.x0; x <= g.x1 + 1e-9; x += g.step) this.line(project, [x, y, g.z0], [x, y, g.z1]);
      for (let z = g.z0; z <= g.z1 + 1e-9; z += g.step) this.line(project, [g.x0, y, z], [g.x1, y, z]);
      ctx.stroke();

      ctx.strokeStyle = PATH;
      ctx.globalAlpha = 0.35;
      ctx.lineWidth = 2 * px;
      ctx.beginPath();
      for (let t = 1; t < this.path.length; t++) this.line(project, this.path[t - 1], this.path[t]);
      ctx.stroke();
      ctx.globalAlpha = 1;
      ctx.beginPath();
      for (let t = 1; t <= this.frame; t++) this.line(project, this.path[t - 1], this.path[t]);
      ctx.stroke();

      const pose = this.joints[this.frame];
      const shadow = project([pose[0][0], y, pose[0][2]]);
      if (shadow) {
        ctx.fillStyle = "rgba(0,0,0,0.15)";
        ctx.beginPath();
        ctx.ellipse(shadow[0], shadow[1], 14 * px * 3 / shadow[2], 5 * px * 3 / shadow[2], 0, 0, 2 * Math.PI);
        ctx.fill();
      }
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      for (const chain of this.chains) {
        ctx.strokeStyle = chain.color;
        ctx.lineWidth = 4 * px;
        ctx.beginPath();
        for (let i = 1; i < chain.joints.length; i++) this.line(project, pose[chain.joints[i - 1]], pose[chain.joints[i]]);
        ctx.stroke();
      }
      ctx.fillStyle = "#263238";
      for (const p of pose) {
        const s = project(p);
        if (!s) continue;
        ctx.beginPath();
        ctx.arc(s[0], s[1], 2.5 * px, 0, 2 * Math.PI);
        ctx.fill();
      }
      ctx.fillStyle = "#90a4ae";
      ctx.font = `${11 * px}px sans-serif`;
      ctx.fillText("drag: rotate  wheel: zoom  double-click: reset", 8 * px, canvas.height - 8 * px);

      const { timeline, label } = this.ui;
      if (timeline) timeline.value = String(this.frame);
      if (label) label.textContent = `${this.frame + 1}/${this.joints.length}`;
    }
  }

  window.MotionViewer = MotionViewer;
})();
