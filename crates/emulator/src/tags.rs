//! Resource tags: seeded on RAM users, roles, custom policies and member accounts, filtered by the
//! list operations that take a `Tag` filter, and rendered in each product's shape.
//!
//! Wire forms (alibaba-api.md §1.2): RAM `ListRoles`/`ListPolicies` take one JSON string
//! `Tag=[{"Key":"k","Value":"v"}]`; IMS `ListUsers` and ResourceManager `ListAccounts` take
//! `Tag.N.Key`/`Tag.N.Value` (N from 1, consecutive, at most 20). Every tag of a filter must match
//! (a tag without a value matches any value of its key).

use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{ApiError, Params};

/// Most tags one filter (and one resource) may carry.
pub const MAX_TAGS: usize = 20;

/// A tag in the seed: `{ key: team, value: core }`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Tag value (may be empty).
    #[serde(default)]
    pub value: String,
}

/// Checks seeded tags: non-empty unique keys, at most [`MAX_TAGS`].
///
/// # Errors
/// A message naming the problem.
pub fn check_seed(tags: &[Tag]) -> Result<(), String> {
    if tags.len() > MAX_TAGS {
        return Err(format!("at most {MAX_TAGS} tags"));
    }
    let mut keys = std::collections::BTreeSet::new();
    for t in tags {
        if t.key.is_empty() || t.key.len() > 128 || t.value.len() > 128 {
            return Err(format!(
                "tag key {:?}: keys are 1-128 and values 0-128 characters",
                t.key
            ));
        }
        if !keys.insert(t.key.as_str()) {
            return Err(format!("tag key {:?} given twice", t.key));
        }
    }
    Ok(())
}

/// A `Tag` filter of a list operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter(Vec<(String, Option<String>)>);

fn bad_tag(detail: &str) -> ApiError {
    ApiError::new(
        400,
        "InvalidParameter.Tag",
        format!("The parameter - \"Tag\" is invalid: {detail}."),
    )
}

impl TagFilter {
    /// RAM's JSON form: `Tag=[{"Key":"k","Value":"v"}]`; absent or `[]`: no filter.
    ///
    /// # Errors
    /// `InvalidParameter.Tag` when it is not a JSON array of `{Key, Value}` objects.
    pub fn from_json(p: &Params) -> Result<Option<Self>, ApiError> {
        let Some(text) = p.get("Tag").filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let v: Value =
            serde_json::from_str(text).map_err(|_| bad_tag("not a JSON array of {\"Key\",\"Value\"}"))?;
        let items = v.as_array().ok_or_else(|| bad_tag("not a JSON array"))?;
        let mut out = Vec::new();
        for it in items {
            let key = it
                .get("Key")
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty())
                .ok_or_else(|| bad_tag("every item needs a Key"))?;
            let value = it.get("Value").and_then(Value::as_str).map(str::to_owned);
            out.push((key.to_owned(), value));
        }
        Self::build(out)
    }

    /// The repeat-list form of IMS and ResourceManager: `Tag.1.Key=k&Tag.1.Value=v&Tag.2.Key=...`.
    ///
    /// # Errors
    /// `InvalidParameter.Tag` for gaps in N, a value without a key, or another `Tag.*` name.
    pub fn from_repeat_list(p: &Params) -> Result<Option<Self>, ApiError> {
        let mut keys: Vec<(usize, String)> = Vec::new();
        let mut values: Vec<(usize, String)> = Vec::new();
        let from: &str = "Tag";
        for (k, v) in p.range::<str, _>((std::ops::Bound::Included(from), std::ops::Bound::Unbounded)) {
            if !k.starts_with("Tag") {
                break;
            }
            if k == "Tag" {
                return Err(bad_tag("send Tag.N.Key / Tag.N.Value, not one Tag parameter"));
            }
            let Some(rest) = k.strip_prefix("Tag.") else {
                continue;
            };
            let (n, field) = rest
                .split_once('.')
                .ok_or_else(|| bad_tag("expected Tag.N.Key or Tag.N.Value"))?;
            let n: usize = n
                .parse()
                .ok()
                .filter(|n| (1..=MAX_TAGS).contains(n))
                .ok_or_else(|| bad_tag("N must be 1 to 20"))?;
            match field {
                "Key" => keys.push((n, v.clone())),
                "Value" => values.push((n, v.clone())),
                _ => return Err(bad_tag("expected Tag.N.Key or Tag.N.Value")),
            }
        }
        if keys.is_empty() && values.is_empty() {
            return Ok(None);
        }
        keys.sort();
        if keys
            .iter()
            .enumerate()
            .any(|(i, (n, k))| *n != i + 1 || k.is_empty())
        {
            return Err(bad_tag("Tag.N.Key must be given for N = 1, 2, ... without gaps"));
        }
        let mut out: Vec<(String, Option<String>)> = keys.into_iter().map(|(_, k)| (k, None)).collect();
        for (n, v) in values {
            let slot = out
                .get_mut(n - 1)
                .ok_or_else(|| bad_tag("Tag.N.Value without Tag.N.Key"))?;
            slot.1 = Some(v);
        }
        Self::build(out)
    }

    fn build(items: Vec<(String, Option<String>)>) -> Result<Option<Self>, ApiError> {
        if items.len() > MAX_TAGS {
            return Err(bad_tag("at most 20 tags"));
        }
        Ok((!items.is_empty()).then_some(Self(items)))
    }

    /// True when every tag of the filter is on the resource.
    #[must_use]
    pub fn matches(&self, tags: &[Tag]) -> bool {
        self.0.iter().all(|(k, v)| {
            tags.iter()
                .any(|t| &t.key == k && v.as_ref().is_none_or(|v| &t.value == v))
        })
    }
}

