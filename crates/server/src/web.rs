//! The web app and client library, embedded in the binary from `web/`.

use axum::extract::Path;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tower_http::set_header::SetResponseHeaderLayer;

#[derive(rust_embed::Embed)]
#[folder = "../../web/"]
#[include = "*.html"]
#[include = "*.js"]
#[include = "*.css"]
#[include = "*.svg"]
#[exclude = "e2e/*"]
#[exclude = "node_modules/*"]
#[exclude = "*/*"]
struct Assets;

/// The content security policy of every page: only this origin's own scripts, styles,
/// images and connections; no plugins, no framing, no `<base>` tricks.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The policy of a node of a cluster: pages may also connect to the other nodes (the
/// Director places a client's signaling on any of them), and to those only.
pub fn cluster_csp(node_urls: &[String]) -> String {
    let mut others = String::new();
    for url in node_urls {
        let ws = match url.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => format!("ws://{}", url.strip_prefix("http://").unwrap_or(url)),
        };
        others.push_str(&format!(" {url} {ws}"));
    }
    CSP.replace(
        "connect-src 'self';",
        &format!("connect-src 'self'{others};"),
    )
}

/// Headers put on every response that does not set its own: the CSP, no MIME sniffing, no
/// framing (also for browsers without `frame-ancestors`), no referrer to other sites.
pub fn with_security_headers<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
) -> axum::Router<S> {
    let header = |name, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    router
        .layer(header(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(
            header::REFERRER_POLICY,
            "strict-origin-when-cross-origin",
        ))
}

/// `GET /`.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /{file}`.
pub async fn asset(Path(file): Path<String>) -> Response {
    serve(&file)
}

fn serve(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => {
            let mime = mime_guess::from_path(path).first_or_octet_stream();
            (
                [
                    (header::CONTENT_TYPE, mime.as_ref().to_owned()),
                    (header::CACHE_CONTROL, "no-cache".to_owned()),
                ],
                file.data,
            )
                .into_response()
        }
        None => not_found_page(),
    }
}

/// Every path no route serves (the router's fallback): the JSON refusal under `/api`, the
/// "page not found" page for the rest, so a mistyped or stale link gets a way back to the
/// app instead of an empty 404.
pub async fn not_found(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return crate::director::not_found().await.into_response();
    }
    if method == Method::GET || method == Method::HEAD {
        not_found_page()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// The page of unknown paths: status 404, the app's look (its own stylesheet, as the CSP
/// allows no inline styles), a link back to `/`. Paths are absolute: it may be served at any
/// depth.
const NOT_FOUND_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
  <meta name="color-scheme" content="light dark">
  <meta name="robots" content="noindex">
  <title>Page not found · Podium</title>
  <link rel="icon" href="/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/app.css">
</head>
<body class="not-found-page">
  <header class="topbar">
    <a class="brand" href="/" aria-label="Podium, Live now">
      <span class="brand-mark" aria-hidden="true">
        <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round"><path d="M7 14.5v-5M12 18V6M17 14.5v-5"/></svg>
      </span>
      <span class="brand-name">Podium</span>
    </a>
  </header>
  <main id="main">
    <section class="empty-state not-found" aria-labelledby="not-found-title">
      <p class="not-found-code" aria-hidden="true">404</p>
      <h1 id="not-found-title">Page not found</h1>
      <p>There is nothing at this address. The link may be mistyped, or the page has moved.</p>
      <a class="btn btn-primary" id="not-found-home" href="/">Go to Live now</a>
    </section>
  </main>
</body>
</html>
"##;

fn not_found_page() -> Response {
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        NOT_FOUND_PAGE,
    )
        .into_response()
}
