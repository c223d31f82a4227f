//! Extractors that turn every rejection into the API's error shape, and
//! the authenticated caller.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::auth::{AuthError, Caller};

/// `Json<T>` with the API's errors (400 malformed, 422 invalid field, 415,
/// 413).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// `Query<T>` with the API's errors (422).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// The caller, from `Authorization: Bearer <jwt>`; 401 otherwise.
#[derive(Debug, Clone)]
pub struct Auth(pub Caller);

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized(AuthError::Missing.to_string()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("use `Authorization: Bearer <token>`"))?;
        state
            .auth
            .verify(token.trim())
            .map(Auth)
            .map_err(|e| ApiError::unauthorized(e.to_string()))
    }
}

/// Integers as JSON Schema counts them: `2` and `2.0` alike (a number with
/// no fractional part is an `integer`), for `#[serde(deserialize_with)]`.
/// `2.5`, strings and values out of range are refused as invalid fields.
pub mod integer {
    use serde::de::{Deserialize, Deserializer, Error};
    use serde_json::Number;

    /// Floats this large are no longer exact integers.
    const EXACT: f64 = 9_007_199_254_740_992.0;

    /// The integer `n` is, if it is one (`2` or `2.0`).
    pub fn whole(n: &Number) -> Option<i128> {
        if let Some(i) = n.as_i64() {
            Some(i128::from(i))
        } else if let Some(u) = n.as_u64() {
            Some(i128::from(u))
        } else {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT)
                // Exact: checked to be whole and within 2^53 just above.
                .map(|f| f as i128)
        }
    }

    fn from_number<T, E>(n: &Number) -> Result<T, E>
    where
        T: TryFrom<i128>,
        E: Error,
    {
        let whole = whole(n).ok_or_else(|| E::custom(format!("`{n}` is not an integer")))?;
        T::try_from(whole).map_err(|_| E::custom(format!("`{n}` is out of range")))
    }

    /// A required integer.
    pub fn required<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i128>,
    {
        from_number(&Number::deserialize(deserializer)?)
    }

    /// An optional integer (`null` or absent: `None`; pair with
    /// `#[serde(default)]`).
    pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i128>,
    {
        Option::<Number>::deserialize(deserializer)?
            .map(|n| from_number(&n))
            .transpose()
    }
}
