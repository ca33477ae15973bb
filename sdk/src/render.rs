//! Render plugins: one function turns a [`Frame`] into [`Artifact`]s.
//!
//! A render job asks for a range of frames; the hub renders each frame in a fresh instance
//! by calling the plugin's `#[weir_sdk::render]` function once. The same frame with the same
//! config must give the same bytes, so keep clocks and randomness out of the output.
//!
//! A render plugin speaks as a sequence does: it returns [`crate::Result`], and reads its
//! configuration — the package's `[config]` overlaid with the job's `settings` — with
//! [`Frame::config`] and [`Frame::config_as`], as a sequence does with
//! [`Context::config`](crate::Context::config) and
//! [`Context::config_as`](crate::Context::config_as).
//!
//! ```no_run
//! use weir_sdk::prelude::*;
//!
//! #[derive(serde::Deserialize)]
//! struct Config {
//!     #[serde(default = "default_size")]
//!     size: u32,
//! }
//! fn default_size() -> u32 { 64 }
//!
//! /// Writes the frame number `size` times.
//! #[weir_sdk::render]
//! fn render(frame: &Frame) -> Result<Vec<Artifact>> {
//!     let config: Config = frame.config_as()?;
//!     let text = format!("{}\n", frame.number()).repeat(config.size as usize);
//!     frame.progress(1.0);
//!     Ok(vec![Artifact::new(format!("frame-{:06}.txt", frame.number()), "text/plain", text)])
//! }
//! # fn main() {}
//! ```

use std::cell::OnceCell;
use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::__private::bindings::weir::plugin::log;
use crate::__private::render_bindings::weir::plugin::frames;
use crate::Level;

/// The frame being rendered: its number, attempt, job and configuration.
///
/// The configuration is the package's `[config]` overlaid with the job's `settings`, one
/// JSON object.
///
/// ```
/// use weir_sdk::render::Frame;
///
/// #[derive(serde::Deserialize)]
/// struct Config { width: u32 }
///
/// let frame = Frame::new("job-1", 7, 1, r#"{"width": 320}"#);
/// assert_eq!(frame.number(), 7);
/// assert_eq!(frame.config_as::<Config>().map(|c| c.width).ok(), Some(320));
/// assert_eq!(frame.config()["width"], 320);
/// ```
pub struct Frame {
    job_id: String,
    number: i64,
    attempt: u32,
    settings: String,
    value: OnceCell<Value>,
    /// Whether progress and log go to the hub (false for a frame made by [`Frame::new`]).
    host: bool,
}

impl Frame {
    /// A frame for testing a render function natively: progress is ignored and log lines
    /// go to stderr. The plugin glue makes the real frames.
    pub fn new(job_id: impl Into<String>, number: i64, attempt: u32, settings: &str) -> Self {
        Frame {
            job_id: job_id.into(),
            number,
            attempt,
            settings: settings.to_owned(),
            value: OnceCell::new(),
            host: false,
        }
    }

    pub(crate) fn from_request(request: frames::FrameRequest) -> Self {
        Frame {
            job_id: request.job_id,
            number: request.frame,
            attempt: request.attempt,
            settings: request.settings,
            value: OnceCell::new(),
            host: true,
        }
    }

    /// The frame number, from the job's frame range.
    pub fn number(&self) -> i64 {
        self.number
    }

    /// Which try this is: 1 the first time, higher when the frame is retried.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The id of the render job.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The configuration: the package's `[config]` overlaid with the job's `settings`.
    /// Always a JSON object, empty when there is none.
    pub fn config(&self) -> &Value {
        self.value
            .get_or_init(|| match serde_json::from_str(&self.settings) {
                Ok(config @ Value::Object(_)) => config,
                _ => Value::Object(Map::new()),
            })
    }

    /// The configuration as a `T`; the error says what is wrong with the job's settings.
    ///
    /// ```
    /// # let frame = weir_sdk::render::Frame::new("job", 1, 1, r#"{"width": "wide"}"#);
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Config { width: u32 }
    ///
    /// let err = frame.config_as::<Config>().unwrap_err().to_string();
    /// assert!(err.starts_with("invalid settings: `width`: invalid type: string \"wide\""), "{err}");
    /// ```
    pub fn config_as<T: DeserializeOwned>(&self) -> crate::Result<T> {
        crate::typed(self.config())
            .map_err(|e| crate::Error::Message(format!("invalid settings: {e}")))
    }

    /// The configuration as JSON text, exactly as the hub sent it.
    pub fn config_json(&self) -> &str {
        &self.settings
    }

