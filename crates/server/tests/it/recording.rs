//! Recording: an RTMP publication with `record=true` becomes an MP4 that ffprobe reads with
//! H.264 and Opus for the length that was published; the admin API lists, downloads and
//! deletes it; a token without the permission is refused; an unwritable recordings directory
//! stops the recording, never the publication.

use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{
    admin, command, connect, connect_with, create_token, send_raw, server_with, wait_event, Peer,
    Server, ADMIN, TOKEN,
};
use crate::rtmp_client::{fixture_tags, Outcome, Publisher};

async fn rtmp_server() -> Server {
    server_with(|_| {}).await
}

/// The recordings the admin API lists.
async fn recordings(base: &str) -> Vec<Value> {
    let (status, body) = admin(base, Method::GET, "recordings", None).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["recordings"].as_array().unwrap().clone()
}

/// Waits until a recording of `stream` is listed as finished.
async fn finished(base: &str, stream: &str) -> Value {
    for _ in 0..100 {
        let list = recordings(base).await;
        if let Some(r) = list
            .iter()
            .find(|r| r["stream"] == stream && r["recording"] == false)
        {
            return r.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no finished recording of {stream}: {:?}",
        recordings(base).await
    );
}

/// ffprobe's JSON for `path`.
fn ffprobe(path: &std::path::Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs (Debian ffmpeg)");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtmp_publication_is_recorded_to_an_mp4_that_ffprobe_reads() {
    let srv = rtmp_server().await;
    let addr = srv.running.rtmp_addr.unwrap();
    let (recorder, _) = create_token(
        &srv.base,
        json!({"label":"rec","streams":["rec*"],"action":"publish","record":true}),
    )
    .await;
    let (plain, _) = create_token(
        &srv.base,
        json!({"label":"plain","streams":["rec*"],"action":"publish"}),
    )
    .await;
    // Without the permission: refused, with the reason.
    let mut p = Publisher::connect(addr, "live").await.unwrap();
    let Outcome::Refused(why) = p
        .publish(&format!("rec1?token={plain}&record=true"))
        .await
        .unwrap()
    else {
        panic!("recording without the permission was accepted")
    };
    assert!(why.contains("recording"), "{why}");

    // Three seconds of media (the 1 s fixture three times, at twice real time).
    let mut p = Publisher::connect(addr, "live").await.unwrap();
    assert_eq!(
        p.publish(&format!("rec1?token={recorder}&record=true"))
            .await
            .unwrap(),
        Outcome::Accepted
    );
    p.metadata(true, true).await.unwrap();
    p.stream(&fixture_tags("baseline_mono.flv"), 0, 3, 2.0)
        .await
        .unwrap();
    // While it is written, it is listed as recording and cannot be deleted.
    let live = recordings(&srv.base).await;
    let current = live.iter().find(|r| r["stream"] == "rec1").expect("listed");
    assert_eq!(current["recording"], true, "{current}");
    let file = current["file"].as_str().unwrap().to_owned();
    assert!(
        file.starts_with("main-") && file.ends_with(".mp4"),
        "{file}"
    );
    let (status, _) = admin(
        &srv.base,
        Method::DELETE,
        &format!("recordings/rec1/{file}"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    drop(p); // the encoder stops: the publication ends, the file is closed

    let done = finished(&srv.base, "rec1").await;
    assert_eq!(done["file"], file.as_str());
    let resp = reqwest::Client::new()
        .get(format!("{}/api/admin/recordings/rec1/{file}", srv.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "video/mp4");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, done["bytes"].as_u64().unwrap());
    let path = srv.dir.join("downloaded.mp4");
    std::fs::write(&path, &bytes).unwrap();
    let probe = ffprobe(&path);
    let codecs: Vec<&str> = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap())
        .collect();
    assert!(
        codecs.contains(&"h264") && codecs.contains(&"opus"),
        "{probe}"
    );
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (2.5..3.8).contains(&duration),
        "duration {duration}: {probe}"
    );
    let video = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_name"] == "h264")
        .unwrap();
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(240))
    );
    // It decodes from start to end without an error.
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(decode.status.success());
    assert_eq!(String::from_utf8_lossy(&decode.stderr), "", "decode errors");

    // Deleted, then gone; names that are not recordings are refused.
    let (status, _) = admin(
        &srv.base,
        Method::DELETE,
        &format!("recordings/rec1/{file}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(recordings(&srv.base).await.is_empty());
    for (path, want) in [
        (format!("recordings/rec1/{file}"), 404),
        ("recordings/rec1/..%2Fpodium.db".to_owned(), 400),
        ("recordings/rec1/x.txt".to_owned(), 400),
        ("recordings/..%2F..%2Fetc/passwd.mp4".to_owned(), 400),
    ] {
        let resp = reqwest::Client::new()
            .get(format!("{}/api/admin/{path}", srv.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), want, "{path}");
    }
    // The admin secret is needed.
    let resp = reqwest::get(format!("{}/api/admin/recordings", srv.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_directory_stops_the_recording_not_the_publication() {
    let srv = rtmp_server().await;
    let addr = srv.running.rtmp_addr.unwrap();
    // `recordings` is a file: no stream directory can be made under it.
    std::fs::write(srv.dir.join("recordings"), b"not a directory").unwrap();
    let mut p = Publisher::connect(addr, "live").await.unwrap();
    assert_eq!(
        p.publish(&format!("rec2?token={TOKEN}&record=true"))
            .await
            .unwrap(),
        Outcome::Accepted
    );
    p.metadata(true, true).await.unwrap();
    p.stream(&fixture_tags("baseline_mono.flv"), 0, 2, 2.0)
        .await
        .unwrap();
    // The publication went on: still streaming, nothing listed, the failure counted.
    p.stream(&fixture_tags("baseline_mono.flv"), 2068, 1, 2.0)
        .await
        .unwrap();
    assert!(!p.closed_within(Duration::from_millis(200)).await);
    let body = reqwest::get(format!("{}/metrics", srv.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let failed = body
        .lines()
        .find_map(|l| l.strip_prefix("podium_recordings_failed_total "))
        .expect("podium_recordings_failed_total");
    assert_eq!(failed.trim(), "1", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signaling_record_and_unrecord_follow_the_jwt_and_report_events() {
    let srv = rtmp_server().await;
    let (plain, _) = create_token(
        &srv.base,
        json!({"label":"plain","streams":["sig*"],"action":"publish"}),
    )
    .await;
    let mut events = Vec::new();
    // A JWT without `record`: both ways of asking are refused, the publication is not.
    let (_, mut ws) = connect_with(&srv.base, true, "sig1", Some(&plain)).await;
    let publisher = Peer::new(true).await;
    let r = command(
        &mut ws,
        1,
        "publish",
        json!({"name":"sig1","sdp":publisher.offer,"record":true}),
        &mut events,
    )
    .await;
    assert_eq!(r["type"], "error", "{r}");
    assert_eq!(r["data"], "Token does not allow recording");
    let r = send_raw(&mut ws, r#"{"type":"cmd","transId":2,"name":"record"}"#).await;
    assert_eq!(r["data"], "Token does not allow recording", "{r}");

    // The bootstrap token may record: `record` before publishing is refused, after it the
    // recorder waits for a frame to start the file with, `unrecord` ends it (the fake payloads
    // hold no decodable frame: the recorder says so and leaves no file).
    let mut ws = connect(&srv.base, true, "sig2").await;
    let r = send_raw(&mut ws, r#"{"type":"cmd","transId":3,"name":"record"}"#).await;
    assert_eq!(r["data"], "Not publishing yet", "{r}");
    let mut publisher = Peer::new(true).await;
    let r = command(
        &mut ws,
        4,
        "publish",
        json!({"name":"sig2","sdp":publisher.offer}),
        &mut events,
    )
    .await;
    assert_eq!(r["type"], "response", "{r}");
    publisher.answer(r["data"]["sdp"].as_str().unwrap());
    publisher.start_sending(3);
    let r = command(&mut ws, 5, "record", Value::Null, &mut events).await;
    assert_eq!(r["type"], "response", "{r}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = command(&mut ws, 6, "unrecord", Value::Null, &mut events).await;
    assert_eq!(r["type"], "response", "{r}");
    let ended = wait_event(&mut ws, "recording", &mut events).await;
    assert_eq!(ended["data"]["status"], "failed", "{ended}");
    assert_eq!(ended["data"]["reason"], "no media was recorded", "{ended}");
    assert!(
        ended["data"]["file"].as_str().unwrap().starts_with("main-"),
        "{ended}"
    );
    assert!(recordings(&srv.base).await.is_empty());
}
