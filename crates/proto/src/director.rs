//! Director API bodies (`POST /api/director/publish`, `POST /api/director/subscribe`).

use serde::{Deserialize, Serialize};

/// Body of `POST /api/director/publish`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishRequest {
    /// Stream name to publish to.
    pub stream_name: String,
    /// `"WebRtc"` (default) or `"Rtmp"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_type: Option<String>,
    /// Podium extension: binds the JWT to this `sourceId` (the rooms server uses it so a
    /// user can only publish as themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
}

/// Body of `POST /api/director/subscribe`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeRequest {
    /// Stream name to view.
    pub stream_name: String,
    /// Account id of the stream (the SDK spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_account_id: Option<String>,
    /// Account id of the stream (the spelling of the original spaces server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// An RTCIceServer-like entry.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct IceServer {
    /// STUN/TURN URLs.
    pub urls: Vec<String>,
    /// TURN user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// `data` of a successful Director reply.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionData {
    /// Deprecated alias of `urls[0]`, still read by old clients.
    pub ws_url: String,
    /// WebSocket URLs; clients connect to `urls[0] + "?token=" + jwt`.
    pub urls: Vec<String>,
    /// Short-lived signed JWT that opens one signaling connection.
    pub jwt: String,
    /// ICE servers for the client's RTCPeerConnection.
    pub ice_servers: Vec<IceServer>,
    /// Account the stream belongs to.
    pub stream_account_id: String,
    /// Only in publish replies: whether viewers need a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe_requires_auth: Option<bool>,
}

/// The envelope of every Director reply: `{status, data}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(tag = "status", content = "data", rename_all = "lowercase")]
pub enum DirectorReply {
    /// `{status:"success", data:{...}}`.
    Success(ConnectionData),
    /// `{status:"fail", data:{message}}`.
    Fail(FailData),
}

/// `data` of a failed Director reply.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct FailData {
    /// Human-readable reason, e.g. `"Unauthorized: Invalid token"`.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_reply_has_the_millicast_shape() {
        let reply = DirectorReply::Fail(FailData {
            message: "Unauthorized: Invalid token".into(),
        });
        let json = serde_json::to_value(&reply).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status":"fail","data":{"message":"Unauthorized: Invalid token"}})
        );
    }

    #[test]
    fn subscribe_accepts_both_account_spellings() {
        let a: SubscribeRequest =
            serde_json::from_str(r#"{"streamName":"s","streamAccountId":"x"}"#).unwrap();
        let b: SubscribeRequest =
            serde_json::from_str(r#"{"streamName":"s","accountId":"x"}"#).unwrap();
        assert_eq!(a.stream_account_id.as_deref(), Some("x"));
        assert_eq!(b.account_id.as_deref(), Some("x"));
    }
}
