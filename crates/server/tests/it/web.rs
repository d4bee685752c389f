//! The web app's HTTP side: unknown paths get a real "page not found" page.

use crate::client::server;

#[tokio::test]
async fn unknown_paths_get_an_html_404_page_with_a_way_back() {
    let srv = server().await;
    let http = reqwest::Client::new();
    for path in ["/no-such-page", "/no/such/page", "/room/abc", "/nope.html"] {
        let r = http
            .get(format!("{}{path}", srv.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{path}");
        assert_eq!(
            r.headers()["content-type"],
            "text/html; charset=utf-8",
            "{path}"
        );
        assert!(
            r.headers().contains_key("content-security-policy"),
            "{path}: the 404 page carries the security headers too"
        );
        let body = r.text().await.unwrap();
        assert!(body.starts_with("<!doctype html>"), "{path}: {body}");
        assert!(body.contains("Page not found"), "{path}: {body}");
        assert!(
            body.contains(r#"href="/""#),
            "{path}: a link back to /: {body}"
        );
        assert!(
            body.contains(r#"href="/app.css""#),
            "{path}: styled like the app: {body}"
        );
    }
    // The API keeps its JSON refusal.
    for path in ["/api/nothing-here", "/api/director/nope"] {
        let r = http
            .get(format!("{}{path}", srv.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["status"], "fail", "{path}: {body}");
    }
    // The app and its files are still served.
    let r = http.get(format!("{}/", srv.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("/app.js"));
    let r = http
        .get(format!("{}/app.css", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
