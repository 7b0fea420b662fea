//! Client-side request pacing: one budget per member account and one global budget shared by all
//! accounts, so the operator stays under Alibaba's per-account API rate instead of discovering it
//! through `Throttling.*` answers (the failure mode of sequential nukers retrying blindly).
//!
//! Each limiter hands out send slots in arrival order (virtual scheduling), which makes the global
//! budget fair across accounts: a busy account cannot starve a quiet one. On a throttled answer the
//! rate drops multiplicatively and pauses for the server's retry hint; every success wins a little
//! of it back (AIMD), so a limit set slightly too high converges instead of hammering.
//!
//! Time is tokio's ([`Instant`]): the same clock as `std`'s in production, and a virtual one in
//! tests that pause it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Lowest fraction of the configured rate the adaptive backoff goes down to.
const FLOOR: f64 = 0.1;
/// Multiplicative decrease on a throttled answer.
const DECREASE: f64 = 0.7;
/// Fraction of the configured rate regained per successful call.
const INCREASE: f64 = 0.01;
/// Calls that may be sent back to back after an idle period.
const BURST: f64 = 2.0;

#[derive(Debug)]
struct State {
    /// Highest rate: the configured one, or an API's stated quota once it is known.
    ceiling: f64,
    /// Current (adapted) rate, calls per second.
    rate: f64,
    /// The earliest time the next call may be sent.
    next: Instant,
    /// No call before this (server retry hint).
    paused_until: Instant,
    /// When the ceiling was lowered to a stated quota: answers to calls sent before that say
    /// nothing about the new rate.
    capped_at: Option<Instant>,
}

/// One paced budget.
#[derive(Debug)]
pub struct RateLimiter {
    /// Lowest fraction of the ceiling the adaptive backoff goes down to.
    floor: f64,
    state: Mutex<State>,
}

impl RateLimiter {
    /// A limiter of `qps` calls per second (`qps > 0`).
    #[must_use]
    pub fn new(qps: f64) -> RateLimiter {
        RateLimiter::with_floor(qps, FLOOR)
    }

    fn with_floor(qps: f64, floor: f64) -> RateLimiter {
        let now = Instant::now();
        RateLimiter {
            floor,
            state: Mutex::new(State {
                ceiling: qps,
                rate: qps,
                next: now,
                paused_until: now,
                capped_at: None,
            }),
        }
    }

    /// Reserves the next send slot and returns how long to wait for it.
    #[must_use]
    pub fn reserve(&self) -> Duration {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / s.rate);
        // Idle time earns at most BURST slots.
        let earliest = now.checked_sub(interval.mul_f64(BURST - 1.0)).unwrap_or(now);
        let slot = s.next.max(earliest).max(s.paused_until);
        s.next = slot + interval;
        slot.saturating_duration_since(now)
    }

    /// Waits for a send slot.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// The server throttled a call: slow down and honour its retry hint.
    pub fn on_throttled(&self, retry_after: Option<Duration>) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.rate = (s.rate * DECREASE).max(s.ceiling * self.floor);
        let pause = retry_after.unwrap_or(Duration::from_secs_f64(1.0 / s.rate));
        s.paused_until = s.paused_until.max(Instant::now() + pause);
    }

    /// A per-API throttled answer to a call paced at `paced` (see [`Throttle::paced`]), stating
    /// the quota `limit` (calls per second) when it did. A stated quota lower than the ceiling
    /// becomes the ceiling (no guessing by repeated throttling); answers to calls paced before
    /// that only pause; anything else slows down as [`RateLimiter::on_throttled`] does.
    fn on_api_throttled(&self, paced: Instant, limit: Option<u32>, retry_after: Option<Duration>) {
        {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let pause = |s: &mut State| {
                if let Some(p) = retry_after {
                    s.paused_until = s.paused_until.max(now + p);
                }
            };
            if let Some(q) = limit
                .map(|l| f64::from(l) * QUOTA_SHARE)
                .filter(|q| *q < s.ceiling)
            {
                s.ceiling = q;
                s.rate = s.rate.min(q);
                s.capped_at = Some(now);
                pause(&mut s);
                return;
            }
            if s.capped_at.is_some_and(|at| paced < at) {
                pause(&mut s);
                return;
            }
        }
        self.on_throttled(retry_after);
    }

    /// A call went through: win back some of the rate lost to throttling.
    pub fn on_success(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.rate < s.ceiling {
            s.rate = (s.rate + s.ceiling * INCREASE).min(s.ceiling);
        }
    }

    /// True when the ceiling was lowered to a stated quota after `t`.
    fn capped_since(&self, t: Instant) -> bool {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.capped_at.is_some_and(|at| at > t)
    }

    /// The current (adapted) rate.
    #[must_use]
    pub fn rate(&self) -> f64 {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).rate
    }
}

