//! The products this project speaks to, with their API versions and real endpoint hosts.

/// The four Alibaba Cloud products the operator talks to; the emulator routes by their `Version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Product {
    /// RAM, version `2015-05-01`.
    Ram,
    /// IMS, version `2019-08-15`.
    Ims,
    /// ResourceManager, version `2020-03-31`.
    ResourceManager,
    /// STS, version `2015-04-01`.
    Sts,
}

impl Product {
    /// Maps an API version string to its product; `None` answers `InvalidVersion`.
    #[must_use]
    pub fn from_version(version: &str) -> Option<Self> {
        match version {
            "2015-05-01" => Some(Self::Ram),
            "2019-08-15" => Some(Self::Ims),
            "2020-03-31" => Some(Self::ResourceManager),
            "2015-04-01" => Some(Self::Sts),
            _ => None,
        }
    }

    /// The API version string of the product.
    #[must_use]
    pub fn version(self) -> &'static str {
        match self {
            Self::Ram => "2015-05-01",
            Self::Ims => "2019-08-15",
            Self::ResourceManager => "2020-03-31",
            Self::Sts => "2015-04-01",
        }
    }

    /// The real endpoint host, used as `HostId` in error bodies.
    #[must_use]
    pub fn host(self) -> &'static str {
        match self {
            Self::Ram => "ram.aliyuncs.com",
            Self::Ims => "ims.aliyuncs.com",
            Self::ResourceManager => "resourcemanager.aliyuncs.com",
            Self::Sts => "sts.aliyuncs.com",
        }
    }

    /// Short lower-case name for counters and logs.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Ram => "ram",
            Self::Ims => "ims",
            Self::ResourceManager => "resourcemanager",
            Self::Sts => "sts",
        }
    }
}