    /// The configuration as a `T`, with the error as text.
    #[deprecated(note = "use `config_as`, which returns `weir_sdk::Result`")]
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T, String> {
        self.config_as().map_err(|e| e.to_string())
    }

    /// The configuration as JSON text.
    #[deprecated(note = "use `config_json`")]
    pub fn settings_json(&self) -> &str {
        self.config_json()
    }

    /// The configuration as a JSON value.
    #[deprecated(note = "use `config`")]
    pub fn settings_value(&self) -> &Value {
        self.config()
    }

    /// Reports how much of this frame is done, from 0.0 to 1.0 (clamped by the hub).
    ///
    /// ```no_run
    /// # let frame = weir_sdk::render::Frame::new("job", 1, 1, "{}");
    /// let rows = 240;
    /// for row in 0..rows {
    ///     // ... render the row ...
    ///     if row % 16 == 15 {
    ///         frame.progress((row + 1) as f32 / rows as f32);
    ///     }
    /// }
    /// ```
    pub fn progress(&self, fraction: f32) {
        if self.host {
            frames::report_progress(fraction);
        }
    }

    /// Writes one line to the job log.
    pub fn log(&self, level: Level, message: &str) {
        if self.host {
            log::log(level.into(), message);
        } else {
            eprintln!("[{level:?}] {message}");
        }
    }

    /// Logs `message` at [`Level::Error`].
    pub fn error(&self, message: &str) {
        self.log(Level::Error, message);
    }

    /// Logs `message` at [`Level::Warn`].
    pub fn warn(&self, message: &str) {
        self.log(Level::Warn, message);
    }

    /// Logs `message` at [`Level::Info`].
    pub fn info(&self, message: &str) {
        self.log(Level::Info, message);
    }

    /// Logs `message` at [`Level::Debug`].
    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message);
    }

    /// Logs `message` at [`Level::Trace`].
    pub fn trace(&self, message: &str) {
        self.log(Level::Trace, message);
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("job_id", &self.job_id)
            .field("number", &self.number)
            .field("attempt", &self.attempt)
            .field("settings", &self.settings)
            .finish()
    }
}

/// One file a frame produces, stored by the job manager under `name`.
///
/// The name is an ASCII letter or digit followed by up to 127 letters, digits, `.`, `_` or
/// `-`, unique within the job (put the frame number in it); the hub fails the frame
/// otherwise.
///
/// ```
/// use weir_sdk::render::Artifact;
///
/// let text = Artifact::new("frame-000001.txt", "text/plain", "frame 1\n");
/// assert_eq!(text.data, b"frame 1\n");
/// let image = Artifact::png("frame-000001.png", vec![0x89, b'P', b'N', b'G']);
/// assert_eq!(image.media_type, "image/png");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The file name, e.g. `frame-000001.png`.
    pub name: String,
    /// The media type, e.g. `image/png`.
    pub media_type: String,
    /// The file's bytes.
    pub data: Vec<u8>,
}

impl Artifact {
    /// An artifact of any media type.
    pub fn new(
        name: impl Into<String>,
        media_type: impl Into<String>,
        data: impl Into<Vec<u8>>,
    ) -> Self {
        Artifact {
            name: name.into(),
            media_type: media_type.into(),
            data: data.into(),
        }
    }

    /// A PNG image (`image/png`).
    pub fn png(name: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Self::new(name, "image/png", data)
    }
}

impl From<Artifact> for frames::Artifact {
    fn from(artifact: Artifact) -> Self {
        frames::Artifact {
            name: artifact.name,
            media_type: artifact.media_type,
            data: artifact.data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_that_is_not_an_object_reads_as_empty() {
        for text in ["", "[1]", "null", "{"] {
            let frame = Frame::new("job", 1, 1, text);
            assert_eq!(frame.config(), &Value::Object(Map::new()), "{text:?}");
            assert_eq!(frame.config_json(), text);
        }
    }

    #[test]
    #[allow(deprecated)]
    fn the_settings_names_still_read_the_config() {
        let frame = Frame::new("job", 1, 1, r#"{"width": 3}"#);
        assert_eq!(frame.settings_value(), frame.config());
        assert_eq!(frame.settings_json(), frame.config_json());
        let width: Result<Value, String> = frame.settings();
        assert_eq!(width.unwrap()["width"], 3);
    }

    #[test]
    fn a_test_frame_logs_and_reports_without_a_host() {
        let frame = Frame::new("job", -3, 2, "{}");
        frame.progress(0.5);
        frame.info("natively this goes to stderr");
        assert_eq!(
            (frame.number(), frame.attempt(), frame.job_id()),
            (-3, 2, "job")
        );
    }
}