/// What a throttled answer said, as the budgets need it.
#[derive(Debug, Clone, Copy)]
pub struct Throttle<'a> {
    /// `Throttling.Api` (one API's quota) or the account's `Throttling.User` / `Throttling`.
    pub code: &'a str,
    /// The server's retry hint.
    pub retry_after: Option<Duration>,
    /// The API's stated quota (`Limit` of `x-ratelimit-user-api`), read as calls per second.
    pub api_limit: Option<u32>,
    /// When the throttled call last consulted its API's budget (what [`RateLimits::acquire`]
    /// returned): the answer to a call paced before the API's quota was known says nothing about
    /// the quota's rate.
    pub paced: Instant,
}

/// The budgets of one operator process: per account, per (account, action) where the API has
/// shown it needs one, and global. Shared by every client the operator builds, whatever
/// credentials they use.
///
/// Alibaba limits some APIs below the account's overall rate and says so with `Throttling.Api`
/// (`x-ratelimit-user-api`); `Throttling.User` / `Throttling` is the account's limit. A per-API
/// answer slows only that action (a budget for it is created on the first one), so one slow API
/// does not hold back the account's other calls. When the answer states the quota
/// (`x-ratelimit-user-api: Limit:20,...`), the budget starts just under it (95 %, read as calls
/// per second, the unit of the finest quotas) instead of finding it by repeated throttling; a quota over a longer
/// window ("200/60 s") still throttles, and the budget then keeps slowing down (to 1 % of its
/// ceiling at most) while honouring each retry hint.
#[derive(Debug, Default)]
pub struct RateLimits {
    account_qps: f64,
    global: Option<RateLimiter>,
    accounts: Mutex<HashMap<String, Arc<RateLimiter>>>,
    /// Per account: its turns in the global budget's queue ([`GLOBAL_QUEUE_PER_ACCOUNT`]).
    global_turns: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    actions: Mutex<HashMap<(String, String), Arc<RateLimiter>>>,
}

/// Ceiling of a per-action budget when no account budget is configured, calls per second.
const ACTION_CEILING_QPS: f64 = 100.0;

/// Lowest fraction of its ceiling a per-action budget slows down to.
const ACTION_FLOOR: f64 = 0.01;

/// Share of a stated API quota the budget uses: sending at exactly the server's refill rate leaves
/// no room for jitter, and each throttled answer would cost a slow-down.
const QUOTA_SHARE: f64 = 0.95;

/// Calls of one account that may wait for the global budget at once; the account's other calls
/// wait their turn behind them. The global budget hands out slots in arrival order, so without
/// this cap every account queues all its calls in flight there (32 each: 3,200 for a fleet of
/// 100, 1.6 s of a 2,000/s budget), and each step of an account whose work is nearly done (a
/// verifying listing, the next page, a task poll, the deletion check) waits behind every other
/// account's backlog. With the cap a call waits for about this many slots of its account's share;
/// the shares stay equal, and a fleet still keeps this many calls per account queued, enough to
/// ride out a short stall of the process without losing budget.
pub const GLOBAL_QUEUE_PER_ACCOUNT: usize = 4;

/// The code of a per-API limit (as opposed to the account's).
pub const PER_API_THROTTLE: &str = "Throttling.Api";

