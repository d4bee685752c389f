//! A viewer's requests about what it receives (`project`, `unproject`, `select`), from
//! their wire form (`podium_proto`) into the media core's, with the checks that need no
//! media state: sizes, source ids, kinds. The rest is checked by the core, which applies a
//! request wholly or not at all.

use podium_media::{Kind, LayerDesc, LayerRequest, ProjectParams, Projection};
use podium_proto::signal::{
    ActiveLayer, LayerEntry, LayerInfo, LayersEvent, MediaLayers, ProjectCommand, SelectCommand,
    UnprojectCommand,
};

use crate::media_handle::ViewerRequest;

/// Most mappings in one `project`, and mids in one `unproject`: more than a viewer can have
/// transceivers.
pub const MAX_MAPPINGS: usize = 128;

/// Longest `trackId` or `encodingId` looked at.
const MAX_ID_LEN: usize = 64;

pub fn project(cmd: ProjectCommand) -> Result<ViewerRequest, String> {
    if cmd.mapping.is_empty() {
        return Err("project needs at least one mapping".into());
    }
    if cmd.mapping.len() > MAX_MAPPINGS {
        return Err(format!("Too many mappings (at most {MAX_MAPPINGS})"));
    }
    let source = cmd.source_id.filter(|s| !s.is_empty());
    if let Some(s) = &source {
        crate::policy::access::validate_source_id(s)?;
    }
    let mut mappings = Vec::with_capacity(cmd.mapping.len());
    for m in cmd.mapping {
        let media = match m.media.as_deref() {
            None => None,
            Some("audio") => Some(Kind::Audio),
            Some("video") => Some(Kind::Video),
            Some(other) => return Err(format!("Unknown media {}", clip(other))),
        };
        if m.track_id.as_ref().is_some_and(|t| t.len() > MAX_ID_LEN) {
            return Err("trackId too long".into());
        }
        mappings.push(Projection {
            track_id: m.track_id,
            media,
            mid: m.media_id,
            layer: m.layer.map(layer).transpose()?.flatten(),
            promote: m.promote == Some(true),
        });
    }
    Ok(ViewerRequest::Project(ProjectParams { source, mappings }))
}

pub fn unproject(cmd: UnprojectCommand) -> Result<ViewerRequest, String> {
    if cmd.media_ids.len() > MAX_MAPPINGS {
        return Err(format!("Too many mediaIds (at most {MAX_MAPPINGS})"));
    }
    Ok(ViewerRequest::Unproject(cmd.media_ids))
}

pub fn select(cmd: SelectCommand) -> Result<ViewerRequest, String> {
    Ok(ViewerRequest::Select(
        cmd.layer.map(layer).transpose()?.flatten(),
    ))
}

/// A layer choice; `None` when it names no encoding (automatic selection).
pub fn layer(l: LayerInfo) -> Result<Option<LayerRequest>, String> {
    if l.encoding_id.as_ref().is_some_and(|e| e.len() > MAX_ID_LEN) {
        return Err("encodingId too long".into());
    }
    let request = LayerRequest {
        encoding_id: l.encoding_id.filter(|e| !e.is_empty()),
        spatial_layer_id: l.spatial_layer_id,
        temporal_layer_id: l.temporal_layer_id,
    };
    Ok((!request.is_automatic()).then_some(request))
}

/// The `layers` event of one transceiver.
pub fn layers_event(mid: String, active: Vec<LayerDesc>, inactive: Vec<LayerDesc>) -> LayersEvent {
    let entry = |l: &LayerDesc| LayerEntry {
        encoding_id: l.encoding_id.clone(),
        simulcast_idx: l.simulcast_idx,
        spatial_layer_id: NOT_APPLICABLE,
        temporal_layer_id: NOT_APPLICABLE,
        bitrate: l.bitrate,
        width: l.size.map(|s| s.0),
        height: l.size.map(|s| s.1),
    };
    let encoding = |l: &LayerDesc, layers: Vec<LayerEntry>| ActiveLayer {
        id: l.encoding_id.clone(),
        simulcast_idx: l.simulcast_idx,
        bitrate: l.bitrate,
        width: l.size.map(|s| s.0),
        height: l.size.map(|s| s.1),
        layers,
    };
    let media = MediaLayers {
        layers: active.iter().map(entry).collect(),
        active: active.iter().map(|l| encoding(l, vec![entry(l)])).collect(),
        inactive: inactive.iter().map(|l| encoding(l, vec![])).collect(),
    };
    LayersEvent {
        medias: [(mid, media)].into_iter().collect(),
    }
}

/// Millicast's "no spatial/temporal layer" (whole encodings only).
const NOT_APPLICABLE: u8 = 255;

fn clip(s: &str) -> String {
    s.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use podium_proto::signal::ProjectMapping;

    fn mapping(media: Option<&str>) -> ProjectMapping {
        ProjectMapping {
            track_id: None,
            media: media.map(Into::into),
            media_id: Some("3".into()),
            layer: None,
            promote: None,
        }
    }

    #[test]
    fn bad_projects_are_refused_with_a_reason() {
        let cmd = |mapping: Vec<ProjectMapping>, source: Option<&str>| ProjectCommand {
            source_id: source.map(Into::into),
            mapping,
        };
        assert!(project(cmd(vec![], None)).is_err());
        assert!(project(cmd(vec![mapping(Some("screen"))], None))
            .unwrap_err()
            .contains("Unknown media"));
        assert!(project(cmd(vec![mapping(Some("video")); MAX_MAPPINGS + 1], None)).is_err());
        assert!(project(cmd(vec![mapping(Some("video"))], Some(&"x".repeat(10_000)))).is_err());
        match project(cmd(vec![mapping(Some("video"))], Some(""))).unwrap() {
            ViewerRequest::Project(p) => {
                assert_eq!(p.source, None, "an empty sourceId is the main source");
                assert_eq!(p.mappings[0].media, Some(Kind::Video));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_empty_layer_is_automatic() {
        assert_eq!(layer(LayerInfo::default()), Ok(None));
        let l = LayerInfo {
            encoding_id: Some("l".into()),
            ..Default::default()
        };
        assert_eq!(layer(l).unwrap().unwrap().encoding_id.as_deref(), Some("l"));
        let long = LayerInfo {
            encoding_id: Some("x".repeat(65)),
            ..Default::default()
        };
        assert!(layer(long).is_err());
    }

    #[test]
    fn a_layers_event_has_millicasts_shape() {
        let desc = |id: &str, idx, bitrate, size| LayerDesc {
            encoding_id: id.into(),
            simulcast_idx: idx,
            bitrate,
            size,
        };
        let event = layers_event(
            "1".into(),
            vec![
                desc("l", 0, 150_000, Some((320, 180))),
                desc("h", 1, 1_200_000, Some((1280, 720))),
            ],
            vec![desc("m", 1, 0, None)],
        );
        let json = serde_json::to_value(&event).unwrap();
        let media = &json["medias"]["1"];
        assert_eq!(media["active"][1]["id"], "h");
        assert_eq!(media["active"][1]["width"], 1280);
        assert_eq!(media["active"][0]["layers"][0]["encodingId"], "l");
        assert_eq!(media["layers"][1]["spatialLayerId"], 255);
        assert_eq!(media["layers"][1]["bitrate"], 1_200_000);
        assert_eq!(media["inactive"][0]["id"], "m");
        assert!(media["inactive"][0].get("width").is_none());
    }
}
