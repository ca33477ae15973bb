// Renders frame N of a zoom into the Mandelbrot set as `frame-{N:06}.png`: the twin of the
// Rust `mandelbrot` plugin, pixel for pixel.
//
// A render plugin: settings with defaults and a clear error, progress per band of rows, and
// output that depends only on the frame and the settings (same bytes every time).
const DEFAULTS = {
  width: 320,
  height: 240,
  max_iter: 200,
  zoom_per_frame: 1.1,
  center_x: -0.743643887037151,
  center_y: 0.13182590420533,
  scale: 3.0,
};
const BANDS = 16;

/** @param {import("weir-sdk/render").Frame} frame */
export default async function render(frame) {
  const s = frame.settingsWith(DEFAULTS);
  check(s);
  // Frame N shows a view zoom_per_frame^N times narrower than frame 0.
  const step = s.scale / s.zoom_per_frame ** frame.number / s.width;
  const left = s.center_x - (step * s.width) / 2;
  const top = s.center_y + (step * s.height) / 2;
  const rgb = new Uint8Array(s.width * s.height * 3);
  const band = Math.ceil(s.height / BANDS);
  for (let y = 0, at = 0; y < s.height; y++) {
    const ci = top - (y + 0.5) * step;
    for (let x = 0; x < s.width; x++, at += 3) color(rgb, at, escapeTime(left + (x + 0.5) * step, ci, s.max_iter), s.max_iter);
    if ((y + 1) % band === 0 || y + 1 === s.height) frame.progress((y + 1) / s.height);
  }
  return [frame.png(`frame-${frame.padded()}.png`, s.width, s.height, rgb)];
}

function check(s) {
  for (const [name, max] of [["width", 8192], ["height", 8192], ["max_iter", 1000000]]) {
    if (!(Number.isInteger(s[name]) && s[name] >= 1 && s[name] <= max)) {
      throw new Error(`invalid settings: ${name} must be between 1 and ${max}, got ${s[name]}`);
    }
  }
  for (const name of ["zoom_per_frame", "scale"]) {
    if (!(Number.isFinite(s[name]) && s[name] > 0)) throw new Error(`invalid settings: ${name} must be a positive number, got ${s[name]}`);
  }
}

/** Iterations until z = z² + c leaves the radius-2 disc; `maxIter` if it never does. */
function escapeTime(cr, ci, maxIter) {
  let zr = 0, zi = 0;
  for (let i = 0; i < maxIter; i++) {
    if (zr * zr + zi * zi > 4) return i;
    const next = zr * zr - zi * zi + cr;
    zi = 2 * zr * zi + ci;
    zr = next;
  }
  return maxIter;
}

/** Black inside the set; outside, a blue-orange ramp over the escape time. */
function color(rgb, at, iterations, maxIter) {
  if (iterations >= maxIter) return;
  const t = Math.sqrt(iterations / maxIter);
  const u = 1 - t;
  const channel = (v) => Math.trunc(Math.min(Math.max(v, 0), 1) * 255);
  rgb[at] = channel(9 * u * t * t * t);
  rgb[at + 1] = channel(15 * u * u * t * t);
  rgb[at + 2] = channel(8.5 * u * u * u * t);
}
