//! The query-string extractor of lookout's routes: a string that does not read is an
//! [`ApiError`] (a 400 saying what is wrong and how the route's query is written), never
//! axum's plain-text rejection, so no handler maps rejections by hand.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::ApiError;

/// The query string read as `T`.
pub struct Query<T>(pub T);

/// How a route's query string is written, for the 400 of one that does not read.
pub trait QueryForm {
    /// E.g. `?ruleset=&status=&since=24h&limit=`.
    const FORM: &'static str;
}

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + QueryForm,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(e) => Err(ApiError::Query {
                why: e.to_string(),
                form: T::FORM,
            }),
        }
    }
}
