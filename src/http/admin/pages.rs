//! The viewer's pages, rendered on the server with askama (`templates/admin/`).
//!
//! `/admin` lists calls, `/admin/calls/{id}` shows one, `POST /admin/calls/{id}/replay`
//! replays it (the whole page without JavaScript; only the result when the page's script
//! asks with `X-Lookout-Fragment: 1`). `/admin/events` lists port events and
//! `/admin/events/{id}` shows one.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use super::auth::Auth;
use super::filters::{EventFilters, Filters};
use super::view::{self, Body, CallRow, Card, EventRow, FilterLink, ReplayView, RuleRow};
use super::AsPage;
use crate::events::{self, octopi, portconnect};
use crate::http::{ApiError, AppState, Query};
use crate::store::Call;

/// Statuses lookout answers `/hooks` with, for the status filter.
const STATUSES: &[(u16, &str)] = &[
    (200, "200 answered"),
    (400, "400 not JSON"),
    (401, "401 signature"),
    (404, "404 unknown rule set"),
    (413, "413 too large"),
    (503, "503 overloaded"),
];

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "admin/list.html")]
struct ListPage {
    csrf: String,
    /// Who is logged in, for the header: `vera (viewer)`.
    who: String,
    banner: Option<String>,
    /// Rule sets whose files on disk do not compile now.
    rules_banner: Option<String>,
    rulesets: Vec<Choice>,
    statuses: Vec<Choice>,
    problems: bool,
    q: String,
    since: String,
    until: String,
    any: bool,
    error: String,
    rows: Vec<CallRow>,
    next_url: String,
    searched_to: String,
}

#[derive(Template)]
#[template(path = "admin/call.html")]
struct CallPage {
    csrf: String,
    /// Who is logged in, for the header: `vera (viewer)`.
    who: String,
    banner: Option<String>,
    /// Rule sets whose files on disk do not compile now.
    rules_banner: Option<String>,
    id: String,
    status: u16,
    status_class: &'static str,
    ruleset: String,
    time: String,
    error: String,
    cards: Vec<Card>,
    summary: Vec<(&'static str, String)>,
    headers: Vec<(String, String)>,
    request: Body,
    response: Body,
    trace: Vec<RuleRow>,
    can_replay: bool,
    replay_note: String,
    can_save_test: bool,
    save_note: String,
    test_name: String,
    replay: Option<ReplayView>,
}

#[derive(Template)]
#[template(path = "admin/events.html")]
struct EventsPage {
    csrf: String,
    /// Who is logged in, for the header: `vera (viewer)`.
    who: String,
    banner: Option<String>,
    /// Rule sets whose files on disk do not compile now.
    rules_banner: Option<String>,
    sources: Vec<Choice>,
    event: String,
    event_names: Vec<String>,
    container: String,
    vessel: String,
    port: String,
    since: String,
    until: String,
    any: bool,
    error: String,
    rows: Vec<EventRow>,
    next_url: String,
    searched_to: String,
    /// When there are no events at all: where they come from, and whether intake is on.
    intake: String,
}

#[derive(Template)]
#[template(path = "admin/event.html")]
struct EventPage {
    csrf: String,
    /// Who is logged in, for the header: `vera (viewer)`.
    who: String,
    banner: Option<String>,
    /// Rule sets whose files on disk do not compile now.
    rules_banner: Option<String>,
    id: String,
    event: String,
    known: bool,
    source: String,
    time: String,
    summary: Vec<(&'static str, String)>,
    containers: Vec<FilterLink>,
    vessels: Vec<FilterLink>,
    ports: Vec<FilterLink>,
    payload: Body,
}

#[derive(Template)]
#[template(path = "admin/replay.html")]
struct ReplayFragment {
    replay: ReplayView,
}

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    message: String,
}

#[derive(Template)]
#[template(path = "admin/unauthorized.html")]
struct UnauthorizedPage {
    message: String,
}

#[derive(Template)]
#[template(path = "admin/failure.html")]
struct FailurePage {
    csrf: String,
    /// Who is logged in, for the header: `vera (viewer)`.
    who: String,
    banner: Option<String>,
    /// Rule sets whose files on disk do not compile now.
    rules_banner: Option<String>,
    status: u16,
    message: String,
}

pub(super) fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(text) => {
            let mut response = (status, text).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Err(e) => {
            tracing::error!("log viewer: a page did not render: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page did not render; the server's log has the details",
            )
                .into_response()
        }
    }
}

