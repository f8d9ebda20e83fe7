//! The log viewer at `/admin`: server-rendered pages, their assets, and the JSON API
//! under `/admin/api/`, all behind the admin token.
//!
//! A rule author sees what the Estimator sent and what lookout answered (the cards as
//! IMOS showed them, the request and response JSON, each rule's trace), replays a call
//! against the rules on disk (`replay`), and saves a call as a rule test (`testfile`).
//! Beside the calls, the port events Octopi and PortConnect sent (`/admin/events`): what
//! the rules read as facts, filtered by source, event, container, vessel and port.
//!
//! This module is part of the HTTP layer (it knows status codes and headers); it reads the
//! log only through `store::Backend` (on blocking threads) and evaluates only through
//! `replay`, which runs the server's own evaluation. It knows no SQL and no Rhai.

mod activity;
mod api;
mod assets;
pub mod auth;
mod filters;
mod fleet;
mod pages;
mod publish;
pub mod testfile;
mod view;
pub mod workbench;

use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;

pub use auth::{Admin, TokenSource};

use crate::events::{Event, Key};
use crate::http::{ApiError, AppState};
use crate::replay::{self, Replayed};
use crate::store::{Call, Page, Query, StoreError};

/// Every `/admin` route. The login page is the only one served without the token.
///
/// Called as the server starts serving: also starts reading the logged-out sessions
/// from the store (in the background), so that a session logged out before a restart
/// is refused from the first request on (a request that comes before the read ends
/// waits for it, see [`auth::Admin::revocations_fresh`]).
pub fn router(state: &AppState) -> Router<AppState> {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let admin = state.admin.clone();
        let store = state.recorder.store().clone();
        runtime.spawn(async move {
            if let Err(failure) = admin.revocations_fresh(&store).await {
                tracing::warn!(
                    "log viewer: cannot read the logged-out sessions yet ({}); sessions are refused until the store answers",
                    failure
                );
            }
        });
    }
    // Every route is in one group, and each group says the least role it needs
    // (`auth::at_least`); `auth::require` in front of all of them finds the user.
    let seeing = Router::new()
        .route("/admin", get(pages::list))
        .route("/admin/", get(pages::to_list))
        .route("/admin/calls/{id}", get(pages::call))
        .route("/admin/logout", post(auth::logout))
        .route("/admin/api/calls", get(api::list))
        .route("/admin/api/calls/{id}", get(api::call))
        .route("/admin/api/calls/{id}/request-body", get(api::request_body))
        .route(
            "/admin/api/calls/{id}/response-body",
            get(api::response_body),
        )
        .route("/admin/api/status", get(api::status))
        .route("/admin/api/me", get(api::me))
        .route("/admin/api/helpers", get(workbench::helpers))
        .route("/admin/events", get(pages::events))
        .route("/admin/events/{id}", get(pages::event))
        .route("/admin/api/events", get(api::events))
        .route("/admin/api/events/{id}", get(api::event))
        .route("/admin/{*rest}", any(not_found));
    let authoring = Router::new()
        .route("/admin/rules", get(pages::rules))
        .route("/admin/rules/{name}", get(pages::workbench))
        .route("/admin/calls/{id}/replay", post(pages::replay))
        .route("/admin/api/calls/{id}/replay", post(api::replay))
        .route("/admin/api/calls/{id}/test", get(api::test_file))
        .route("/admin/api/rulesets", get(workbench::rulesets))
        .route("/admin/api/rulesets/{name}", get(workbench::ruleset_files))
        .route(
            "/admin/api/check",
            post(workbench::check).layer(axum::extract::DefaultBodyLimit::max(
                workbench::MAX_TRY_BYTES,
            )),
        )
        .route(
            "/admin/api/test",
            post(workbench::test_draft).layer(axum::extract::DefaultBodyLimit::max(
                workbench::MAX_TRY_BYTES,
            )),
        )
        .route(
            "/admin/api/try/recent",
            post(workbench::try_recent).layer(axum::extract::DefaultBodyLimit::max(
                workbench::MAX_TRY_BYTES,
            )),
        )
        .route(
            "/admin/api/try",
            post(workbench::try_draft).layer(axum::extract::DefaultBodyLimit::max(
                workbench::MAX_TRY_BYTES,
            )),
        )
        .route(
            "/admin/api/drafts",
            get(publish::list_drafts).post(publish::save_draft).layer(
                axum::extract::DefaultBodyLimit::max(workbench::MAX_TRY_BYTES),
            ),
        )
        .route(
            "/admin/api/drafts/{id}",
            get(publish::get_draft).delete(publish::delete_draft),
        )
        .route(
            "/admin/api/rulesets/{name}/versions",
            get(publish::versions),
        )
        .route("/admin/api/versions/{id}", get(publish::version))
        .route("/admin/api/compare", get(publish::compare))
        .route("/admin/api/rulesets/{name}/activity", get(activity::api))
        .route("/admin/fleet", get(fleet::page))
        .route("/admin/api/instances", get(fleet::instances))
        .route("/admin/fleet/candidates/{id}", get(fleet::calls_page))
        .route("/admin/api/candidates", get(fleet::candidates))
        .route("/admin/api/candidates/{id}", get(fleet::candidate))
        .route(
            "/admin/api/candidates/{id}/calls",
            get(fleet::candidate_calls),
        )
        .route_layer(middleware::from_fn(|request, next| {
            auth::at_least(auth::Role::Author, request, next)
        }));
    let publishing = Router::new()
        .route(
            "/admin/api/publish",
            post(publish::publish).layer(axum::extract::DefaultBodyLimit::max(
                workbench::MAX_TRY_BYTES,
            )),
        )
        .route("/admin/api/rollback", post(publish::rollback))
        .route(
            "/admin/api/candidates",
            post(fleet::start).layer(axum::extract::DefaultBodyLimit::max(
                workbench::MAX_TRY_BYTES,
            )),
        )
        .route("/admin/api/candidates/{id}/promote", post(fleet::promote))
        .route("/admin/api/candidates/{id}/discard", post(fleet::discard))
        .route(
            "/admin/fleet/candidates/{id}/promote",
            post(fleet::promote_form),
        )
        .route(
            "/admin/fleet/candidates/{id}/discard",
            post(fleet::discard_form),
        )
        .route("/admin/api/rulesets/{name}/retire", post(fleet::retire))
        .route(
            "/admin/fleet/rulesets/{name}/retire",
            post(fleet::retire_form),
        )
        .route_layer(middleware::from_fn(|request, next| {
            auth::at_least(auth::Role::Publisher, request, next)
        }));
    let protected = Router::new()
        .merge(seeing)
        .merge(authoring)
        .merge(publishing)
        .layer(middleware::from_fn_with_state(state.clone(), auth::require));
    Router::new()
        .route("/admin/login", get(auth::login_page).post(auth::login_post))
        // The stylesheet, script and icons: the same static bytes for everyone, served
        // without a login so the login and 401 pages look like the viewer.
        .route("/admin/assets/{*path}", get(assets::serve))
        .merge(protected)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::security_headers,
        ))
}

