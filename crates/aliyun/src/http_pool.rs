//! The HTTP connections every transport of one operator shares: one client (connection pool) per
//! distinct setting, and a cap on requests on the wire.

use std::sync::Arc;
use std::time::Duration;

use super::config::ClientConfig;
use super::error::AliyunError;

/// True when every endpoint is on a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
fn all_loopback(config: &ClientConfig) -> bool {
    use super::product::Product as Pr;
    [Pr::Ram, Pr::Ims, Pr::ResourceManager, Pr::Sts].iter().all(|p| {
        reqwest::Url::parse(config.endpoints.url(*p))
            .ok()
            .is_some_and(|u| {
                u.host_str().is_some_and(|h| {
                    h.eq_ignore_ascii_case("localhost")
                        || h.trim_matches(['[', ']'])
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|ip| ip.is_loopback())
                })
            })
    })
}

/// Requests one [`HttpPool`] client has on the wire at once, across every account that shares it.
///
/// The budgets pace calls in advance: when the process stalls (a hundred passes building their
/// plans at once on two cores), every call whose slot passed meanwhile goes out together, and
/// each opens a connection of its own because the answers of the others are not read yet. A
/// fleet was measured holding 2,066 connections to one endpoint after such a burst, each with
/// buffers sized by the largest answer it carried, for a minute. Past this cap a call waits for
/// a request to finish instead; the cap allows 2,000 calls/s at 128 ms a round trip.
pub const MAX_IN_FLIGHT: usize = 256;

/// HTTP clients shared by many transports: one per distinct setting (timeouts, proxy use).
///
/// Every account reaches the same few endpoints, and a signature belongs to a request, not to a
/// connection, so accounts can share connections. With a pool per account, a fleet holds the sum
/// of every account's own peak of connections (measured: 2,069 for 100 accounts, most of them
/// idle, each with its own TLS and read buffers); shared, it holds about the operator's overall
/// peak of calls in flight. Keep one pool per runtime: a connection lives on the runtime that
/// opened it.
#[derive(Debug, Default)]
pub struct HttpPool {
    clients: std::sync::Mutex<std::collections::HashMap<Setting, Shared>>,
}

/// What makes two configurations need different clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Setting {
    connect_timeout: Duration,
    timeout: Duration,
    /// Every endpoint on loopback: the client never uses an environment proxy.
    loopback_only: bool,
}

/// A client and its cap on requests on the wire ([`MAX_IN_FLIGHT`]).
pub(crate) type Shared = (reqwest::Client, Arc<tokio::sync::Semaphore>);

impl HttpPool {
    pub(crate) fn client(&self, config: &ClientConfig) -> Result<Shared, AliyunError> {
        let key = Setting {
            connect_timeout: config.connect_timeout,
            timeout: config.timeout,
            loopback_only: all_loopback(config),
        };
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        // Signed requests never follow redirects, and a name that resolves to a metadata address
        // is refused (`egress.rs`).
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(MAX_IN_FLIGHT)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(super::egress::GuardedResolver));
        if key.loopback_only {
            // The emulator: never route loopback traffic through an environment proxy.
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| {
            let mut e = AliyunError::from_transport(e);
            e.message.push_str(" (is a rustls crypto provider installed?)");
            e
        })?;
        let entry = (http, Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)));
        clients.insert(key, entry.clone());
        Ok(entry)
    }

    /// Number of distinct HTTP clients (connection pools) in use.
    #[must_use]
    pub fn clients(&self) -> usize {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}
