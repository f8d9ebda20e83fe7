//! `POST /hooks/{ruleset}`: the Veson webhook.
//!
//! Reads as the call's path: find the rule set → read the body (bounded in size, time
//! and memory, `http::body`) → check the signature on the exact bytes → take a
//! concurrency permit → parse → evaluate the rules under the deadline → answer.
//!
//! The permit is taken only once the body is complete and signed: callers that cannot
//! sign (or send slowly) never hold one, so they cannot make the Estimator's calls 503.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use tracing::Instrument;
use uuid::Uuid;

use crate::http::{ApiError, AppState};
use crate::rules::json::Doc;
use crate::rules::{self, CallInput, EstimateError, RuleSet};
use crate::signature;
use crate::store;

pub async fn hook(
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let call = Exchange {
        arrived: Instant::now(),
        received_at: SystemTime::now(),
        id: Uuid::now_v7(),
        peer: peer
            .map(|Extension(ConnectInfo(addr))| addr.to_string())
            .unwrap_or_default(),
        name,
        headers,
        ruleset: None,
        body: Bytes::new(),
        signature: None,
        parsed: false,
        evaluation: None,
    };
    // The name comes from the URL: quoted and capped in log lines, so it cannot forge one.
    let span = tracing::info_span!("call", call_id = %call.id, ruleset = %crate::http::quoted(&call.name), peer = %call.peer);
    call.run(state, body).instrument(span).await
}

/// One webhook call as it goes: what it has reached so far is what its record holds.
struct Exchange {
    arrived: Instant,
    received_at: SystemTime,
    id: Uuid,
    peer: String,
    /// The rule set named in the URL.
    name: String,
    headers: HeaderMap,
    ruleset: Option<Arc<RuleSet>>,
    /// The body as received (empty when it was not read).
    body: Bytes,
    signature: Option<signature::Outcome>,
    /// The body was parsed as an estimate.
    parsed: bool,
    evaluation: Option<rules::Evaluation>,
}

/// Bytes kept of a body whose signature did not pass: enough to see what was sent,
/// not enough for an unauthenticated caller to fill the log.
const UNAUTHENTICATED_KEEP: usize = 16 << 10;
/// Headers kept of a call whose signature did not pass (or was never checked): at most
/// this many, with at most this many bytes of names and values in all.
const UNAUTHENTICATED_HEADERS: usize = 32;
const UNAUTHENTICATED_HEADER_BYTES: usize = 4 << 10;

impl Exchange {
    /// Answers the call, then hands its record to the recorder.
    async fn run(mut self, state: AppState, body: Body) -> Response {
        let (mut response, answer, error) = match self.answer(&state, body).await {
            Ok((response, answer)) => (response, answer, None),
            Err(err) => {
                tracing::warn!(
                    status = err.status().as_u16(),
                    elapsed_ms = self.arrived.elapsed().as_secs_f64() * 1e3,
                    "refused: {err}"
                );
                let message = err.to_string();
                let answer = Bytes::from(crate::http::error_body(&message));
                (err.into_response(), answer, Some(message))
            }
        };
        response.headers_mut().insert(
            "x-lookout-call-id",
            HeaderValue::from_str(&self.id.to_string()).expect("uuid is ascii"),
        );
        // The wait for the record's write never takes the answer past the rule set's
        // budget (its own margin may be smaller than the server's).
        let budget_end = self
            .ruleset
            .as_ref()
            .map(|s| self.arrived + s.settings.budget);
        if let Some(written) = self.record(&state, response.status().as_u16(), answer, error) {
            let left = budget_end
                .map(|end| end.saturating_duration_since(Instant::now()))
                .unwrap_or_default();
            state.recorder.wait_written(written, left).await;
        }
        response
    }

