//! Reminders of scheduled rooms: when a schedule's time comes, the people who asked to be
//! reminded hear of it, in the app (`schedule-starting`) if it is open here, else by Web Push.
//! Each node sends those of its own accounts store, once (the store marks them sent).

use serde_json::{json, Value};

use super::{AccountTag, Gateway, NAMESPACES};

impl Gateway {
    /// Sends the reminders due at `now` (Unix seconds).
    pub(super) fn send_due_reminders(&self, now: u64) {
        let schedules = self.app.accounts.schedules.clone();
        let gateway = self.clone();
        tokio::spawn(async move {
            let due = match tokio::task::spawn_blocking(move || schedules.take_due_reminders(now))
                .await
            {
                Ok(Ok(due)) => due,
                _ => {
                    tracing::warn!("due reminders not read");
                    return;
                }
            };
            for (schedule, who) in due {
                if who.is_empty() {
                    continue;
                }
                let notice = json!({
                    "scheduleId": schedule.id,
                    "title": schedule.title,
                    "hostName": schedule.host_name,
                    "roomId": schedule.room_id,
                });
                let told = gateway.tell_accounts(&who, "schedule-starting", &[notice]);
                let away: Vec<String> = who.into_iter().filter(|a| !told.contains(a)).collect();
                let url = match &schedule.room_id {
                    Some(room) => format!(
                        "/#/room/{}",
                        url::form_urlencoded::byte_serialize(room.as_bytes()).collect::<String>()
                    ),
                    None => "/#/".to_owned(),
                };
                let push = &gateway.app.accounts.push;
                push.sender.notify(
                    push.store.clone(),
                    &format!("schedule:{}", schedule.id),
                    away,
                    crate::push::Notice {
                        title: format!("“{}” is starting", schedule.title),
                        body: format!("{} scheduled it for now.", schedule.host_name),
                        url,
                        tag: format!("schedule-{}", schedule.id),
                    },
                    std::time::Instant::now(),
                );
            }
        });
    }

    /// Emits `event` to this node's sockets signed in as one of `accounts`; returns the
    /// accounts reached.
    fn tell_accounts(
        &self,
        accounts: &[String],
        event: &str,
        args: &[Value],
    ) -> std::collections::HashSet<String> {
        let wanted: std::collections::HashSet<&String> = accounts.iter().collect();
        let mut told = std::collections::HashSet::new();
        for ns in NAMESPACES {
            let Some(op) = self.io.of(ns) else { continue };
            for socket in op.sockets() {
                let Some(tag) = socket.extensions.get::<AccountTag>() else {
                    continue;
                };
                if wanted.contains(&tag.account) {
                    self.emit_to(&socket, event, args);
                    told.insert(tag.account);
                }
            }
        }
        told
    }
}
