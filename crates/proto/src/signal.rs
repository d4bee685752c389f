//! WebSocket signaling: the medooze `transaction-manager` framing and Millicast commands.
//!
//! Client → server: `{"type":"cmd","transId":n,"name":"publish"|"view"|…,"data":{…}}`.
//! Server → client: `response` / `error` echoing `transId`, and `event` frames.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A command frame as received, before its `data` is interpreted.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandFrame {
    /// Echoed unchanged in the reply (a JSON number for every known client).
    pub trans_id: Value,
    /// Command name, e.g. `publish`.
    pub name: String,
    /// Command argument; `Null` when the client sent none.
    pub data: Value,
}

/// Why a text frame could not be read as a command.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameError {
    /// The `transId` if one could be read, so the error can be correlated.
    pub trans_id: Option<Value>,
    /// What was wrong, safe to send back to the client.
    pub message: String,
}

impl CommandFrame {
    /// Parses one text frame. Never panics; every failure is a [`FrameError`].
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        let value: Value = serde_json::from_str(text).map_err(|e| FrameError {
            trans_id: None,
            message: format!("Invalid JSON: {e}"),
        })?;
        let Value::Object(mut obj) = value else {
            return Err(FrameError {
                trans_id: None,
                message: "Frame must be a JSON object".into(),
            });
        };
        let trans_id = obj.remove("transId");
        let fail = |message: &str| FrameError {
            trans_id: trans_id.clone(),
            message: message.into(),
        };
        match obj.get("type").and_then(Value::as_str) {
            Some("cmd") => {}
            Some(other) => return Err(fail(&format!("Unsupported frame type: {other}"))),
            None => return Err(fail("Missing frame type")),
        }
        let Some(trans_id_value) = trans_id.clone() else {
            return Err(fail("Missing transId"));
        };
        let Some(name) = obj.get("name").and_then(Value::as_str) else {
            return Err(fail("Missing command name"));
        };
        Ok(Self {
            trans_id: trans_id_value,
            name: name.to_owned(),
            data: obj.remove("data").unwrap_or(Value::Null),
        })
    }

    /// Reads `data` as the argument type of this command.
    pub fn data_as<T: for<'de> Deserialize<'de>>(&self) -> Result<T, String> {
        serde_json::from_value(self.data.clone())
            .map_err(|e| format!("Invalid data for {}: {e}", self.name))
    }
}

/// Frames the server sends.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerFrame {
    /// Success reply to a command.
    Response {
        /// The command's `transId`.
        #[serde(rename = "transId")]
        trans_id: Value,
        /// Reply payload.
        data: Value,
    },
    /// Failure reply to a command; `data` is a message string (C++ clients read a string).
    Error {
        /// The command's `transId`, `null` if it had none.
        #[serde(rename = "transId")]
        trans_id: Value,
        /// Human-readable reason.
        data: String,
    },
    /// An unsolicited event.
    Event {
        /// Event name, e.g. `active`.
        name: String,
        /// Event payload.
        data: Value,
    },
}

impl ServerFrame {
    /// Serialises the frame to JSON text.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("ServerFrame holds only JSON values and strings")
    }

    /// Builds an event frame from a typed event.
    pub fn event(event: &Event) -> Self {
        let (name, data) = match event {
            Event::Active(e) => ("active", to_value(e)),
            Event::Inactive(e) => ("inactive", to_value(e)),
            Event::ViewerCount(e) => ("viewercount", to_value(e)),
            Event::Vad(e) => ("vad", to_value(e)),
            Event::Layers(e) => ("layers", to_value(e)),
            Event::Stopped => ("stopped", Value::Object(Default::default())),
        };
        Self::Event {
            name: name.into(),
            data,
        }
    }
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("event types serialise to JSON")
}

