//! Accounts over HTTP (issue 16): sign up, sign in and out, the signed-in account, profiles,
//! avatars, following and blocking. The store is `podium_accounts` (SQLite in the data
//! directory); this module is the web side of it:
//!
//! * **Session cookie** `podium_session`: HttpOnly, SameSite=Lax, `Secure` when the page came
//!   over HTTPS; the token's hash is all the store keeps. Every sign-in and sign-up opens a new
//!   session and ends the one the browser presented (no fixation).
//! * **CSRF**: every change made with the cookie must carry the session's CSRF token in the
//!   `X-CSRF-Token` header (a page of another site can send the cookie, not the header); sign-in
//!   and sign-up, which have no session yet, must come from this server's own origin when the
//!   browser says where they come from (login CSRF).
//! * **Rate limits**: sign-ins and sign-ups per client address and sign-ins per username, per
//!   minute (password guessing); a refused attempt says when to try again.
//!
//! Handlers are thin: the rules are the store's (`podium_accounts`) and [`session`]'s.

mod avatar;
mod handlers;
mod push;
mod replays;
mod reports;
mod schedules;
pub mod session;
mod social;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use podium_accounts::Accounts;

use crate::policy::rate::KeyedRate;
use crate::policy::Refusal;
use crate::state::AppState;

/// File of the accounts database in the data directory.
pub const ACCOUNTS_DB_FILE: &str = "accounts.db";

/// Sign-in and sign-up attempts per client address per minute.
const ATTEMPTS_PER_IP: u32 = 20;
/// Sign-in attempts per username per minute (whoever tries).
const ATTEMPTS_PER_NAME: u32 = 10;

/// The stores behind the accounts (one SQLite file by default; each a trait, so a server
/// database can replace it).
pub struct Stores {
    /// Accounts, sessions, follows, blocks.
    pub accounts: Arc<dyn Accounts>,
    /// Scheduled rooms and reminders.
    pub schedules: Arc<dyn podium_accounts::ScheduleStore>,
    /// Reports to the operator.
    pub reports: Arc<dyn podium_accounts::ReportStore>,
    /// Web Push subscriptions.
    pub pushes: Arc<dyn podium_accounts::PushStore>,
    /// Replays of recorded rooms.
    pub replays: Arc<dyn podium_accounts::ReplayStore>,
}

impl Stores {
    /// Every store in one SQLite database.
    pub fn sqlite(store: Arc<podium_accounts::AccountStore>) -> Self {
        Self {
            accounts: store.clone(),
            schedules: store.clone(),
            reports: store.clone(),
            pushes: store.clone(),
            replays: store,
        }
    }
}

/// Where Web Push subscriptions are kept and the sender that uses them.
pub struct PushService {
    /// The subscriptions.
    pub store: Arc<dyn podium_accounts::PushStore>,
    /// The VAPID key and the HTTP client.
    pub sender: Arc<crate::push::Push>,
}

/// The accounts store and the limits around it.
pub struct AccountService {
    /// The store.
    pub store: Arc<dyn Accounts>,
    /// Web Push.
    pub push: PushService,
    /// Scheduled rooms and reminders.
    pub schedules: Arc<dyn podium_accounts::ScheduleStore>,
    /// Reports to the operator.
    pub reports: Arc<dyn podium_accounts::ReportStore>,
    /// Password hashes and image decodes running at once (each takes tens of MiB and a core).
    pub heavy: Arc<tokio::sync::Semaphore>,
    by_ip: KeyedRate<IpAddr>,
    by_name: KeyedRate<String>,
}

