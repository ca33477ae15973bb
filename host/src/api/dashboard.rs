//! The dashboard: a thin client of this API, served at `/` from files built
//! into the binary (`host/dashboard/`, plain ES modules and CSS with no build
//! step). It uses only the public routes under `/api/v1`.
//!
//! The page runs under a Content-Security-Policy that allows its own scripts,
//! styles, images and connections and nothing else (no inline script, no
//! eval, no frames, no form posts elsewhere). Artifacts and packages are
//! served by the API with a CSP of their own (see `files.rs`), so nothing a
//! plugin or worker made runs as a page of this origin.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// The page's policy: its own files only; images may also be `blob:` URLs
/// (frames fetched with the token and shown from memory).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct Asset {
    path: &'static str,
    media_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $media_type:literal),* $(,)?) => {
        &[$(Asset {
            path: $path,
            media_type: $media_type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/dashboard/", $path)),
        }),*]
    };
}

const ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "icon.svg" => "image/svg+xml",
    "app.js" => "text/javascript; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "ui.js" => "text/javascript; charset=utf-8",
    "sha256.js" => "text/javascript; charset=utf-8",
    "pages/overview.js" => "text/javascript; charset=utf-8",
    "pages/sequences.js" => "text/javascript; charset=utf-8",
    "pages/instances.js" => "text/javascript; charset=utf-8",
    "pages/topics.js" => "text/javascript; charset=utf-8",
    "pages/jobs.js" => "text/javascript; charset=utf-8",
    "pages/workers.js" => "text/javascript; charset=utf-8",
    "pages/space.js" => "text/javascript; charset=utf-8",
};

/// A version of the files for `ETag`: they change only with the binary.
fn etag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for asset in ASSETS {
            hash.update(asset.path.as_bytes());
            hash.update(asset.bytes);
        }
        format!("\"{}\"", hex::encode(&hash.finalize()[..8]))
    })
}

fn serve(asset: &Asset, if_none_match: Option<&HeaderValue>) -> Response {
    let headers = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-cache"),
        (header::ETAG, etag()),
    ];
    if if_none_match.is_some_and(|tag| tag.as_bytes() == etag().as_bytes()) {
        return (axum::http::StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (
        headers,
        [(header::CONTENT_TYPE, asset.media_type)],
        asset.bytes,
    )
        .into_response()
}

/// `GET /`: the dashboard's page.
pub(super) async fn index(headers: axum::http::HeaderMap) -> Response {
    serve(&ASSETS[0], headers.get(header::IF_NONE_MATCH))
}

/// `GET /ui/*file`: the page's scripts, styles and icon.
pub(super) async fn file(
    Path(file): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.path == file)
        .ok_or_else(|| ApiError::NotFound(format!("no dashboard file {file:?}")))?;
    Ok(serve(asset, headers.get(header::IF_NONE_MATCH)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module the page imports is among the files served.
    #[test]
    fn every_imported_module_is_served() {
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            let dir = asset.path.rsplit_once('/').map_or("", |(d, _)| d);
            for line in text.lines() {
                let Some(spec) = line
                    .split(" from \"")
                    .nth(1)
                    .or_else(|| line.split("import(\"").nth(1))
                    .and_then(|rest| rest.split('"').next())
                else {
                    continue;
                };
                let mut parts: Vec<&str> = if dir.is_empty() {
                    vec![]
                } else {
                    dir.split('/').collect()
                };
                for part in spec.split('/') {
                    match part {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        p => parts.push(p),
                    }
                }
                let resolved = parts.join("/");
                assert!(
                    ASSETS.iter().any(|a| a.path == resolved),
                    "{} imports {spec} ({resolved}), which is not served",
                    asset.path
                );
            }
        }
    }

    #[test]
    fn the_page_allows_no_inline_script() {
        assert!(CSP.contains("script-src 'self';"));
        assert!(!CSP.contains("unsafe"));
        let page = std::str::from_utf8(ASSETS[0].bytes).unwrap();
        assert!(!page.contains("<script>"), "no inline script in index.html");
        let handler = page.split(" on").skip(1).any(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(!handler, "no inline event handlers in index.html");
    }
}
