//! Reading a request body from outside: bounded in size (413), in time (408), in
//! what all unfinished uploads may hold at once (503), and in encoding (415).
//!
//! A body is read before its signature can be checked, so this is work any caller can
//! make the server do. It is bounded apart from evaluation: a request holds part of
//! [`Uploads`]' byte budget only while its body arrives, and gives it back the moment
//! it is read, so slow or stalled uploads can hold at most `upload_buffer_mb` of memory
//! for at most `body_timeout_ms`, and never a concurrency permit.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::http::ApiError;
use crate::metrics::Metrics;

/// The budget of bytes that bodies being read may hold, counted in KiB.
pub struct Uploads {
    budget: Arc<Semaphore>,
    total_kib: usize,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

impl Uploads {
    pub fn new(budget_bytes: usize, timeout: Duration, metrics: Arc<Metrics>) -> Uploads {
        let total_kib = budget_bytes.div_ceil(1024);
        Uploads {
            budget: Arc::new(Semaphore::new(total_kib)),
            total_kib,
            timeout,
            metrics,
        }
    }

    /// Reads `body` whole, refusing it as soon as it is known to be over `limit`.
    pub async fn read(
        &self,
        headers: &HeaderMap,
        body: Body,
        limit: usize,
    ) -> Result<Bytes, ApiError> {
        check_encoding(headers)?;
        let declared = declared_length(headers);
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(ApiError::TooLarge { limit });
        }
        let mut held = Held {
            uploads: self,
            permit: None,
        };
        let mut len = 0usize;
        // One timer for the whole body (a timer per frame cost the async threads more).
        let reading = async {
            // The budget is taken as bytes arrive, not from the declared length: a caller
            // must really send what it holds.
            let mut body = body;
            let mut first: Option<Bytes> = None;
            let mut rest: Option<BytesMut> = None;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|err| ApiError::BodyRead(err.to_string()))?;
                let Ok(data) = frame.into_data() else {
                    continue; // trailers
                };
                if data.is_empty() {
                    continue;
                }
                len += data.len();
                if len > limit {
                    return Err(ApiError::TooLarge { limit });
                }
                held.grow_to(len)?;
                // One chunk (the usual case) is kept as it came; more are copied together.
                match (&mut first, &mut rest) {
                    (None, _) => first = Some(data),
                    (Some(head), None) => {
                        let mut joined =
                            BytesMut::with_capacity(declared.map_or(len, |d| d as usize).max(len));
                        joined.extend_from_slice(head);
                        joined.extend_from_slice(&data);
                        rest = Some(joined);
                    }
                    (Some(_), Some(joined)) => joined.extend_from_slice(&data),
                }
            }
            Ok(match (first, rest) {
                (_, Some(joined)) => joined.freeze(),
                (Some(one), None) => one,
                (None, None) => Bytes::new(),
            })
        };
        match tokio::time::timeout(self.timeout, reading).await {
            Ok(result) => result,
            Err(_) => {
                self.metrics.cut("body_timeout");
                Err(ApiError::BodyTimeout {
                    after: self.timeout,
                    received: len,
                })
            }
        }
    }

    /// Reads and drops at most `max` bytes of a body the answer will refuse anyway
    /// (404 before the body was read), so HTTP/2 clients that are still sending see
    /// the answer instead of a reset stream. Bounded by the same timeout and budget.
    pub async fn drain(&self, body: Body, max: usize) {
        let mut limited = http_body_util::Limited::new(body, max);
        let until = tokio::time::Instant::now() + self.timeout.min(Duration::from_secs(1));
        while let Ok(Some(Ok(_))) = tokio::time::timeout_at(until, limited.frame()).await {}
    }

    /// KiB of the budget free now (for `/readyz` and tests).
    pub fn free_kib(&self) -> usize {
        self.budget.available_permits()
    }

    pub fn total_kib(&self) -> usize {
        self.total_kib
    }
}

/// The part of the budget one body holds while it is read.
struct Held<'a> {
    uploads: &'a Uploads,
    permit: Option<OwnedSemaphorePermit>,
}

impl Held<'_> {
    fn grow_to(&mut self, bytes: usize) -> Result<(), ApiError> {
        let need = bytes.div_ceil(1024);
        let have = self.permit.as_ref().map_or(0, |p| p.num_permits());
        if need <= have {
            return Ok(());
        }
        let more = u32::try_from(need - have).unwrap_or(u32::MAX);
        match self.uploads.budget.clone().try_acquire_many_owned(more) {
            Ok(permit) => {
                match &mut self.permit {
                    Some(held) => held.merge(permit),
                    None => self.permit = Some(permit),
                }
                Ok(())
            }
            Err(_) => {
                self.uploads.metrics.cut("uploads_busy");
                Err(ApiError::UploadsBusy {
                    budget_mb: self.uploads.total_kib >> 10,
                })
            }
        }
    }
}

/// `Content-Length`, when it is a number.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Bodies are read as they come: a `Content-Encoding` other than `identity` would be
/// taken for the JSON itself, so it is refused by name.
fn check_encoding(headers: &HeaderMap) -> Result<(), ApiError> {
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for coding in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if !coding.eq_ignore_ascii_case("identity") {
                return Err(ApiError::UnsupportedEncoding(
                    coding.chars().take(40).collect(),
                ));
            }
        }
    }
    Ok(())
}