    /// find the rule set → read the body → check its signature → take a permit →
    /// parse → evaluate under the deadline → the answer (and its bytes, for the record).
    async fn answer(
        &mut self,
        state: &AppState,
        body: Body,
    ) -> Result<(Response, Bytes), ApiError> {
        let ruleset = match find_ruleset(state, &self.name) {
            Ok(set) => set,
            Err(err) => {
                state.uploads.drain(body, 64 << 10).await;
                return Err(err);
            }
        };
        self.ruleset = Some(ruleset.clone());
        self.body = state
            .uploads
            .read(&self.headers, body, state.config.max_request_bytes)
            .await?;

        let outcome = signature::verify(
            self.headers
                .get_all(signature::HEADER)
                .iter()
                .map(|v| v.as_bytes()),
            &self.body,
            &ruleset.settings.api_keys,
        );
        self.signature = Some(outcome);
        if !outcome.is_accepted() {
            return Err(ApiError::Unauthorized(outcome.explain()));
        }
        let permit =
            state
                .permits
                .clone()
                .try_acquire_owned()
                .map_err(|_| ApiError::Overloaded {
                    limit: state.config.max_concurrent_calls,
                })?;

        let estimate = Arc::new(parse_estimate(&self.body)?);
        self.parsed = true;
        let input = Arc::new(CallInput::new(
            &ruleset,
            self.id,
            self.received_at,
            self.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())),
            estimate,
            Some(Arc::new(crate::replay::StoreFacts {
                store: state.recorder.store().clone(),
                as_of: None,
            })),
        ));
        let deadline = self.arrived + ruleset.settings.budget - ruleset.settings.margin;
        let candidate = state.fleet.shadow().candidate_of(&ruleset.name);
        let shadow_input = candidate.as_ref().map(|_| input.clone());
        let mut evaluation =
            rules::evaluate(&state.pool, ruleset.clone(), input, deadline, permit).await;

        for run in &evaluation.runs {
            tracing::debug!(rule = %run.rule, outcome = run.outcome.as_str(), duration_us = run.duration.as_micros() as u64, alerts = run.alerts.len(), operations = run.operations, "rule");
            if let rules::Outcome::Error(err) = &run.outcome {
                tracing::warn!(rule = %run.rule, "rule failed at {err}");
            }
        }
        let answered = &evaluation.response;
        tracing::info!(
            status = 200,
            signature = outcome.as_str(),
            alerts = answered.sent,
            omitted = answered.omitted,
            bytes = answered.body.len(),
            elapsed_ms = self.arrived.elapsed().as_secs_f64() * 1e3,
            "answered"
        );
        let answer = Bytes::from(std::mem::take(&mut evaluation.response.body));
        // The rule set's candidate runs the call again once the answer has gone out.
        let shadow = candidate.zip(shadow_input).map(|(candidate, input)| {
            let job = crate::fleet::shadow::Job {
                candidate,
                call_id: self.id,
                live_version: ruleset.version.clone(),
                input,
                live: evaluation.response.wires(),
                live_us: 0,
                body: self.body.clone(),
                redact_body: Arc::from(ruleset.settings.redact_body.as_slice()),
            };
            let (shadow, arrived) = (state.fleet.shadow().clone(), self.arrived);
            move || {
                shadow.offer(crate::fleet::shadow::Job {
                    live_us: arrived.elapsed().as_micros() as i64,
                    ..job
                })
            }
        });
        self.evaluation = Some(evaluation);
        let mut response = match shadow {
            Some(then) => (
                StatusCode::OK,
                Body::new(ThenAfterSent::new(answer.clone(), then)),
            )
                .into_response(),
            None => (StatusCode::OK, answer.clone()).into_response(),
        };
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h.insert(
            "x-lookout-rules-version",
            HeaderValue::from_str(&ruleset.version).expect("hex is ascii"),
        );
        if state.registry.is_stale(&ruleset.name) {
            h.insert(
                "x-lookout-rules-stale",
                HeaderValue::from_static(
                    "the rule set's files on disk do not compile; this answer is from the last version that did (lookout check, or the viewer, shows why)",
                ),
            );
        }
        Ok((response, answer))
    }

    /// Counts the call in `/metrics` and hands its record, built here once, to the
    /// recorder; with `[store] answer_after_write_ms`, a signed call's record comes
    /// with the receiver its answer waits on.
    fn record(
        self,
        state: &AppState,
        status: u16,
        answer: Bytes,
        error: Option<String>,
    ) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let elapsed = self.arrived.elapsed();
        let Exchange {
            received_at,
            id,
            peer,
            name,
            headers,
            ruleset,
            body,
            signature,
            parsed,
            evaluation,
            ..
        } = self;
        let (runs, alerts, sent, omitted, estimate_id) = match evaluation {
            Some(e) => (
                e.runs,
                e.response.alerts,
                e.response.sent,
                e.response.omitted,
                Some(e.estimate_id).filter(|id| !id.is_empty()),
            ),
            None => (Vec::new(), Vec::new(), 0, 0, None),
        };
        let metric_name = if ruleset.is_some() || state.registry.problems().contains_key(&name) {
            name.as_str()
        } else {
            "(unknown)"
        };
        state.metrics.call(
            metric_name,
            status,
            elapsed,
            runs.iter().map(|run| crate::metrics::RuleSample {
                rule: &run.rule,
                duration: run.duration,
                outcome: run.outcome.as_str(),
            }),
        );
        let mut redacted = Vec::new();
        let extra: &[String] = ruleset
            .as_ref()
            .map(|s| s.settings.redact_headers.as_slice())
            .unwrap_or_default();
        let mut request_headers = store::redact::headers(&headers, extra, &mut redacted);
        let accepted = signature.is_some_and(|s| s.is_accepted());
        if !accepted {
            store::redact::bound(
                &mut request_headers,
                UNAUTHENTICATED_HEADERS,
                UNAUTHENTICATED_HEADER_BYTES,
                &mut redacted,
            );
        }
        let request_size = if body.is_empty() {
            crate::http::body::declared_length(&headers).unwrap_or(0)
        } else {
            body.len() as u64
        };
        let call = store::Call {
            id: id.to_string(),
            received_at: crate::clock::micros(received_at),
            instance: state.instance.to_string(),
            // Names of unknown rule sets come from the caller: keep a bounded prefix.
            ruleset: name.chars().take(128).collect(),
            rules_version: ruleset.as_ref().map(|s| s.version.clone()),
            peer,
            status,
            signature: signature
                .map(|s| s.as_str())
                .unwrap_or("not_checked")
                .to_string(),
            duration_us: elapsed.as_micros() as i64,
            estimate_id,
            alerts: sent as u32,
            omitted: omitted as u32,
            rule_errors: runs
                .iter()
                .filter(|r| matches!(r.outcome, rules::Outcome::Error(_)))
                .count() as u32,
            rule_timeouts: runs
                .iter()
                .filter(|r| matches!(r.outcome, rules::Outcome::Timeout))
                .count() as u32,
            error,
            request_headers,
            redacted,
            request_size,
            request_body: body,
            request_truncated: false,
            response_body: answer.to_vec(),
            rules: traces(runs, alerts),
        };
        let (written, wait) = if accepted && !state.recorder.answer_after_write().is_zero() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        state.recorder.record(store::recorder::Record {
            call,
            keep: if accepted {
                usize::MAX
            } else {
                UNAUTHENTICATED_KEEP
            },
            parsed,
            redact_body: ruleset
                .as_ref()
                .map(|s| Arc::from(s.settings.redact_body.as_slice()))
                .unwrap_or_else(|| Arc::from(Vec::new())),
            refused: !accepted,
            written,
        });
        wait
    }
}

