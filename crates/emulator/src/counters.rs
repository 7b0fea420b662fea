//! Call counters of the emulator, read through `GET /__emulator/calls`.
//!
//! Tests and benchmarks assert on them ("plan mode makes no mutating call", "the operator retried a
//! throttled call"), so every API request that reached routing is counted once, with the class from
//! the catalog and the result code (`OK` for success).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::api::{ActionClass, Product};

/// The result code recorded for a successful call.
pub const OK: &str = "OK";

/// The result code recorded for a connection the fault injector dropped without an answer.
pub const DROPPED: &str = "(dropped)";

/// One counted call (the key of the fine-grained table).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    product: Option<Product>,
    action: String,
    class: Option<ActionClass>,
    code: String,
    account: Option<String>,
}

/// Counts of calls by (product, action, class, result code, account).
#[derive(Debug, Default, Clone)]
pub struct Counters {
    table: BTreeMap<Key, u64>,
    /// When the counters were last reset.
    since: Option<std::time::Instant>,
    /// Per account, when its first mutating call succeeded (how soon each account of a fleet
    /// started to make progress).
    first_mutation: BTreeMap<String, std::time::Instant>,
}

/// Classes in the order they appear in the JSON (all present, zero when unused).
const CLASSES: [ActionClass; 4] = [
    ActionClass::Read,
    ActionClass::PreCheck,
    ActionClass::Mutating,
    ActionClass::Credentials,
];

impl Counters {
    /// An empty set of counters.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one call. `product`/`class` are `None` when routing failed (unknown version or action);
    /// `account` is `None` when the caller was not authenticated.
    pub fn record(
        &mut self,
        product: Option<Product>,
        action: &str,
        class: Option<ActionClass>,
        code: &str,
        account: Option<&str>,
    ) {
        if class == Some(ActionClass::Mutating)
            && code == "OK"
            && let Some(a) = account
            && !self.first_mutation.contains_key(a)
        {
            self.first_mutation
                .insert(a.to_owned(), std::time::Instant::now());
        }
        let key = Key {
            product,
            action: action.to_owned(),
            class,
            code: code.to_owned(),
            account: account.map(str::to_owned),
        };
        *self.table.entry(key).or_insert(0) += 1;
    }

    /// Forgets everything (`DELETE /__emulator/calls`).
    pub fn reset(&mut self) {
        self.table.clear();
        self.first_mutation.clear();
        self.since = Some(std::time::Instant::now());
    }

    /// Total number of calls recorded.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.table.values().sum()
    }

    /// The JSON document of `GET /__emulator/calls`:
    ///
    /// ```json
    /// { "total": 7,
    ///   "totals":   {"read": 5, "precheck": 0, "mutating": 1, "credentials": 1},
    ///   "byAction": {"ram:ListUsers": 4, ...},
    ///   "byCode":   {"OK": 6, "Throttling.User": 1},
    ///   "byAccount": {"2000000000000001": {"total": 5, "read": 4, "precheck": 0, "mutating": 1,
    ///                                      "credentials": 0, "byAction": {"ram:ListUsers": 4, ...},
    ///                                      "byCode": {"OK": 5}}},
    ///   "firstMutationMs": {"2000000000000001": 12},
    ///   "calls": [{"product": "ram", "action": "ListUsers", "class": "read", "code": "OK",
    ///              "account": "2000000000000001", "count": 4}, ...] }
    /// ```
    ///
    /// `totals` counts every call that was routed to a known action, whatever its result (a refused
    /// mutating call is still an attempt to mutate).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut totals: BTreeMap<&str, u64> = CLASSES.iter().map(|c| (c.name(), 0)).collect();
        let mut by_action: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_code: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_account: BTreeMap<String, AccountCounts> = BTreeMap::new();
        let mut calls = Vec::with_capacity(self.table.len());
        for (k, &n) in &self.table {
            let label = action_label(k.product, &k.action);
            if let Some(c) = k.class {
                *totals.entry(c.name()).or_insert(0) += n;
            }
            *by_action.entry(label.clone()).or_insert(0) += n;
            *by_code.entry(k.code.clone()).or_insert(0) += n;
            if let Some(acc) = &k.account {
                let a = by_account.entry(acc.clone()).or_default();
                a.total += n;
                if let Some(c) = k.class {
                    *a.by_class.entry(c.name()).or_insert(0) += n;
                }
                *a.by_action.entry(label).or_insert(0) += n;
                *a.by_code.entry(k.code.clone()).or_insert(0) += n;
            }
            calls.push(json!({
                "product": k.product.map(Product::name),
                "action": k.action,
                "class": k.class.map(ActionClass::name),
                "code": k.code,
                "account": k.account,
                "count": n,
            }));
        }
        let by_account: serde_json::Map<String, Value> = by_account
            .into_iter()
            .map(|(acc, a)| (acc, a.to_json()))
            .collect();
        json!({
            "total": self.total(),
            "totals": totals,
            "byAction": by_action,
            "byCode": by_code,
            "byAccount": by_account,
            "firstMutationMs": self.first_mutation_ms(),
            "calls": calls,
        })
    }

    /// Milliseconds from the last reset (or the first call) to each account's first successful
    /// mutating call.
    fn first_mutation_ms(&self) -> BTreeMap<String, u64> {
        let Some(t0) = self.since.or_else(|| self.first_mutation.values().min().copied()) else {
            return BTreeMap::new();
        };
        self.first_mutation
            .iter()
            .map(|(a, t)| {
                let ms = t.saturating_duration_since(t0).as_millis();
                (a.clone(), u64::try_from(ms).unwrap_or(u64::MAX))
            })
            .collect()
    }
}

/// `<product>:<Action>`, or the bare action when the product is unknown.
fn action_label(product: Option<Product>, action: &str) -> String {
    match product {
        Some(p) => format!("{}:{action}", p.name()),
        None => action.to_owned(),
    }
}

#[derive(Default)]
struct AccountCounts {
    total: u64,
    by_class: BTreeMap<&'static str, u64>,
    by_action: BTreeMap<String, u64>,
    by_code: BTreeMap<String, u64>,
}

impl AccountCounts {
    fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("total".into(), json!(self.total));
        for c in CLASSES {
            m.insert(
                c.name().into(),
                json!(self.by_class.get(c.name()).copied().unwrap_or(0)),
            );
        }
        m.insert("byAction".into(), json!(self.by_action));
        m.insert("byCode".into(), json!(self.by_code));
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_class_action_code_and_account() {
        let mut c = Counters::new();
        for _ in 0..2 {
            c.record(
                Some(Product::Ram),
                "ListUsers",
                Some(ActionClass::Read),
                OK,
                Some("2"),
            );
        }
        c.record(
            Some(Product::Ram),
            "DeleteUser",
            Some(ActionClass::Mutating),
            "DeleteConflict.User.Group",
            Some("2"),
        );
        c.record(None, "Nope", None, "InvalidVersion", None);
        let j = c.to_json();
        assert_eq!(j["total"], 4);
        assert_eq!(j["totals"]["read"], 2);
        assert_eq!(j["totals"]["mutating"], 1);
        assert_eq!(j["totals"]["precheck"], 0);
        assert_eq!(j["byAction"]["ram:ListUsers"], 2);
        assert_eq!(j["byCode"]["OK"], 2);
        assert_eq!(j["byAccount"]["2"]["mutating"], 1);
        assert_eq!(j["byAccount"]["2"]["total"], 3);
        c.reset();
        assert_eq!(c.to_json()["total"], 0);
    }
}
