//! Pagination (Marker/IsTruncated and PageNumber/PageSize) and the lenient wire shapes of list
//! responses (§1.3): plural wrappers around singular arrays, string-typed numbers and booleans.

use std::future::Future;

use serde::{Deserialize, Deserializer};

use super::error::AliyunError;

/// Upper bound of pages fetched by one listing: protects against a server that keeps answering
/// `IsTruncated=true` with the same marker.
pub const MAX_PAGES: usize = 10_000;

/// One page of a Marker-paginated listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkerPage<T> {
    /// Items of this page.
    pub items: Vec<T>,
    /// `IsTruncated`.
    pub is_truncated: bool,
    /// `Marker` for the next page.
    pub marker: Option<String>,
}

/// Fetches every page of a Marker listing: `fetch(marker)` is called with `None` first, then with
/// each returned marker while `IsTruncated` is true.
///
/// # Errors
/// The first failed page, or `Pagination.Loop` when a truncated page repeats or omits its marker.
pub async fn collect_marker<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, AliyunError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<MarkerPage<T>, AliyunError>>,
{
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = fetch(marker.clone()).await?;
        all.extend(page.items);
        if !page.is_truncated {
            return Ok(all);
        }
        match page.marker.filter(|m| !m.is_empty()) {
            Some(next) if Some(&next) != marker.as_ref() => marker = Some(next),
            _ => {
                return Err(AliyunError::local(
                    "Pagination.Loop",
                    "a truncated page came back without a new Marker",
                ));
            }
        }
    }
    Err(AliyunError::local("Pagination.Loop", "too many pages"))
}

/// One page of a PageNumber/PageSize listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberedPage<T> {
    /// Items of this page.
    pub items: Vec<T>,
    /// `TotalCount`.
    pub total_count: u64,
}

/// Fetches every page of a PageNumber listing: `fetch(page_number)` from 1 until
/// `page_number * page_size >= TotalCount` or a page comes back empty.
///
/// # Errors
/// The first failed page.
pub async fn collect_numbered<T, F, Fut>(page_size: u32, mut fetch: F) -> Result<Vec<T>, AliyunError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<NumberedPage<T>, AliyunError>>,
{
    let mut all = Vec::new();
    for (page_number, _) in (1_u32..).zip(0..MAX_PAGES) {
        let page = fetch(page_number).await?;
        let n = page.items.len();
        all.extend(page.items);
        if n == 0 || u64::from(page_number) * u64::from(page_size.max(1)) >= page.total_count {
            return Ok(all);
        }
    }
    Err(AliyunError::local("Pagination.Loop", "too many pages"))
}

/// A plural wrapper around a singular array (`{"Users":{"User":[...]}}` → the `User` array).
/// Accepts a missing wrapper, `null`, an empty object, a bare array, or a single object in place
/// of the array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapped<T>(pub Vec<T>);

impl<T> Default for Wrapped<T> {
    fn default() -> Self {
        Wrapped(Vec::new())
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Wrapped<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let inner = match v {
            serde_json::Value::Null => return Ok(Wrapped(Vec::new())),
            serde_json::Value::Array(_) => v,
            serde_json::Value::Object(map) => match map.into_iter().next() {
                None => return Ok(Wrapped(Vec::new())),
                Some((_, inner)) => inner,
            },
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a list wrapper, got {other}"
                )));
            }
        };
        one_or_many(inner).map(Wrapped).map_err(serde::de::Error::custom)
    }
}

fn one_or_many<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<Vec<T>, serde_json::Error> {
    match v {
        serde_json::Value::Null => Ok(Vec::new()),
        serde_json::Value::Array(_) => serde_json::from_value(v),
        other => Ok(vec![serde_json::from_value(other)?]),
    }
}

/// Serde helpers for values the service sends with inconsistent JSON types (§1.3).
pub mod lenient {
    use serde::{Deserialize, Deserializer};