/// An answer's body that calls `then` once the connection is done with it (sent, or
/// the client gone): what must happen after the answer, and never before it.
struct ThenAfterSent<F: FnOnce() + Send + 'static> {
    bytes: Option<Bytes>,
    then: Option<F>,
}

impl<F: FnOnce() + Send + 'static> ThenAfterSent<F> {
    fn new(bytes: Bytes, then: F) -> Self {
        ThenAfterSent {
            bytes: Some(bytes),
            then: Some(then),
        }
    }
}

impl<F: FnOnce() + Send + Unpin + 'static> http_body::Body for ThenAfterSent<F> {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.bytes.take().map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.bytes.as_ref().map_or(0, |b| b.len() as u64))
    }
}

impl<F: FnOnce() + Send + 'static> Drop for ThenAfterSent<F> {
    fn drop(&mut self) {
        if let Some(then) = self.then.take() {
            then();
        }
    }
}

/// The per-rule trace: each rule's run with the alerts it had in the answer (GUIDs
/// included), as the answer was assembled.
pub fn traces(runs: Vec<rules::RuleRun>, sent: Vec<crate::alerts::Sent>) -> Vec<store::RuleTrace> {
    let mut by_rule: std::collections::HashMap<String, Vec<crate::alerts::Wire>> =
        std::collections::HashMap::new();
    for alert in sent {
        if let Some(rule) = alert.rule {
            by_rule.entry(rule).or_default().push(alert.alert);
        }
    }
    runs.into_iter()
        .map(|run| {
            let error = match &run.outcome {
                rules::Outcome::Error(e) => Some(store::TraceError {
                    message: e.message.clone(),
                    line: e.line,
                    column: e.column,
                    source: e.source.clone(),
                }),
                _ => None,
            };
            store::RuleTrace {
                outcome: run.outcome.as_str().to_string(),
                duration_us: run.duration.as_micros() as i64,
                operations: run.operations,
                alerts: by_rule.remove(&run.rule).unwrap_or_default(),
                error,
                output_cut: run.output.contains("\n[output cut:"),
                output: run.output,
                notes: run.notes,
                reused: run.reused,
                rule: run.rule,
            }
        })
        .collect()
}

