//! Listening to Redis pub/sub channels for as long as the node runs: subscribing again after
//! Redis comes back (messages published meanwhile are lost, which each listener handles in
//! `on_subscribed`).

use std::time::Duration;

use futures_util::StreamExt;

/// Hands every message of `channels` (its channel and payload) to `on_message`, in order,
/// until `stop`; `on_subscribed` runs after each (re)subscription. `what` names the listener
/// in logs.
pub async fn listen<Handled: std::future::Future<Output = ()>>(
    client: redis::Client,
    channels: Vec<String>,
    what: &'static str,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut on_subscribed: impl FnMut(),
    mut on_message: impl FnMut(String, String) -> Handled,
) {
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            for channel in &channels {
                pubsub.subscribe(channel).await?;
            }
            redis::RedisResult::Ok(pubsub)
        };
        let pubsub = tokio::select! {
            p = subscribed => p,
            _ = stop.wait_for(|s| *s) => return,
        };
        match pubsub {
            Ok(mut pubsub) => {
                on_subscribed();
                let mut messages = pubsub.on_message();
                loop {
                    let msg = tokio::select! {
                        m = messages.next() => m,
                        _ = stop.wait_for(|s| *s) => return,
                    };
                    let Some(msg) = msg else { break };
                    let Ok(payload) = msg.get_payload::<String>() else {
                        continue;
                    };
                    on_message(msg.get_channel_name().to_owned(), payload).await;
                }
                tracing::warn!(what, "subscription lost, subscribing again");
            }
            Err(e) => tracing::debug!(what, error = %e, "cannot subscribe yet"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
