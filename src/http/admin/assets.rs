//! The viewer's stylesheet, script and icons, built into the binary: the viewer works
//! offline and loads nothing from anywhere else.

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::AsPage;
use crate::http::ApiError;

/// (path under `/admin/assets/`, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "admin.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../assets/admin/admin.css"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../assets/admin/admin.js"),
    ),
    // The workbench's page script, and its editor (CodeMirror 6, built by
    // scripts/build-editor from tools/editor) with the licenses of what it bundles.
    (
        "workbench.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../assets/admin/workbench.js"),
    ),
    (
        "editor.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../assets/admin/editor.js"),
    ),
    (
        "editor.LICENSES.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../../../assets/admin/editor.LICENSES.txt"),
    ),
    (
        "icons/error.svg",
        "image/svg+xml",
        include_bytes!("../../../assets/admin/icons/error.svg"),
    ),
    (
        "icons/warning.svg",
        "image/svg+xml",
        include_bytes!("../../../assets/admin/icons/warning.svg"),
    ),
    (
        "icons/info.svg",
        "image/svg+xml",
        include_bytes!("../../../assets/admin/icons/info.svg"),
    ),
    (
        "icons/lookout.svg",
        "image/svg+xml",
        include_bytes!("../../../assets/admin/icons/lookout.svg"),
    ),
];

pub async fn serve(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, content_type, bytes)) => {
            let mut response = bytes.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
        None => AsPage(ApiError::NotFound(format!("no asset `{path}`"))).into_response(),
    }
}
