// HMU Studio's 3D viewer: the original and the unlearned motion on the project's mannequin, one clock.
//
// The server sends one JSON string per comparison (hmu_demo/ui/viewer.py): per body the rest mesh
// (base64 arrays), the skin (4 joints and weights per vertex), the joints (T, 22, 3), the IK's global
// joint rotations (T, 22, 4) and the judge's per-frame violence. Here the mesh is skinned on the GPU
// with 22 bones whose world transforms are those rotations and joint positions, which is exactly
// what the offline renderer computes on the CPU (R_j (x - rest_j) + p_j). three.js is vendored next
// to this file; nothing is loaded from the network.
//
// window.hmuViewer exposes the state and a few controls for tests and benchmarks.

import * as THREE from './vendor/three/three.module.min.js';
import { OrbitControls } from './vendor/three/OrbitControls.js';

const JOINTS = 22;
const HEAD = 15;
const RENDER_FPS = 30;          // the motions are 20 fps; 30 renders a second keep a small CPU free
const GHOST_OPACITY = 0.35;
const BACKGROUND = 0xeef0f4;

const CSS = `
#motion-viewer .hmu-viewer { display: flex; flex-direction: column; gap: 6px; font-family: inherit; }
#motion-viewer .hmu-stage { position: relative; width: 100%; height: 56vh; min-height: 320px; border-radius: 8px;
  overflow: hidden; background: #eef0f4; }
#motion-viewer .hmu-stage canvas { display: block; width: 100%; height: 100%; touch-action: none; }
#motion-viewer .hmu-message { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
  text-align: center; padding: 24px; color: #445; font-size: 15px; pointer-events: none; }
#motion-viewer .hmu-label { position: absolute; transform: translate(-50%, -100%); padding: 2px 8px; border-radius: 10px;
  color: white; font-size: 13px; font-weight: 600; pointer-events: none; white-space: nowrap; }
#motion-viewer .hmu-caption { text-align: center; font-size: 16px; font-style: italic; min-height: 1.2em; }
#motion-viewer .hmu-timelines { position: relative; display: flex; flex-direction: column; gap: 3px; cursor: pointer; }
#motion-viewer .hmu-track { display: flex; align-items: center; gap: 8px; font-size: 12px; }
#motion-viewer .hmu-track span { width: 210px; flex: none; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#motion-viewer .hmu-track canvas { flex: 1; height: 14px; min-width: 0; border-radius: 3px; }
#motion-viewer .hmu-playhead { position: absolute; top: 0; bottom: 0; width: 2px; background: #111; pointer-events: none; }
#motion-viewer .hmu-controls { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; font-size: 13px; }
#motion-viewer .hmu-controls .hmu-scrub { flex: 1; min-width: 160px; }
#motion-viewer .hmu-controls button { padding: 3px 12px; border-radius: 6px; border: 1px solid #99a; background: white; }
#motion-viewer .hmu-time { font-variant-numeric: tabular-nums; width: 70px; }
`;

function decode(text, Type) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Type(bytes.buffer);
}

function encode(typed) {
  let text = '';
  for (const byte of new Uint8Array(typed.buffer)) text += String.fromCharCode(byte);
  return btoa(text);
}

function violenceColor(v) {
  // safe green -> amber -> red, like the judge's bars
  const stops = [[0.0, [46, 158, 91]], [0.5, [240, 180, 41]], [1.0, [215, 38, 61]]];
  v = Math.min(Math.max(v, 0), 1);
  for (let i = 1; i < stops.length; i++) {
    if (v <= stops[i][0]) {
      const [a, ca] = stops[i - 1], [b, cb] = stops[i], t = (v - a) / (b - a);
      return `rgb(${ca.map((c, k) => Math.round(c + (cb[k] - c) * t)).join(',')})`;
    }
  }
  return 'rgb(215,38,61)';
}