/// `data` of the `publish` command.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PublishCommand {
    /// Stream name.
    pub name: String,
    /// Complete SDP offer (non-trickle).
    pub sdp: String,
    /// Preferred video codec: `vp8`, `vp9`, `h264`, `av1`, `h265`.
    #[serde(default)]
    pub codec: Option<String>,
    /// Multisource id; absent or null is the main source.
    #[serde(default)]
    pub source_id: Option<String>,
    /// Redundant-ingest priority.
    #[serde(default)]
    pub priority: Option<i32>,
    /// Start recording right away.
    #[serde(default)]
    pub record: Option<bool>,
    /// Events the publisher wants (`active`, `inactive`, `viewercount`).
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// `data` of the `view` command.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ViewCommand {
    /// Bare stream name.
    pub stream_id: String,
    /// Complete SDP offer (non-trickle).
    pub sdp: String,
    /// Source carried by the default transceivers; absent or null is the main source.
    #[serde(default)]
    pub pinned_source_id: Option<String>,
    /// Sources never multiplexed to this viewer.
    #[serde(default)]
    pub excluded_source_ids: Option<Vec<String>>,
    /// Audio multiplexing requested (slot count is implied by the offer).
    #[serde(default)]
    pub vad: Option<bool>,
    /// Number of audio slots (accepted as an alternative to `vad`).
    #[serde(default)]
    pub multiplexed_audio_tracks: Option<usize>,
    /// Events the viewer wants; absent means all.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Initial layer of the main video; absent is automatic.
    #[serde(default)]
    pub layer: Option<LayerInfo>,
}

/// A simulcast/SVC layer as Millicast names it (`LayerInfo`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LayerInfo {
    /// The encoding: a rid (`h`, `m`, `l`) or a simulcast index.
    #[serde(default)]
    pub encoding_id: Option<String>,
    /// Spatial layer within the encoding (SVC).
    #[serde(default)]
    pub spatial_layer_id: Option<u8>,
    /// Temporal layer within the encoding.
    #[serde(default)]
    pub temporal_layer_id: Option<u8>,
    /// Highest spatial layer allowed.
    #[serde(default)]
    pub max_spatial_layer_id: Option<u8>,
    /// Highest temporal layer allowed.
    #[serde(default)]
    pub max_temporal_layer_id: Option<u8>,
}

/// One mapping of a `project` command.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProjectMapping {
    /// The source's track id (`audio0`, `video0`, …).
    #[serde(default)]
    pub track_id: Option<String>,
    /// Or a kind: its first track of that kind.
    #[serde(default)]
    pub media: Option<String>,
    /// The viewer's transceiver mid; absent is its default one of the kind.
    #[serde(default)]
    pub media_id: Option<String>,
    /// A layer to keep to; absent is automatic.
    #[serde(default)]
    pub layer: Option<LayerInfo>,
    /// Lift limits on a secondary feed.
    #[serde(default)]
    pub promote: Option<bool>,
}

/// `data` of `project`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProjectCommand {
    /// The source; null or absent is the main source.
    #[serde(default)]
    pub source_id: Option<String>,
    /// What goes where.
    pub mapping: Vec<ProjectMapping>,
}

/// `data` of `unproject`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UnprojectCommand {
    /// Transceivers to stop.
    pub media_ids: Vec<String>,
}

/// `data` of `select`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SelectCommand {
    /// The layer for the main video; empty or absent is automatic.
    #[serde(default)]
    pub layer: Option<LayerInfo>,
}

/// `data` of the `publish` reply.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PublishResponse {
    /// SDP answer.
    pub sdp: String,
    /// Id of this publication.
    pub publisher_id: String,
    /// Id of the serving cluster.
    pub cluster_id: String,
    /// Numeric feed id.
    pub feed_id: u64,
    /// `accountId/streamName`.
    pub stream_id: String,
    /// Feed URI.
    pub uuid: String,
}

/// `data` of the `view` reply.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ViewResponse {
    /// SDP answer.
    pub sdp: String,
    /// Id of this viewer.
    pub subscriber_id: String,
    /// Id of the serving cluster.
    pub cluster_id: String,
    /// Id of this view session.
    pub stream_view_id: String,
    /// `accountId/streamName`.
    pub stream_id: String,
}

/// A track of a source as announced in `active`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TrackInfo {
    /// Track id within the source, e.g. `audio0`.
    pub track_id: String,
    /// `audio` or `video`.
    pub media: String,
}

/// `active`: a source went live (or was live when the viewer joined).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ActiveEvent {
    /// `accountId/streamName`.
    pub stream_id: String,
    /// Source id, `null` for the main source.
    pub source_id: Option<String>,
    /// The source's tracks.
    pub tracks: Vec<TrackInfo>,
}

/// `inactive`: a source stopped.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InactiveEvent {
    /// `accountId/streamName`.
    pub stream_id: String,
    /// Source id, `null` for the main source.
    pub source_id: Option<String>,
}

/// `viewercount`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct ViewerCountEvent {
    /// Number of viewers of the stream.
    pub viewercount: usize,
}

/// `vad`: an audio slot started carrying a source, or was emptied.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VadEvent {
    /// The slot's transceiver mid.
    pub media_id: String,
    /// Absent when the slot was emptied; `null` for the main source; else the sourceId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<Option<String>>,
}