fn find_ruleset(state: &AppState, name: &str) -> Result<Arc<RuleSet>, ApiError> {
    if let Some(set) = state.registry.get(name) {
        return Ok(set);
    }
    // The caller is not authenticated yet: it learns that the rule set cannot serve,
    // where the problems are, and which key is missing; never what a file says.
    if let Some(problems) = state.registry.problems().get(name) {
        if let Some(key) = problems.iter().find(|p| p.is_key()) {
            return Err(ApiError::Unavailable(format!(
                "rule set `{name}` cannot check signatures: {}; calls are refused until the key can be read",
                key.message
            )));
        }
        let root = state.registry.root();
        let at: Vec<String> = problems.iter().take(3).map(|p| p.location(root)).collect();
        return Err(ApiError::Unavailable(format!(
            "rule set `{name}` does not compile yet ({} problem{} at {}); its author sees them with `lookout check`",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            at.join(", ")
        )));
    }
    Err(ApiError::NotFound(format!(
        "no rule set {} on this server; check the webhook URL in the IMOS rule set (https://<host>/hooks/<ruleset>)",
        crate::http::quoted(name)
    )))
}

pub(crate) fn parse_estimate(body: &[u8]) -> Result<Doc, ApiError> {
    rules::parse_estimate(body).map_err(|e| {
        ApiError::BadRequest(match e {
            EstimateError::NotUtf8(e) => format!(
                "body is not UTF-8 text (invalid byte at offset {}); send the estimate as UTF-8 JSON",
                e.valid_up_to()
            ),
            EstimateError::TooDeep(deep) => format!(
                "body is refused: {deep}; an estimate is a few levels deep, so check what produced this body"
            ),
            EstimateError::NotJson(e) => format!(
                "body is not valid JSON: {} at line {} column {}; the Estimator sends the estimate as a JSON object, so check what produced this body",
                e.message(),
                e.line(),
                e.column()
            ),
            EstimateError::NotObject(kind) => format!(
                "body is JSON but not an object (it is {kind}); send the estimate as a JSON object {{...}}"
            ),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_line_and_column() {
        let err = parse_estimate(b"{\n  \"a\": 1,\n  \"b\": \n}")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("body is not valid JSON: expected value at line 4 column 1;"),
            "{err}"
        );
        let err = parse_estimate(b"[1,2]").unwrap_err().to_string();
        assert!(err.contains("not an object (it is an array)"), "{err}");
        let err = parse_estimate(b"{\"a\": \"\xff\"}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not UTF-8 text (invalid byte at offset 7)"),
            "{err}"
        );
    }
}