/// True when there is no filter or it matches.
#[must_use]
pub fn passes(filter: Option<&TagFilter>, tags: &[Tag]) -> bool {
    filter.is_none_or(|f| f.matches(tags))
}

/// RAM/IMS shape: `{"Tag": [{"TagKey": k, "TagValue": v}]}`.
#[must_use]
pub fn ram_json(tags: &[Tag]) -> Value {
    let list: Vec<Value> = tags
        .iter()
        .map(|t| json!({"TagKey": t.key, "TagValue": t.value}))
        .collect();
    json!({ "Tag": list })
}

/// ResourceManager items: `[{"Key": k, "Value": v}]` (`GetAccount` plain, `ListAccounts` wrapped in
/// `{"Tag": [...]}`).
#[must_use]
pub fn rm_list(tags: &[Tag]) -> Value {
    Value::Array(
        tags.iter()
            .map(|t| json!({"Key": t.key, "Value": t.value}))
            .collect(),
    )
}

/// Adds `"Tags": ...` to an item when the resource has tags.
pub fn insert_ram(item: &mut Value, tags: &[Tag]) {
    if let (false, Some(o)) = (tags.is_empty(), item.as_object_mut()) {
        o.insert("Tags".into(), ram_json(tags));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn json_and_repeat_list_filters() {
        let f = TagFilter::from_json(&p(&[("Tag", r#"[{"Key":"env","Value":"prod"},{"Key":"team"}]"#)]))
            .unwrap()
            .unwrap();
        assert!(f.matches(&[tag("env", "prod"), tag("team", "x")]));
        assert!(!f.matches(&[tag("env", "prod")]));
        assert!(!f.matches(&[tag("env", "dev"), tag("team", "x")]));
        assert!(TagFilter::from_json(&p(&[("Tag", "[]")])).unwrap().is_none());
        assert_eq!(
            TagFilter::from_json(&p(&[("Tag", "env=prod")])).unwrap_err().code,
            "InvalidParameter.Tag"
        );
        let f = TagFilter::from_repeat_list(&p(&[
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "prod"),
            ("Tag.2.Key", "team"),
            ("MaxItems", "5"),
        ]))
        .unwrap()
        .unwrap();
        assert!(f.matches(&[tag("team", "a"), tag("env", "prod")]));
        assert!(
            TagFilter::from_repeat_list(&p(&[("MaxItems", "5")]))
                .unwrap()
                .is_none()
        );
        for bad in [
            &[("Tag.2.Key", "env")][..],
            &[("Tag.1.Value", "v")][..],
            &[("Tag.1.Name", "v")][..],
            &[("Tag", "[]")][..],
        ] {
            assert!(TagFilter::from_repeat_list(&p(bad)).is_err(), "{bad:?}");
        }
    }
}
