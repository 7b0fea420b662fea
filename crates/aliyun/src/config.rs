//! Client configuration: endpoints, signature scheme, timeouts, retries and page sizes.

use std::time::Duration;

use super::product::Product;

/// Which request signature the client uses (§2). Both are accepted by every endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureVersion {
    /// RPC signature V1, HMAC-SHA1, `SignatureVersion=1.0` (the classic scheme; the default here
    /// because every Alibaba tool and the legacy SDKs speak it).
    #[default]
    V1,
    /// `ACS3-HMAC-SHA256` (the current SDK default).
    V3,
}

/// Where the business parameters travel. The generated SDKs put them in the query string with an
/// empty POST body (§1.1); a form body avoids URL length limits. Servers accept and merge both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParamPlacement {
    /// Query string, empty body (what the SDKs send, §2.5.3).
    #[default]
    Query,
    /// `application/x-www-form-urlencoded` POST body.
    FormBody,
}

/// Base URLs per product, `scheme://host[:port]` without a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// RAM.
    pub ram: String,
    /// IMS.
    pub ims: String,
    /// ResourceManager.
    pub resource_manager: String,
    /// STS.
    pub sts: String,
}

impl Default for Endpoints {
    /// The real public endpoints (§1.1), HTTPS.
    fn default() -> Self {
        Endpoints {
            ram: format!("https://{}", Product::Ram.host()),
            ims: format!("https://{}", Product::Ims.host()),
            resource_manager: format!("https://{}", Product::ResourceManager.host()),
            sts: format!("https://{}", Product::Sts.host()),
        }
    }
}

impl Endpoints {
    /// All four products on one base URL (the emulator routes by `Version`).
    #[must_use]
    pub fn single(base_url: &str) -> Endpoints {
        let base = base_url.trim_end_matches('/').to_string();
        Endpoints {
            ram: base.clone(),
            ims: base.clone(),
            resource_manager: base.clone(),
            sts: base,
        }
    }

    /// The base URL of `product`.
    #[must_use]
    pub fn url(&self, product: Product) -> &str {
        match product {
            Product::Ram => &self.ram,
            Product::Ims => &self.ims,
            Product::ResourceManager => &self.resource_manager,
            Product::Sts => &self.sts,
        }
    }

    /// Replaces the base URL of one product (e.g. a VPC endpoint).
    #[must_use]
    pub fn with(mut self, product: Product, base_url: &str) -> Endpoints {
        let base = base_url.trim_end_matches('/').to_string();
        match product {
            Product::Ram => self.ram = base,
            Product::Ims => self.ims = base,
            Product::ResourceManager => self.resource_manager = base,
            Product::Sts => self.sts = base,
        }
        self
    }
}

/// Retry policy for throttled and transient failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts in total, the first included (1 = no retry).
    pub max_attempts: u32,
    /// First backoff step; doubles per attempt.
    pub base_delay: Duration,
    /// Upper bound of the computed backoff.
    pub max_delay: Duration,
    /// Upper bound of a server-requested delay (`x-acs-retry-after`, `x-ratelimit-*`).
    pub max_server_delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_server_delay: Duration::from_secs(60),
        }
    }
}

/// Everything the client needs besides credentials.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Product base URLs.
    pub endpoints: Endpoints,
    /// Signature scheme.
    pub signature: SignatureVersion,
    /// Parameter placement.
    pub params: ParamPlacement,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (per attempt).
    pub timeout: Duration,
    /// Retry policy.
    pub retry: RetryConfig,
    /// Caps every page size (tests use small pages to exercise pagination); `None` uses each
    /// operation's documented maximum.
    pub max_page_size: Option<u32>,
    /// `DurationSeconds` of AssumeRole sessions (900..=the role's MaxSessionDuration).
    pub sts_duration_seconds: u32,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            endpoints: Endpoints::default(),
            signature: SignatureVersion::V1,
            params: ParamPlacement::Query,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            retry: RetryConfig::default(),
            max_page_size: None,
            sts_duration_seconds: 3600,
            user_agent: format!("account-deletion-operator/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl ClientConfig {
    /// A default configuration with every product on `base_url` (the emulator).
    #[must_use]
    pub fn for_emulator(base_url: &str) -> ClientConfig {
        ClientConfig {
            endpoints: Endpoints::single(base_url),
            ..ClientConfig::default()
        }
    }

    /// The page size to request: the operation's maximum, capped by `max_page_size`.
    #[must_use]
    pub fn page_size(&self, operation_max: u32) -> u32 {
        self.max_page_size
            .map_or(operation_max, |m| m.clamp(1, operation_max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_real_endpoints() {
        let e = Endpoints::default();
        assert_eq!(e.url(Product::Ram), "https://ram.aliyuncs.com");
        assert_eq!(e.url(Product::Sts), "https://sts.aliyuncs.com");
        let s = Endpoints::single("http://127.0.0.1:9000/");
        assert_eq!(s.url(Product::ResourceManager), "http://127.0.0.1:9000");
        let c = ClientConfig {
            max_page_size: Some(2),
            ..ClientConfig::default()
        };
        assert_eq!(c.page_size(1000), 2);
        assert_eq!(ClientConfig::default().page_size(100), 100);
    }
}
