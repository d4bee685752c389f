//! A viewer's requests about what it receives (`project`, `unproject`, `select`), from
//! their wire form (`podium_proto`) into the media core's, with the checks that need no
//! media state: sizes, source ids, kinds. The rest is checked by the core, which applies a
//! request wholly or not at all.

use podium_media::{Kind, LayerRequest, ProjectParams, Projection};
use podium_proto::signal::{LayerInfo, ProjectCommand, SelectCommand, UnprojectCommand};

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
}
