//! The WebSocket signaling frames (`crates/proto/src/signal.rs`).

use podium_proto::signal::{CommandFrame, PublishCommand, ServerFrame, ViewCommand};
use serde_json::Value;

/// `CommandFrame::parse` on the input as text (invalid UTF-8 replaced, as a WebSocket text
/// frame is always UTF-8), then `data_as::<PublishCommand>()` and `data_as::<ViewCommand>()`
/// as the signaling connection does for `publish` and `view`.
///
/// Invariants: a parsed command's `data` round-trips through its typed form; the reply and
/// error frames built from what was parsed serialise, echoing the `transId`.
pub fn signaling(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match CommandFrame::parse(&text) {
        Ok(frame) => {
            if let Ok(cmd) = frame.data_as::<PublishCommand>() {
                round_trips(&cmd);
            }
            if let Ok(cmd) = frame.data_as::<ViewCommand>() {
                round_trips(&cmd);
            }
            // The server answers every frame, echoing `transId` untouched.
            let reply = ServerFrame::Response {
                trans_id: frame.trans_id.clone(),
                data: frame.data.clone(),
            };
            echoes(&reply.to_text(), &frame.trans_id);
            let refusal = ServerFrame::Error {
                trans_id: frame.trans_id.clone(),
                data: format!("Unknown command {}", frame.name),
            };
            echoes(&refusal.to_text(), &frame.trans_id);
        }
        Err(e) => {
            assert!(!e.message.is_empty(), "a refusal says why");
            let trans_id = e.trans_id.unwrap_or(Value::Null);
            let refusal = ServerFrame::Error {
                trans_id: trans_id.clone(),
                data: e.message,
            };
            echoes(&refusal.to_text(), &trans_id);
        }
    }
}

fn round_trips<T>(cmd: &T)
where
    T: serde::Serialize + for<'de> serde::Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let value = serde_json::to_value(cmd).expect("a command serialises");
    let back: T = serde_json::from_value(value).expect("a serialised command parses");
    assert_eq!(&back, cmd, "the command survives a round trip");
}

fn echoes(text: &str, trans_id: &Value) {
    let back: Value = serde_json::from_str(text).expect("a server frame is JSON");
    let echoed = back.get("transId").expect("the frame carries transId");
    // Floats are printed exactly but serde_json's default parser may land one ULP away, so
    // only exactly representable ids are compared.
    if !contains_float(trans_id) {
        assert_eq!(echoed, trans_id, "transId is echoed unchanged");
    }
}

fn contains_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(a) => a.iter().any(contains_float),
        Value::Object(o) => o.values().any(contains_float),
        _ => false,
    }
}
