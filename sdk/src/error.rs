//! The one error type of the SDK.

use std::fmt;

/// `Result<T, weir_sdk::Error>`: what a sequence function and the SDK helpers return.
///
/// ```
/// fn parse(text: &str) -> weir_sdk::Result<u32> {
///     text.trim().parse::<u32>().map_err(|e| format!("not a count: {e}").into())
/// }
/// assert_eq!(parse(" 7 ").ok(), Some(7));
/// assert_eq!(parse("x").unwrap_err().to_string(), "not a count: invalid digit found in string");
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a sequence or one of the SDK helpers failed.
///
/// When a sequence function returns an error, its [`Display`](fmt::Display) text becomes the
/// reason the instance ended as errored. `?` converts [`std::io::Error`],
/// [`serde_json::Error`], [`String`] and `&str` into it; for other errors use
/// `.map_err(|e| e.to_string())?`.
///
/// ```
/// use weir_sdk::Error;
///
/// let json: Error = serde_json::from_str::<u32>("x").unwrap_err().into();
/// assert_eq!(json.to_string(), "expected value at line 1 column 1");
///
/// let at = Error::from("too short").at_line(3);
/// assert_eq!(at.to_string(), "line 3: too short");
/// assert_eq!(at.line(), Some(3));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Reading the input or writing the output failed.
    Io(std::io::Error),
    /// A value could not be parsed from or written as JSON.
    Json(serde_json::Error),
    /// The plugin's own message.
    Message(String),
    /// Handling one input line failed; `line` counts from 1, blank lines included.
    Line {
        /// The line number, from 1.
        line: u64,
        /// What went wrong with that line.
        source: Box<Error>,
    },
}

impl Error {
    /// Wraps this error with the number of the input line it happened on.
    #[must_use]
    pub fn at_line(self, line: u64) -> Self {
        Self::Line {
            line,
            source: Box::new(self),
        }
    }

    /// The input line the error happened on, if it is known.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Line { line, .. } => Some(*line),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => e.fmt(f),
            Self::Json(e) => e.fmt(f),
            Self::Message(m) => f.write_str(m),
            Self::Line { line, source } => write!(f, "line {line}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Json(e) => Some(e),
            Self::Message(_) => None,
            Self::Line { source, .. } => Some(source.as_ref()),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Json(e)
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self::Message(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self::Message(message.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_line_errors_keep_the_innermost_message() {
        let e = Error::from(std::io::Error::other("disk on fire")).at_line(12);
        assert_eq!(e.to_string(), "line 12: disk on fire");
        assert!(std::error::Error::source(&e).is_some());
    }
}