/** One motion: a skinned mannequin whose 22 bones are posed from the payload's arrays. */
class Body {
  constructor(data) {
    this.data = data;
    this.label = data.label;
    this.frames = data.frames;
    this.joints = Float32Array.from(data.joints);
    this.rotations = Float32Array.from(data.rotations);
    const m = data.mesh;
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute('position', new THREE.BufferAttribute(decode(m.vertices, Float32Array), 3));
    geometry.setAttribute('color', new THREE.BufferAttribute(decode(m.colors, Uint8Array), 3, true));
    geometry.setAttribute('skinIndex', new THREE.Uint16BufferAttribute(Uint16Array.from(decode(m.skin_joints, Uint8Array)), 4));
    geometry.setAttribute('skinWeight', new THREE.BufferAttribute(decode(m.skin_weights, Float32Array), 4));
    geometry.setIndex(new THREE.BufferAttribute(decode(m.faces, m.index_type === 'uint16' ? Uint16Array : Uint32Array), 1));
    geometry.computeVertexNormals();
    this.material = new THREE.MeshStandardMaterial({ vertexColors: true, roughness: 0.8, metalness: 0.0 });
    this.group = new THREE.Group();
    this.bones = [];
    for (let j = 0; j < JOINTS; j++) {
      const bone = new THREE.Bone();
      bone.position.set(data.rest[3 * j], data.rest[3 * j + 1], data.rest[3 * j + 2]);
      this.group.add(bone);
      this.bones.push(bone);
    }
    this.mesh = new THREE.SkinnedMesh(geometry, this.material);
    this.mesh.frustumCulled = false;     // the rest-pose bounds say nothing about where the body goes
    this.group.add(this.mesh);
    this.group.updateMatrixWorld(true);
    this.mesh.bind(new THREE.Skeleton(this.bones));   // bind pose: the rest skeleton, no rotation
    this.frame = 0;
    this.centre = this.trajectoryCentre();
    this.width = this.extent();
  }

  trajectoryCentre() {
    let x = 0, z = 0;
    for (let t = 0; t < this.frames; t++) { x += this.joints[t * 66]; z += this.joints[t * 66 + 2]; }
    return { x: x / this.frames, z: z / this.frames };
  }

  extent() {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < this.joints.length; i += 3) { lo = Math.min(lo, this.joints[i]); hi = Math.max(hi, this.joints[i]); }
    return hi - lo;
  }

  /** Pose at fractional frame f (linear positions, normalised-lerp rotations; the last frame holds). */
  setFrame(f) {
    const last = this.frames - 1;
    f = Math.min(Math.max(f, 0), last);
    const i0 = Math.floor(f), i1 = Math.min(i0 + 1, last), a = f - i0, b = 1 - a;
    const P = this.joints, Q = this.rotations;
    for (let j = 0; j < JOINTS; j++) {
      const p0 = (i0 * JOINTS + j) * 3, p1 = (i1 * JOINTS + j) * 3;
      const q0 = (i0 * JOINTS + j) * 4, q1 = (i1 * JOINTS + j) * 4;
      const bone = this.bones[j];
      bone.position.set(b * P[p0] + a * P[p1], b * P[p0 + 1] + a * P[p1 + 1], b * P[p0 + 2] + a * P[p1 + 2]);
      bone.quaternion.set(b * Q[q0] + a * Q[q1], b * Q[q0 + 1] + a * Q[q1 + 1], b * Q[q0 + 2] + a * Q[q1 + 2],
                          b * Q[q0 + 3] + a * Q[q1 + 3]).normalize();
    }
    this.frame = f;
  }

  setGhost(ghost) {
    this.material.transparent = ghost;
    this.material.opacity = ghost ? GHOST_OPACITY : 1.0;
    this.material.depthWrite = !ghost;
    this.material.needsUpdate = true;
  }

  dispose() {
    this.mesh.geometry.dispose();
    this.material.dispose();
  }
}

