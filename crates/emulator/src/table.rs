//! An ordered table of named entities with Marker pagination.
//!
//! Items list in creation order, and a Marker names the creation sequence of the next item, so
//! deleting items between pages never makes a client skip or repeat one (alibaba-api.md §8.9).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::api::{ApiError, Params, param};

/// Named entities in creation order.
#[derive(Debug, Clone)]
pub struct Table<T> {
    by_name: BTreeMap<String, (u64, T)>,
    order: BTreeMap<u64, String>,
    next: u64,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            by_name: BTreeMap::new(),
            order: BTreeMap::new(),
            next: 1,
        }
    }
}

/// One page of a Marker listing.
#[derive(Debug)]
pub struct Page<'a, T> {
    /// The items of this page, in creation order.
    pub items: Vec<(&'a str, &'a T)>,
    /// The marker of the next page, when there is one.
    pub next: Option<String>,
}

impl<T> Page<'_, T> {
    /// The `IsTruncated`/`Marker` members and the `{container: {item: [...]}}` wrapper.
    pub fn body(&self, container: &str, item: &str, f: impl Fn(&str, &T) -> Value) -> Value {
        let list: Vec<Value> = self.items.iter().map(|(n, t)| f(n, t)).collect();
        let mut v = json!({ container: { item: list }, "IsTruncated": self.next.is_some() });
        if let (Some(m), Some(o)) = (&self.next, v.as_object_mut()) {
            o.insert("Marker".into(), Value::String(m.clone()));
        }
        v
    }
}

impl<T> Table<T> {
    /// Number of entities.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Looks an entity up by name.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&T> {
        self.by_name.get(name).map(|(_, t)| t)
    }

    /// Mutable lookup by name.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut T> {
        self.by_name.get_mut(name).map(|(_, t)| t)
    }

    /// True when the name exists.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Adds (or replaces, keeping its place) an entity.
    pub fn insert(&mut self, name: &str, value: T) {
        if let Some(slot) = self.by_name.get_mut(name) {
            slot.1 = value;
            return;
        }
        let seq = self.next;
        self.next += 1;
        self.order.insert(seq, name.to_owned());
        self.by_name.insert(name.to_owned(), (seq, value));
    }

    /// Gives an entity a new name, keeping its place in the listing order (no-op when `old` is
    /// absent or `new` is taken).
    pub fn rename(&mut self, old: &str, new: &str) {
        if self.by_name.contains_key(new) {
            return;
        }
        if let Some((seq, v)) = self.by_name.remove(old) {
            self.order.insert(seq, new.to_owned());
            self.by_name.insert(new.to_owned(), (seq, v));
        }
    }

    /// Removes an entity.
    pub fn remove(&mut self, name: &str) -> Option<T> {
        let (seq, v) = self.by_name.remove(name)?;
        self.order.remove(&seq);
        Some(v)
    }

    /// Everything, in creation order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.order
            .values()
            .filter_map(|n| self.by_name.get(n).map(|(_, t)| (n.as_str(), t)))
    }

    /// Mutable access to every entity (name order).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.by_name.values_mut().map(|(_, t)| t)
    }

    /// One page starting at `marker` of at most `max` items.
    ///
    /// # Errors
    /// `InvalidParameter.Marker` for a marker this table did not hand out.
    pub fn page(&self, marker: Option<&str>, max: usize) -> Result<Page<'_, T>, ApiError> {
        self.page_where(marker, max, |_, _| true)
    }

    /// One page of the items `keep` accepts, starting at `marker`. The filter applies to the whole
    /// listing before paging (as the service filters), so a match behind many non-matching items is
    /// still found, and the marker names the next *matching* item: no empty last page.
    ///
    /// # Errors
    /// `InvalidParameter.Marker` for a marker this table did not hand out.
    pub fn page_where(
        &self,
        marker: Option<&str>,
        max: usize,
        keep: impl Fn(&str, &T) -> bool,
    ) -> Result<Page<'_, T>, ApiError> {
        let start = match marker.filter(|m| !m.is_empty()) {
            None => 0,
            Some(m) => decode_marker(m)?,
        };
        let mut items = Vec::with_capacity(max.min(self.len()));
        let mut next = None;
        for (seq, name) in self.order.range(start..) {
            let Some((_, t)) = self.by_name.get(name) else {
                continue;
            };
            if !keep(name, t) {
                continue;
            }
            if items.len() == max {
                next = Some(encode_marker(*seq));
                break;
            }
            items.push((name.as_str(), t));
        }
        Ok(Page { items, next })
    }
}

fn encode_marker(seq: u64) -> String {
    format!("EMU{seq:012X}")
}

fn decode_marker(m: &str) -> Result<u64, ApiError> {
    m.strip_prefix("EMU")
        .filter(|h| h.len() == 12)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .ok_or_else(|| {
            ApiError::new(
                400,
                "InvalidParameter.Marker",
                "The parameter - \"Marker\" is incorrect.",
            )
        })
}

/// `MaxItems` (or `PageSize`) checked against the API's range, capped by the emulator's page limit.
///
/// # Errors
/// `InvalidParameter.MaxItems` when out of range or not a number.
pub fn max_items(
    p: &Params,
    name: &str,
    max: u32,
    default: u32,
    page_limit: Option<u32>,
) -> Result<usize, ApiError> {
    let n = match param(p, name) {
        None | Some("") => default,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    400,
                    &format!("InvalidParameter.{name}"),
                    format!("The parameter - \"{name}\" MUST be in the range of 1 and {max}."),
                )
            })?,
    };
    Ok(page_limit.map_or(n, |l| n.min(l.max(1))) as usize)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pages_survive_deletes_between_them() {
        let mut t = Table::default();
        for n in ["a", "b", "c", "d"] {
            t.insert(n, ());
        }
        let p = t.page(None, 2).unwrap();
        let m = p.next.clone().unwrap();
        assert_eq!(p.items.iter().map(|x| x.0).collect::<Vec<_>>(), ["a", "b"]);
        t.remove("a");
        t.remove("b");
        let p = t.page(Some(&m), 2).unwrap();
        assert_eq!(p.items.iter().map(|x| x.0).collect::<Vec<_>>(), ["c", "d"]);
        assert!(p.next.is_none());
        assert!(t.page(Some("garbage"), 2).is_err());
    }

    #[test]
    fn filters_apply_before_paging() {
        let mut t = Table::default();
        for i in 0..250 {
            t.insert(&format!("n{i:03}"), i);
        }
        // The only matches are far behind the first page: they are found, with no empty page.
        let keep = |_: &str, v: &i32| *v == 7 || *v >= 240;
        let p = t.page_where(None, 5, keep).unwrap();
        assert_eq!(
            p.items.iter().map(|x| *x.1).collect::<Vec<_>>(),
            [7, 240, 241, 242, 243]
        );
        let m = p.next.clone().unwrap();
        let p = t.page_where(Some(&m), 5, keep).unwrap();
        assert_eq!(p.items.len(), 5);
        let p = t.page_where(p.next.as_deref(), 5, keep).unwrap();
        assert_eq!(p.items.iter().map(|x| *x.1).collect::<Vec<_>>(), [249]);
        assert!(p.next.is_none());
        let none = t.page_where(None, 5, |_, v| *v > 1000).unwrap();
        assert!(none.items.is_empty() && none.next.is_none());
    }
}
