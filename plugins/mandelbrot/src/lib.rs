//! Renders frame N of a zoom into the Mandelbrot set as `frame-{N:06}.png`.
//!
//! Shows a render plugin: typed settings with defaults and a clear error, progress per band
//! of rows, and output that depends only on the frame and the settings (same bytes every time).

use weir_sdk::prelude::*;
use weir_sdk::serde::Deserialize;

#[derive(Deserialize)]
#[serde(crate = "weir_sdk::serde", default)]
struct Settings {
    width: u32,
    height: u32,
    max_iter: u32,
    zoom_per_frame: f64,
    center_x: f64,
    center_y: f64,
    /// Width of the view in the complex plane at frame 0.
    scale: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            width: 320,
            height: 240,
            max_iter: 200,
            zoom_per_frame: 1.1,
            center_x: -0.743643887037151,
            center_y: 0.131825904205330,
            scale: 3.0,
        }
    }
}

/// Progress is reported after each of this many bands of rows.
const BANDS: u32 = 16;

#[weir_sdk::render]
fn render(frame: &Frame) -> Result<Vec<Artifact>> {
    let s: Settings = frame.config_as()?;
    check(&s)?;
    // Frame N shows a view zoom_per_frame^N times narrower than frame 0.
    let step = s.scale / s.zoom_per_frame.powf(frame.number() as f64) / f64::from(s.width);
    let (left, top) = (
        s.center_x - step * f64::from(s.width) / 2.0,
        s.center_y + step * f64::from(s.height) / 2.0,
    );
    let mut rgb = Vec::with_capacity(s.width as usize * s.height as usize * 3);
    let band = s.height.div_ceil(BANDS);
    for y in 0..s.height {
        let ci = top - (f64::from(y) + 0.5) * step;
        for x in 0..s.width {
            let cr = left + (f64::from(x) + 0.5) * step;
            rgb.extend_from_slice(&color(escape_time(cr, ci, s.max_iter), s.max_iter));
        }
        if (y + 1) % band == 0 || y + 1 == s.height {
            frame.progress((y + 1) as f32 / s.height as f32);
        }
    }
    let png = encode(s.width, s.height, &rgb).map_err(|e| format!("PNG encoding failed: {e}"))?;
    Ok(vec![Artifact::png(
        format!("frame-{:06}.png", frame.number()),
        png,
    )])
}

fn check(s: &Settings) -> Result<(), String> {
    for (name, value, max) in [
        ("width", s.width, 8192),
        ("height", s.height, 8192),
        ("max_iter", s.max_iter, 1_000_000),
    ] {
        if !(1..=max).contains(&value) {
            return Err(format!(
                "invalid settings: {name} must be between 1 and {max}, got {value}"
            ));
        }
    }
    for (name, value) in [("zoom_per_frame", s.zoom_per_frame), ("scale", s.scale)] {
        if !(value.is_finite() && value > 0.0) {
            return Err(format!(
                "invalid settings: {name} must be a positive number, got {value}"
            ));
        }
    }
    Ok(())
}

/// Iterations until z = z² + c leaves the radius-2 disc; `max_iter` if it never does.
fn escape_time(cr: f64, ci: f64, max_iter: u32) -> u32 {
    let (mut zr, mut zi) = (0.0f64, 0.0f64);
    for i in 0..max_iter {
        if zr * zr + zi * zi > 4.0 {
            return i;
        }
        (zr, zi) = (zr * zr - zi * zi + cr, 2.0 * zr * zi + ci);
    }
    max_iter
}

/// Black inside the set; outside, a blue-orange ramp over the escape time.
fn color(iterations: u32, max_iter: u32) -> [u8; 3] {
    if iterations >= max_iter {
        return [0, 0, 0];
    }
    // The square root spreads the (mostly small) escape times over the ramp.
    let t = (f64::from(iterations) / f64::from(max_iter)).sqrt();
    let u = 1.0 - t;
    let channel = |v: f64| (v.clamp(0.0, 1.0) * 255.0) as u8;
    [
        channel(9.0 * u * t * t * t),
        channel(15.0 * u * u * t * t),
        channel(8.5 * u * u * u * t),
    ]
}

fn encode(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}
