//! Watch party, the shell's half: before an owner's `set-content` reaches the rooms domain,
//! the server checks that the owner may publish to that stream (with the API token they
//! present: the content is theirs to show) and that the room's members can watch it with no
//! token of their own (it is an open stream, not a room nor a private stream).

use serde_json::Value;

use crate::policy::access::Requester;
use crate::state::AppState;

/// Whether `who` may attach `stream` as a room's content.
pub fn check(app: &AppState, who: &Requester<'_>, stream: &str) -> Result<(), String> {
    let stream = podium_rooms::normalize_content_stream(stream).map_err(|e| e.to_string())?;
    if app.access.rooms.is_room(&stream) {
        return Err(podium_rooms::RoomError::ContentIsARoom.to_string());
    }
    if app.access.view_requires_auth(&stream) {
        return Err(
            "That stream needs a subscribe token to watch: attach one anyone may watch".into(),
        );
    }
    app.access
        .authorize_publish(who, &stream)
        .map(|_| ())
        .map_err(|refusal| format!("You may not publish to that stream: {}", refusal.1))
}

/// The stream a `set-content(roomId, streamName, {token})` attaches (none to detach), and
/// the token that proves the owner may publish to it.
pub fn request(args: &[Value]) -> (Option<&str>, Option<&str>) {
    let stream = args.get(1).and_then(Value::as_str);
    let token = args
        .get(2)
        .and_then(|o| o.get("token"))
        .and_then(Value::as_str);
    (stream, token)
}
