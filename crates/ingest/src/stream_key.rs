//! The RTMP stream key: `STREAM?token=TOKEN[&sourceId=ID][&priority=N][&record=true]`.
//!
//! OBS sends it as the `publish` command's name (server `rtmp://HOST:1935/live`, key
//! `STREAM?token=…`); ffmpeg sends the same for `rtmp://HOST:1935/live/STREAM?token=…`. The
//! query is `application/x-www-form-urlencoded` (`%XX` and `+` decoded), as in the other
//! ingest paths' URLs. What the values may be (stream names, source ids) is the access
//! policy's business; this only splits and decodes.

/// A publish request read from a stream key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamKey {
    /// The stream name (before `?`, percent-decoded).
    pub stream: String,
    /// `token`: the publish API token.
    pub token: Option<String>,
    /// `sourceId`: none (or empty) is the main source.
    pub source_id: Option<String>,
    /// `priority`: redundant ingest.
    pub priority: Option<i32>,
    /// `record`.
    pub record: bool,
}

/// Why a stream key is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamKeyError {
    /// Nothing before `?`.
    #[error("the stream key has no stream name: use STREAM?token=TOKEN")]
    NoStream,
    /// A parameter given twice (which one would win is not obvious to the publisher).
    #[error("{0} is given more than once in the stream key")]
    Repeated(&'static str),
    /// `priority` is not a 32-bit integer.
    #[error("invalid priority {0:?}: use an integer")]
    BadPriority(String),
    /// `record` is neither true nor false.
    #[error("invalid record {0:?}: use true or false")]
    BadRecord(String),
    /// Longer than [`MAX_STREAM_KEY`].
    #[error("the stream key is longer than {MAX_STREAM_KEY} bytes")]
    TooLong,
}

/// The longest stream key taken (a token is under 100 bytes; names and ids are short).
pub const MAX_STREAM_KEY: usize = 2048;

impl StreamKey {
    /// Parses `key`. Unknown parameters are ignored (encoders add their own).
    pub fn parse(key: &str) -> Result<Self, StreamKeyError> {
        if key.len() > MAX_STREAM_KEY {
            return Err(StreamKeyError::TooLong);
        }
        let (name, query) = key.split_once('?').unwrap_or((key, ""));
        let stream = decode(name);
        if stream.is_empty() {
            return Err(StreamKeyError::NoStream);
        }
        let mut out = Self {
            stream,
            token: None,
            source_id: None,
            priority: None,
            record: false,
        };
        let (mut token, mut source, mut priority, mut record) = (None, None, None, None);
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let (slot, name) = match &*k {
                "token" => (&mut token, "token"),
                "sourceId" => (&mut source, "sourceId"),
                "priority" => (&mut priority, "priority"),
                "record" => (&mut record, "record"),
                _ => continue,
            };
            if slot.replace(v.into_owned()).is_some() {
                return Err(StreamKeyError::Repeated(name));
            }
        }
        out.token = token.filter(|t| !t.is_empty());
        out.source_id = source.filter(|s| !s.is_empty());
        out.priority = priority
            .map(|p| {
                p.trim()
                    .parse::<i32>()
                    .map_err(|_| StreamKeyError::BadPriority(p))
            })
            .transpose()?;
        out.record = match record.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("false" | "0") => false,
            Some("true" | "1") => true,
            Some(_) => return Err(StreamKeyError::BadRecord(record.unwrap_or_default())),
        };
        Ok(out)
    }
}

/// Percent-decodes a path segment (`+` stays a plus there).
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obs_and_ffmpeg_keys() {
        let k = StreamKey::parse("studio?token=abc123").unwrap();
        assert_eq!(k.stream, "studio");
        assert_eq!(k.token.as_deref(), Some("abc123"));
        assert_eq!((k.source_id, k.priority, k.record), (None, None, false));

        let k =
            StreamKey::parse("my%20show?token=t%2Bk&sourceId=cam+2&priority=-3&record=TRUE&x=1")
                .unwrap();
        assert_eq!(k.stream, "my show");
        assert_eq!(k.token.as_deref(), Some("t+k"));
        assert_eq!(k.source_id.as_deref(), Some("cam 2"));
        assert_eq!(k.priority, Some(-3));
        assert!(k.record);
    }

    #[test]
    fn missing_and_empty_values() {
        let k = StreamKey::parse("s").unwrap();
        assert_eq!(k.token, None);
        let k = StreamKey::parse("s?token=&sourceId=&record=false").unwrap();
        assert_eq!((k.token, k.source_id, k.record), (None, None, false));
    }

    #[test]
    fn refusals() {
        assert_eq!(StreamKey::parse("?token=a"), Err(StreamKeyError::NoStream));
        assert_eq!(StreamKey::parse(""), Err(StreamKeyError::NoStream));
        assert_eq!(
            StreamKey::parse("s?token=a&token=b"),
            Err(StreamKeyError::Repeated("token"))
        );
        assert_eq!(
            StreamKey::parse("s?priority=high"),
            Err(StreamKeyError::BadPriority("high".into()))
        );
        assert_eq!(
            StreamKey::parse("s?priority=99999999999"),
            Err(StreamKeyError::BadPriority("99999999999".into()))
        );
        assert_eq!(
            StreamKey::parse("s?record=yes"),
            Err(StreamKeyError::BadRecord("yes".into()))
        );
        let long = format!("s?token={}", "a".repeat(MAX_STREAM_KEY));
        assert_eq!(StreamKey::parse(&long), Err(StreamKeyError::TooLong));
        // Messages name the fix.
        assert!(StreamKeyError::NoStream
            .to_string()
            .contains("STREAM?token="));
    }
}