pub fn login(status: StatusCode, message: Option<String>) -> Response {
    html(
        status,
        &LoginPage {
            message: message.unwrap_or_default(),
        },
    )
}

/// The page of a failure. The 401 page loads nothing and says nothing but how to log in.
pub fn failure(status: StatusCode, message: &str, unauthorized: bool) -> Response {
    if unauthorized {
        return html(
            status,
            &UnauthorizedPage {
                message: message.to_string(),
            },
        );
    }
    html(
        status,
        &FailurePage {
            csrf: String::new(),
            who: String::new(),
            banner: None,
            rules_banner: None,
            status: status.as_u16(),
            message: message.to_string(),
        },
    )
}

/// The banner when calls were answered but not recorded, or the store is failing.
pub(super) fn banner(state: &AppState) -> Option<String> {
    let status = state.recorder.status();
    if status.dropped == 0 && !status.failing {
        return None;
    }
    let mut text = String::new();
    if status.dropped > 0 {
        text.push_str(&format!(
            "{} call{} answered but not recorded since this instance started ({} with the queue full, {} after failed writes). ",
            status.dropped,
            if status.dropped == 1 { " was" } else { "s were" },
            status.dropped_queue_full,
            status.dropped_store_error
        ));
    }
    if status.failing {
        text.push_str(&format!(
            "The log's store ({}) is failing now{}; calls are answered but may not be recorded until it recovers.",
            status.store,
            status
                .last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
    } else {
        text.push_str("Recording works again; the list has gaps for those calls.");
    }
    Some(text)
}

/// The banner when a rule set's files on disk do not compile: its calls are answered by
/// the last version that did (or refused, when none ever did).
pub(super) fn rules_banner(state: &AppState) -> Option<String> {
    let problems = state.registry.problems();
    if problems.is_empty() {
        return None;
    }
    let root = state.registry.root();
    let sets: Vec<String> = problems
        .iter()
        .map(|(name, list)| {
            let serving = if state.registry.get(name).is_some() {
                "its calls are answered by the last version that compiled"
            } else {
                "its calls are refused (503) until it compiles"
            };
            let first = list.first().map(|p| p.location(root)).unwrap_or_default();
            format!(
                "Rule set `{name}` does not compile on disk ({} problem{}, first at {first}); {serving}.",
                list.len(),
                if list.len() == 1 { "" } else { "s" }
            )
        })
        .collect();
    Some(format!(
        "{} `lookout check` shows every problem.",
        sets.join(" ")
    ))
}

/// `GET /admin/` goes to `/admin`.
pub async fn to_list() -> Redirect {
    Redirect::to("/admin")
}

/// What the page says of filters that do not read.
fn unreadable_filters(e: ApiError) -> String {
    let why = match e {
        ApiError::Query { why, .. } => why,
        other => other.to_string(),
    };
    format!("the filters are not readable ({why}); clear them and try again")
}

/// `GET /admin`: the calls, newest first, with the filters.
pub async fn list(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    query: Result<Query<Filters>, ApiError>,
) -> Result<Response, AsPage> {
    let (filters, mut error) = match query {
        Ok(Query(filters)) => (filters, String::new()),
        Err(e) => (Filters::default(), unreadable_filters(e)),
    };
    let mut known: Vec<String> = state
        .registry
        .all()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    known.extend(state.registry.problems().keys().cloned());
    known.sort();
    known.dedup();
    let chosen = filters.ruleset().to_string();
    if !chosen.is_empty() && !known.contains(&chosen) {
        known.push(chosen.clone());
    }
    let mut rulesets = vec![Choice {
        value: String::new(),
        label: "all".into(),
        selected: chosen.is_empty(),
    }];
    rulesets.extend(known.into_iter().map(|name| Choice {
        selected: name == chosen,
        label: name.clone(),
        value: name,
    }));
    let status = filters.status().to_string();
    let mut statuses = vec![Choice {
        value: String::new(),
        label: "any".into(),
        selected: status.is_empty(),
    }];
    statuses.extend(STATUSES.iter().map(|(code, label)| Choice {
        value: code.to_string(),
        label: label.to_string(),
        selected: status == code.to_string(),
    }));
    if !status.is_empty() && !STATUSES.iter().any(|(c, _)| c.to_string() == status) {
        statuses.push(Choice {
            value: status.clone(),
            label: status.clone(),
            selected: true,
        });
    }

    let mut rows = Vec::new();
    let mut next_url = String::new();
    let mut searched_to = String::new();
    if error.is_empty() {
        match filters.query(crate::clock::now_micros()) {
            Ok(query) => {
                let page = super::list_calls(&state, query).await?;
                rows = page.calls.iter().map(CallRow::from).collect();
                if let Some(next) = &page.next {
                    next_url = format!("/admin?{}", filters.to_query_string(Some(next)));
                }
                if let Some(to) = page.searched_to {
                    searched_to = view::time(to);
                }
            }
            Err(e) => error = e,
        }
    }
    let page = ListPage {
        csrf: auth.csrf().to_string(),
        who: who(&auth),
        banner: banner(&state),
        rules_banner: rules_banner(&state),
        rulesets,
        statuses,
        problems: filters.problems(),
        q: filters.q().to_string(),
        since: filters.since().to_string(),
        until: filters.until().to_string(),
        any: filters.any(),
        rows,
        next_url,
        searched_to,
        error: error.clone(),
    };
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok(html(status, &page))
}

/// `GET /admin/calls/{id}`.
pub async fn call(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> Result<Response, AsPage> {
    let call = super::load_call(&state, &id).await?;
    Ok(html(StatusCode::OK, &call_page(&state, &auth, &call, None)))
}

/// `POST /admin/calls/{id}/replay`: the call page with the replay's result, or only the
/// result for the page's script.
pub async fn replay(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AsPage> {
    let call = super::load_call(&state, &id).await?;
    let replay = match super::replay_call(&state, &call).await {
        Ok(replayed) => ReplayView::new(&replayed),
        Err(ApiError::Failed(detail)) => return Err(AsPage(ApiError::Failed(detail))),
        Err(failure) => ReplayView::failed(failure.to_string()),
    };
    if headers.get("x-lookout-fragment").is_some() {
        return Ok(html(StatusCode::OK, &ReplayFragment { replay }));
    }
    Ok(html(
        StatusCode::OK,
        &call_page(&state, &auth, &call, Some(replay)),
    ))
}

fn call_page(state: &AppState, auth: &Auth, call: &Call, replay: Option<ReplayView>) -> CallPage {
    let replay_note = if call.request_body.is_empty() {
        format!(
            "Answered {} before the rules ran: there is nothing to replay.",
            call.status
        )
    } else if call.request_truncated {
        format!(
            "Only the first {} of its {} bytes were kept (its signature did not pass): it cannot be replayed.",
            call.request_body.len(),
            call.request_size
        )
    } else {
        String::new()
    };
    let author = auth.user().role >= super::auth::Role::Author;
    let replay_note = match (replay_note.is_empty(), author) {
        (true, false) => format!(
            "Replaying needs the author role; {} is a {}.",
            auth.user().name,
            auth.user().role.as_str()
        ),
        _ => replay_note,
    };
    let (can_save_test, save_note) = match super::testfile::build(call) {
        Ok(_) if !author => (
            false,
            "saving a rule test needs the author role".to_string(),
        ),
        Ok(_) => (true, String::new()),
        Err(e) => (false, e),
    };
    CallPage {
        csrf: auth.csrf().to_string(),
        who: who(auth),
        banner: banner(state),
        rules_banner: rules_banner(state),
        id: call.id.clone(),
        status: call.status,
        status_class: match call.status {
            200 => "ok",
            400..=499 => "refused",
            _ => "failed",
        },
        ruleset: call.ruleset.clone(),
        time: view::time(call.received_at),
        error: call.error.clone().unwrap_or_default(),
        cards: view::cards(call),
        summary: view::summary(call),
        headers: call.request_headers.clone(),
        request: Body::new(
            &call.request_body,
            format!("/admin/api/calls/{}/request-body", call.id),
        ),
        response: Body::new(
            &call.response_body,
            format!("/admin/api/calls/{}/response-body", call.id),
        ),
        trace: call.rules.iter().map(RuleRow::from).collect(),
        can_replay: replay_note.is_empty(),
        replay_note,
        can_save_test,
        save_note,
        test_name: format!("call-{}.json", call.id),
        replay,
    }
}

/// Event names for the filter's suggestions: Octopi's documented events and
/// PortConnect's codes, in their canonical form.
fn event_names() -> Vec<String> {
    let mut names: Vec<String> = octopi::EVENTS
        .iter()
        .map(|e| events::canonical_event(e))
        .collect();
    for code in portconnect::CONTAINER_EVENTS
        .iter()
        .chain(portconnect::VESSEL_EVENTS)
    {
        if !names.iter().any(|n| n == code) {
            names.push(code.to_string());
        }
    }
    names
}

/// Where events come from, for an empty list.
fn intake(state: &AppState) -> String {
    let settings = &state.config.events;
    let on = |yes: bool| if yes { "on" } else { "off" };
    format!(
        "Port events arrive at POST /events/octopi (intake {}: [events.octopi] secrets or LOOKOUT_OCTOPI_SECRET) and POST /events/portconnect (intake {}: [events.portconnect] tokens or LOOKOUT_PORTCONNECT_TOKEN).",
        on(!settings.octopi.secrets.is_empty()),
        on(!settings.portconnect_tokens.is_empty()),
    )
}

/// `GET /admin/events`: the port events, newest first, with the filters.
pub async fn events(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    query: Result<Query<EventFilters>, ApiError>,
) -> Result<Response, AsPage> {
    let (filters, mut error) = match query {
        Ok(Query(filters)) => (filters, String::new()),
        Err(e) => (EventFilters::default(), unreadable_filters(e)),
    };
    let chosen = filters.source().to_string();
    let mut sources = vec![Choice {
        value: String::new(),
        label: "all".into(),
        selected: chosen.is_empty(),
    }];
    sources.extend(events::SOURCES.iter().map(|s| Choice {
        value: s.to_string(),
        label: s.to_string(),
        selected: chosen.eq_ignore_ascii_case(s),
    }));
    if !chosen.is_empty()
        && !events::SOURCES
            .iter()
            .any(|s| chosen.eq_ignore_ascii_case(s))
    {
        sources.push(Choice {
            value: chosen.clone(),
            label: chosen.clone(),
            selected: true,
        });
    }

    let mut rows = Vec::new();
    let mut next_url = String::new();
    let mut searched_to = String::new();
    if error.is_empty() {
        match filters.search(crate::clock::now_micros()) {
            Ok(search) => {
                let list = super::list_events(&state, search).await?;
                rows = list.events.iter().map(EventRow::from).collect();
                if let Some(next) = &list.next {
                    next_url = format!("/admin/events?{}", filters.to_query_string(Some(next)));
                }
                if let Some(to) = list.searched_to {
                    searched_to = view::time(to);
                }
            }
            Err(e) => error = e,
        }
    }
    let page = EventsPage {
        csrf: auth.csrf().to_string(),
        who: who(&auth),
        banner: banner(&state),
        rules_banner: rules_banner(&state),
        sources,
        event: filters.event().to_string(),
        event_names: event_names(),
        container: filters.container().to_string(),
        vessel: filters.vessel().to_string(),
        port: filters.port().to_string(),
        since: filters.since().to_string(),
        until: filters.until().to_string(),
        any: filters.any(),
        intake: if rows.is_empty() && !filters.any() && error.is_empty() {
            intake(&state)
        } else {
            String::new()
        },
        rows,
        next_url,
        searched_to,
        error: error.clone(),
    };
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok(html(status, &page))
}

/// `GET /admin/events/{id}`.
pub async fn event(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> Result<Response, AsPage> {
    let event = super::load_event(&state, &id).await?;
    let page = EventPage {
        csrf: auth.csrf().to_string(),
        who: who(&auth),
        banner: banner(&state),
        rules_banner: rules_banner(&state),
        id: event.id.clone(),
        event: event.event.clone(),
        known: event.known,
        source: event.source.clone(),
        time: event
            .at
            .clone()
            .unwrap_or_else(|| format!("received {}", view::time(event.received_at))),
        summary: view::event_summary(&event),
        containers: FilterLink::containers(&event),
        vessels: FilterLink::vessels(&event),
        ports: FilterLink::ports(&event),
        payload: Body::new(
            event.payload.as_bytes(),
            format!("/admin/api/events/{}", event.id),
        ),
    };
    Ok(html(StatusCode::OK, &page))
}

/// `apatel (author)`: who the page is for, in its header.
pub(super) fn who(auth: &Auth) -> String {
    let user = auth.user();
    format!("{} ({})", user.name, user.role.as_str())
}

pub struct RuleSetRow {
    name: String,
    detail: String,
    problem: String,
}

#[derive(Template)]
#[template(path = "admin/rules.html")]
struct RulesPage {
    csrf: String,
    who: String,
    banner: Option<String>,
    rules_banner: Option<String>,
    sets: Vec<RuleSetRow>,
}

/// `GET /admin/rules`: the rule sets, each a link to its workbench.
pub async fn rules(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> Response {
    let problems = state.registry.problems();
    let mut sets: Vec<RuleSetRow> = state
        .registry
        .all()
        .iter()
        .map(|set| RuleSetRow {
            name: set.name.clone(),
            detail: format!(
                "{} rule{}, version {}",
                set.rules.len(),
                if set.rules.len() == 1 { "" } else { "s" },
                set.version
            ),
            problem: problems
                .get(&set.name)
                .map(|p| format!("its files on disk do not compile ({} problems)", p.len()))
                .unwrap_or_default(),
        })
        .collect();
    sets.sort_by(|a, b| a.name.cmp(&b.name));
    html(
        StatusCode::OK,
        &RulesPage {
            csrf: auth.csrf().to_string(),
            who: who(&auth),
            banner: banner(&state),
            rules_banner: rules_banner(&state),
            sets,
        },
    )
}

#[derive(Template)]
#[template(path = "admin/workbench.html")]
struct WorkbenchPage {
    csrf: String,
    who: String,
    banner: Option<String>,
    rules_banner: Option<String>,
    ruleset: String,
    version: String,
    role: &'static str,
    can_publish: bool,
    activity: Vec<super::activity::Row>,
    /// Why the activity is not shown (the store could not be read).
    activity_problem: Option<String>,
}

/// `GET /admin/rules/{name}`: the workbench for one rule set (its script does the rest
/// through the JSON API).
pub async fn workbench(
    State(state): State<AppState>,
    Extension(auth): Extension<Auth>,
    Path(name): Path<String>,
) -> Result<Response, AsPage> {
    let set = state.registry.get(&name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no rule set `{name}` is served here; the workbench edits rule sets that are live"
        ))
    })?;
    let live: Vec<String> = set.rules.iter().map(|r| r.id.clone()).collect();
    let (activity, activity_problem) = match super::activity::of(&state, &name).await {
        Ok(figures) => (super::activity::rows(&figures, &live), None),
        Err(e) => (
            Vec::new(),
            Some(format!("The activity cannot be read now: {e}")),
        ),
    };
    Ok(html(
        StatusCode::OK,
        &WorkbenchPage {
            activity,
            activity_problem,
            csrf: auth.csrf().to_string(),
            who: who(&auth),
            banner: banner(&state),
            rules_banner: rules_banner(&state),
            ruleset: set.name.clone(),
            version: set.version.clone(),
            role: auth.user().role.as_str(),
            can_publish: auth.user().role >= super::auth::Role::Publisher,
        },
    ))
}