/// An error answered as a page: the status, headers and message of its JSON form
/// ([`ApiError`]), in the viewer's layout (the 401 page shows nothing but how to log in).
pub struct AsPage(pub ApiError);

impl IntoResponse for AsPage {
    fn into_response(self) -> Response {
        let error = self.0;
        let page = pages::failure(
            error.status(),
            &error.to_string(),
            matches!(error, ApiError::LogIn),
        );
        error.finish(page)
    }
}

impl From<ApiError> for AsPage {
    fn from(e: ApiError) -> AsPage {
        AsPage(e)
    }
}

async fn not_found(uri: axum::http::Uri) -> Response {
    let failure = ApiError::NotFound(format!(
        "nothing at {}; the log viewer is at /admin and its API at /admin/api/calls",
        uri.path()
    ));
    if uri.path().starts_with("/admin/api/") {
        failure.into_response()
    } else {
        AsPage(failure).into_response()
    }
}

/// Runs a store read on a blocking thread, in the caller's span.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| ApiError::Failed(format!("a log read panicked: {e}")))?
        .map_err(ApiError::from)
}

/// One page of the list.
async fn list_calls(state: &AppState, query: Query) -> Result<Page, ApiError> {
    let store = state.recorder.store().clone();
    blocking(move || store.list(&query)).await
}

