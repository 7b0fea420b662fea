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

/// A per-operation quota the way Alibaba writes them ("200/60 s", "5/1 s": calls per window;
/// `alibaba-api.md` §3.3), enforced as a bucket of `count` tokens refilled over `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Calls per window.
    pub count: u32,
    /// The window.
    pub window: Duration,
}

impl Quota {
    /// `qps` calls per second.
    #[must_use]
    pub fn per_second(qps: u32) -> Quota {
        Quota {
            count: qps,
            window: Duration::from_secs(1),
        }
    }
}

impl std::str::FromStr for Quota {
    type Err = String;

    /// `"<count>/<seconds> s"`, the unit optional (`"200/60 s"`, `"5/1s"`, `"20/1"`).
    fn from_str(s: &str) -> Result<Quota, String> {
        let bad = || format!("quota {s:?}: write it as calls/seconds, e.g. \"200/60 s\" or \"5/1 s\"");
        let (count, window) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let window = window.trim();
        let window = window.strip_suffix('s').unwrap_or(window).trim();
        let secs: f64 = window.parse().map_err(|_| bad())?;
        if count == 0 || !secs.is_finite() || secs <= 0.0 {
            return Err(bad());
        }
        Ok(Quota {
            count,
            window: Duration::from_secs_f64(secs),
        })
    }
}

impl std::fmt::Display for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} s", self.count, self.window.as_secs_f64())
    }
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
        self.check_quota(account, action, Quota::per_second(qps), now)
    }

    /// Takes one token for `(account, action)` under `quota` (`count == 0` disables it): a bucket of
    /// `count` tokens refilled evenly over the window.
    ///
    /// # Errors
    /// [`Throttled`] when the bucket is empty.
    pub fn check_quota(
        &mut self,
        account: &str,
        action: &str,
        quota: Quota,
        now: Instant,
    ) -> Result<(), Throttled> {
        if quota.count == 0 || quota.window.is_zero() {
            return Ok(());
        }
        let capacity = f64::from(quota.count);
        let rate = capacity / quota.window.as_secs_f64();
        let b = self
            .buckets
            .entry((account.to_owned(), action.to_owned()))
            .or_insert(Bucket {
                tokens: capacity,
                at: now,
            });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(capacity);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - b.tokens;
        let wait = Duration::from_secs_f64(missing / rate);
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        Err(Throttled {
            limit: quota.count,
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
    fn quotas_parse_the_way_alibaba_writes_them_and_refill_over_their_window() {
        let q: Quota = "200/60 s".parse().unwrap();
        assert_eq!((q.count, q.window), (200, Duration::from_secs(60)));
        assert_eq!("5/1s".parse::<Quota>().unwrap(), Quota::per_second(5));
        for bad in ["", "5", "x/1 s", "5/0 s", "0/1 s", "5/-1 s"] {
            let e = bad.parse::<Quota>().unwrap_err();
            assert!(e.contains("200/60 s"), "{bad}: {e}");
        }
        let mut t = Throttle::new();
        let t0 = Instant::now();
        let q = Quota {
            count: 2,
            window: Duration::from_secs(10),
        };
        assert!(t.check_quota("a", "ram:DeleteUser", q, t0).is_ok());
        assert!(t.check_quota("a", "ram:DeleteUser", q, t0).is_ok());
        let e = t.check_quota("a", "ram:DeleteUser", q, t0).unwrap_err();
        assert_eq!(e.limit, 2);
        assert!(e.retry_after_ms > 4000 && e.retry_after_ms <= 5000, "{e:?}");
        assert!(
            t.check_quota("a", "ram:DeleteUser", q, t0 + Duration::from_secs(5))
                .is_ok()
        );
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