impl AccountService {
    /// Over `store`, limits counted from `origin`.
    pub fn new(stores: Stores, sender: Arc<crate::push::Push>, origin: Instant) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            store: stores.accounts,
            schedules: stores.schedules,
            reports: stores.reports,
            push: PushService {
                store: stores.pushes,
                sender,
            },
            heavy: Arc::new(tokio::sync::Semaphore::new(cores * 2)),
            by_ip: KeyedRate::per_minute(ATTEMPTS_PER_IP, origin),
            by_name: KeyedRate::per_minute(ATTEMPTS_PER_NAME, origin),
        }
    }

    /// Counts a sign-in or sign-up attempt; refused past the limits. Addresses count per
    /// client (an IPv6 /64); a name counts under both of its look-alike keys, so `BiII` and
    /// `Bill` (which both reach the account `Bill`) share the limit.
    fn attempt(&self, ip: IpAddr, username: Option<&str>, now: Instant) -> Result<(), Refusal> {
        let by_name = || {
            username.is_none_or(|name| {
                let keys = podium_rooms::normalize_username(name)
                    .map(|n| podium_rooms::username_keys(&n))
                    .map(|k| [format!("f:{}", k.folded), format!("s:{}", k.shape)])
                    .unwrap_or_default();
                // Both counted (no short circuit).
                let checks = keys.map(|key| self.by_name.check(&key, now));
                checks.iter().all(|ok| *ok)
            })
        };
        let client = crate::policy::connections::client_key(ip);
        if self.by_ip.check(&client, now) && by_name() {
            Ok(())
        } else {
            Err(Refusal::too_many(
                "Too many attempts: wait a minute and try again",
            ))
        }
    }

    /// Forgets limits that have recovered.
    pub fn forget_idle(&self, now: Instant) {
        self.by_ip.forget_idle(now);
        self.by_name.forget_idle(now);
    }
}

/// The routes (under the API's body limit, but the avatar's own).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/account/sign-up", post(handlers::sign_up))
        .route("/api/account/sign-in", post(handlers::sign_in))
        .route("/api/account/sign-out", post(handlers::sign_out))
        .route("/api/account", delete(handlers::delete_account))
        .route("/api/account/me", get(handlers::me))
        .route("/api/account/profile", patch(handlers::update_profile))
        .route("/api/account/password", post(handlers::change_password))
        .route(
            "/api/account/avatar",
            put(avatar::upload)
                .delete(avatar::remove)
                .layer(axum::extract::DefaultBodyLimit::max(avatar::MAX_UPLOAD)),
        )
        .route("/api/users/{name}", get(social::profile))
        .route("/api/users/{id}/avatar", get(avatar::serve))
        .route("/api/users/{id}/followers", get(social::followers))
        .route("/api/users/{id}/following", get(social::following))
        .route("/api/users/{id}/follow", post(social::follow))
        .route("/api/users/{id}/follow", delete(social::unfollow))
        .route("/api/users/{id}/block", post(social::block))
        .route("/api/users/{id}/block", delete(social::unblock))
        .route("/api/account/blocked", get(social::blocked))
        .route("/api/push/key", get(push::key))
        .route(
            "/api/schedules",
            get(schedules::upcoming).post(schedules::create),
        )
        .route("/api/schedules/{id}", delete(schedules::cancel))
        .route("/api/schedules/{id}/opened", post(schedules::opened))
        .route(
            "/api/schedules/{id}/remind",
            post(schedules::remind).delete(schedules::forget),
        )
        .route("/api/users/{id}/schedules", get(schedules::of_user))
        .route("/api/users/{id}/replays", get(replays::of_user))
        .route(
            "/api/replays/{id}",
            get(replays::one).delete(replays::delete),
        )
        .route("/api/replays/{id}/tracks/{n}", get(replays::track))
        .route("/api/reports", post(reports::file))
        .route(
            "/api/account/push",
            post(push::subscribe).delete(push::unsubscribe),
        )
}

/// Runs a CPU- and memory-heavy task (password hash, image decode) off the async workers,
/// at most a few at once; past that the request is refused (503) rather than queued.
pub(crate) async fn heavy<T: Send + 'static>(
    state: &AppState,
    what: &str,
    task: impl FnOnce() -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    let Ok(_permit) = state.accounts.heavy.clone().try_acquire_owned() else {
        return Err(Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is busy: try again in a moment".into(),
        ));
    };
    tokio::task::spawn_blocking(task)
        .await
        .map_err(|_| Refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("{what} failed")))?
}

/// A store error as an HTTP refusal (its message is safe to show).
fn refusal(e: podium_accounts::Error) -> Refusal {
    use podium_accounts::Error;
    let status = match &e {
        Error::Invalid(_) => StatusCode::BAD_REQUEST,
        Error::UsernameTaken(_) => StatusCode::CONFLICT,
        Error::BadCredentials => StatusCode::UNAUTHORIZED,
        Error::NoSuchAccount => StatusCode::NOT_FOUND,
        Error::Busy(_) => StatusCode::CONFLICT,
        _ => {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "accounts store");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    Refusal(status, e.to_string())
}
