//! The log viewer (`/admin`) and its JSON API over real HTTPS: the admin token and its
//! file, login and the session cookie, Bearer, CSRF, security headers, the list's filters
//! and paging, a call's page, replay after a rule edit, "save as rule test" passing
//! `lookout test`, and the port events' list, filters, paging and event page.

use std::path::Path;
use std::time::Duration;

use crate::common::*;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

const TOKEN: &str = "admin-test-token-3f9c1e7a5b2d4f6e8a0c";
const KEY: &str = "admin-test-api-key-7d2e9b4c1a6f3e8d5b0a";
const KEY_ENV: &str = "LOOKOUT_TEST_ADMIN_SIGNED_KEY";
/// The PortConnect subscription's webhookToken and Octopi's shared secret.
const PORTCONNECT_TOKEN: &str = "admin-test-portconnect-token-5a8e1c3f";
const OCTOPI_SECRET: &str = "admin-test-octopi-secret-9b4d7e2a";

const BUNKERS_RULE: &str = r#"// LSF on board when leaving the first port.
let qty = get(estimate, "estimateItineraries[0].voyageEstimateBunkers[0].departureQty", 0);
print(`LSF on board: ${qty}`);
if qty < 175 {
    error("LSF on board leaving SANTOS is short of the 175 t needed")
        .field("On board (t)", qty)
        .field("Needed (t)", 175)
        .link("https://desk.example.com/bunkers")
        .mutation(#{ estimateItineraries: #{ voyageEstimateBunkers: [#{ fuelType: "LSF", departureQty: 175 }] } })
        .key("lsf");
}
"#;

const SPEED_RULE: &str = r#"let speed = estimate.speed ?? 0;
if speed > 12.5 {
    warning("Laden speed is above the charter party warranty").key("speed");
}
"#;

const BOOM_RULE: &str =
    "let asked = estimate.boom ?? false;\nif asked { let x = 1; x.no_such_method(); }\n";

/// `desk` (three rules, one fails on request), `other` (one info card) and `signed`
/// (needs a signature).
async fn viewer() -> TestApp {
    std::env::set_var(KEY_ENV, KEY);
    spawn_app_with(
        &[
            (
                "desk",
                &[
                    ("ruleset.toml", "identity = [\"/estimateID\"]\n"),
                    ("bunkers.rhai", BUNKERS_RULE),
                    ("speed.rhai", SPEED_RULE),
                    ("boom.rhai", BOOM_RULE),
                ],
            ),
            ("other", &[("hello.rhai", "info(\"hello from other\");\n")]),
            (
                "signed",
                &[
                    ("ruleset.toml", &format!("api_keys = [\"env:{KEY_ENV}\"]\n")),
                    ("hello.rhai", "info(\"signed hello\");\n"),
                ],
            ),
        ],
        |c| {
            c.admin_token = Some(lookout::secrets::AdminToken::new(TOKEN));
            c.events.portconnect_tokens = vec![lookout::signature::ApiKey::new(PORTCONNECT_TOKEN)];
            c.events.octopi.secrets = vec![lookout::signature::ApiKey::new(OCTOPI_SECRET)];
        },
    )
    .await
}

fn estimate(id: &str, vessel: &str, extra: Value) -> Vec<u8> {
    let mut e = json!({
        "estimateID": id,
        "vesselName": vessel,
        "speed": 13.0,
        "estimateItineraries": [
            {"portName": "SANTOS", "voyageEstimateBunkers": [{"fuelType": "LSF", "departureQty": 150}]}
        ]
    });
    e.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::to_vec_pretty(&e).unwrap()
}

/// Sends a call and waits until it is in the log; returns its id.
async fn send(app: &TestApp, ruleset: &str, body: &[u8], key: Option<&str>) -> String {
    let response = app.post_hook(ruleset, body, key).await;
    let id = call_id(&response);
    app.recorded(&id).await;
    id
}

/// Sends a call as the Estimator does (JSON content type, an IMOS config flag header) and
/// waits until it is in the log; returns its id.
async fn send_as_imos(app: &TestApp, ruleset: &str, body: &[u8]) -> String {
    let response = app
        .client
        .post(app.url(&format!("/hooks/{ruleset}")))
        .header("content-type", "application/json; charset=utf-8")
        .header("x-imos-user", "apatel")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = call_id(&response);
    app.recorded(&id).await;
    id
}

/// What a request carries to prove who it is.
#[derive(Clone, Copy)]
enum As<'a> {
    Nobody,
    Bearer(&'a str),
    Cookie(&'a str),
}

async fn request(
    app: &TestApp,
    method: Method,
    path: &str,
    who: As<'_>,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = plain_client(app).request(method, app.url(path));
    match who {
        As::Nobody => {}
        As::Bearer(token) => request = request.bearer_auth(token),
        As::Cookie(value) => {
            request = request.header(header::COOKIE, format!("lookout_admin={value}"))
        }
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn get(app: &TestApp, path: &str, who: As<'_>) -> reqwest::Response {
    request(app, Method::GET, path, who, &[]).await
}

async fn api(app: &TestApp, path: &str) -> Value {
    let response = get(app, path, As::Bearer(TOKEN)).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// Logs in with the token and returns the session cookie's value.
async fn log_in(app: &TestApp) -> String {
    log_in_with(app, TOKEN).await
}

/// Posts the login form with `token` as a browser on the viewer's own page does; returns
/// the session cookie's value.
async fn log_in_with(app: &TestApp, token: &str) -> String {
    let response = post_login(app, token).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    cookie_value(&response)
}

async fn post_login(app: &TestApp, token: &str) -> reqwest::Response {
    plain_client(app)
        .post(app.url("/admin/login"))
        .header("origin", origin(app))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", FORM)
        .body(form(&[("token", token)]))
        .send()
        .await
        .unwrap()
}

/// Logs the session `cookie` out through the viewer's button.
async fn log_out(app: &TestApp, cookie: &str) {
    let token = csrf(app, cookie).await;
    let out = plain_client(app)
        .post(app.url("/admin/logout"))
        .header(header::COOKIE, format!("lookout_admin={cookie}"))
        .header("origin", origin(app))
        .header("content-type", FORM)
        .body(form(&[("csrf", token.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers()[header::LOCATION], "/admin/login");
}

fn cookie_value(response: &reqwest::Response) -> String {
    let set = response.headers()[header::SET_COOKIE].to_str().unwrap();
    let (pair, _) = set.split_once(';').unwrap();
    pair.strip_prefix("lookout_admin=").unwrap().to_string()
}

/// The CSRF token the pages of this session carry.
async fn csrf(app: &TestApp, cookie: &str) -> String {
    let html = get(app, "/admin", As::Cookie(cookie))
        .await
        .text()
        .await
        .unwrap();
    let re = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap();
    re.captures(&html).expect("the page carries a CSRF token")[1].to_string()
}

const FORM: &str = "application/x-www-form-urlencoded";

/// A form's body.
fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// A page's HTML (as a Bearer client), with askama's character references turned back
/// into the characters, so tests can look for text as it reads.
async fn page(app: &TestApp, path: &str) -> String {
    let html = get(app, path, As::Bearer(TOKEN))
        .await
        .text()
        .await
        .unwrap();
    unescape(&html)
}

fn unescape(html: &str) -> String {
    html.replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

/// The call ids of the list's rows, in order.
fn row_ids(html: &str) -> Vec<String> {
    let re = regex::Regex::new(r#"<tr class="call [^"]*" data-id="([0-9a-f-]+)""#).unwrap();
    re.captures_iter(html).map(|c| c[1].to_string()).collect()
}

fn ids_of(page: &Value) -> Vec<String> {
    page["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

fn origin(app: &TestApp) -> String {
    format!("https://localhost:{}", app.addr.port())
}

#[track_caller]
fn assert_security_headers(response: &reqwest::Response, what: &str) {
    let h = response.headers();
    let csp = h
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"))
        .to_str()
        .unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: CSP lacks {directive}: {csp}"
        );
    }
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        // [http] hsts_max_age_days's default, 365 days.
        ("strict-transport-security", "max-age=31536000"),
    ] {
        assert_eq!(
            h.get(name).map(|v| v.to_str().unwrap()),
            Some(value),
            "{what}: {name}"
        );
    }
}

/// `[http] hsts_max_age_days = 0` sends no Strict-Transport-Security header; the
/// webhook's answers never carry one (IMOS is no browser).
#[tokio::test]
async fn hsts_is_configurable_and_only_on_the_viewer() {
    let app = spawn_app_with(&[("desk", &[("speed.rhai", SPEED_RULE)])], |c| {
        c.http.hsts_max_age = None;
    })
    .await;
    let login = app.get("/admin/login").await;
    assert_eq!(login.status(), 200);
    assert!(login.headers().get("strict-transport-security").is_none());
    let app = spawn_app(&[("desk", &[("speed.rhai", SPEED_RULE)])]).await;
    let login = app.get("/admin/login").await;
    assert_eq!(
        login.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let hook = app
        .post_hook(
            "desk",
            &estimate("EST-HSTS", "ANNA", json!({"speed": 10})),
            None,
        )
        .await;
    assert_eq!(hook.status(), 200);
    assert!(hook.headers().get("strict-transport-security").is_none());
}

#[tokio::test]
async fn every_admin_path_is_401_without_the_token_and_shows_nothing() {
    let app = viewer().await;
    let id = send(
        &app,
        "desk",
        &estimate("EST-SECRET-7", "Ocean Star", json!({})),
        None,
    )
    .await;
    post_events(&app, &portconnect_doc_example()).await;
    let listed = api(&app, "/admin/api/events").await;
    let event = listed["events"][0]["id"].as_str().unwrap().to_string();
    let forged = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let paths: Vec<(Method, String)> = vec![
        (Method::GET, "/admin/events".into()),
        (Method::GET, "/admin/events?container=APHU6303593".into()),
        (Method::GET, format!("/admin/events/{event}")),
        (Method::GET, "/admin/api/events".into()),
        (Method::GET, "/admin/api/events?vessel=9628336".into()),
        (Method::GET, format!("/admin/api/events/{event}")),
        (Method::GET, "/admin".into()),
        (Method::GET, "/admin/".into()),
        (Method::GET, "/admin?ruleset=desk".into()),
        (Method::GET, format!("/admin/calls/{id}")),
        (Method::POST, format!("/admin/calls/{id}/replay")),
        (Method::GET, "/admin/api/calls".into()),
        (Method::GET, format!("/admin/api/calls/{id}")),
        (Method::GET, format!("/admin/api/calls/{id}/request-body")),
        (Method::POST, format!("/admin/api/calls/{id}/replay")),
        (Method::GET, format!("/admin/api/calls/{id}/test")),
        (Method::GET, "/admin/api/status".into()),
        (Method::POST, "/admin/logout".into()),
        (Method::GET, "/admin/no-such-page".into()),
        (Method::DELETE, "/admin".into()),
    ];
    let visitors = [
        (As::Nobody, "no credentials"),
        (
            As::Bearer("admin-test-token-wrong-0000000000000"),
            "a wrong Bearer token",
        ),
        (As::Bearer(""), "an empty Bearer token"),
        (As::Cookie(forged), "a forged session cookie"),
        (As::Cookie(TOKEN), "the token itself as the cookie"),
    ];
    for (method, path) in &paths {
        for (who, why) in visitors {
            let response = request(&app, method.clone(), path, who, &[]).await;
            let what = format!("{method} {path} with {why}");
            assert_eq!(response.status(), 401, "{what}");
            assert_security_headers(&response, &what);
            let json = path.starts_with("/admin/api/");
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(
                content_type.starts_with(if json {
                    "application/json"
                } else {
                    "text/html"
                }),
                "{what}: {content_type}"
            );
            let body = response.text().await.unwrap();
            for secret in [
                "EST-SECRET-7",
                "Ocean Star",
                id.as_str(),
                "desk",
                "LSF",
                event.as_str(),
                "APHU6303593",
                "KOTA LOCENG",
                "NZAKL",
            ] {
                assert!(!body.contains(secret), "{what} shows {secret}: {body}");
            }
            assert!(
                body.contains("/admin/login"),
                "{what} says how to log in: {body}"
            );
        }
    }
    // The login page is served to anyone, and shows nothing either.
    let login = get(&app, "/admin/login", As::Nobody).await;
    assert_eq!(login.status(), 200);
    assert_security_headers(&login, "the login page");
    let html = login.text().await.unwrap();
    for secret in ["EST-SECRET-7", "Ocean Star", id.as_str(), TOKEN] {
        assert!(!html.contains(secret), "the login page shows {secret}");
    }
    for part in [r#"id="login-form""#, r#"name="token""#, r#"id="login""#] {
        assert!(html.contains(part), "the login page lacks {part}");
    }
    // It is styled like the viewer: its static assets are served to anyone (the same
    // bytes for everyone, nothing of the log in them), with the same security headers.
    assert!(
        html.contains(r#"<link rel="stylesheet" href="/admin/assets/admin.css">"#),
        "{html}"
    );
    for asset in ["admin.css", "icons/lookout.svg"] {
        let response = get(&app, &format!("/admin/assets/{asset}"), As::Nobody).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert_security_headers(&response, asset);
        let body = response.text().await.unwrap();
        for secret in ["EST-SECRET-7", "Ocean Star", id.as_str(), TOKEN] {
            assert!(!body.contains(secret), "{asset} shows {secret}");
        }
    }
    let refused = get(&app, "/admin", As::Nobody).await.text().await.unwrap();
    assert!(
        refused.contains(r#"href="/admin/assets/admin.css""#),
        "the 401 page is styled: {refused}"
    );
}

#[tokio::test]
async fn a_token_file_is_made_private_on_first_start_and_reused_after_a_restart() {
    use std::os::unix::fs::PermissionsExt;
    std::env::remove_var("LOOKOUT_ADMIN_TOKEN");
    let shared = tempfile::tempdir().unwrap();
    let data = shared.path().join("data");
    let first = spawn_app_with(&[], |c| c.data = data.clone()).await;
    let file = data.join("admin-token");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the token file is readable only by lookout's user"
    );
    let token = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert_eq!(token.len(), 43, "32 random bytes, URL-safe base64: {token}");
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));

    let login = |app: &TestApp, token: String| {
        let (app_url, origin) = (app.url("/admin/login"), origin(app));
        let client = plain_client(app);
        async move {
            client
                .post(app_url)
                .header("origin", origin)
                .header("content-type", FORM)
                .body(form(&[("token", token.as_str())]))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(login(&first, token.clone()).await, StatusCode::SEE_OTHER);
    first.stopper.stop();
    first.server.await.unwrap().unwrap();

    let second = spawn_app_with(&[], |c| c.data = data.clone()).await;
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        token,
        "a restart reads the token it made, it does not make another"
    );
    assert_eq!(login(&second, token.clone()).await, StatusCode::SEE_OTHER);
    assert_eq!(
        login(&second, format!("{token}x")).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logging_in_sets_a_strict_session_cookie_that_is_not_the_token() {
    let app = viewer().await;
    let wrong = post_login(&app, "admin-test-token-wrong-00000").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get(header::SET_COOKIE).is_none());
    assert_security_headers(&wrong, "a refused login");

    let code = app.state.admin.login_code().unwrap();
    let by_link = get(&app, &format!("/admin/login?code={code}"), As::Nobody).await;
    let by_form = plain_client(&app)
        .post(app.url("/admin/login"))
        .header("origin", origin(&app))
        .header("sec-fetch-site", "same-origin")
        .header("content-type", FORM)
        .body(form(&[("token", TOKEN)]))
        .send()
        .await
        .unwrap();
    for (response, how) in [(&by_link, "the login link"), (&by_form, "the login form")] {
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{how}");
        assert_eq!(response.headers()[header::LOCATION], "/admin", "{how}");
        let set = response.headers()[header::SET_COOKIE].to_str().unwrap();
        assert!(set.starts_with("lookout_admin="), "{how}: {set}");
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/admin"] {
            assert!(
                set.split("; ").any(|a| a == attribute),
                "{how}: no {attribute} in {set}"
            );
        }
        let value = cookie_value(response);
        assert!(
            value.len() > 20 && value != TOKEN && !value.contains(TOKEN) && !value.contains(&code),
            "{how}: {value}"
        );
    }
    assert_ne!(
        cookie_value(&by_link),
        cookie_value(&by_form),
        "each login is its own session"
    );

    let cookie = cookie_value(&by_form);
    let list = get(&app, "/admin", As::Cookie(&cookie)).await;
    assert_eq!(list.status(), 200);
    assert!(list.text().await.unwrap().contains(r#"id="calls""#));

    // A login form posted from another site is refused.
    let cross = plain_client(&app)
        .post(app.url("/admin/login"))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .header("content-type", FORM)
        .body(form(&[("token", TOKEN)]))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    assert!(cross.headers().get(header::SET_COOKIE).is_none());

    // Logging out ends the session: the old cookie is refused afterwards.
    let token = csrf(&app, &cookie).await;
    let out = plain_client(&app)
        .post(app.url("/admin/logout"))
        .header(header::COOKIE, format!("lookout_admin={cookie}"))
        .header("origin", origin(&app))
        .header("content-type", FORM)
        .body(form(&[("csrf", token.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers()[header::LOCATION], "/admin/login");
    assert!(out.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(get(&app, "/admin", As::Cookie(&cookie)).await.status(), 401);
}

/// The login page's message, as it reads.
async fn login_message(response: reqwest::Response) -> String {
    let html = unescape(&response.text().await.unwrap());
    let re =
        regex::Regex::new(r#"<p class="banner" role="alert"><strong>([^<]*)</strong>"#).unwrap();
    re.captures(&html)
        .unwrap_or_else(|| panic!("the login page has no message: {html}"))[1]
        .to_string()
}

#[tokio::test]
async fn a_login_link_logs_in_once_and_not_after_it_expires() {
    let app = viewer().await;
    let code = app.state.admin.login_code().unwrap();
    let link = format!("/admin/login?code={code}");

    let first = get(&app, &link, As::Nobody).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(first.headers()[header::LOCATION], "/admin");
    assert_security_headers(&first, "a login by link");
    let cookie = cookie_value(&first);
    assert!(
        !cookie.contains(&code) && !cookie.contains(TOKEN),
        "{cookie}"
    );
    let list = get(&app, "/admin", As::Cookie(&cookie)).await;
    assert_eq!(list.status(), 200);

    // The same link again: the login page, saying why, and no session.
    let again = get(&app, &link, As::Nobody).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert!(again.headers().get(header::SET_COOKIE).is_none());
    assert_security_headers(&again, "a used login link");
    let message = login_message(again).await;
    assert!(message.contains("already used"), "{message}");
    assert!(message.contains("paste the admin token"), "{message}");

    // A link past its lifetime (shortened here from 15 minutes).
    app.state
        .admin
        .set_login_code_lifetime(Duration::from_millis(300));
    let late = app.state.admin.login_code().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let expired = get(&app, &format!("/admin/login?code={late}"), As::Nobody).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    assert!(expired.headers().get(header::SET_COOKIE).is_none());
    let message = login_message(expired).await;
    assert!(message.contains("expired"), "{message}");

    // A code this server never made, and the token passed off as a code.
    for unknown in ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", TOKEN] {
        let response = get(&app, &format!("/admin/login?code={unknown}"), As::Nobody).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{unknown}");
        assert!(response.headers().get(header::SET_COOKIE).is_none());
        let message = login_message(response).await;
        assert!(message.contains("unknown here"), "{message}");
        assert!(!message.contains(unknown), "{message}");
    }
}

#[tokio::test]
async fn the_token_in_a_get_query_string_logs_nobody_in_and_is_not_echoed() {
    let app = viewer().await;
    for path in [
        format!("/admin/login?token={TOKEN}"),
        format!("/admin/login?code=x&token={TOKEN}"),
        format!("/admin/login?token={TOKEN}&token={TOKEN}"),
    ] {
        let response = get(&app, &path, As::Nobody).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            response.headers().get(header::SET_COOKIE).is_none(),
            "{path}"
        );
        assert_security_headers(&response, &path);
        let html = response.text().await.unwrap();
        assert!(!html.contains(TOKEN), "{path} echoes the token: {html}");
        assert!(html.contains(r#"id="login-form""#), "{path}: {html}");
        let message = unescape(&html);
        assert!(
            message.contains("not accepted in a link") && message.contains("paste"),
            "{path}: {message}"
        );
    }
    // The form still takes it.
    let cookie = log_in(&app).await;
    assert_eq!(get(&app, "/admin", As::Cookie(&cookie)).await.status(), 200);
}

#[tokio::test]
async fn a_logout_is_remembered_after_a_restart() {
    let shared = tempfile::tempdir().unwrap();
    let data = shared.path().join("data");
    let boot = || {
        let data = data.clone();
        spawn_app_with(&[], move |c| {
            c.data = data;
            c.admin_token = Some(lookout::secrets::AdminToken::new(TOKEN));
        })
    };
    let first = boot().await;
    let ended = log_in(&first).await;
    let kept = log_in(&first).await;
    log_out(&first, &ended).await;
    assert_eq!(
        get(&first, "/admin", As::Cookie(&ended)).await.status(),
        401
    );
    assert_eq!(get(&first, "/admin", As::Cookie(&kept)).await.status(), 200);
    first.stopper.stop();
    first.server.await.unwrap().unwrap();

    // The same data folder and store: the logged-out session stays out, the other in.
    let second = boot().await;
    let after = get(&second, "/admin", As::Cookie(&ended)).await;
    assert_eq!(after.status(), 401, "a logout survives the restart");
    assert_eq!(
        get(&second, "/admin/api/calls", As::Cookie(&ended))
            .await
            .status(),
        401
    );
    assert_eq!(
        get(&second, "/admin", As::Cookie(&kept)).await.status(),
        200
    );
    // And what /readyz tells an admin follows the same sessions.
    let readyz = |cookie: String| {
        let client = plain_client(&second);
        let url = second.url("/readyz");
        async move {
            client
                .get(url)
                .header(header::COOKIE, format!("lookout_admin={cookie}"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert!(
        readyz(kept.clone()).await["rulesets"].is_object(),
        "the admin's view"
    );
    assert!(
        readyz(ended.clone()).await["rulesets"].is_number(),
        "anyone's view"
    );
}

/// The real binary's first start, as an operator sees it: stderr (the log lines
/// included, at debug level) shows a one-time login link and where the token is, and
/// never the token, not even after the token was sent in a URL.
#[tokio::test]
async fn the_first_start_prints_a_one_time_login_link_and_never_the_token() {
    use std::process::{Command, Stdio};
    lookout::tls::install_provider();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    let port = free_port();
    let log = dir.path().join("serve.log");
    let server = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("LOOKOUT_ADMIN_TOKEN")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let guard = Kill(server);
    let stderr = || std::fs::read_to_string(&log).unwrap_or_default();
    let link_re =
        regex::Regex::new(r"https://localhost:(\d+)/admin/login\?code=([A-Za-z0-9_-]{43})\b")
            .unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while !link_re.is_match(&stderr()) || !dir.path().join("certs/ca.pem").is_file() {
        assert!(
            std::time::Instant::now() < until,
            "no login link on stderr in 30 s:\n{}",
            stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = client_for(&dir.path().join("certs/ca.pem"));
    wait_ready(&client, port).await;
    let printed = stderr();
    let found = link_re.captures(&printed).unwrap();
    assert_eq!(found[1].parse::<u16>().unwrap(), port);
    let (link, code) = (found[0].to_string(), found[2].to_string());
    let token = std::fs::read_to_string(dir.path().join("data/admin-token"))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        printed.contains("data/admin-token"),
        "stderr says where the token is:\n{printed}"
    );
    assert_eq!(
        printed.matches(&code).count(),
        1,
        "the link is printed once, and not in the log lines:\n{printed}"
    );

    let plain = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            &std::fs::read(dir.path().join("certs/ca.pem")).unwrap(),
        )
        .unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let first = plain.get(&link).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(first.headers()[header::LOCATION], "/admin");
    let cookie = cookie_value(&first);
    assert!(!cookie.contains(&token));
    let list = plain
        .get(format!("https://localhost:{port}/admin"))
        .header(header::COOKIE, format!("lookout_admin={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let again = plain.get(&link).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert!(again.headers().get(header::SET_COOKIE).is_none());

    // The token in a URL logs nobody in and is not written anywhere.
    let by_url = plain
        .get(format!(
            "https://localhost:{port}/admin/login?token={token}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(by_url.status(), StatusCode::UNAUTHORIZED);
    assert!(by_url.headers().get(header::SET_COOKIE).is_none());
    assert!(!by_url.text().await.unwrap().contains(&token));
    // A Bearer call, for the log lines it makes.
    let bearer = plain
        .get(format!("https://localhost:{port}/admin/api/status"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);

    drop(guard);
    let all = stderr();
    let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    assert!(
        !all.contains(&token) && !all.contains(&encoded),
        "the admin token is in lookout's output:\n{all}"
    );
}

#[tokio::test]
async fn the_api_takes_a_bearer_token() {
    let app = viewer().await;
    let id = send(
        &app,
        "desk",
        &estimate("EST-1", "Ocean Star", json!({})),
        None,
    )
    .await;
    let page = api(&app, "/admin/api/calls").await;
    assert_eq!(ids_of(&page), vec![id.clone()]);
    let call = api(&app, &format!("/admin/api/calls/{id}")).await;
    assert_eq!(call["ruleset"], "desk");
    assert_eq!(call["rules"].as_array().unwrap().len(), 3);
    let status = api(&app, "/admin/api/status").await;
    assert_eq!(status["recorder"]["dropped"], 0);
    assert_eq!(status["store"]["calls"], 1);
    let raw = get(
        &app,
        &format!("/admin/api/calls/{id}/request-body"),
        As::Bearer(TOKEN),
    )
    .await;
    assert_eq!(
        raw.bytes().await.unwrap().as_ref(),
        estimate("EST-1", "Ocean Star", json!({})).as_slice(),
        "the exact bytes received"
    );

    for (header_value, why) in [
        (format!("Bearer {TOKEN}x"), "a longer token"),
        (format!("Basic {TOKEN}"), "another scheme"),
        ("Bearer".to_string(), "no token"),
    ] {
        let response = request(
            &app,
            Method::GET,
            "/admin/api/calls",
            As::Nobody,
            &[("authorization", &header_value)],
        )
        .await;
        assert_eq!(response.status(), 401, "{why}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("log in first"),
            "{why}: {body}"
        );
    }

    let missing = get(
        &app,
        "/admin/api/calls/0190a5b2-0000-7000-8000-000000000000",
        As::Bearer(TOKEN),
    )
    .await;
    assert_eq!(missing.status(), 404);
    let bad = get(&app, "/admin/api/calls?status=ok", As::Bearer(TOKEN)).await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not an HTTP status"),
        "{body}"
    );
}

#[tokio::test]
async fn posts_need_the_sessions_csrf_token_and_the_same_origin() {
    let app = viewer().await;
    let id = send(
        &app,
        "desk",
        &estimate("EST-1", "Ocean Star", json!({})),
        None,
    )
    .await;
    let cookie = log_in(&app).await;
    let token = csrf(&app, &cookie).await;
    let other_session = log_in(&app).await;
    let others_token = csrf(&app, &other_session).await;
    assert_ne!(token, others_token);
    let path = format!("/admin/api/calls/{id}/replay");
    let here = origin(&app);
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(Headers, u16, &str)> = vec![
        (vec![], 403, "no CSRF token"),
        (vec![("x-csrf-token", "forged")], 403, "a made-up token"),
        (
            vec![("x-csrf-token", others_token.as_str())],
            403,
            "another session's token",
        ),
        (
            vec![
                ("x-csrf-token", token.as_str()),
                ("origin", "https://evil.example"),
            ],
            403,
            "another origin",
        ),
        (
            vec![
                ("x-csrf-token", token.as_str()),
                ("sec-fetch-site", "cross-site"),
            ],
            403,
            "another site",
        ),
        (
            vec![("x-csrf-token", token.as_str()), ("origin", "null")],
            403,
            "an opaque origin",
        ),
        (
            vec![
                ("x-csrf-token", token.as_str()),
                ("origin", here.as_str()),
                ("sec-fetch-site", "same-origin"),
            ],
            200,
            "the viewer's own request",
        ),
        (
            vec![
                ("x-csrf-token", token.as_str()),
                ("origin", "null"),
                ("sec-fetch-site", "same-origin"),
            ],
            200,
            "the viewer's own form (browsers send Origin: null under no-referrer)",
        ),
        (
            vec![("x-csrf-token", token.as_str())],
            200,
            "a client without Origin headers",
        ),
    ];
    for (headers, status, why) in &cases {
        let response = request(&app, Method::POST, &path, As::Cookie(&cookie), headers).await;
        assert_eq!(response.status().as_u16(), *status, "{why}");
        if *status == 403 {
            let body: Value = response.json().await.unwrap();
            assert!(body["error"].is_string(), "{why}: {body}");
        }
    }
    // The page's form (no script): the token travels as a form field.
    let form = |fields: Vec<(&'static str, String)>| {
        plain_client(&app)
            .post(app.url(&format!("/admin/calls/{id}/replay")))
            .header(header::COOKIE, format!("lookout_admin={cookie}"))
            .header("origin", here.clone())
            .header("content-type", FORM)
            .body(form(
                &fields
                    .iter()
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect::<Vec<_>>(),
            ))
            .send()
    };
    assert_eq!(form(vec![]).await.unwrap().status(), 403);
    assert_eq!(
        form(vec![("csrf", others_token.clone())])
            .await
            .unwrap()
            .status(),
        403
    );
    let page = form(vec![("csrf", token.clone())]).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(r#"id="replay-result""#));
    // Bearer clients need no CSRF token: a browser never sends the header by itself.
    let bearer = request(&app, Method::POST, &path, As::Bearer(TOKEN), &[]).await;
    assert_eq!(bearer.status(), 200);
}

#[tokio::test]
async fn every_admin_response_has_the_security_headers_and_no_inline_code() {
    let app = viewer().await;
    let id = send(
        &app,
        "desk",
        &estimate("EST-1", "Ocean Star", json!({})),
        None,
    )
    .await;
    post_events(&app, &portconnect_doc_example()).await;
    let event = api(&app, "/admin/api/events").await["events"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cookie = log_in(&app).await;
    let pages = [
        ("/admin".to_string(), 200),
        (format!("/admin/calls/{id}"), 200),
        ("/admin?status=nope".to_string(), 400),
        ("/admin/calls/not-a-call".to_string(), 404),
        ("/admin/nowhere".to_string(), 404),
        ("/admin/events".to_string(), 200),
        ("/admin/events?port=NZAKL&vessel=9628336".to_string(), 200),
        (format!("/admin/events/{event}"), 200),
        ("/admin/events?source=nope".to_string(), 400),
        ("/admin/events/not-an-event".to_string(), 404),
    ];
    let scripts = regex::Regex::new(r"<script[^>]*>").unwrap();
    let handlers = regex::Regex::new(r#"\son[a-z]+="#).unwrap();
    for (path, status) in &pages {
        let response = get(&app, path, As::Cookie(&cookie)).await;
        assert_eq!(response.status().as_u16(), *status, "{path}");
        assert_security_headers(&response, path);
        let html = response.text().await.unwrap();
        assert!(
            !html.contains("<style") && !html.contains(" style="),
            "{path}: inline style"
        );
        for tag in scripts.find_iter(&html) {
            assert!(
                tag.as_str().contains("src=\"/admin/assets/"),
                "{path}: inline script {}",
                tag.as_str()
            );
        }
        assert!(!handlers.is_match(&html), "{path}: event handler attribute");
    }
    for (asset, content_type) in [
        ("admin.css", "text/css"),
        ("admin.js", "text/javascript"),
        ("icons/error.svg", "image/svg+xml"),
        ("icons/warning.svg", "image/svg+xml"),
        ("icons/info.svg", "image/svg+xml"),
    ] {
        let response = get(&app, &format!("/admin/assets/{asset}"), As::Cookie(&cookie)).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert_security_headers(&response, asset);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{asset}"
        );
        assert!(!response.bytes().await.unwrap().is_empty(), "{asset}");
    }
    let json = get(&app, "/admin/api/calls", As::Bearer(TOKEN)).await;
    assert_security_headers(&json, "the API");
    let json = get(&app, "/admin/api/events", As::Bearer(TOKEN)).await;
    assert_security_headers(&json, "the events API");
}

/// Waits until the wall clock is past `micros` (calls then get later times).
async fn past(micros: i64) {
    eventually(Duration::from_secs(1), || async move {
        lookout::clock::now_micros() > micros + 2_000
    })
    .await;
}

#[tokio::test]
async fn the_list_filters_by_rule_set_status_problems_text_and_time_and_pages_by_cursor() {
    let app = viewer().await;
    let a = send(
        &app,
        "desk",
        &estimate("EST-A", "Ocean Star", json!({})),
        None,
    )
    .await;
    let b = send(
        &app,
        "desk",
        &estimate("EST-B", "Nordic Light", json!({"boom": true})),
        None,
    )
    .await;
    let b_at = app.recorded(&b).await.received_at;
    past(b_at).await;
    let c = send(
        &app,
        "other",
        &estimate("EST-C", "Ocean Breeze", json!({})),
        None,
    )
    .await;
    let c_at = app.recorded(&c).await.received_at;
    let d = send(
        &app,
        "signed",
        &estimate("EST-D", "Pacific Dawn", json!({})),
        Some("wrong-key-0000000000000000"),
    )
    .await;
    let e = send(
        &app,
        "signed",
        &estimate("EST-E", "Pacific Dawn", json!({})),
        Some(KEY),
    )
    .await;
    let all = vec![e.clone(), d.clone(), c.clone(), b.clone(), a.clone()];
    let iso = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    let since_c = url::form_urlencoded::byte_serialize(iso(c_at).as_bytes()).collect::<String>();

    let cases: Vec<(String, Vec<&String>, &str)> = vec![
        ("".into(), all.iter().collect(), "everything, newest first"),
        ("ruleset=desk".into(), vec![&b, &a], "one rule set"),
        (
            "ruleset=desk&problems=on".into(),
            vec![&b],
            "a rule set's problems (a rule error)",
        ),
        (
            "problems=on".into(),
            vec![&d, &b],
            "problems: rule errors and refusals",
        ),
        ("status=401".into(), vec![&d], "a status"),
        (
            "status=200&ruleset=signed".into(),
            vec![&e],
            "status and rule set",
        ),
        (
            "q=ocean".into(),
            vec![&c, &a],
            "text in the estimate, any case",
        ),
        ("q=Nordic+Light".into(), vec![&b], "a phrase"),
        ("q=nowhere-to-be-found".into(), vec![], "text found nowhere"),
        (format!("since={since_c}"), vec![&e, &d, &c], "since a time"),
        (format!("until={since_c}"), vec![&b, &a], "until a time"),
        ("since=1h".into(), all.iter().collect(), "since an hour ago"),
        ("until=1h".into(), vec![], "until an hour ago"),
        (
            "since=2026-01-01&until=2026-01-02".into(),
            vec![],
            "a day in the past",
        ),
    ];
    for (query, expected, why) in &cases {
        let listed = api(&app, &format!("/admin/api/calls?{query}")).await;
        let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(ids_of(&listed), expected, "API: {why} ({query})");
        let html = page(&app, &format!("/admin?{query}")).await;
        assert_eq!(row_ids(&html), expected, "page: {why} ({query})");
    }

    // Paging: two at a time, by cursor, through everything once.
    let mut seen = Vec::new();
    let mut path = "/admin/api/calls?limit=2".to_string();
    loop {
        let listed = api(&app, &path).await;
        let ids = ids_of(&listed);
        assert!(ids.len() <= 2);
        seen.extend(ids);
        match listed["next"].as_str() {
            Some(next) => path = format!("/admin/api/calls?limit=2&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen, all, "pages cover every call once, newest first");

    // The page's next link keeps the filters.
    let html = page(&app, "/admin?ruleset=desk&limit=1").await;
    assert_eq!(row_ids(&html), vec![b.clone()]);
    let next = regex::Regex::new(r#"id="next-page" href="([^"]+)""#)
        .unwrap()
        .captures(&html)
        .expect("a next-page link")[1]
        .to_string();
    assert!(
        next.contains("ruleset=desk") && next.contains(&format!("before={b}")),
        "{next}"
    );
    let html = page(&app, &next).await;
    assert_eq!(row_ids(&html), vec![a.clone()]);

    // The form shows the filters it applied.
    let html = page(&app, "/admin?ruleset=desk&problems=on&q=star").await;
    for part in [
        r#"<form id="filters""#,
        r#"<option value="desk" selected>"#,
        r#"name="problems" value="on" checked"#,
        r#"name="q" value="star""#,
        r#"id="apply-filters""#,
    ] {
        assert!(html.contains(part), "the form lacks {part}");
    }
    assert!(!html.contains("log-loss-banner"), "no call was dropped");

    let bad = get(&app, "/admin?since=yesterday", As::Bearer(TOKEN)).await;
    assert_eq!(bad.status(), 400);
    assert!(bad
        .text()
        .await
        .unwrap()
        .contains("since: `yesterday` is not a time"));
}

#[tokio::test]
async fn a_call_page_shows_the_cards_as_imos_did_with_the_trace_and_bodies() {
    let app = viewer().await;
    let body = estimate("EST-A", "Ocean Star", json!({}));
    let a = send_as_imos(&app, "desk", &body).await;
    let b = send(
        &app,
        "desk",
        &estimate("EST-B", "Nordic Light", json!({"boom": true})),
        None,
    )
    .await;
    let refused = send(&app, "signed", &body, Some("wrong-key-0000000000000000")).await;
    let html = page(&app, &format!("/admin/calls/{a}")).await;
    for part in [
        // The cards, in the answer's order, with icon, message, fields, link and mutation.
        r#"<li class="card card-Error" data-alert-type="Error">"#,
        r#"src="/admin/assets/icons/error.svg""#,
        r#"<p class="message">LSF on board leaving SANTOS is short of the 175 t needed</p>"#,
        r#"<div class="field"><dt>On board (t)</dt> <dd>150</dd></div>"#,
        r#"<div class="field"><dt>Needed (t)</dt> <dd>175</dd></div>"#,
        r#"<a class="source-link button" href="https://desk.example.com/bunkers" target="_blank" rel="noopener noreferrer">"#,
        "<code>estimateItineraries.voyageEstimateBunkers[fuelType=LSF].departureQty → 175</code>",
        r#"<li class="card card-PermanentWarning" data-alert-type="PermanentWarning">"#,
        r#"<p class="message">Laden speed is above the charter party warranty</p>"#,
        // The summary.
        "<dt>Signature</dt><dd>not_required (the rule set has no API key)</dd>",
        "<dt>Estimate</dt><dd>EST-A</dd>",
        // Headers and bodies, collapsible.
        r#"<details id="request-headers">"#,
        "<th>content-type</th><td>application/json; charset=utf-8</td>",
        "<th>x-imos-user</th><td>apatel</td>",
        r#"<details id="request-body">"#,
        r#""vesselName": "Ocean Star""#,
        r#"<details id="response-body">"#,
        // The trace.
        r#"<table id="trace""#,
        "<code>bunkers</code>",
        "LSF on board: 150",
        // The actions.
        r#"id="replay""#,
        r#"id="save-test""#,
    ] {
        assert!(html.contains(part), "the call page lacks {part}");
    }
    assert_eq!(html.matches(r#"<tr class="rule-run"#).count(), 3);
    assert!(
        html.find("card-Error").unwrap() < html.find("card-PermanentWarning").unwrap(),
        "cards in the answer's order"
    );

    let html = page(&app, &format!("/admin/calls/{b}")).await;
    assert!(
        html.contains(r#"<tr class="rule-run outcome-error">"#),
        "the failed rule's row"
    );
    let error = regex::Regex::new(r"line 2, column \d+: [^<]*no_such_method").unwrap();
    assert!(error.is_match(&html), "the error with its line and column");

    let html = page(&app, &format!("/admin/calls/{refused}")).await;
    assert!(html.contains("<h2>Answered 401</h2>"));
    assert!(
        html.contains("Veson-Webhook-Signature does not match"),
        "the error text"
    );
    assert!(
        !html.contains(r#"id="save-test""#),
        "a refused call pins no answer"
    );
}

/// What the page's script gets back from the replay button.
async fn replay_fragment(app: &TestApp, id: &str) -> String {
    let response = request(
        app,
        Method::POST,
        &format!("/admin/calls/{id}/replay"),
        As::Bearer(TOKEN),
        &[("x-lookout-fragment", "1")],
    )
    .await;
    assert_eq!(response.status(), 200);
    unescape(&response.text().await.unwrap())
}

#[tokio::test]
async fn replay_shows_no_change_then_a_changed_alert_after_a_rule_edit() {
    let app = viewer().await;
    let a = send(
        &app,
        "desk",
        &estimate("EST-A", "Ocean Star", json!({})),
        None,
    )
    .await;
    let path = format!("/admin/api/calls/{a}/replay");

    let same: Value = request(&app, Method::POST, &path, As::Bearer(TOKEN), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(same["changes"], json!([]), "{same}");
    let html = replay_fragment(&app, &a).await;
    assert!(
        html.contains(r#"<section id="replay-result" class="replay-result no-change">"#),
        "{html}"
    );

    let before = app.state.registry.get("desk").unwrap().version.clone();
    std::fs::write(
        app.rules_dir("desk").join("bunkers.rhai"),
        BUNKERS_RULE.replace("departureQty: 175", "departureQty: 180"),
    )
    .unwrap();
    eventually(Duration::from_secs(10), || async {
        app.state.registry.get("desk").unwrap().version != before
    })
    .await;

    let changed: Value = request(&app, Method::POST, &path, As::Bearer(TOKEN), &[])
        .await
        .json()
        .await
        .unwrap();
    let changes = changed["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changed}");
    assert_eq!(changes[0]["change"], "changed");
    assert_eq!(
        changes[0]["guid_changed"], true,
        "a new suggestion is a new GUID"
    );
    assert_eq!(changes[0]["fields"], json!(["guid", "mutation"]));

    let html = replay_fragment(&app, &a).await;
    for part in [
        r#"<li class="change change-changed" data-change="changed">"#,
        r#"<q class="message">LSF on board leaving SANTOS is short of the 175 t needed</q>"#,
        "Changed: guid, mutation",
        "Suggested before:<ul><li><code>estimateItineraries.voyageEstimateBunkers[fuelType=LSF].departureQty → 175</code>",
        "Suggests now:<ul><li><code>estimateItineraries.voyageEstimateBunkers[fuelType=LSF].departureQty → 180</code>",
        r#"<p class="guid-changed">"#,
    ] {
        assert!(html.contains(part), "the replay lacks {part}: {html}");
    }
    assert!(!html.contains("no-change"));
}

fn lookout_test(rules: &Path, ruleset: &str) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["test", "--rules", rules.to_str().unwrap(), ruleset])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn a_call_saved_as_a_rule_test_passes_lookout_test_until_the_rules_change() {
    let app = viewer().await;
    let a = send_as_imos(&app, "desk", &estimate("EST-A", "Ocean Star", json!({}))).await;
    let b = send(
        &app,
        "desk",
        &estimate("EST-B", "Nordic Light", json!({"boom": true})),
        None,
    )
    .await;
    let quiet = send(
        &app,
        "desk",
        &estimate("EST-Q", "Calm Sea", json!({"speed": 11, "estimateItineraries": [
            {"portName": "SANTOS", "voyageEstimateBunkers": [{"fuelType": "LSF", "departureQty": 200}]}]})),
        None,
    )
    .await;
    let tests = app.rules_dir("desk").join("tests");
    std::fs::create_dir_all(&tests).unwrap();
    for id in [&a, &b, &quiet] {
        let response = get(
            &app,
            &format!("/admin/api/calls/{id}/test"),
            As::Bearer(TOKEN),
        )
        .await;
        assert_eq!(response.status(), 200);
        let name = format!("call-{id}.json");
        assert_eq!(
            response.headers()[header::CONTENT_DISPOSITION],
            format!("attachment; filename=\"{name}\"").as_str()
        );
        let text = response.text().await.unwrap();
        let file: Value = serde_json::from_str(&text).unwrap();
        assert!(file["estimate"].is_object(), "the estimate is inline");
        assert!(file["headers"].get("veson-webhook-signature").is_none());
        assert!(file["headers"].get("content-length").is_none());
        std::fs::write(tests.join(name), text).unwrap();
    }
    let file: Value =
        serde_json::from_slice(&std::fs::read(tests.join(format!("call-{a}.json"))).unwrap())
            .unwrap();
    let alerts = file["expect"]["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0]["rule"], "bunkers");
    assert!(alerts[0]["guid"].is_string(), "the GUID is pinned");
    assert_eq!(
        file["headers"]["x-imos-user"], "apatel",
        "headers rules can read"
    );

    let rules = app.dir.path().join("rules");
    let (code, out) = lookout_test(&rules, "desk");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 passed, 0 failed"), "{out}");

    // The saved tests pin today's answer: a rule change that alters it fails them.
    std::fs::write(
        app.rules_dir("desk").join("bunkers.rhai"),
        BUNKERS_RULE.replace("departureQty: 175", "departureQty: 180"),
    )
    .unwrap();
    let (code, out) = lookout_test(&rules, "desk");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("test desk/call-{a} ... FAILED")),
        "{out}"
    );
    assert!(
        out.contains(&format!("test desk/call-{quiet} ... ok")),
        "{out}"
    );

    let refused = send(&app, "signed", b"{}", None).await;
    let response = get(
        &app,
        &format!("/admin/api/calls/{refused}/test"),
        As::Bearer(TOKEN),
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("answered 401"),
        "{body}"
    );
}

// ---- port events ----------------------------------------------------------------------

/// PortConnect's own three-event example (GATEIN at NZAKL, outbound on KOTA LOCENG).
fn portconnect_doc_example() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/portconnect-doc-example.json"),
    )
    .unwrap()
}

/// Sends a PortConnect callback; the answer comes after the commit, so the events are
/// listed as soon as it is 200.
async fn post_events(app: &TestApp, body: &[u8]) -> Value {
    let response = app.post_portconnect(PORTCONNECT_TOKEN, body).await;
    assert_eq!(response.status(), 200, "PortConnect callback");
    response.json().await.unwrap()
}

/// A container visit event as PortConnect sends it, in the doc example's shape.
fn container_visit(
    code: &str,
    container: &str,
    at: &str,
    port: &str,
    inbound: Option<(&str, i64)>,
    outbound: Option<(&str, i64)>,
) -> Value {
    json!({
        "subscriptionEventId": 13800, "subscriptionId": 9, "partnerPortCode": port,
        "containerVisitTypeCode": if inbound.is_some() { "IMPORT" } else { "EXPORT" },
        "containerVisitEventTypeCode": code, "containerVisitEventDatetime": at,
        "containerVisitEventLocation": port, "containerNumber": container,
        "containerIsoTypeCode": "4510", "containerVisitUri": "v1/container-visits/5046168",
        "subscriptionContainerId": 12, "userDefinedReference": "User ref 1",
        "containerVisitEventValue": "Vessel", "containerVisitEventValue2": null,
        "inboundVesselRef": inbound.map(|_| "MSR0042"), "inboundVesselName": inbound.map(|v| v.0),
        "inboundVesselIMONumber": inbound.map(|v| v.1),
        "outboundVesselRef": outbound.map(|_| "KOC0130"), "outboundVesselName": outbound.map(|v| v.0),
        "outboundVesselIMONumber": outbound.map(|v| v.1),
        "bookingReference": "ACD0764410", "containerStatus": "Full", "containerOperatorSCACCode": "ANNU"
    })
}

/// Every event the events tests send: a label, and when it happened as sent.
const SENT: &[(&str, &str)] = &[
    ("GATEIN:APHU6303593", "2019-06-19T12:41:02+12:00"),
    ("GATEIN:MEDU3085895", "2019-06-19T12:41:02+12:00"),
    ("GATEIN:MEDU5129708", "2019-06-19T12:41:02+12:00"),
    ("LOAD:APHU6303593", "2019-06-21T08:15:00+12:00"),
    ("DISCHARGE:MSCU1234565", "2019-06-20T10:00:00+12:00"),
    ("VESSELETACHANGED:-", "2019-06-18T06:00:00+12:00"),
    ("cargo_gated_in:MEDU3085895", "2019-06-22T09:00:00Z"),
    ("crane_moved:-", "2019-06-17T00:00:00Z"),
];

/// The events of [`SENT`], from both sources; returns each label's event id.
async fn send_port_events(app: &TestApp) -> std::collections::HashMap<String, String> {
    let doc = post_events(app, &portconnect_doc_example()).await;
    assert_eq!(doc["stored"], 3, "{doc}");
    let kota = Some(("KOTA LOCENG", 9628336));
    let batch = json!([
        container_visit("LOAD", "APHU6303593", "2019-06-21T08:15:00+12:00", "NZAKL", None, kota),
        container_visit("DISCHARGE", "MSCU1234565", "2019-06-20T10:00:00+12:00", "NZTRG",
            Some(("MSC Roma", 9301354)), None),
        {
            "SubscriptionEventId": 20211, "SubscriptionId": 4, "SubscriptionVesselScheduleId": 77,
            "PartnerPortCode": "NZAKL", "VesselScheduleEventTypeCode": "VESSELETACHANGED",
            "VesselScheduleEventDatetime": "2019-06-18T06:00:00+12:00",
            "VesselScheduleEventLocation": "NZAKL", "VesselRef": "KOC0130",
            "VesselName": "Kota Loceng", "LloydNumber": 9628336,
            "InboundVoyageNumber": "0130S", "OutboundVoyageNumber": "0130N",
            "WharfName": "Fergusson", "Agent": "PIL NZ"
        }
    ]);
    let stored = post_events(app, batch.to_string().as_bytes()).await;
    assert_eq!(stored["stored"], 3, "{stored}");
    // PortConnect resends; the viewer lists each event once.
    let again = post_events(app, &portconnect_doc_example()).await;
    assert_eq!(again["duplicates"], 3, "{again}");

    let gated = json!({
        "event_type": "CargoGatedIn", "occurred_at": "2019-06-22T09:00:00Z",
        "container": {"number": "MEDU 308589-5", "iso_type": "22G1"},
        "vessel": {"imo_number": 9628336, "name": "Kota Loceng"},
        "terminal": {"locode": "NZAKL", "name": "Fergusson Container Terminal"}
    });
    let crane = json!({
        "event_type": "Crane Moved", "occurred_at": "2019-06-17T00:00:00Z",
        "terminal": {"locode": "nztrg"}, "crane": {"id": "STS-04", "to_bay": 12}
    });
    for (name, delivery, body) in [
        (
            "CargoGatedIn",
            "7c1e1f5e-3b0a-4a53-9a51-0d9f5d4b6a01",
            gated,
        ),
        ("Crane Moved", "7c1e1f5e-3b0a-4a53-9a51-0d9f5d4b6a02", crane),
    ] {
        let response = app
            .post_octopi(OCTOPI_SECRET, name, delivery, body.to_string().as_bytes())
            .await;
        assert_eq!(response.status(), 200, "Octopi {name}");
    }

    let listed = api(app, "/admin/api/events?limit=500").await;
    let mut ids = std::collections::HashMap::new();
    for event in listed["events"].as_array().unwrap() {
        let label = format!(
            "{}:{}",
            event["event"].as_str().unwrap(),
            event["containers"][0].as_str().unwrap_or("-")
        );
        let id = event["id"].as_str().unwrap().to_string();
        assert!(ids.insert(label.clone(), id).is_none(), "{label} twice");
    }
    let mut labels: Vec<&String> = ids.keys().collect();
    labels.sort();
    let mut sent: Vec<&str> = SENT.iter().map(|(l, _)| *l).collect();
    sent.sort();
    assert_eq!(labels, sent, "every event sent is listed once");
    ids
}

/// The ids of `labels`, newest first: by when they happened, then by id (the store's
/// order for events of the same time).
fn newest_first(ids: &std::collections::HashMap<String, String>, labels: &[&str]) -> Vec<String> {
    let mut events: Vec<(i64, String)> = labels
        .iter()
        .map(|label| {
            let at = SENT.iter().find(|(l, _)| l == label).unwrap().1;
            let micros = chrono::DateTime::parse_from_rfc3339(at)
                .unwrap()
                .timestamp_micros();
            (micros, ids[*label].clone())
        })
        .collect();
    events.sort();
    events.reverse();
    events.into_iter().map(|(_, id)| id).collect()
}

fn event_ids_of(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// The event ids of the events list's rows, in order.
fn event_row_ids(html: &str) -> Vec<String> {
    let re = regex::Regex::new(r#"<tr class="event [^"]*" data-id="([0-9a-f-]+)""#).unwrap();
    re.captures_iter(html).map(|c| c[1].to_string()).collect()
}

#[tokio::test]
async fn port_events_are_listed_newest_first_by_source_event_container_vessel_port_and_time() {
    let app = viewer().await;
    let empty = page(&app, "/admin/events").await;
    assert!(empty.contains("No port events."), "{empty}");
    assert!(
        empty.contains("POST /events/octopi (intake on")
            && empty.contains("POST /events/portconnect (intake on"),
        "an empty list says where events come from"
    );
    let ids = send_port_events(&app).await;
    let all: Vec<&str> = SENT.iter().map(|(l, _)| *l).collect();
    let gatein = [
        "GATEIN:APHU6303593",
        "GATEIN:MEDU3085895",
        "GATEIN:MEDU5129708",
    ];
    let kota = [
        &gatein[..],
        &[
            "LOAD:APHU6303593",
            "VESSELETACHANGED:-",
            "cargo_gated_in:MEDU3085895",
        ],
    ]
    .concat();

    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("", all.clone(), "everything"),
        (
            "source=octopi",
            vec!["cargo_gated_in:MEDU3085895", "crane_moved:-"],
            "one source",
        ),
        (
            "source=PortConnect",
            all[..6].to_vec(),
            "a source in another case",
        ),
        ("event=GATEIN", gatein.to_vec(), "a PortConnect code"),
        ("event=gatein", gatein.to_vec(), "a code in lower case"),
        (
            "event=Cargo+Gated+In",
            vec!["cargo_gated_in:MEDU3085895"],
            "an Octopi display name",
        ),
        (
            "event=CargoGatedIn",
            vec!["cargo_gated_in:MEDU3085895"],
            "an Octopi name in CamelCase",
        ),
        (
            "event=crane_moved",
            vec!["crane_moved:-"],
            "an unknown name",
        ),
        (
            "event=cargo_gated_in&source=portconnect",
            vec![],
            "an event of the other source",
        ),
        (
            "container=medu+308589-5",
            vec!["GATEIN:MEDU3085895", "cargo_gated_in:MEDU3085895"],
            "a container as people write it, from both sources",
        ),
        ("vessel=9628336", kota.clone(), "a vessel by IMO number"),
        ("vessel=IMO+9628336", kota.clone(), "IMO written in front"),
        ("vessel=kota++loceng", kota.clone(), "a vessel by name"),
        (
            "vessel=MSC+Roma",
            vec!["DISCHARGE:MSCU1234565"],
            "an inbound vessel by name",
        ),
        (
            "port=nztrg",
            vec!["DISCHARGE:MSCU1234565", "crane_moved:-"],
            "a port",
        ),
        (
            "port=NZAKL&event=GATEIN",
            gatein.to_vec(),
            "a port and an event",
        ),
        (
            "container=APHU6303593&vessel=9628336",
            vec!["GATEIN:APHU6303593", "LOAD:APHU6303593"],
            "container and vessel together",
        ),
        (
            "vessel=Kota+Loceng&port=NZAKL&event=LOAD",
            vec!["LOAD:APHU6303593"],
            "vessel, port and event together",
        ),
        (
            "container=APHU6303593&port=NZTRG",
            vec![],
            "a container never at that port",
        ),
        (
            "since=2019-06-19T12:00:00Z",
            vec![
                "cargo_gated_in:MEDU3085895",
                "LOAD:APHU6303593",
                "DISCHARGE:MSCU1234565",
            ],
            "since a time, on when the event happened",
        ),
        (
            "until=2019-06-18",
            vec!["VESSELETACHANGED:-", "crane_moved:-"],
            "until a date",
        ),
        ("since=1h", vec![], "the events all happened in 2019"),
    ];
    for (query, labels, why) in &cases {
        let expected = newest_first(&ids, labels);
        let listed = api(&app, &format!("/admin/api/events?{query}")).await;
        assert_eq!(event_ids_of(&listed), expected, "API: {why} ({query})");
        assert_eq!(listed["next"], Value::Null, "API: {why} ({query})");
        let html = page(&app, &format!("/admin/events?{query}")).await;
        assert_eq!(event_row_ids(&html), expected, "page: {why} ({query})");
    }

    // Paging: three at a time, by cursor, through everything once; with one key and with
    // keys combined (checked by the viewer, not the store).
    for (filter, labels) in [
        ("", all.clone()),
        ("vessel=9628336&port=NZAKL&", kota.clone()),
    ] {
        let mut seen = Vec::new();
        let mut path = format!("/admin/api/events?{filter}limit=3");
        loop {
            let listed = api(&app, &path).await;
            let page_ids = event_ids_of(&listed);
            assert!(page_ids.len() <= 3, "{path}");
            seen.extend(page_ids);
            match listed["next"].as_str() {
                Some(next) => {
                    let next =
                        url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>();
                    path = format!("/admin/api/events?{filter}limit=3&before={next}");
                }
                None => break,
            }
        }
        assert_eq!(seen, newest_first(&ids, &labels), "pages of `{filter}`");
    }

    // The page's next link keeps the filters.
    let html = page(&app, "/admin/events?port=NZAKL&limit=4").await;
    let first = event_row_ids(&html);
    assert_eq!(first.len(), 4);
    let next = regex::Regex::new(r#"id="next-page" href="([^"]+)""#)
        .unwrap()
        .captures(&html)
        .expect("a next-page link")[1]
        .to_string();
    assert!(
        next.contains("port=NZAKL") && next.contains("before="),
        "{next}"
    );
    let html = page(&app, &next).await;
    let mut both = first;
    both.extend(event_row_ids(&html));
    assert_eq!(both, newest_first(&ids, &kota), "two pages of NZAKL");
    assert!(!html.contains(r#"id="next-page""#), "no third page");

    // The rows: both times, the source, the name (unknown ones marked) and the keys as
    // links to the list filtered by them; the form shows what it applied.
    let html = page(
        &app,
        "/admin/events?container=APHU6303593&source=portconnect",
    )
    .await;
    for part in [
        r#"<form id="event-filters""#,
        r#"<option value="portconnect" selected>"#,
        r#"name="container" value="APHU6303593""#,
        r#"<a href="/admin">Calls</a>"#,
        r#"<a href="/admin/events">Events</a>"#,
        r#"<time datetime="2019-06-20T20:15:00.000Z">2019-06-21T08:15:00+12:00</time>"#,
        r#"<code class="event-name">LOAD</code>"#,
        r#"<a class="key container" href="/admin/events?container=APHU6303593">APHU6303593</a>"#,
        r#"<a class="key vessel" href="/admin/events?vessel=9628336">KOTA LOCENG · IMO 9628336 (outbound)</a>"#,
        r#"<a class="key port" href="/admin/events?port=NZAKL">NZAKL</a>"#,
    ] {
        assert!(html.contains(part), "the events list lacks {part}");
    }
    assert!(
        !html.contains(r#"class="unknown""#),
        "GATEIN and LOAD are documented"
    );
    let html = page(&app, "/admin/events?source=octopi").await;
    assert_eq!(
        html.matches(r#"<span class="unknown" title="not an event Octopi documents: stored as sent">unknown</span>"#).count(),
        1,
        "Crane Moved is marked, Cargo Gated In is not"
    );

    // Wrong filters say which and how, on the page and in the API; never a 500.
    let bad: &[(&str, &str)] = &[
        (
            "source=imos",
            "source `imos` is not one lookout receives; use octopi or portconnect",
        ),
        (
            "vessel=12345",
            "vessel `12345` is not an IMO number (seven digits)",
        ),
        ("container=-", "container `-` has no letters or digits"),
        (
            "before=yesterday",
            "before `yesterday` is not an events cursor",
        ),
        ("since=yesterday", "since: `yesterday` is not a time"),
        ("limit=0", "limit `0` must be a number from 1 to 500"),
    ];
    for (query, message) in bad {
        let response = get(&app, &format!("/admin/events?{query}"), As::Bearer(TOKEN)).await;
        assert_eq!(response.status(), 400, "page {query}");
        let html = unescape(&response.text().await.unwrap());
        assert!(
            html.contains(&format!(r#"<p class="error-text" role="alert">{message}"#)),
            "page {query}: {html}"
        );
        assert!(
            html.contains(r#"<form id="event-filters""#),
            "the form stays"
        );
        let response = get(
            &app,
            &format!("/admin/api/events?{query}"),
            As::Bearer(TOKEN),
        )
        .await;
        assert_eq!(response.status(), 400, "API {query}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains(message),
            "API {query}: {body}"
        );
    }

    // The times the README documents for `lookout logs` read the same here.
    for query in [
        "since=2026-11-01T00:00Z",
        "since=2%20weeks",
        "until=2099-01-01%2000:00",
    ] {
        for path in [
            "/admin/api/events",
            "/admin/api/calls",
            "/admin/events",
            "/admin",
        ] {
            let response = get(&app, &format!("{path}?{query}"), As::Bearer(TOKEN)).await;
            assert_eq!(response.status(), 200, "{path}?{query}");
        }
    }
}

#[tokio::test]
async fn an_event_page_shows_its_fields_and_payload_and_links_to_its_container_vessel_and_port() {
    let app = viewer().await;
    let ids = send_port_events(&app).await;
    let gate = &ids["GATEIN:APHU6303593"];
    let cookie = log_in(&app).await;
    let response = get(&app, &format!("/admin/events/{gate}"), As::Cookie(&cookie)).await;
    assert_eq!(response.status(), 200);
    assert_security_headers(&response, "an event page");
    let html = unescape(&response.text().await.unwrap());
    for part in [
        &format!(
            r#"<h1 id="event-title" data-id="{gate}">Event <code class="event-name">GATEIN</code></h1>"#
        ),
        r#"<a href="/admin/events">← Events</a>"#,
        "<dt>Source</dt><dd>portconnect</dd>",
        "<dt>Kind</dt><dd>container</dd>",
        "<dt>Happened</dt><dd>2019-06-19T12:41:02+12:00 (2019-06-19 00:41:02.000 UTC)</dd>",
        "<dt>Duplicates dropped by</dt><dd>portconnect:",
        &format!("<dt>Event id</dt><dd>{gate}</dd>"),
        r#"<a class="key container" href="/admin/events?container=APHU6303593">APHU6303593</a>"#,
        r#"<a class="key vessel" href="/admin/events?vessel=9628336">KOTA LOCENG · IMO 9628336 (outbound)</a>"#,
        r#"<a class="key port" href="/admin/events?port=NZAKL">NZAKL</a>"#,
        // The payload as received, pretty and collapsible.
        r#"<details id="event-payload" open>"#,
        r#"  "containerNumber": "APHU6303593","#,
        r#"  "outboundVesselName": "KOTA LOCENG","#,
        &format!(r#"<a href="/admin/api/events/{gate}">"#),
    ] {
        assert!(html.contains(part), "the event page lacks {part}: {html}");
    }
    assert!(!html.contains(r#"class="unknown""#));

    // Its links list the events with its container, vessel and port.
    for (link, labels) in [
        (
            "/admin/events?container=APHU6303593",
            vec!["GATEIN:APHU6303593", "LOAD:APHU6303593"],
        ),
        (
            "/admin/events?port=NZAKL",
            vec![
                "GATEIN:APHU6303593",
                "GATEIN:MEDU3085895",
                "GATEIN:MEDU5129708",
                "LOAD:APHU6303593",
                "VESSELETACHANGED:-",
                "cargo_gated_in:MEDU3085895",
            ],
        ),
    ] {
        let html = page(&app, link).await;
        assert_eq!(event_row_ids(&html), newest_first(&ids, &labels), "{link}");
    }

    // An Octopi event with a name Octopi does not document: marked, and stored anyway.
    let crane = &ids["crane_moved:-"];
    let html = page(&app, &format!("/admin/events/{crane}")).await;
    for part in [
        r#"<code class="event-name">crane_moved</code> <span class="unknown">unknown</span>"#,
        "<dt>Event</dt><dd>crane_moved (not an event Octopi documents: stored as sent)</dd>",
        "<dt>Delivery</dt><dd>7c1e1f5e-3b0a-4a53-9a51-0d9f5d4b6a02</dd>",
        r#"<a class="key port" href="/admin/events?port=NZTRG">NZTRG</a>"#,
        r#""to_bay": 12"#,
    ] {
        assert!(
            html.contains(part),
            "the unknown event's page lacks {part}: {html}"
        );
    }

    // The API: the event as stored, its payload the exact text received.
    let event = api(&app, &format!("/admin/api/events/{gate}")).await;
    assert_eq!(event["id"], gate.as_str());
    assert_eq!(event["source"], "portconnect");
    assert_eq!(event["event"], "GATEIN");
    assert_eq!(event["known"], true);
    assert_eq!(event["at"], "2019-06-19T12:41:02+12:00");
    assert_eq!(event["containers"], json!(["APHU6303593"]));
    assert_eq!(
        event["vessels"],
        json!([{"imo": 9628336, "name": "KOTA LOCENG", "role": "outbound"}])
    );
    assert_eq!(event["ports"], json!(["NZAKL"]));
    let doc: Vec<Box<serde_json::value::RawValue>> =
        serde_json::from_slice(&portconnect_doc_example()).unwrap();
    assert_eq!(
        event["payload"].as_str().unwrap(),
        doc[0].get(),
        "byte for byte"
    );

    // Ids that are not events: 404 with what to do, as a page and as JSON.
    for (path, message) in [
        (
            "/admin/events/0190a5b2-0000-7000-8000-000000000000",
            "no event 0190a5b2-0000-7000-8000-000000000000 in the log",
        ),
        ("/admin/events/nope", "`nope` is not an event id"),
    ] {
        let response = get(&app, path, As::Bearer(TOKEN)).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(response.text().await.unwrap().contains(message), "{path}");
        let api_path = path.replace("/admin/", "/admin/api/");
        let response = get(&app, &api_path, As::Bearer(TOKEN)).await;
        assert_eq!(response.status(), 404, "{api_path}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains(message),
            "{api_path}: {body}"
        );
    }
}

const VIEWER_TOKEN: &str = "viewer-token-5b8e2d7a1c4f9e3b6a0d";
const AUTHOR_TOKEN: &str = "author-token-9c2f7e1b4d8a3e6f0b5c";

fn user(name: &str, role: lookout::secrets::Role, token: &str) -> lookout::secrets::UserAccount {
    lookout::secrets::UserAccount {
        name: name.into(),
        role,
        token: lookout::secrets::AdminToken::new(token),
    }
}

/// Named users: a viewer sees the log but cannot replay or save a test; an author can;
/// the answers name the user and the role needed, for Bearer clients and sessions alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_gets_what_their_role_allows_and_is_told_what_is_not() {
    use lookout::secrets::Role;
    let app = spawn_app_with(&[("desk", &[("speed.rhai", SPEED_RULE)])], |c| {
        c.admin_token = Some(lookout::secrets::AdminToken::new(TOKEN));
        c.users = vec![
            user("vera", Role::Viewer, VIEWER_TOKEN),
            user("apatel", Role::Author, AUTHOR_TOKEN),
        ];
    })
    .await;
    let id = send(
        &app,
        "desk",
        &estimate("EST-ROLES", "ANNA", json!({"speed": 14})),
        None,
    )
    .await;

    let me = |who| {
        let app = &app;
        async move {
            get(app, "/admin/api/me", who)
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        me(As::Bearer(TOKEN)).await,
        json!({"name": "admin", "role": "admin"})
    );
    assert_eq!(
        me(As::Bearer(VIEWER_TOKEN)).await,
        json!({"name": "vera", "role": "viewer"})
    );
    assert_eq!(
        me(As::Bearer(AUTHOR_TOKEN)).await,
        json!({"name": "apatel", "role": "author"})
    );
    // Another token is nobody's.
    assert_eq!(
        get(
            &app,
            "/admin/api/me",
            As::Bearer("viewer-token-5b8e2d7a1c4f9e3b6a0x")
        )
        .await
        .status(),
        401
    );

    // Every user sees the log (and the helpers' list).
    let helpers: Value = get(&app, "/admin/api/helpers", As::Bearer(VIEWER_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        helpers
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["signatures"][0] == "round(number, places)"),
        "{helpers}"
    );
    for token in [TOKEN, VIEWER_TOKEN, AUTHOR_TOKEN] {
        for path in [
            "/admin",
            "/admin/api/calls",
            &format!("/admin/calls/{id}"),
            "/admin/events",
        ] {
            assert_eq!(
                get(&app, path, As::Bearer(token)).await.status(),
                200,
                "{path}"
            );
        }
    }
    // Replays and test files: the viewer is refused, with what it needs and who they are.
    let authoring = [
        (Method::POST, format!("/admin/api/calls/{id}/replay")),
        (Method::GET, format!("/admin/api/calls/{id}/test")),
        (Method::POST, format!("/admin/calls/{id}/replay")),
    ];
    for (method, path) in &authoring {
        let refused = request(&app, method.clone(), path, As::Bearer(VIEWER_TOKEN), &[]).await;
        assert_eq!(refused.status(), 403, "{method} {path}");
        let text = refused.text().await.unwrap();
        assert!(
            text.contains(&format!(
                "{method} {path} needs the author role; vera is a viewer"
            )),
            "{path}: {text}"
        );
        for token in [AUTHOR_TOKEN, TOKEN] {
            let allowed = request(&app, method.clone(), path, As::Bearer(token), &[]).await;
            assert_eq!(allowed.status(), 200, "{method} {path}");
        }
    }

    // The pages say who is logged in, and offer the viewer no replay or test button.
    let page = get(
        &app,
        &format!("/admin/calls/{id}"),
        As::Bearer(VIEWER_TOKEN),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        page.contains(r#"<span id="who" class="who">vera (viewer)</span>"#),
        "{page}"
    );
    assert!(!page.contains(r#"id="replay""#) && !page.contains(r#"id="save-test""#));
    assert!(page.contains("Replaying needs the author role; vera is a viewer."));
    let page = get(
        &app,
        &format!("/admin/calls/{id}"),
        As::Bearer(AUTHOR_TOKEN),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        page.contains("apatel (author)")
            && page.contains(r#"id="replay""#)
            && page.contains(r#"id="save-test""#)
    );

    // A session carries its user: the viewer's session is refused the same way.
    let session = log_in_with(&app, VIEWER_TOKEN).await;
    assert_eq!(me(As::Cookie(&session)).await["name"], "vera");
    let token = csrf(&app, &session).await;
    let refused = request(
        &app,
        Method::POST,
        &format!("/admin/api/calls/{id}/replay"),
        As::Cookie(&session),
        &[("x-csrf-token", &token), ("origin", &origin(&app))],
    )
    .await;
    assert_eq!(refused.status(), 403);
    let author = log_in_with(&app, AUTHOR_TOKEN).await;
    assert_eq!(me(As::Cookie(&author)).await["role"], "author");
    let token = csrf(&app, &author).await;
    let allowed = request(
        &app,
        Method::POST,
        &format!("/admin/api/calls/{id}/replay"),
        As::Cookie(&author),
        &[("x-csrf-token", &token), ("origin", &origin(&app))],
    )
    .await;
    assert_eq!(allowed.status(), 200);
}

/// Sends `body` as JSON to `path` as `token`; the status and the JSON answer (`null`
/// when there is none, as after a 204).
async fn send_json(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> (StatusCode, Value) {
    let response = plain_client(app)
        .request(method, app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// POSTs a try request as `token` and returns the status and the JSON answer.
async fn try_draft(app: &TestApp, token: &str, request: Value) -> (StatusCode, Value) {
    send_json(app, Method::POST, "/admin/api/try", token, request).await
}

/// The workbench's try: a draft run on a logged call (or an estimate), beside what the
/// live rules answer on the same input, and the difference; compile errors name file,
/// line and column; nothing live changes; a viewer may not try.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_tried_on_a_logged_call_shows_its_answer_beside_the_live_one() {
    use lookout::secrets::Role;
    let app = spawn_app_with(
        &[(
            "desk",
            &[
                ("ruleset.toml", "identity = [\"/estimateID\"]\n"),
                ("speed.rhai", SPEED_RULE),
            ],
        )],
        |c| {
            c.admin_token = Some(lookout::secrets::AdminToken::new(TOKEN));
            c.users = vec![
                user("vera", Role::Viewer, VIEWER_TOKEN),
                user("apatel", Role::Author, AUTHOR_TOKEN),
            ];
        },
    )
    .await;
    let body = estimate("EST-TRY", "ANNA", json!({"speed": 14}));
    let live_before = app
        .post_hook("desk", &body, None)
        .await
        .text()
        .await
        .unwrap();
    let id = send(&app, "desk", &body, None).await;

    // The threshold raised past the call's speed: the draft's answer loses the warning.
    let raised = SPEED_RULE.replace("12.5", "15");
    let (status, tried) = try_draft(
        &app,
        AUTHOR_TOKEN,
        json!({"ruleset": "desk", "files": {"speed.rhai": raised}, "call": id}),
    )
    .await;
    assert_eq!(status, 200, "{tried}");
    assert_eq!(tried["answer"], json!([]));
    assert_eq!(tried["live"].as_array().unwrap().len(), 1, "{tried}");
    assert_eq!(
        tried["live"][0]["message"],
        "Laden speed is above the charter party warranty"
    );
    assert_eq!(tried["diff"]["removed"], 1);
    assert_eq!(tried["diff"]["same"], false);
    assert_eq!(tried["runs"][0]["rule"], "speed");
    assert_eq!(tried["runs"][0]["outcome"], "ok");
    assert_ne!(tried["version"], tried["live_version"]);

    // A new rule and a reworded message: one alert added, one changed with its GUID kept
    // (the key is the same); a changed key is called out as a GUID change.
    let reworded = SPEED_RULE.replace("above the charter party warranty", "over the C/P speed");
    let (_, tried) = try_draft(
        &app,
        AUTHOR_TOKEN,
        json!({"ruleset": "desk", "files": {"speed.rhai": reworded, "eta.rhai": "info(\"ETA check\").key(\"eta\");\n"}, "call": id}),
    )
    .await;
    assert_eq!(
        (
            tried["diff"]["added"].as_u64(),
            tried["diff"]["changed"].as_u64(),
            tried["diff"]["guid_changed"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{tried}"
    );
    let rekeyed = SPEED_RULE.replace(".key(\"speed\")", ".key(\"speed-cp\")");
    let (_, tried) = try_draft(
        &app,
        AUTHOR_TOKEN,
        json!({"ruleset": "desk", "files": {"speed.rhai": rekeyed}, "call": id}),
    )
    .await;
    assert_eq!(tried["diff"]["guid_changed"], 1, "{tried}");
    assert_eq!(tried["diff"]["changes"][0]["guid_changed"], true);

    // The same draft on an estimate given inline, with a header the rules can read.
    let (status, tried) = try_draft(
        &app,
        AUTHOR_TOKEN,
        json!({"ruleset": "desk", "files": {"who.rhai": "info(`by ${request.headers[\"x-imos-user\"]}`);\n"}, "estimate": {"estimateID": "EST-INLINE", "speed": 20}, "headers": {"x-imos-user": "apatel"}}),
    )
    .await;
    assert_eq!(status, 200, "{tried}");
    let messages: Vec<&str> = tried["answer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.contains(&"by apatel") && messages.len() == 2,
        "{tried}"
    );

    // A syntax error: 400, the file, line and column.
    let (status, refused) = try_draft(
        &app,
        AUTHOR_TOKEN,
        json!({"ruleset": "desk", "files": {"speed.rhai": "let speed = estimate.speed ?? 0;\nlet floor = ;\n"}, "call": id}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["problems"][0]["file"], "speed.rhai");
    assert_eq!(refused["problems"][0]["line"], 2);
    assert!(
        refused["problems"][0]["column"].as_u64().is_some(),
        "{refused}"
    );
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .starts_with("the draft does not compile: speed.rhai:2:"),
        "{refused}"
    );

    // Paths outside the rule set, unknown rule sets, neither call nor estimate: 4xx, said.
    for (request, status, says) in [
        (
            json!({"ruleset": "desk", "files": {"../../x.rhai": "info(\"x\");"}, "call": id}),
            400,
            "is not a file of a rule set",
        ),
        (
            json!({"ruleset": "nope", "files": {}, "call": id}),
            404,
            "no rule set `nope`",
        ),
        (
            json!({"ruleset": "desk", "files": {}}),
            400,
            "give either \"call\"",
        ),
        (
            json!({"ruleset": "desk", "call": "not-an-id"}),
            404,
            "is not a call id",
        ),
        (
            json!({"ruleset": "desk", "estimate": [1]}),
            400,
            "not an object",
        ),
        (
            json!({"ruleset": "desk", "cal": id}),
            400,
            "unknown field `cal`",
        ),
    ] {
        let (got, answer) = try_draft(&app, AUTHOR_TOKEN, request.clone()).await;
        assert_eq!(got.as_u16(), status, "{request}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(says),
            "{request}: {answer}"
        );
    }
    assert!(
        !app.dir.path().join("rules/x.rhai").exists() && !app.dir.path().join("x.rhai").exists()
    );

    // A viewer may not try.
    let (status, refused) =
        try_draft(&app, VIEWER_TOKEN, json!({"ruleset": "desk", "call": id})).await;
    assert_eq!(status, 403);
    assert!(refused["error"]
        .as_str()
        .unwrap()
        .contains("needs the author role; vera is a viewer"));

    // The draft over the last calls of the rule set: two more calls, one slow (no alert
    // live, none in the draft) and one fast (the live warning gone in the draft).
    send(
        &app,
        "desk",
        &estimate("EST-TRY-2", "BORA", json!({"speed": 10})),
        None,
    )
    .await;
    send(
        &app,
        "desk",
        &estimate("EST-TRY-3", "CARA", json!({"speed": 13})),
        None,
    )
    .await;
    let recent = |files: Value, calls: usize| {
        let body = json!({"ruleset": "desk", "files": files, "calls": calls});
        send_json(
            &app,
            Method::POST,
            "/admin/api/try/recent",
            AUTHOR_TOKEN,
            body,
        )
    };
    let (status, summary) =
        recent(json!({"speed.rhai": SPEED_RULE.replace("12.5", "15")}), 10).await;
    assert_eq!(status, 200, "{summary}");
    // The first call was sent twice above (once not recorded by `send`): every logged one counts.
    let compared = summary["compared"].as_u64().unwrap();
    assert!(compared >= 3, "{summary}");
    assert_eq!(
        summary["answers_changed"].as_u64(),
        Some(compared - 1),
        "all but the slow one lose their warning: {summary}"
    );
    assert_eq!(summary["alerts_removed"], summary["answers_changed"]);
    assert_eq!(summary["alerts_added"], 0);
    let (_, summary) = recent(json!({"speed.rhai": SPEED_RULE.replace("12.5", "15")}), 1).await;
    assert_eq!(summary["compared"], 1, "bounded by `calls`: {summary}");
    let (_, same) = recent(json!({}), 10).await;
    assert_eq!(same["answers_changed"], 0, "{same}");
    for calls in [0, 101] {
        let (status, refused) = recent(json!({}), calls).await;
        assert_eq!(status, 400, "{refused}");
        assert!(
            refused["error"].as_str().unwrap().contains("1 to 100"),
            "{refused}"
        );
    }

    // The editor's side: the rule sets, one's files on disk, and a check as one types.
    let list = request(
        &app,
        Method::GET,
        "/admin/api/rulesets",
        As::Bearer(AUTHOR_TOKEN),
        &[],
    )
    .await;
    let list: Value = list.json().await.unwrap();
    assert_eq!(list[0]["name"], "desk");
    assert_eq!(list[0]["rules"], json!(["speed"]));
    assert_eq!(list[0]["problems"], json!([]));
    let files: Value = request(
        &app,
        Method::GET,
        "/admin/api/rulesets/desk",
        As::Bearer(AUTHOR_TOKEN),
        &[],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(files["files"]["speed.rhai"], SPEED_RULE);
    assert_eq!(
        files["files"]["ruleset.toml"],
        "identity = [\"/estimateID\"]\n"
    );
    let check = |files: Value| {
        let body = json!({"ruleset": "desk", "files": files});
        let sent = send_json(&app, Method::POST, "/admin/api/check", AUTHOR_TOKEN, body);
        async move { sent.await.1 }
    };
    let checked = check(json!({"speed.rhai": "let floor = ;\n"})).await;
    assert_eq!(checked["problems"][0]["file"], "speed.rhai", "{checked}");
    assert_eq!(checked["problems"][0]["line"], 1);
    let checked = check(json!({"eta.rhai": "info(\"x\");"})).await;
    assert_eq!(checked["problems"], json!([]), "{checked}");
    assert_eq!(checked["rules"], json!(["eta", "speed"]));
    for path in ["/admin/api/rulesets", "/admin/api/rulesets/desk"] {
        assert_eq!(
            get(&app, path, As::Bearer(VIEWER_TOKEN)).await.status(),
            403,
            "{path}"
        );
    }
    assert_eq!(
        get(&app, "/admin/api/rulesets/nope", As::Bearer(AUTHOR_TOKEN))
            .await
            .status(),
        404
    );

    // Nothing live changed: the files, and the answer the Estimator gets.
    assert_eq!(
        std::fs::read_to_string(app.rules_dir("desk").join("speed.rhai")).unwrap(),
        SPEED_RULE
    );
    assert!(!app.rules_dir("desk").join("eta.rhai").exists());
    assert_eq!(
        app.post_hook("desk", &body, None)
            .await
            .text()
            .await
            .unwrap(),
        live_before
    );
}

/// The workbench runs a draft's tests (the live tests with the draft's changes) with the
/// code `lookout test` runs, on the server: paths a test names resolve as they do live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drafts_tests_run_on_the_server_as_lookout_test_runs_them() {
    use lookout::secrets::Role;
    let app = spawn_app_with(
        &[(
            "desk",
            &[
                ("speed.rhai", SPEED_RULE),
                (
                    "tests/fast.json",
                    r#"{"description": "A fast ship warns", "estimate": "../../samples/fast.json", "rules": ["speed"], "expect": {"count": 1}}"#,
                ),
                (
                    "tests/slow.json",
                    r#"{"estimate": {"speed": 10}, "expect": {"count": 0}}"#,
                ),
            ],
        )],
        |c| {
            c.admin_token = Some(lookout::secrets::AdminToken::new(TOKEN));
            c.users = vec![
                user("vera", Role::Viewer, VIEWER_TOKEN),
                user("apatel", Role::Author, AUTHOR_TOKEN),
            ];
        },
    )
    .await;
    write_files(
        &app.dir.path().join("rules/samples"),
        &[("fast.json", r#"{"estimateID": "E1", "speed": 14}"#)],
    );
    let test = |token: &'static str, request: Value| {
        send_json(&app, Method::POST, "/admin/api/test", token, request)
    };

    let (status, ran) = test(AUTHOR_TOKEN, json!({"ruleset": "desk"})).await;
    assert_eq!(status, 200, "{ran}");
    assert_eq!(
        (ran["passed"].as_u64(), ran["failed"].as_u64()),
        (Some(2), Some(0)),
        "{ran}"
    );
    assert_eq!(ran["tests"][0]["name"], "fast");
    assert_eq!(ran["tests"][0]["description"], "A fast ship warns");
    assert_eq!(
        ran["version"], ran["live_version"],
        "no changes: the live version"
    );

    // The threshold raised: the fast test fails, saying why; a new test in the draft runs.
    let (_, ran) = test(
        AUTHOR_TOKEN,
        json!({"ruleset": "desk", "files": {
            "speed.rhai": SPEED_RULE.replace("12.5", "15"),
            "tests/faster.json": r#"{"estimate": {"speed": 16}, "expect": {"count": 1}}"#,
        }}),
    )
    .await;
    assert_eq!(
        (ran["passed"].as_u64(), ran["failed"].as_u64()),
        (Some(2), Some(1)),
        "{ran}"
    );
    assert_eq!(ran["tests"][0]["ok"], false);
    let failure = ran["tests"][0]["failures"][0].as_str().unwrap();
    assert!(failure.starts_with("expected 1 alert, got 0"), "{failure}");
    assert_eq!(ran["tests"][1]["name"], "faster");

    // --filter, a draft that does not compile, and a viewer.
    let (_, ran) = test(AUTHOR_TOKEN, json!({"ruleset": "desk", "filter": "slow"})).await;
    assert_eq!(ran["tests"].as_array().unwrap().len(), 1);
    let (status, refused) = test(
        AUTHOR_TOKEN,
        json!({"ruleset": "desk", "files": {"speed.rhai": "let = 1;"}}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(refused["problems"][0]["file"], "speed.rhai");
    let (status, _) = test(VIEWER_TOKEN, json!({"ruleset": "desk"})).await;
    assert_eq!(status, 403);
    // The live tests folder is as it was.
    assert!(!app.rules_dir("desk").join("tests/faster.json").exists());
}

const PUBLISHER_TOKEN: &str = "publisher-token-2e7b9c4f1a8d3e6b0c5f";

/// Drafts kept in the store and owned by their author; publishing (publisher only)
/// refused unless the draft compiles and its tests pass, then live on the next call;
/// the audit log; a rollback to the version before the workbench.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_is_saved_published_and_rolled_back() {
    use lookout::secrets::Role;
    let app = spawn_app_with(
        &[(
            "desk",
            &[
                ("ruleset.toml", "identity = [\"/estimateID\"]\n"),
                ("speed.rhai", SPEED_RULE),
                (
                    "tests/fast.json",
                    r#"{"estimate": {"estimateID": "T", "speed": 14}, "rules": ["speed"], "expect": {"count": 1}}"#,
                ),
            ],
        )],
        |c| {
            c.admin_token = Some(lookout::secrets::AdminToken::new(TOKEN));
            c.users = vec![
                user("vera", Role::Viewer, VIEWER_TOKEN),
                user("apatel", Role::Author, AUTHOR_TOKEN),
                user("jlee", Role::Publisher, PUBLISHER_TOKEN),
            ];
        },
    )
    .await;
    let send_json = |method: Method, path: &'static str, token: &'static str, body: Value| {
        send_json(&app, method, path, token, body)
    };
    let body = estimate("EST-PUB", "ANNA", json!({"speed": 14}));
    let live_answer = |app: &TestApp| {
        let (client, url, body) = (app.client.clone(), app.url("/hooks/desk"), body.clone());
        async move {
            let r = client.post(url).body(body).send().await.unwrap();
            let version = r.headers()["x-lookout-rules-version"]
                .to_str()
                .unwrap()
                .to_string();
            let messages: Vec<String> = r
                .json::<Value>()
                .await
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["message"].as_str().unwrap().to_string())
                .collect();
            (version, messages)
        }
    };
    let (first_version, first) = live_answer(&app).await;
    assert_eq!(first, ["Laden speed is above the charter party warranty"]);

    // The author saves a draft; it is theirs, made from the live version.
    let (status, draft) = send_json(
        Method::POST,
        "/admin/api/drafts",
        AUTHOR_TOKEN,
        json!({"ruleset": "desk", "files": {"eta.rhai": "info(\"ETA checked\").key(\"eta\");\n"}}),
    )
    .await;
    assert_eq!(status, 200, "{draft}");
    assert_eq!(
        (draft["owner"].as_str(), draft["base_version"].as_str()),
        (Some("apatel"), Some(first_version.as_str()))
    );
    let id = draft["id"].as_str().unwrap().to_string();
    let (_, mine) = send_json(Method::GET, "/admin/api/drafts", AUTHOR_TOKEN, json!(null)).await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let (status, _) = send_json(Method::GET, "/admin/api/drafts", VIEWER_TOKEN, json!(null)).await;
    assert_eq!(status, 403);

    // Only a publisher publishes; a message is needed.
    let (status, refused) = send_json(
        Method::POST,
        "/admin/api/publish",
        AUTHOR_TOKEN,
        json!({"ruleset": "desk", "draft": id, "message": "ETA card"}),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    let (status, refused) = send_json(
        Method::POST,
        "/admin/api/publish",
        PUBLISHER_TOKEN,
        json!({"ruleset": "desk", "draft": id, "message": " "}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");

    // A draft whose tests fail is refused, and nothing is written.
    let (status, refused) = send_json(
        Method::POST,
        "/admin/api/publish",
        PUBLISHER_TOKEN,
        json!({"ruleset": "desk", "files": {"speed.rhai": SPEED_RULE.replace("12.5", "15")}, "message": "slower"}),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .starts_with("not published: 1 test failed: fast: expected 1 alert, got 0"),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_to_string(app.rules_dir("desk").join("speed.rhai")).unwrap(),
        SPEED_RULE
    );

    // The draft published: on disk, live on the next call, the draft gone, logged.
    let (status, published) = send_json(
        Method::POST,
        "/admin/api/publish",
        PUBLISHER_TOKEN,
        json!({"ruleset": "desk", "draft": id, "message": "ETA card"}),
    )
    .await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["previous_version"], first_version.as_str());
    assert!(app.rules_dir("desk").join("eta.rhai").exists());
    let (version, messages) = live_answer(&app).await;
    assert_eq!(version, published["version"].as_str().unwrap());
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages.contains(&"ETA checked".to_string()));
    let (_, mine) = send_json(Method::GET, "/admin/api/drafts", AUTHOR_TOKEN, json!(null)).await;
    assert_eq!(mine, json!([]));
    let (_, log) = send_json(
        Method::GET,
        "/admin/api/rulesets/desk/versions",
        AUTHOR_TOKEN,
        json!(null),
    )
    .await;
    let log = log.as_array().unwrap().clone();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(
        (
            log[0]["action"].as_str(),
            log[0]["author"].as_str(),
            log[0]["message"].as_str()
        ),
        (Some("publish"), Some("jlee"), Some("ETA card"))
    );
    assert_eq!(
        (log[1]["action"].as_str(), log[1]["version"].as_str()),
        (Some("baseline"), Some(first_version.as_str()))
    );

    // What the publish changed, file by file: from the version before it to the live rules.
    let compare = |from: String, to: &'static str| {
        let path = format!("/admin/api/compare?ruleset=desk&from={from}&to={to}");
        let client = plain_client(&app);
        let url = app.url(&path);
        async move {
            let r = client
                .get(url)
                .bearer_auth(AUTHOR_TOKEN)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, changed) = compare(log[1]["id"].as_str().unwrap().into(), "live").await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["unchanged"], 3, "{changed}"); // ruleset.toml, speed.rhai, the test
    assert_eq!(changed["files"].as_array().unwrap().len(), 1, "{changed}");
    let file = &changed["files"][0];
    assert_eq!(
        (
            file["path"].as_str(),
            file["change"].as_str(),
            file["lines_added"].as_u64()
        ),
        (Some("eta.rhai"), Some("added"), Some(1))
    );
    assert!(
        file["diff"]
            .as_str()
            .unwrap()
            .contains("\n+info(\"ETA checked\").key(\"eta\");\n"),
        "{file}"
    );
    let (status, same) = compare(log[0]["id"].as_str().unwrap().into(), "live").await;
    assert_eq!(
        (status.as_u16(), same["files"].clone()),
        (200, json!([])),
        "{same}"
    );
    let (status, unknown) = compare("0190a5b2-0000-7000-8000-000000000000".into(), "live").await;
    assert_eq!(status, 404, "{unknown}");
    let (status, form) = compare("live".into(), "live&color=red").await;
    assert_eq!(status, 400, "{form}");

    // Changes made from a version no longer live are refused.
    let (status, refused) = send_json(
        Method::POST,
        "/admin/api/publish",
        PUBLISHER_TOKEN,
        json!({"ruleset": "desk", "files": {"x.rhai": "info(\"x\");"}, "base_version": first_version, "message": "late"}),
    )
    .await;
    assert_eq!(status, 409, "{refused}");

    // Rolled back to the version before the workbench: the new rule is gone again.
    let baseline = log[1]["id"].as_str().unwrap();
    let (status, rolled) = send_json(
        Method::POST,
        "/admin/api/rollback",
        PUBLISHER_TOKEN,
        json!({"ruleset": "desk", "to": baseline, "message": "ETA card too noisy"}),
    )
    .await;
    assert_eq!(status, 200, "{rolled}");
    assert_eq!(rolled["version"], first_version.as_str());
    assert!(!app.rules_dir("desk").join("eta.rhai").exists());
    assert_eq!(live_answer(&app).await, (first_version, first));
    let (_, full) = send_json(
        Method::GET,
        "/admin/api/rulesets/desk/versions",
        AUTHOR_TOKEN,
        json!(null),
    )
    .await;
    assert_eq!(full[0]["action"], "rollback");
    assert!(full[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("ETA card too noisy (back to "));
    // From the publish to the live rules now: the rule it added is removed.
    let (_, back) = compare(log[0]["id"].as_str().unwrap().into(), "live").await;
    assert_eq!(back["files"][0]["change"], "removed", "{back}");
    assert_eq!(back["files"][0]["lines_removed"], 1, "{back}");
}

/// Each rule's activity over the last 24 hours and 7 days, from the log: calls, alerts
/// raised, errors, p50/p99 time, and every hour of the week for the chart; the page
/// shows it as a table with an SVG chart per rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rules_activity_is_counted_from_the_log_and_shown_in_the_workbench() {
    use lookout::secrets::Role;
    let app = spawn_app_with(
        &[(
            "desk",
            &[("speed.rhai", SPEED_RULE), ("boom.rhai", BOOM_RULE)],
        )],
        |c| {
            c.admin_token = Some(lookout::secrets::AdminToken::new(TOKEN));
            c.users = vec![
                user("vera", Role::Viewer, VIEWER_TOKEN),
                user("apatel", Role::Author, AUTHOR_TOKEN),
            ];
        },
    )
    .await;
    for (i, speed, boom) in [(1, 14, false), (2, 14, true), (3, 10, false)] {
        send(
            &app,
            "desk",
            &estimate(
                &format!("EST-ACT-{i}"),
                "ANNA",
                json!({"speed": speed, "boom": boom}),
            ),
            None,
        )
        .await;
    }
    let activity = app
        .api_get("/admin/api/rulesets/desk/activity", AUTHOR_TOKEN)
        .await;
    let rules = activity["rules"].as_array().unwrap();
    let names: Vec<&str> = rules.iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert_eq!(names, ["boom", "speed"], "{activity}");
    let (boom, speed) = (&rules[0], &rules[1]);
    assert_eq!(
        (
            &speed["day"]["calls"],
            &speed["day"]["alerts"],
            &speed["day"]["errors"]
        ),
        (&json!(3), &json!(2), &json!(0)),
        "{speed}"
    );
    assert_eq!(speed["week"]["calls"], 3);
    assert_eq!(
        (&boom["day"]["calls"], &boom["day"]["errors"]),
        (&json!(3), &json!(1))
    );
    let p50 = speed["day"]["p50_us"].as_u64().unwrap();
    let p99 = speed["day"]["p99_us"].as_u64().unwrap();
    assert!(p50 > 0 && p50 <= p99, "{speed}");
    let hours = speed["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 168);
    let calls =
        |hours: &[Value]| -> u64 { hours.iter().map(|h| h["calls"].as_u64().unwrap()).sum() };
    // This hour is the last (or the one before it, when an hour began during the test).
    assert_eq!(calls(&hours[166..]), 3, "{hours:?}");
    assert_eq!(calls(&hours[..166]), 0);

    // The page: a row per rule with its figures and a chart.
    let page = app.page_as("/admin/rules/desk", AUTHOR_TOKEN).await;
    assert!(page.contains(r#"<tr data-rule="speed">"#), "{page}");
    assert!(page.contains("3 calls · 2 alerts · p50 "), "{page}");
    // The failed run's card (lookout's notice of the error) is its alert in the answer.
    assert!(
        page.contains("3 calls · 1 alert · 1 error · p50 "),
        "{page}"
    );
    assert_eq!(page.matches(r#"<svg class="chart""#).count(), 2, "{page}");
    // A viewer sees neither.
    let refused = plain_client(&app)
        .get(app.url("/admin/api/rulesets/desk/activity"))
        .bearer_auth(VIEWER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let missing = plain_client(&app)
        .get(app.url("/admin/api/rulesets/nope/activity"))
        .bearer_auth(AUTHOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// Every route of the viewer and the workbench refuses a role below the one it needs,
/// and only those: a sweep over all of them with each user (what a request without the
/// needed role gets is a 403 naming the role; with it, anything but a 403).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_the_roles_below_the_one_it_needs() {
    use lookout::secrets::Role;
    let app = spawn_app_with(&[("desk", &[("speed.rhai", SPEED_RULE)])], |c| {
        c.admin_token = Some(lookout::secrets::AdminToken::new(TOKEN));
        c.users = vec![
            user("vera", Role::Viewer, VIEWER_TOKEN),
            user("apatel", Role::Author, AUTHOR_TOKEN),
            user("jlee", Role::Publisher, PUBLISHER_TOKEN),
        ];
    })
    .await;
    let id = send(
        &app,
        "desk",
        &estimate("EST-SWEEP", "ANNA", json!({"speed": 14})),
        None,
    )
    .await;
    let nobody = "0190a5b2-0000-7000-8000-000000000000";
    let routes: Vec<(Method, String, Role)> = vec![
        (Method::GET, "/admin".into(), Role::Viewer),
        (Method::GET, format!("/admin/calls/{id}"), Role::Viewer),
        (Method::GET, "/admin/events".into(), Role::Viewer),
        (Method::GET, "/admin/api/calls".into(), Role::Viewer),
        (Method::GET, format!("/admin/api/calls/{id}"), Role::Viewer),
        (
            Method::GET,
            format!("/admin/api/calls/{id}/request-body"),
            Role::Viewer,
        ),
        (Method::GET, "/admin/api/events".into(), Role::Viewer),
        (Method::GET, "/admin/".into(), Role::Viewer),
        (Method::POST, "/admin/logout".into(), Role::Viewer),
        (
            Method::GET,
            format!("/admin/api/calls/{id}/response-body"),
            Role::Viewer,
        ),
        (Method::GET, format!("/admin/events/{nobody}"), Role::Viewer),
        (
            Method::GET,
            format!("/admin/api/events/{nobody}"),
            Role::Viewer,
        ),
        (Method::GET, "/admin/no-such-page".into(), Role::Viewer),
        (Method::GET, "/admin/api/status".into(), Role::Viewer),
        (Method::GET, "/admin/api/me".into(), Role::Viewer),
        (Method::GET, "/admin/api/helpers".into(), Role::Viewer),
        (
            Method::POST,
            format!("/admin/calls/{id}/replay"),
            Role::Author,
        ),
        (
            Method::POST,
            format!("/admin/api/calls/{id}/replay"),
            Role::Author,
        ),
        (
            Method::GET,
            format!("/admin/api/calls/{id}/test"),
            Role::Author,
        ),
        (Method::GET, "/admin/rules".into(), Role::Author),
        (Method::GET, "/admin/rules/desk".into(), Role::Author),
        (Method::GET, "/admin/api/rulesets".into(), Role::Author),
        (Method::GET, "/admin/api/rulesets/desk".into(), Role::Author),
        (
            Method::GET,
            "/admin/api/rulesets/desk/versions".into(),
            Role::Author,
        ),
        (
            Method::GET,
            "/admin/api/rulesets/desk/activity".into(),
            Role::Author,
        ),
        (
            Method::GET,
            "/admin/api/compare?ruleset=desk&from=live".into(),
            Role::Author,
        ),
        (
            Method::GET,
            format!("/admin/api/versions/{nobody}"),
            Role::Author,
        ),
        (Method::POST, "/admin/api/check".into(), Role::Author),
        (Method::POST, "/admin/api/try".into(), Role::Author),
        (Method::POST, "/admin/api/try/recent".into(), Role::Author),
        (Method::POST, "/admin/api/test".into(), Role::Author),
        (Method::GET, "/admin/api/drafts".into(), Role::Author),
        (Method::POST, "/admin/api/drafts".into(), Role::Author),
        (
            Method::GET,
            format!("/admin/api/drafts/{nobody}"),
            Role::Author,
        ),
        (
            Method::DELETE,
            format!("/admin/api/drafts/{nobody}"),
            Role::Author,
        ),
        (Method::POST, "/admin/api/publish".into(), Role::Publisher),
        (Method::POST, "/admin/api/rollback".into(), Role::Publisher),
        (Method::GET, "/admin/fleet".into(), Role::Author),
        (Method::GET, "/admin/api/instances".into(), Role::Author),
        (
            Method::GET,
            format!("/admin/fleet/candidates/{nobody}"),
            Role::Author,
        ),
        (Method::GET, "/admin/api/candidates".into(), Role::Author),
        (
            Method::GET,
            format!("/admin/api/candidates/{nobody}"),
            Role::Author,
        ),
        (
            Method::GET,
            format!("/admin/api/candidates/{nobody}/calls"),
            Role::Author,
        ),
        (
            Method::POST,
            "/admin/api/candidates".into(),
            Role::Publisher,
        ),
        (
            Method::POST,
            format!("/admin/api/candidates/{nobody}/promote"),
            Role::Publisher,
        ),
        (
            Method::POST,
            format!("/admin/api/candidates/{nobody}/discard"),
            Role::Publisher,
        ),
        (
            Method::POST,
            format!("/admin/fleet/candidates/{nobody}/promote"),
            Role::Publisher,
        ),
        (
            Method::POST,
            format!("/admin/fleet/candidates/{nobody}/discard"),
            Role::Publisher,
        ),
        (
            Method::POST,
            "/admin/api/rulesets/desk/retire".into(),
            Role::Publisher,
        ),
        (
            Method::POST,
            "/admin/fleet/rulesets/desk/retire".into(),
            Role::Publisher,
        ),
    ];
    // Every route behind a login is in the sweep: read from the router's source, so a
    // route added without a line here fails this test.
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/admin/mod.rs"),
    )
    .unwrap();
    let guarded =
        &source[source.find("let seeing").unwrap()..source.find("let protected").unwrap()];
    let templates: Vec<&str> = guarded
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|t| t.starts_with("/admin"))
        .collect();
    assert!(templates.len() >= 40, "{templates:?}");
    let matches = |template: &str, path: &str| {
        let path = path.split('?').next().unwrap();
        let (t, p): (Vec<&str>, Vec<&str>) =
            (template.split('/').collect(), path.split('/').collect());
        t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t == p || t.starts_with('{'))
    };
    for template in templates {
        assert!(
            routes.iter().any(|(_, path, _)| matches(template, path)),
            "{template} is not in the sweep"
        );
    }
    for (token, role) in [
        (VIEWER_TOKEN, Role::Viewer),
        (AUTHOR_TOKEN, Role::Author),
        (PUBLISHER_TOKEN, Role::Publisher),
        (TOKEN, Role::Admin),
    ] {
        for (method, path, least) in &routes {
            let response = plain_client(&app)
                .request(method.clone(), app.url(path))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = response.status();
            if role < *least {
                assert_eq!(status, 403, "{role:?} {method} {path}");
                let text = response.text().await.unwrap();
                assert!(
                    text.contains(&format!("needs the {} role", least.as_str())),
                    "{method} {path}: {text}"
                );
            } else {
                assert_ne!(status, 403, "{role:?} {method} {path}");
                assert_ne!(status, 401, "{role:?} {method} {path}");
            }
        }
    }
}
