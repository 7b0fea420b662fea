//! The operator image the node tests run: `$ADO_IMAGE` / `$ADO_IMAGE_ARCHIVE` when scripts/test.sh
//! built it (stage `image`), else built once per test process with `scripts/build-image.sh`
//! (incremental: a fresh release binary makes it a few seconds).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// An image reference and the docker-archive holding it.
#[derive(Debug, Clone)]
pub struct OperatorImage {
    /// e.g. `ghcr.io/account-deletion-operator/account-deletion-operator:0.1.0`.
    pub reference: String,
    /// `buildah push ... docker-archive:FILE:REF` output.
    pub archive: PathBuf,
}

impl OperatorImage {
    /// Repository part of the reference (before the last `:`).
    pub fn repository(&self) -> &str {
        self.reference
            .rsplit_once(':')
            .map_or(self.reference.as_str(), |(r, _)| r)
    }

    /// Tag part of the reference.
    pub fn tag(&self) -> &str {
        self.reference.rsplit_once(':').map_or("latest", |(_, t)| t)
    }
}

/// The image (built at most once per process; panics with the script's output when it fails).
pub fn operator_image() -> &'static OperatorImage {
    static IMAGE: OnceLock<OperatorImage> = OnceLock::new();
    IMAGE.get_or_init(|| {
        if let (Ok(r), Ok(a)) = (std::env::var("ADO_IMAGE"), std::env::var("ADO_IMAGE_ARCHIVE"))
            && !r.is_empty()
            && Path::new(&a).is_file()
        {
            return OperatorImage {
                reference: r,
                archive: PathBuf::from(a),
            };
        }
        let root = Path::new(crate::REPO_ROOT);
        let target = std::env::var("CARGO_TARGET_DIR")
            .ok()
            .filter(|s| !s.is_empty())
            .map_or_else(|| root.join("target"), PathBuf::from);
        let archive = target.join("image/account-deletion-operator.tar");
        eprintln!("building the operator image with scripts/build-image.sh (ADO_IMAGE_ARCHIVE unset) ...");
        let mut cmd = Command::new("bash");
        // The nested cargo must see the environment of a shell, not the one `cargo test` gives its
        // tests (CARGO_*, LD_LIBRARY_PATH): otherwise build scripts see changed variables and the
        // release build starts over, here and again in the next build from a shell.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            let keep = k == "CARGO_HOME" || k == "CARGO_TARGET_DIR";
            if (k == "CARGO" || k.starts_with("CARGO_") || k == "LD_LIBRARY_PATH") && !keep {
                cmd.env_remove(&k);
            }
        }
        let out = cmd
            .arg(root.join("scripts/build-image.sh"))
            .arg("--archive")
            .arg(&archive)
            .current_dir(root)
            .output()
            .expect("run scripts/build-image.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "scripts/build-image.sh failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let reference = stdout
            .lines()
            .find_map(|l| l.strip_prefix("ADO_IMAGE="))
            .unwrap_or_else(|| panic!("scripts/build-image.sh printed no ADO_IMAGE=: {stdout}"))
            .to_string();
        OperatorImage { reference, archive }
    })
}
