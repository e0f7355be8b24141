//! A node's state folder: the last applied generation, as received (signed),
//! and the plugin components it names, by hash. Read back at start and
//! verified again, so a restart without NATS serves the last good
//! generation, and a file changed on disk is refused like a message.

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use super::super::ControlError;
use super::super::compose;
use super::super::protocol::{Envelope, GenerationPayload, sha256_hex};

/// The state folder.
#[derive(Debug, Clone)]
pub(super) struct Store {
    dir: PathBuf,
}

const GENERATION_FILE: &str = "generation.json";

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// crash leaves the old or the new file, never half of one.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ControlError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| ControlError::State(format!("cannot write {}: {e}", path.display())))
}

impl Store {
    /// The folder, created if missing.
    pub(super) fn new(dir: &Path) -> Result<Store, ControlError> {
        let store = Store {
            dir: dir.to_path_buf(),
        };
        std::fs::create_dir_all(store.plugin_dir())
            .map_err(|e| ControlError::State(format!("cannot create {}: {e}", dir.display())))?;
        Ok(store)
    }

    /// Where plugin components are kept, as `HEX.wasm`.
    pub(super) fn plugin_dir(&self) -> PathBuf {
        self.dir.join("plugins")
    }

    fn plugin_path(&self, hash: &str) -> PathBuf {
        self.plugin_dir().join(format!("{hash}.wasm"))
    }

    /// Whether the component with this hash is here, intact.
    pub(super) fn has_plugin(&self, hash: &str) -> bool {
        std::fs::read(self.plugin_path(hash)).is_ok_and(|b| sha256_hex(&b) == hash)
    }

    /// Keeps a component (its hash checked by the caller).
    pub(super) fn put_plugin(&self, hash: &str, bytes: &[u8]) -> Result<(), ControlError> {
        write_atomic(&self.plugin_path(hash), bytes)
    }

    /// Keeps the generation just applied.
    pub(super) fn save(&self, envelope: &[u8]) -> Result<(), ControlError> {
        write_atomic(&self.dir.join(GENERATION_FILE), envelope)
    }

    /// The generation kept, if it verifies and its plugins are all here.
    pub(super) fn load(&self, trust: &VerifyingKey, fleet: &str) -> Option<GenerationPayload> {
        let path = self.dir.join(GENERATION_FILE);
        let bytes = std::fs::read(&path).ok()?;
        let payload = match Envelope::from_bytes(&bytes).and_then(|e| e.open(trust, fleet)) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("{}: {e}; starting without it", path.display());
                return None;
            }
        };
        let hashes = compose::wasm_hashes(&payload.config).unwrap_or_default();
        if let Some(missing) = hashes.iter().find(|h| !self.has_plugin(h)) {
            tracing::warn!(
                "{}: plugin {missing} is missing or damaged; starting without generation {}",
                path.display(),
                payload.seq
            );
            return None;
        }
        tracing::info!(
            generation = payload.seq,
            "serving the fleet generation kept in {}",
            path.display()
        );
        Some(payload)
    }
}
