//! Per-(account, action) token buckets: the emulator's answer to "does the client back off on
//! `Throttling.User`?" (`alibaba-api.md` §3.3).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The action key of the per-account bucket (all actions of an account together); no real action
/// label has this form, so it never collides with a per-action bucket.
pub const ACCOUNT_KEY: &str = "*";

/// A refusal, with what the rate-limit headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// The configured calls per second.
    pub limit: u32,
    /// Milliseconds until the next token (at least 1): `x-acs-retry-after` and `TimeLeft:`.
    pub retry_after_ms: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by (account, `product:Action`); capacity and refill rate are both `qps`.
#[derive(Debug, Default)]
pub struct Throttle {
    buckets: HashMap<(String, String), Bucket>,
}

impl Throttle {
    /// No buckets yet: every key starts full.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets all buckets (new seed, new limits).
    pub fn reset(&mut self) {
        self.buckets.clear();
    }

    /// Takes one token for `(account, action)`; `qps == 0` disables throttling.
    ///
    /// # Errors
    /// [`Throttled`] when the bucket is empty.
    pub fn check(&mut self, account: &str, action: &str, qps: u32, now: Instant) -> Result<(), Throttled> {
        if qps == 0 {
            return Ok(());
        }
        let rate = f64::from(qps);
        let b = self
            .buckets
            .entry((account.to_owned(), action.to_owned()))
            .or_insert(Bucket {
                tokens: rate,
                at: now,
            });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(rate);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - b.tokens;
        let wait = Duration::from_secs_f64(missing / rate);
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        Err(Throttled {
            limit: qps,
            retry_after_ms: ms,
        })
    }
}

/// The `x-ratelimit-user-api` / `x-ratelimit-user` value the SDKs parse (`TimeLeft` in ms; `Reset`
/// as Unix seconds of the next token).
#[must_use]
pub fn ratelimit_header(t: &Throttled, now_unix_secs: i64) -> String {
    let reset = now_unix_secs + i64::try_from(t.retry_after_ms.div_ceil(1000)).unwrap_or(0);
    format!(
        "Limit:{},Remain:0,TimeLeft:{},Reset:{reset}",
        t.limit, t.retry_after_ms
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses_then_refills() {
        let mut t = Throttle::new();
        let t0 = Instant::now();
        assert!(t.check("a", "ram:ListUsers", 2, t0).is_ok());
        assert!(t.check("a", "ram:ListUsers", 2, t0).is_ok());
        let e = t.check("a", "ram:ListUsers", 2, t0).unwrap_err();
        assert_eq!(e.limit, 2);
        assert!(e.retry_after_ms >= 1 && e.retry_after_ms <= 500, "{e:?}");
        // other key and other account are independent
        assert!(t.check("a", "ram:ListGroups", 2, t0).is_ok());
        assert!(t.check("b", "ram:ListUsers", 2, t0).is_ok());
        assert!(
            t.check("a", "ram:ListUsers", 2, t0 + Duration::from_millis(600))
                .is_ok()
        );
        assert!(t.check("a", "ram:ListUsers", 0, t0).is_ok());
    }

    #[test]
    fn account_bucket_is_shared_by_all_actions() {
        let mut t = Throttle::new();
        let t0 = Instant::now();
        assert!(t.check("a", ACCOUNT_KEY, 2, t0).is_ok());
        assert!(t.check("a", ACCOUNT_KEY, 2, t0).is_ok());
        assert!(t.check("a", ACCOUNT_KEY, 2, t0).is_err());
        assert!(t.check("b", ACCOUNT_KEY, 2, t0).is_ok());
    }

    #[test]
    fn header_format() {
        let h = ratelimit_header(
            &Throttled {
                limit: 1,
                retry_after_ms: 1500,
            },
            100,
        );
        assert_eq!(h, "Limit:1,Remain:0,TimeLeft:1500,Reset:102");
    }
}
