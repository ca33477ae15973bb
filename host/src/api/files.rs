//! How the hub serves files that workers, plugins or uploads chose the
//! bytes and media type of (artifacts, components): never as a page of the
//! hub's own origin, where the dashboard lives.

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// Raster images a browser shows inline; SVG can hold scripts, so it is not
/// among them.
const INLINE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/bmp",
];

/// A stored file as the hub serves it: whatever media type a worker or
/// plugin chose, it never runs as a page of the hub's origin (no sniffing,
/// a download unless it is a raster image, and a CSP that allows nothing).
pub(super) fn download(media_type: &str, name: &str, size: u64, body: Body) -> Response {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let disposition = if INLINE_TYPES.contains(&essence.as_str()) {
        format!("inline; filename=\"{name}\"")
    } else {
        format!("attachment; filename=\"{name}\"")
    };
    (
        [
            (header::CONTENT_TYPE, media_type.to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".into(),
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disposition(media_type: &str) -> String {
        let response = download(media_type, "f", 0, Body::empty());
        let value = &response.headers()[header::CONTENT_DISPOSITION];
        value.to_str().unwrap_or_default().to_string()
    }

    #[test]
    fn only_raster_images_are_shown_inline() {
        for inline in ["image/png", "IMAGE/JPEG", "image/webp; q=1"] {
            assert_eq!(disposition(inline), "inline; filename=\"f\"", "{inline}");
        }
        for attachment in ["text/html", "image/svg+xml", "application/wasm", ""] {
            assert_eq!(
                disposition(attachment),
                "attachment; filename=\"f\"",
                "{attachment}"
            );
        }
    }
}