impl RateLimits {
    /// Budgets of `account_qps` per account and `global_qps` overall (0 = unlimited).
    #[must_use]
    pub fn new(account_qps: f64, global_qps: f64) -> RateLimits {
        let positive = |q: f64| q.is_finite() && q > 0.0;
        RateLimits {
            account_qps: if positive(account_qps) { account_qps } else { 0.0 },
            global: positive(global_qps).then(|| RateLimiter::new(global_qps)),
            accounts: Mutex::default(),
            global_turns: Mutex::default(),
            actions: Mutex::default(),
        }
    }

    /// True when neither budget is set.
    #[must_use]
    pub fn is_unlimited(&self) -> bool {
        self.account_qps == 0.0 && self.global.is_none()
    }

    fn account(&self, account: &str) -> Option<Arc<RateLimiter>> {
        if self.account_qps == 0.0 {
            return None;
        }
        let mut m = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = m.get(account) {
            return Some(l.clone());
        }
        Some(
            m.entry(account.to_owned())
                .or_insert_with(|| Arc::new(RateLimiter::new(self.account_qps)))
                .clone(),
        )
    }

    fn global_turns(&self, account: &str) -> Arc<tokio::sync::Semaphore> {
        let mut m = self.global_turns.lock().unwrap_or_else(PoisonError::into_inner);
        // Looked up on every call: allocate the key only for a new account.
        if let Some(t) = m.get(account) {
            return t.clone();
        }
        m.entry(account.to_owned())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(GLOBAL_QUEUE_PER_ACCOUNT)))
            .clone()
    }

    /// The budget of `action` in `account`, if that API has asked for one (`create`: it just did).
    fn action(&self, account: &str, action: &str, create: bool) -> Option<Arc<RateLimiter>> {
        let mut m = self.actions.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (account.to_owned(), action.to_owned());
        if create {
            let ceiling = if self.account_qps > 0.0 {
                self.account_qps
            } else {
                ACTION_CEILING_QPS
            };
            Some(
                m.entry(key)
                    .or_insert_with(|| Arc::new(RateLimiter::with_floor(ceiling, ACTION_FLOOR)))
                    .clone(),
            )
        } else {
            m.get(&key).cloned()
        }
    }

    /// Waits until a call of `action` for `account` may be sent under every budget, and returns
    /// when it last consulted the API's own budget (for [`Throttle::paced`]).
    ///
    /// The API's own budget comes first: a call waiting for it must not hold a slot of the
    /// account's budget that another API could have used. It is consulted again at the end: a
    /// call that waited for the account's budget while the API stated its quota must obey it.
    /// Otherwise the calls already queued then (up to all the calls in flight) go out at the
    /// account's rate and drain the API's bucket, and the refusals of the first calls paced by the
    /// quota slow its budget far below it.
    pub async fn acquire(&self, account: &str, action: &str) -> Instant {
        let first = self.action(account, action, false);
        let mut paced = Instant::now();
        if let Some(a) = &first {
            a.acquire().await;
        }
        if let Some(a) = self.account(account) {
            a.acquire().await;
        }
        if let Some(g) = &self.global {
            // Never closed, so a permit always comes; it is held until the slot arrives.
            let turns = self.global_turns(account);
            let _turn = turns.acquire().await.ok();
            g.acquire().await;
        }
        if let Some(a) = self.action(account, action, false)
            && (first.is_none() || a.capped_since(paced))
        {
            paced = Instant::now();
            a.acquire().await;
        }
        paced
    }

    /// Feeds the outcome of a call back into the budgets: `throttled` is what a throttled answer
    /// said, `None` for any other outcome.
    pub fn observe(&self, account: &str, action: &str, throttled: Option<Throttle<'_>>) {
        let retry_after = throttled.and_then(|t| t.retry_after);
        if let Some(t) = throttled.filter(|t| t.code == PER_API_THROTTLE) {
            if let Some(a) = self.action(account, action, true) {
                a.on_api_throttled(t.paced, t.api_limit, retry_after);
            }
            return;
        }
        // The account's limit (or a success): the account and global budgets adapt; a per-action
        // budget only wins back what its own throttling cost it.
        if throttled.is_none()
            && let Some(a) = self.action(account, action, false)
        {
            a.on_success();
        }
        let account_budget = self.account(account);
        for l in account_budget.as_deref().into_iter().chain(self.global.as_ref()) {
            if throttled.is_some() {
                l.on_throttled(retry_after);
            } else {
                l.on_success();
            }
        }
    }

    /// Forgets the budgets of an account that is gone.
    pub fn forget(&self, account: &str) {
        self.accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(account);
        self.global_turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(account);
        self.actions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(a, _), _| a != account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_by_the_rate() {
        let l = RateLimiter::new(10.0);
        let waits: Vec<Duration> = (0..6).map(|_| l.reserve()).collect();
        assert!(waits[0] <= Duration::from_millis(1), "{waits:?}");
        // Each slot is 100 ms after the previous one; time passing between the calls only makes
        // the later waits shorter, never longer.
        for w in waits.windows(2) {
            let d = w[1].saturating_sub(w[0]);
            assert!(
                d <= Duration::from_millis(100) && d >= Duration::from_millis(50),
                "{waits:?}"
            );
        }
    }

    #[test]
    fn throttling_slows_down_and_success_recovers() {
        let l = RateLimiter::new(50.0);
        l.on_throttled(Some(Duration::from_millis(200)));
        assert!((l.rate() - 35.0).abs() < 1e-9);
        assert!(
            l.reserve() >= Duration::from_millis(150),
            "pauses for the retry hint"
        );
        for _ in 0..1000 {
            l.on_success();
        }
        assert!((l.rate() - 50.0).abs() < 1e-9);
        for _ in 0..100 {
            l.on_throttled(None);
        }
        assert!((l.rate() - 5.0).abs() < 1e-9, "never below the floor");
    }

    #[test]
    fn a_per_api_limit_slows_only_that_action() {
        let r = RateLimits::new(50.0, 0.0);
        r.observe("a", "DeleteUser", Some(api_throttle(None)));
        r.observe("a", "DeleteUser", Some(api_throttle(None)));
        let slow = r.action("a", "DeleteUser", false).map(|l| l.rate());
        assert!(slow.is_some_and(|q| (q - 24.5).abs() < 1e-9), "{slow:?}");
        assert_eq!(
            r.account("a").map(|l| l.rate()),
            Some(50.0),
            "the account keeps its rate"
        );
        assert!(
            r.action("a", "DeleteGroup", false).is_none(),
            "other actions get no budget"
        );
        assert!(r.action("b", "DeleteUser", false).is_none(), "nor other accounts");
        // The account's own limit does not touch the per-action budget; successes win it back.
        r.observe(
            "a",
            "DeleteUser",
            Some(Throttle {
                code: "Throttling.User",
                retry_after: None,
                api_limit: None,
                paced: Instant::now(),
            }),
        );
        assert_eq!(r.account("a").map(|l| l.rate()), Some(35.0));
        assert_eq!(r.action("a", "DeleteUser", false).map(|l| l.rate()), slow);
        for _ in 0..1000 {
            r.observe("a", "DeleteUser", None);
        }
        assert_eq!(r.action("a", "DeleteUser", false).map(|l| l.rate()), Some(50.0));
        r.forget("a");
        assert!(r.action("a", "DeleteUser", false).is_none());
    }

    fn api_throttle(limit: Option<u32>) -> Throttle<'static> {
        paced_at(Instant::now(), limit)
    }

    fn paced_at(paced: Instant, limit: Option<u32>) -> Throttle<'static> {
        Throttle {
            code: PER_API_THROTTLE,
            retry_after: Some(Duration::from_millis(50)),
            api_limit: limit,
            paced,
        }
    }

    #[test]
    fn a_stated_api_quota_is_kept_from_the_first_answer_on() {
        let r = RateLimits::new(200.0, 0.0);
        let before = Instant::now();
        r.observe("a", "ram:ListAccessKeys", Some(api_throttle(Some(20))));
        let rate = |a: &str| r.action("a", a, false).map(|l| l.rate());
        let near = |want: f64| rate("ram:ListAccessKeys").is_some_and(|q| (q - want).abs() < 1e-9);
        assert!(
            near(19.0),
            "starts just under the stated quota: {:?}",
            rate("ram:ListAccessKeys")
        );
        // Calls that were already in flight come back throttled with the same figure: no further
        // slow-down, and successes never lift it above the quota.
        r.observe("a", "ram:ListAccessKeys", Some(paced_at(before, Some(20))));
        r.observe("a", "ram:ListAccessKeys", Some(paced_at(before, Some(20))));
        for _ in 0..1000 {
            r.observe("a", "ram:ListAccessKeys", None);
        }
        assert!(near(19.0), "{:?}", rate("ram:ListAccessKeys"));
        assert_eq!(
            r.account("a").map(|l| l.rate()),
            Some(200.0),
            "the account keeps its rate"
        );
        // Throttled again at the stated figure: the quota is over a longer window; slow down.
        r.observe("a", "ram:ListAccessKeys", Some(api_throttle(Some(20))));
        assert!(near(19.0 * 0.7), "{:?}", rate("ram:ListAccessKeys"));
        for _ in 0..500 {
            r.observe("a", "ram:ListAccessKeys", Some(api_throttle(Some(20))));
        }
        assert!(
            near(0.19),
            "down to 1 % of the quota: {:?}",
            rate("ram:ListAccessKeys")
        );
    }

    /// Answers by kind in [`against_quota`].
    #[derive(Debug, Default)]
    struct Answers {
        hot_ok: u32,
        hot_throttled: u32,
        other_ok: u32,
        account_throttled: u32,
    }

    /// `callers` callers of a hot listing and as many of another action, on one account through
    /// `limits`, against the emulator's buckets (account 50/s, the hot listing 10/1 s) for `secs`
    /// of virtual time. Nothing is known of the quota at the start, as in a real pass. A throttled
    /// call retries after the server's hint, as the transport does (without its jitter).
    async fn against_quota(limits: Arc<RateLimits>, callers: usize, secs: u64) -> Answers {
        use ado_emulator::throttle::{ACCOUNT_KEY, Quota, Throttle as Buckets};
        const HOT: &str = "ram:ListAccessKeys";
        let server = Arc::new(Mutex::new(Buckets::new()));
        let answers = Arc::new(Mutex::new(Answers::default()));
        let end = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for i in 0..2 * callers {
            let (limits, server, answers) = (limits.clone(), server.clone(), answers.clone());
            let action = if i < callers {
                HOT
            } else {
                "ram:ListEntitiesForPolicy"
            };
            tasks.push(tokio::spawn(async move {
                loop {
                    let paced = limits.acquire("a", action).await;
                    if Instant::now() >= end {
                        break;
                    }
                    // Half a round trip to the server, the answer comes back after the other half.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    let now = Instant::now().into_std();
                    let refused = {
                        let mut b = server.lock().unwrap_or_else(PoisonError::into_inner);
                        let quota = if action == HOT {
                            Quota::per_second(10)
                        } else {
                            Quota::per_second(0)
                        };
                        b.check_quota("a", action, quota, now)
                            .map_err(|t| (t, PER_API_THROTTLE))
                            .and_then(|()| {
                                b.check("a", ACCOUNT_KEY, 50, now)
                                    .map_err(|t| (t, "Throttling.User"))
                            })
                            .err()
                    };
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    let retry_after = refused.map(|(t, _)| Duration::from_millis(t.retry_after_ms));
                    limits.observe(
                        "a",
                        action,
                        refused.map(|(t, code)| Throttle {
                            code,
                            retry_after,
                            api_limit: (code == PER_API_THROTTLE).then_some(t.limit),
                            paced,
                        }),
                    );
                    {
                        let mut a = answers.lock().unwrap_or_else(PoisonError::into_inner);
                        match (refused.map(|(_, code)| code), action == HOT) {
                            (None, true) => a.hot_ok += 1,
                            (None, false) => a.other_ok += 1,
                            (Some(PER_API_THROTTLE), _) => a.hot_throttled += 1,
                            (Some(_), _) => a.account_throttled += 1,
                        }
                    }
                    if let Some(d) = retry_after {
                        tokio::time::sleep(d).await;
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        Arc::try_unwrap(answers)
            .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
            .unwrap_or_default()
    }

    /// The Quota benchmark's discovery in small: 32 callers of an API with a quota of 10/1 s beside
    /// 32 of another, the quota learnt from the first refusal. Calls then waiting for the
    /// account's budget obey it, and refusals of calls sent before it was known do not slow the
    /// budget down: the hot API gets its 95 % of the quota, the other the rest of the account's
    /// 50/s. (Before, those calls went out at the account's rate into the drained bucket and their
    /// refusals took the budget down to ~1/s.)
    #[tokio::test(start_paused = true)]
    async fn a_capped_api_budget_keeps_its_rate_beside_other_apis() {
        let secs = 60;
        let limits = Arc::new(RateLimits::new(50.0, 0.0));
        let a = against_quota(limits.clone(), 32, secs).await;
        let per_s = |n: u32| f64::from(n) / secs as f64;
        assert!(
            per_s(a.hot_ok) >= 9.0,
            "hot API at {:.2}/s: {a:?}",
            per_s(a.hot_ok)
        );
        assert!(
            per_s(a.other_ok) >= 38.0,
            "other API at {:.2}/s: {a:?}",
            per_s(a.other_ok)
        );
        assert!(
            a.hot_throttled <= 32 && a.account_throttled == 0,
            "only calls sent before the quota was known are throttled: {a:?}"
        );
        let rate = limits.action("a", "ram:ListAccessKeys", false).map(|l| l.rate());
        assert!(rate.is_some_and(|q| (q - 9.5).abs() < 1e-9), "{rate:?}");
    }

    #[test]
    fn budgets_are_per_account_and_optional() {
        let r = RateLimits::new(0.0, 0.0);
        assert!(r.is_unlimited() && r.account("a").is_none());
        let r = RateLimits::new(5.0, 0.0);
        let a = r.account("a").map(|l| Arc::as_ptr(&l));
        assert_eq!(a, r.account("a").map(|l| Arc::as_ptr(&l)));
        assert_ne!(a, r.account("b").map(|l| Arc::as_ptr(&l)));
    }

    /// A fleet under one global budget: two busy accounts keep 32 calls each waiting for it, as
    /// the executor does. They share the budget equally, and a third account that needs one call
    /// (a nearly finished pass: a verifying listing, a task poll) gets it after a few slots of
    /// its share, not after both backlogs (64 slots, 640 ms at 100/s).
    #[tokio::test(start_paused = true)]
    async fn a_lone_call_does_not_wait_behind_other_accounts_backlogs() {
        let limits = Arc::new(RateLimits::new(0.0, 100.0));
        let sent = Arc::new(Mutex::new(HashMap::<&str, u32>::new()));
        let mut tasks = Vec::new();
        for account in ["busy-1", "busy-2"] {
            for _ in 0..32 {
                let (limits, sent) = (limits.clone(), sent.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        limits.acquire(account, "ram:DeleteUser").await;
                        *sent
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .entry(account)
                            .or_default() += 1;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }));
            }
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        let start = Instant::now();
        limits.acquire("tail", "ram:ListUsers").await;
        let waited = start.elapsed();
        for t in &tasks {
            t.abort();
        }
        // Both backlogs at the cap (8 slots) and the next slot: 90 ms.
        assert!(waited <= Duration::from_millis(100), "waited {waited:?}");
        let sent = sent.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let (one, two) = (sent["busy-1"], sent["busy-2"]);
        assert!(one + two >= 990, "the budget is used: {sent:?}");
        assert!(one.abs_diff(two) <= 10, "equal shares: {sent:?}");
    }
}