/// `layers`: the simulcast encodings of what each listed transceiver carries.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct LayersEvent {
    /// By the viewer's transceiver mid.
    pub medias: std::collections::BTreeMap<String, MediaLayers>,
}

/// The encodings of one transceiver's source.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct MediaLayers {
    /// Arriving now, lowest first.
    pub active: Vec<ActiveLayer>,
    /// Declared but not arriving.
    pub inactive: Vec<ActiveLayer>,
    /// Every selectable layer of the active encodings.
    pub layers: Vec<LayerEntry>,
}

/// One encoding (Millicast's `MediaLayer`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ActiveLayer {
    /// The encoding id (`encodingId` in `select`).
    pub id: String,
    /// Its rank, 0 the lowest.
    pub simulcast_idx: u8,
    /// Bits per second.
    pub bitrate: u64,
    /// Frame width, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u16>,
    /// Frame height, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u16>,
    /// Its selectable layers (one per encoding: Podium forwards whole encodings).
    pub layers: Vec<LayerEntry>,
}

/// One selectable layer (Millicast's `LayerInfo` with its figures); 255 = not applicable.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LayerEntry {
    /// The encoding.
    pub encoding_id: String,
    /// Its rank, 0 the lowest.
    pub simulcast_idx: u8,
    /// Spatial layer (SVC).
    pub spatial_layer_id: u8,
    /// Temporal layer.
    pub temporal_layer_id: u8,
    /// Bits per second.
    pub bitrate: u64,
    /// Frame width, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u16>,
    /// Frame height, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u16>,
}

/// Events the server sends on a signaling connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A source is live.
    Active(ActiveEvent),
    /// A source ended.
    Inactive(InactiveEvent),
    /// The viewer count changed.
    ViewerCount(ViewerCountEvent),
    /// An audio slot changed source.
    Vad(VadEvent),
    /// Simulcast encodings of a transceiver's source.
    Layers(LayersEvent),
    /// The stream has no live source any more.
    Stopped,
}

impl Event {
    /// The wire name, as used in `events` filters.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Active(_) => "active",
            Self::Inactive(_) => "inactive",
            Self::ViewerCount(_) => "viewercount",
            Self::Vad(_) => "vad",
            Self::Layers(_) => "layers",
            Self::Stopped => "stopped",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_a_publish_command() {
        let f = CommandFrame::parse(
            r#"{"type":"cmd","transId":0,"name":"publish","data":{"name":"s","sdp":"v=0","codec":"vp8","sourceId":"guest"}}"#,
        )
        .unwrap();
        assert_eq!(f.trans_id, json!(0));
        let p: PublishCommand = f.data_as().unwrap();
        assert_eq!(p.source_id.as_deref(), Some("guest"));
    }

    #[test]
    fn bad_frames_are_errors_with_the_trans_id_when_known() {
        assert!(CommandFrame::parse("{").unwrap_err().trans_id.is_none());
        let e = CommandFrame::parse(r#"{"type":"cmd","transId":7}"#).unwrap_err();
        assert_eq!(e.trans_id, Some(json!(7)));
        assert_eq!(e.message, "Missing command name");
        assert!(CommandFrame::parse("[1]").is_err());
        let f = CommandFrame::parse(r#"{"type":"cmd","transId":1,"name":"view","data":{"sdp":1}}"#)
            .unwrap();
        assert!(f.data_as::<ViewCommand>().is_err());
    }

    #[test]
    fn vad_distinguishes_an_emptied_slot_from_the_main_source() {
        let ev = |source_id| {
            serde_json::to_value(ServerFrame::event(&Event::Vad(VadEvent {
                media_id: "2".into(),
                source_id,
            })))
            .unwrap()["data"]
                .clone()
        };
        assert_eq!(ev(None), json!({"mediaId":"2"}));
        assert_eq!(ev(Some(None)), json!({"mediaId":"2","sourceId":null}));
        assert_eq!(
            ev(Some(Some("bob".into()))),
            json!({"mediaId":"2","sourceId":"bob"})
        );
    }

    #[test]
    fn frames_serialise_like_the_transaction_manager() {
        let r = ServerFrame::Error {
            trans_id: json!(3),
            data: "nope".into(),
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"type":"error","transId":3,"data":"nope"})
        );
        let e = ServerFrame::event(&Event::Inactive(InactiveEvent {
            stream_id: "a/s".into(),
            source_id: None,
        }));
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"type":"event","name":"inactive","data":{"streamId":"a/s","sourceId":null}})
        );
    }
}
