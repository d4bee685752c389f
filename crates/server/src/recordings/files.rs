//! Where recordings live: `DATA_DIR/recordings/STREAM/FILE`, names that cannot escape that
//! directory, and the listing the admin API shows.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The container of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// WebM (Matroska): Opus with VP8, VP9 or AV1, or Opus alone.
    WebM,
    /// MP4: H.264 or H.265 with Opus.
    Mp4,
}

impl Container {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::WebM => "webm",
            Self::Mp4 => "mp4",
        }
    }

    /// The HTTP media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::WebM => "video/webm",
            Self::Mp4 => "video/mp4",
        }
    }

    fn of(file: &str) -> Option<Self> {
        match file.rsplit_once('.')?.1 {
            "webm" => Some(Self::WebM),
            "mp4" => Some(Self::Mp4),
            _ => None,
        }
    }
}

/// One recording file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecordingFile {
    /// The stream.
    pub stream: String,
    /// The file name (`SOURCE-YYYYMMDDTHHMMSSZ-ID.webm`).
    pub file: String,
    /// Its size.
    pub bytes: u64,
    /// Last written, unix seconds.
    pub modified_at: u64,
    /// Still being written.
    pub recording: bool,
}

/// The file name of a new recording without its extension: the source (`main` for the main
/// source), the start time in UTC and the publication, so names never collide and sort by
/// time.
pub fn file_stem(source: Option<&str>, started: SystemTime, id: u64) -> String {
    let source = source.map_or_else(|| "main".to_owned(), sanitize);
    let secs = started
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{source}-{}-{id}", utc(secs))
}

/// A source id as a file-name part: letters, digits, `-`, `_` kept, the rest `_`, at most
/// 64 characters (source ids may hold any printable text).
fn sanitize(source: &str) -> String {
    let s: String = source
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

/// `YYYYMMDDTHHMMSSZ` of unix seconds (civil-from-days, proleptic Gregorian).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Whether `file` is a name this server writes (no path separators, no leading dot, a known
/// extension): what the admin API accepts, so a request cannot reach another file.
pub fn valid_file_name(file: &str) -> bool {
    !file.is_empty()
        && file.len() <= 200
        && !file.starts_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && Container::of(file).is_some()
}

/// The path of a recording named `STREAM/FILE` (as replays store them) under `root`, if both
/// parts are names this server writes: a stored name cannot reach another file.
pub fn resolve(root: &Path, name: &str) -> Option<PathBuf> {
    let (stream, file) = name.split_once('/')?;
    let stream_ok = !stream.is_empty()
        && stream.len() <= 255
        && !stream.starts_with('.')
        && stream
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    (stream_ok && valid_file_name(file)).then(|| root.join(stream).join(file))
}

/// The media type of a recording file.
pub fn media_type(file: &str) -> &'static str {
    Container::of(file).map_or("application/octet-stream", Container::media_type)
}

/// Every recording under `root`, newest first. Unreadable entries are skipped.
pub fn list(root: &Path, active: &[PathBuf]) -> Vec<RecordingFile> {
    let mut out = Vec::new();
    let Ok(streams) = std::fs::read_dir(root) else {
        return out;
    };
    for stream in streams.flatten() {
        let Ok(stream_name) = stream.file_name().into_string() else {
            continue;
        };
        let Ok(files) = std::fs::read_dir(stream.path()) else {
            continue;
        };
        for f in files.flatten() {
            let Ok(file) = f.file_name().into_string() else {
                continue;
            };
            let Ok(meta) = f.metadata() else { continue };
            if !meta.is_file() || !valid_file_name(&file) {
                continue;
            }
            let modified_at = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            out.push(RecordingFile {
                recording: active.iter().any(|p| *p == f.path()),
                stream: stream_name.clone(),
                file,
                bytes: meta.len(),
                modified_at,
            });
        }
    }
    out.sort_by(|a, b| {
        (b.modified_at, &b.stream, &b.file).cmp(&(a.modified_at, &a.stream, &a.file))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stored_names_resolve_only_inside_the_root() {
        let root = Path::new("/data/recordings");
        assert_eq!(
            resolve(root, "room-1/u1-20261203T101010Z-7.webm"),
            Some(root.join("room-1").join("u1-20261203T101010Z-7.webm"))
        );
        for bad in [
            "../x/a.webm",
            "room/../../a.webm",
            "room/a.txt",
            "/etc/a.webm",
            "room",
            ".hidden/a.webm",
            "room/sub/a.webm",
        ] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
    }

    #[test]
    fn names_sort_by_time_and_stay_in_their_directory() {
        let t = UNIX_EPOCH + Duration::from_secs(1_764_703_425); // 2025-12-02 19:23:45 UTC
        assert_eq!(file_stem(None, t, 7), "main-20251202T192345Z-7");
        assert_eq!(
            file_stem(Some("../cam 2/é"), t, 9),
            "___cam_2__-20251202T192345Z-9"
        );
        assert_eq!(utc(0), "19700101T000000Z");
        assert_eq!(utc(951_782_400), "20000229T000000Z");
        for bad in [
            "",
            ".hidden.webm",
            "../x.webm",
            "a/b.mp4",
            "x.txt",
            "x",
            "a b.webm",
        ] {
            assert!(!valid_file_name(bad), "{bad}");
        }
        assert!(valid_file_name("main-20251202T192345Z-7.webm"));
        assert_eq!(media_type("a.mp4"), "video/mp4");
    }
}