    /// A bool sent as `true`, `"true"`, `"True"`, `1` or `"1"`; `null` is false.
    ///
    /// # Errors
    /// Anything else.
    pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(b) => Ok(b),
            serde_json::Value::Null => Ok(false),
            serde_json::Value::Number(n) => Ok(n.as_i64().unwrap_or(0) != 0),
            serde_json::Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" | "" => Ok(false),
                _ => Err(serde::de::Error::custom(format!("not a boolean: {s:?}"))),
            },
            other => Err(serde::de::Error::custom(format!("not a boolean: {other}"))),
        }
    }

    /// An integer sent as a number or a numeric string; `null` and `""` are `None`.
    ///
    /// # Errors
    /// A non-numeric string.
    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::Number(n) => Ok(n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))),
            serde_json::Value::String(s) if s.trim().is_empty() => Ok(None),
            serde_json::Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| serde::de::Error::custom(format!("not an integer: {s:?}"))),
            other => Err(serde::de::Error::custom(format!("not an integer: {other}"))),
        }
    }

    /// An integer that defaults to 0 (`TotalCount`, `AttachmentCount`).
    ///
    /// # Errors
    /// A non-numeric string.
    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        opt_i64(d).map(|v| v.unwrap_or(0))
    }

    /// A string that may arrive as a number or bool; `null` is `None`.
    ///
    /// # Errors
    /// Arrays and objects.
    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::String(s) => Ok(Some(s)),
            serde_json::Value::Number(n) => Ok(Some(n.to_string())),
            serde_json::Value::Bool(b) => Ok(Some(b.to_string())),
            other => Err(serde::de::Error::custom(format!("not a string: {other}"))),
        }
    }

    /// A string that defaults to empty.
    ///
    /// # Errors
    /// Arrays and objects.
    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        opt_string(d).map(Option::unwrap_or_default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct L {
        #[serde(rename = "Users", default)]
        users: Wrapped<N>,
        #[serde(rename = "IsTruncated", default, deserialize_with = "lenient::bool")]
        truncated: bool,
        #[serde(rename = "TotalCount", default, deserialize_with = "lenient::i64")]
        total: i64,
    }
    #[derive(Deserialize)]
    struct N {
        #[serde(rename = "N")]
        n: String,
    }

    #[test]
    fn wrappers_and_lenient_values() {
        let l: L = serde_json::from_str(
            r#"{"Users":{"User":[{"N":"a"},{"N":"b"}]},"IsTruncated":"true","TotalCount":"7"}"#,
        )
        .unwrap();
        assert_eq!(l.users.0.len(), 2);
        assert!(l.truncated);
        assert_eq!(l.total, 7);
        let l: L = serde_json::from_str(r#"{"Users":{"User":{"N":"a"}},"IsTruncated":false}"#).unwrap();
        assert_eq!(l.users.0[0].n, "a");
        let l: L = serde_json::from_str(r#"{"Users":{}}"#).unwrap();
        assert!(l.users.0.is_empty());
        let l: L = serde_json::from_str(r#"{}"#).unwrap();
        assert!(l.users.0.is_empty() && !l.truncated);
        let l: L = serde_json::from_str(r#"{"Users":[{"N":"x"}]}"#).unwrap();
        assert_eq!(l.users.0.len(), 1);
    }

    #[tokio::test]
    async fn marker_pages_are_followed_to_the_end() {
        let pages = [(vec![1, 2], Some("m1")), (vec![3], Some("m2")), (vec![4], None)];
        let mut seen = Vec::new();
        let all = collect_marker(|m| {
            seen.push(m.clone());
            let i = match m.as_deref() {
                None => 0,
                Some("m1") => 1,
                _ => 2,
            };
            let (items, next) = pages[i].clone();
            async move {
                Ok(MarkerPage {
                    items,
                    is_truncated: next.is_some(),
                    marker: next.map(str::to_string),
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(all, vec![1, 2, 3, 4]);
        assert_eq!(seen, vec![None, Some("m1".into()), Some("m2".into())]);
    }

    #[tokio::test]
    async fn repeated_marker_is_an_error() {
        let r = collect_marker(|_| async {
            Ok(MarkerPage {
                items: vec![1],
                is_truncated: true,
                marker: Some("same".to_string()),
            })
        })
        .await;
        assert_eq!(r.unwrap_err().code, "Pagination.Loop");
    }

    #[tokio::test]
    async fn numbered_pages_stop_at_total_count() {
        let mut calls = 0;
        let all = collect_numbered(2, |n| {
            calls += 1;
            let items = if n < 3 { vec![n; 2] } else { vec![n] };
            async move {
                Ok(NumberedPage {
                    items,
                    total_count: 5,
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(all, vec![1, 1, 2, 2, 3]);
        assert_eq!(calls, 3);
    }
}