/// One call, decoded.
async fn load_call(state: &AppState, id: &str) -> Result<Call, ApiError> {
    if !crate::ids::valid_id(id) {
        return Err(ApiError::NotFound(format!(
            "`{id}` is not a call id; call ids are the X-Lookout-Call-Id of an answer, as listed at /admin"
        )));
    }
    let store = state.recorder.store().clone();
    let key = id.to_string();
    let row = blocking(move || store.get(&key)).await?;
    let row = row.ok_or_else(|| {
        ApiError::NotFound(format!(
            "no call {id} in the log; it may not be written yet (retry in a second) or retention removed it"
        ))
    })?;
    row.decode().map_err(ApiError::from)
}

/// Events read per list page, at most, when the viewer filters by keys the store cannot
/// take together (container, vessel and port combined).
pub const EVENT_SCAN: usize = 5_000;
/// Events asked of the store at a time while filtering here.
const EVENT_BATCH: usize = 500;

/// One page of port events, newest first.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EventList {
    pub events: Vec<Event>,
    /// Pass as `before` for the next (older) page; `None` at the oldest event.
    pub next: Option<String>,
    /// When container, vessel and port were combined and the page stopped after
    /// [`EVENT_SCAN`] events: the sort time of the oldest event looked at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub searched_to: Option<i64>,
}

/// One page of the events list: the store finds events by one key; any other key given
/// (`search.also`) is checked here, on at most [`EVENT_SCAN`] events per page.
async fn list_events(
    state: &AppState,
    search: filters::EventSearch,
) -> Result<EventList, ApiError> {
    let store = state.recorder.store().clone();
    blocking(move || scan_events(store.as_ref(), &search, EVENT_BATCH, EVENT_SCAN)).await
}

/// [`list_events`] on `store`, asking it for `batch` events at a time and reading at most
/// about `budget` when keys are checked here.
fn scan_events(
    store: &dyn crate::store::Backend,
    search: &filters::EventSearch,
    batch: usize,
    budget: usize,
) -> Result<EventList, StoreError> {
    if search.also.is_empty() {
        let page = store.list_events(&search.query)?;
        return Ok(EventList {
            events: page.events,
            next: page.next,
            searched_to: None,
        });
    }
    let limit = search.query.limit;
    let mut query = search.query.clone();
    query.limit = batch;
    let mut found: Vec<Event> = Vec::new();
    let mut scanned = 0;
    loop {
        let page = store.list_events(&query)?;
        let oldest = page.events.last().map(Event::sort_at);
        for event in page.events {
            scanned += 1;
            let keys: Vec<Key> = event.keys();
            if !search.also.iter().all(|k| keys.contains(k)) {
                continue;
            }
            if found.len() == limit {
                // One more than the page: there is a next page, after the last shown.
                let next = crate::events::cursor(found.last().expect("a full page"));
                return Ok(EventList {
                    events: found,
                    next: Some(next),
                    searched_to: None,
                });
            }
            found.push(event);
        }
        match page.next {
            None => {
                return Ok(EventList {
                    events: found,
                    next: None,
                    searched_to: None,
                })
            }
            Some(next) if scanned >= budget => {
                return Ok(EventList {
                    events: found,
                    next: Some(next),
                    searched_to: oldest,
                })
            }
            Some(next) => query.before = Some(next),
        }
    }
}

/// One port event.
async fn load_event(state: &AppState, id: &str) -> Result<Event, ApiError> {
    if !crate::ids::valid_id(id) {
        return Err(ApiError::NotFound(format!(
            "`{id}` is not an event id; event ids are listed at /admin/events"
        )));
    }
    let store = state.recorder.store().clone();
    let key = id.to_string();
    blocking(move || store.get_event(&key))
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no event {id} in the log; retention may have removed it (see /admin/events)"
            ))
        })
}

