//! The session cookie, the CSRF header and the same-origin rule (see the module above).

use std::net::SocketAddr;

use axum::http::header::{COOKIE, ORIGIN};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use podium_accounts::Session;
use subtle::ConstantTimeEq;

use crate::policy::Refusal;
use crate::state::{unix_now, AppState};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "podium_session";
/// The header a page sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A request's signed-in session.
pub struct SignedIn {
    /// The session and its account.
    pub session: Session,
    /// The session token the cookie carried.
    pub token: String,
}

impl SignedIn {
    /// The account's id.
    pub fn id(&self) -> &str {
        &self.session.account.id
    }
}

/// The session token in the request's cookies, if any.
pub fn token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether the page reached this server over HTTPS (the cookie is then `Secure`).
pub fn is_https(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> bool {
    let page_https = headers
        .get(ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| o.starts_with("https://"));
    page_https || crate::director::ws_base(state, peer, headers).starts_with("wss://")
}

/// The `Set-Cookie` value that stores `token` for `max_age` seconds.
pub fn set_cookie(token: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("hex token and fixed attributes make a valid header")
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    set_cookie(&"0".repeat(64), 0, secure)
}

/// The request's live session, if it has one.
pub fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<SignedIn>, Refusal> {
    let Some(token) = token(headers) else {
        return Ok(None);
    };
    let session = state
        .accounts
        .store
        .session(&token, unix_now())
        .map_err(super::refusal)?;
    Ok(session.map(|session| SignedIn { session, token }))
}

/// The request's session, or 401.
pub fn required(state: &AppState, headers: &HeaderMap) -> Result<SignedIn, Refusal> {
    current(state, headers)?.ok_or_else(|| {
        Refusal(
            StatusCode::UNAUTHORIZED,
            "Sign in first (or your session ended)".into(),
        )
    })
}

/// The request's session for a change: also its CSRF token in the header, or 403.
pub fn for_change(state: &AppState, headers: &HeaderMap) -> Result<SignedIn, Refusal> {
    let signed = required(state, headers)?;
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if bool::from(sent.as_bytes().ct_eq(signed.session.csrf.as_bytes())) {
        Ok(signed)
    } else {
        Err(Refusal(
            StatusCode::FORBIDDEN,
            "Missing or wrong CSRF token: reload the page".into(),
        ))
    }
}

/// Refuses a request a browser says comes from a page of another origin (sign-in and
/// sign-up: a foreign page must not sign a visitor into an account of its choosing). The
/// browser's own `Sec-Fetch-Site: same-origin` is enough; otherwise the `Origin`'s host must be
/// the host the request was sent to (scheme aside: a TLS proxy in front changes it).
pub fn same_origin(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(()); // not a browser page (browsers send Origin with every POST)
    };
    let fetch_site = headers.get("sec-fetch-site").and_then(|h| h.to_str().ok());
    if fetch_site == Some("same-origin") {
        return Ok(());
    }
    let base = crate::director::ws_base(state, peer, headers);
    let ours = host_of(&base);
    let theirs = origin.to_str().ok().map(host_of);
    if theirs.is_some_and(|h| !h.is_empty() && h.eq_ignore_ascii_case(ours)) {
        Ok(())
    } else {
        Err(Refusal(
            StatusCode::FORBIDDEN,
            "Sign in from this server's own pages".into(),
        ))
    }
}

/// The `host[:port]` of a URL, without a default port (`:80`, `:443`).
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or("");
    host.strip_suffix(":443")
        .or_else(|| host.strip_suffix(":80"))
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others_and_malformed_ones_are_ignored() {
        let token = "ab".repeat(32);
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("theme=dark; {COOKIE_NAME}={token}; x=1")).unwrap(),
        );
        assert_eq!(super::token(&headers), Some(token.clone()));
        headers.insert(COOKIE, HeaderValue::from_static("podium_session=not-hex"));
        assert_eq!(super::token(&headers), None);
        let set = set_cookie(&token, 60, true);
        let set = set.to_str().unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.ends_with("Secure")
        );
        assert!(!set_cookie(&token, 60, false)
            .to_str()
            .unwrap()
            .contains("Secure"));
        assert!(clear_cookie(false).to_str().unwrap().contains("Max-Age=0"));
        assert_eq!(host_of("https://x.example:443/podium"), "x.example");
        assert_eq!(host_of("ws://127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(host_of("null"), "null");
    }
}