class Viewer {
  constructor(element) {
    this.element = element;
    this.root = element.querySelector('.hmu-viewer');
    this.stage = element.querySelector('.hmu-stage');
    this.message = element.querySelector('.hmu-message');
    this.bodies = [];
    this.labels = [];
    this.payload = null;
    this.time = 0;
    this.speed = 1;
    this.playing = true;
    this.overlay = false;
    this.dirty = true;
    this.lastTick = performance.now();
    this.lastRender = 0;
    this.renders = 0;
    this.loadedAt = null;
    this.movingAt = null;
    this.rendersSinceLoad = 0;
    this.error = null;
    this.renderer = null;
    this.bindControls();
    try {
      const probe = document.createElement('canvas').getContext('webgl2');
      if (!probe) throw new Error('no WebGL 2 context');
      probe.getExtension('WEBGL_lose_context')?.loseContext();
      this.renderer = new THREE.WebGLRenderer({ antialias: true });
    } catch (err) {
      this.error = `WebGL is not available (${err.message || err})`;
      this.message.textContent = `The 3D viewer needs WebGL, which this browser does not offer; the videos below still play.`;
      return;
    }
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 1.5));
    this.renderer.setClearColor(BACKGROUND, 1);
    this.stage.prepend(this.renderer.domElement);
    this.scene = new THREE.Scene();
    this.camera = new THREE.PerspectiveCamera(35, 16 / 9, 0.05, 100);
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.target.set(0, 0.9, 0);
    this.controls.addEventListener('change', () => { this.dirty = true; });
    this.buildStudio();
    new ResizeObserver(() => this.resize()).observe(this.stage);
    this.resize();
    this.warmShaders();
    this.resetCamera();
    let detachedSince = null;
    const loop = (now) => {
      // Unmounted for good (a newer viewer replaces this one): stop drawing and free the GPU memory.
      detachedSince = this.root.isConnected ? null : (detachedSince ?? now);
      if (detachedSince !== null && now - detachedSince > 2000) {
        for (const body of this.bodies) body.dispose();
        this.renderer.dispose();
        return;
      }
      if (detachedSince === null) this.tick(now);
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }

  buildStudio() {
    this.scene.add(new THREE.HemisphereLight(0xffffff, 0x8a8f99, 1.6));
    const sun = new THREE.DirectionalLight(0xffffff, 1.8);
    sun.position.set(2.5, 5, 4);
    this.scene.add(sun);
    const floor = new THREE.Mesh(new THREE.CircleGeometry(30, 64), new THREE.MeshStandardMaterial({ color: 0xdfe2e8, roughness: 1 }));
    floor.rotation.x = -Math.PI / 2;
    this.scene.add(floor);
    const grid = new THREE.GridHelper(30, 60, 0xb8bdc8, 0xcdd1d9);
    grid.position.y = 0.001;
    this.scene.add(grid);
  }

  /** Compile the skinned material once now, so the first comparison does not wait for it. */
  warmShaders() {
    const data = { label: 'warm', frames: 1, rest: new Array(JOINTS * 3).fill(0), joints: new Array(JOINTS * 3).fill(0),
      rotations: Array.from({ length: JOINTS }, () => [0, 0, 0, 1]).flat(),
      mesh: { vertices: encode(new Float32Array(9)), colors: encode(new Uint8Array(9)), skin_joints: encode(new Uint8Array(12)),
              skin_weights: encode(new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0])),
              faces: encode(new Uint16Array([0, 1, 2])), index_type: 'uint16' } };
    try {
      const body = new Body(data);
      const ghost = new Body(data);
      ghost.setGhost(true);
      this.scene.add(body.group, ghost.group);
      this.renderer.compile(this.scene, this.camera);
      this.renderer.render(this.scene, this.camera);
      this.scene.remove(body.group, ghost.group);
      body.dispose();
      ghost.dispose();
    } catch (err) {
      console.warn('HMU viewer: shader warm-up failed', err);
    }
  }

  bindControls() {
    const q = (s) => this.root.querySelector(s);
    this.playButton = q('.hmu-play');
    this.scrub = q('.hmu-scrub');
    this.timeLabel = q('.hmu-time');
    this.speedSelect = q('.hmu-speed');
    this.overlayBox = q('.hmu-overlay');
    this.caption = q('.hmu-caption');
    this.timelines = q('.hmu-timelines');
    this.playButton.addEventListener('click', () => (this.playing ? this.pause() : this.play()));
    this.scrub.addEventListener('input', () => this.setTime(parseFloat(this.scrub.value) / this.fps()));
    this.speedSelect.addEventListener('change', () => this.setSpeed(parseFloat(this.speedSelect.value)));
    this.overlayBox.addEventListener('change', () => this.setOverlay(this.overlayBox.checked));
    q('.hmu-reset').addEventListener('click', () => this.resetCamera());
    this.timelines.addEventListener('click', (ev) => {
      const canvas = this.timelines.querySelector('canvas');
      if (!canvas || !this.payload) return;
      const box = canvas.getBoundingClientRect();
      const x = Math.min(Math.max((ev.clientX - box.left) / box.width, 0), 1);
      this.setTime(x * this.duration());
    });
    this.stage.tabIndex = 0;
    this.stage.addEventListener('keydown', (ev) => {
      if (ev.code === 'Space') { ev.preventDefault(); this.playing ? this.pause() : this.play(); }
    });
  }

  fps() { return this.payload ? this.payload.fps : 20; }
  frames() { return this.payload ? this.payload.frames : 0; }
  duration() { return this.frames() / this.fps(); }

  resize() {
    if (!this.renderer) return;
    const w = Math.max(this.stage.clientWidth, 1), h = Math.max(this.stage.clientHeight, 1);
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.dirty = true;
  }

  load(payload) {
    if (!this.renderer) return;
    this.receivedAt = performance.now();
    for (const body of this.bodies) { this.scene.remove(body.group); body.dispose(); }
    for (const label of this.labels) label.remove();
    this.bodies = payload.bodies.map((data) => new Body(data));
    for (const body of this.bodies) this.scene.add(body.group);
    this.labels = this.bodies.map((body) => {
      const div = document.createElement('div');
      div.className = 'hmu-label';
      div.style.background = body.data.color;
      div.textContent = body.label;
      this.stage.appendChild(div);
      return div;
    });
    this.payload = payload;
    this.message.style.display = 'none';
    this.root.dataset.state = 'loaded';
    this.caption.textContent = payload.prompt ? `"${payload.prompt}"` : '';
    this.scrub.max = String(Math.max(this.frames() - 1, 0));
    this.buildTimelines();
    this.time = 0;
    this.loadedAt = performance.now();
    this.movingAt = null;
    this.rendersSinceLoad = 0;
    this.layout();
    this.play();
  }

  buildTimelines() {
    this.timelines.innerHTML = '';
    this.tracks = [];
    for (const body of this.bodies) {
      const row = document.createElement('div');
      row.className = 'hmu-track';
      const name = document.createElement('span');
      const judge = body.data.judge;
      name.textContent = judge ? `${body.label}: ${judge.violent ? 'violent' : 'safe'} · ${judge.action} (${judge.violence.toFixed(2)})`
        : `${body.label}: no judge`;
      name.style.color = body.data.color;
      const canvas = document.createElement('canvas');
      row.append(name, canvas);
      this.timelines.appendChild(row);
      this.tracks.push({ canvas, body });
    }
    this.playhead = document.createElement('div');
    this.playhead.className = 'hmu-playhead';
    this.timelines.appendChild(this.playhead);
    requestAnimationFrame(() => this.drawTimelines());
  }

  drawTimelines() {
    const frames = this.frames();
    for (const { canvas, body } of this.tracks || []) {
      const width = Math.max(canvas.clientWidth, 1);
      canvas.width = width;
      canvas.height = 14;
      const ctx = canvas.getContext('2d');
      ctx.fillStyle = '#d5d8de';
      ctx.fillRect(0, 0, width, 14);
      const v = body.data.violence;
      if (!v) continue;
      for (let t = 0; t < v.length; t++) {
        ctx.fillStyle = violenceColor(v[t]);
        const x0 = Math.floor((t / frames) * width), x1 = Math.ceil(((t + 1) / frames) * width);
        ctx.fillRect(x0, 0, Math.max(x1 - x0, 1), 14);
      }
    }
  }

  layout() {
    const n = this.bodies.length;
    if (!n) return;
    const spacing = Math.max(...this.bodies.map((b) => b.width)) + 1.0;
    const mean = { x: 0, z: 0 };
    for (const b of this.bodies) { mean.x += b.centre.x / n; mean.z += b.centre.z / n; }
    this.bodies.forEach((body, i) => {
      if (this.overlay) {
        body.group.position.set(-mean.x, body.data.floor, -mean.z);
      } else {
        body.group.position.set((i - (n - 1) / 2) * spacing - body.centre.x, body.data.floor, -body.centre.z);
      }
      body.setGhost(this.overlay && n > 1 && i === 0);
      body.group.updateMatrixWorld(true);
    });
    this.span = this.overlay ? spacing : spacing * n;
    this.resetCamera();
  }

  resetCamera() {
    if (!this.camera) return;
    const span = this.span || 2.5;
    const fov = THREE.MathUtils.degToRad(this.camera.fov);
    const fit = Math.max(span / (2 * Math.tan(fov / 2) * Math.max(this.camera.aspect, 0.5)), 2.2 / (2 * Math.tan(fov / 2)));
    const distance = fit * 1.05 + 0.6;
    this.controls.target.set(0, 0.85, 0);
    this.camera.position.set(0, 1.5, distance);
    this.controls.update();
    this.dirty = true;
  }

  play() { this.playing = true; this.playButton.textContent = 'Pause'; this.dirty = true; }
  pause() { this.playing = false; this.playButton.textContent = 'Play'; this.dirty = true; this.pose(); }
  setSpeed(speed) { this.speed = speed; this.speedSelect.value = String(speed); }
  setOverlay(overlay) { this.overlay = !!overlay; this.overlayBox.checked = this.overlay; this.layout(); }

  setTime(t) {
    const d = this.duration();
    this.time = d > 0 ? Math.min(Math.max(t, 0), d) : 0;
    this.dirty = true;
    this.pose();
  }

  /** Every body at the one shared clock's frame (a shorter clip holds its last frame). */
  pose() {
    const f = this.time * this.fps();
    for (const body of this.bodies) body.setFrame(f);
    const shown = Math.min(f, Math.max(this.frames() - 1, 0));
    if (document.activeElement !== this.scrub) this.scrub.value = String(shown);
    this.timeLabel.textContent = `${this.time.toFixed(2)} s`;
    if (this.playhead && this.tracks && this.tracks.length) {
      const canvas = this.tracks[0].canvas;
      const left = canvas.offsetLeft + (this.time / Math.max(this.duration(), 1e-6)) * canvas.clientWidth;
      this.playhead.style.left = `${left}px`;
    }
  }

  tick(now) {
    const dt = Math.min((now - this.lastTick) / 1000, 0.25);
    this.lastTick = now;
    if (!this.payload) return;
    if (this.playing) {
      const d = this.duration();
      this.time = d > 0 ? (this.time + dt * this.speed) % d : 0;
      this.dirty = true;
    }
    if (!this.dirty || now - this.lastRender < 1000 / RENDER_FPS - 2) return;
    this.pose();
    this.render();
    this.lastRender = now;
  }

  render() {
    this.renderer.render(this.scene, this.camera);
    this.renders += 1;
    this.rendersSinceLoad += 1;
    if (this.movingAt === null && this.rendersSinceLoad >= 2 && this.time > 0) this.movingAt = performance.now();
    this.dirty = false;
    this.placeLabels();
  }

  placeLabels() {
    const w = this.stage.clientWidth, h = this.stage.clientHeight;
    const v = new THREE.Vector3();
    this.bodies.forEach((body, i) => {
      body.bones[HEAD].getWorldPosition(v);
      v.y += 0.32;
      v.project(this.camera);
      const label = this.labels[i];
      label.style.left = `${((v.x + 1) / 2) * w}px`;
      label.style.top = `${((1 - v.y) / 2) * h}px`;
      label.style.opacity = this.overlay && this.bodies.length > 1 && i === 0 ? '0.6' : '1';
    });
  }

  /** Counts of pixels that differ from the background, left and right half, of a frame rendered now. */
  snapshot() {
    this.pose();
    this.renderer.render(this.scene, this.camera);
    const gl = this.renderer.getContext();
    const w = gl.drawingBufferWidth, h = gl.drawingBufferHeight;
    const pixels = new Uint8Array(w * h * 4);
    gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
    const bg = new THREE.Color(BACKGROUND);
    let left = 0, right = 0, sum = 0;
    for (let y = 0; y < h; y += 2) {
      for (let x = 0; x < w; x += 2) {
        const k = (y * w + x) * 4;
        sum = (sum + pixels[k] * 3 + pixels[k + 1] * 5 + pixels[k + 2] * 7 + x) % 1000000007;
        // body pixels are much more saturated/darker than the grey floor and background
        const r = pixels[k], g = pixels[k + 1], b = pixels[k + 2];
        if (Math.max(r, g, b) - Math.min(r, g, b) > 40) { if (x < w / 2) left++; else right++; }
      }
    }
    return { width: w, height: h, left, right, checksum: sum, background: bg.getHexString() };
  }

  state() {
    const v = new THREE.Vector3();
    return {
      id: this.payload ? this.payload.id : null, error: this.error, playing: this.playing, speed: this.speed,
      overlay: this.overlay, time: this.time, duration: this.duration(), frames: this.frames(),
      scrub: parseFloat(this.scrub ? this.scrub.value : 0), renders: this.renders,
      receivedAt: this.receivedAt || null, loadedAt: this.loadedAt, movingAt: this.movingAt,
      bodies: this.bodies.map((b) => {
        b.bones[0].getWorldPosition(v);
        return { label: b.label, frame: b.frame, frames: b.frames, pelvis: [v.x, v.y, v.z],
                 offset: [b.group.position.x, b.group.position.y, b.group.position.z],
                 ghost: b.material.transparent, opacity: b.material.opacity };
      }),
    };
  }

  api() {
    return {
      state: () => this.state(), play: () => this.play(), pause: () => this.pause(), setTime: (t) => this.setTime(t),
      setSpeed: (s) => this.setSpeed(s), setOverlay: (o) => this.setOverlay(o), snapshot: () => this.snapshot(),
      payload: () => this.payload, three: THREE.REVISION,
    };
  }
}

let styled = false;

/** Called by the gr.HTML block's js_on_load: builds the viewer and loads every new value. */
export function mount(element, props, watch) {
  if (!styled) {
    const style = document.createElement('style');
    style.textContent = CSS;
    document.head.appendChild(style);
    styled = true;
  }
  const viewer = new Viewer(element);
  window.hmuViewer = viewer.api();
  let shown = null;
  const load = () => {
    const value = props.value;
    if (!value || value === shown) return;
    shown = value;
    try {
      viewer.load(typeof value === 'string' ? JSON.parse(value) : value);
    } catch (err) {
      viewer.error = String(err);
      console.warn('HMU viewer: could not load the comparison', err);
    }
  };
  watch('value', load);
  load();
}