/// Runs the rule set as it is on disk now on a recorded call.
async fn replay_call(state: &AppState, call: &Call) -> Result<Replayed, ApiError> {
    let ruleset = state.registry.get(&call.ruleset).ok_or_else(|| {
        ApiError::NotFound(format!(
            "rule set `{}` is not loaded now (its folder is gone or never compiled); put it back in {} to replay this call",
            call.ruleset,
            state.registry.root().display()
        ))
    })?;
    // A replay uses the rule pool like a live call: it waits its turn, never ahead of
    // the Estimator.
    let _permit = state.permits.try_acquire().map_err(|_| {
        ApiError::Unavailable(
            "lookout is busy answering the Estimator; retry the replay in a second".into(),
        )
    })?;
    // Port facts as they were when the call arrived.
    let store = Some(state.recorder.store().clone());
    let mut replayed = replay::replay_with(&state.pool, ruleset, call, store)
        .await
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if let Some(problems) = state.registry.problems().get(&call.ruleset) {
        let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
        replayed.caveats.push(format!(
            "the rule set does not compile now, so this replay used its last good version; fix: {}",
            listed.join("; ")
        ));
    }
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventQuery, Vessel};
    use crate::store::Backend;

    /// Event `n` of a test log: container `C{n % 3}`, vessel IMO 9000000 + n % 2, port
    /// NZAKL or NZTRG by n % 5, one minute apart (higher `n` is newer).
    fn event(n: i64) -> Event {
        Event {
            id: uuid::Uuid::now_v7().to_string(),
            received_at: 1_700_000_000_000_000 + n,
            source: "portconnect".into(),
            kind: "container".into(),
            event: "GATEIN".into(),
            known: true,
            at: None,
            occurred_at: Some(1_560_000_000_000_000 + n * 60_000_000),
            containers: vec![format!("CONT{}", n % 3)],
            vessels: vec![Vessel {
                imo: Some(9_000_000 + n % 2),
                name: None,
                role: "outbound".into(),
            }],
            ports: vec![if n % 5 == 0 { "NZTRG" } else { "NZAKL" }.into()],
            delivery: None,
            dedupe: format!("test:{n}"),
            payload: "{}".into(),
        }
    }

    #[test]
    fn combined_keys_page_through_every_match_once_and_stop_at_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::Sqlite::open(&dir.path().join("log.db")).unwrap();
        let events: Vec<Event> = (0..60).map(event).collect();
        store.write_events(&events).unwrap();
        let matches = |e: &Event| {
            e.containers[0] == "CONT1"
                && e.vessels[0].imo == Some(9_000_000)
                && e.ports[0] == "NZAKL"
        };
        let mut expected: Vec<&Event> = events.iter().filter(|e| matches(e)).collect();
        expected.sort_by_key(|e| std::cmp::Reverse(e.sort_at()));
        let search = filters::EventSearch {
            query: EventQuery {
                key: Some(Key::Container("CONT1".into())),
                limit: 3,
                ..EventQuery::default()
            },
            also: vec![Key::Imo(9_000_000), Key::Port("NZAKL".into())],
        };

        // Small batches, a budget never reached: every match once, newest first.
        let mut seen = Vec::new();
        let mut search_page = search.clone();
        loop {
            let page = scan_events(&store, &search_page, 4, 10_000).unwrap();
            assert!(page.events.len() <= 3);
            assert_eq!(page.searched_to, None);
            seen.extend(page.events.iter().map(|e| e.id.clone()));
            match page.next {
                Some(next) => search_page.query.before = Some(next),
                None => break,
            }
        }
        let ids: Vec<String> = expected.iter().map(|e| e.id.clone()).collect();
        assert_eq!(seen, ids);

        // A budget of 4 events (the container has 20): the page stops early, says how far
        // it looked, and its cursor continues from there.
        let page = scan_events(&store, &search, 4, 4).unwrap();
        let to = page.searched_to.expect("stopped at the budget");
        assert!(page.events.len() < 3, "{:?}", page.events);
        assert!(page.events.iter().all(|e| e.sort_at() >= to));
        let (at, _) = crate::events::parse_cursor(page.next.as_deref().unwrap()).unwrap();
        assert_eq!(at, to);
    }
}
