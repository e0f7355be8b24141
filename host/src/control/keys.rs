//! The fleet's ed25519 key pair: `brink fleet keygen` writes it, `deploy`
//! and `rollback` sign with the private half, nodes verify with the public
//! half (`[control] trust_key`). So write access to NATS alone cannot push a
//! generation: a node applies only what the key signed.
//!
//! Files are one base64 line each: `fleet.key` the 32-byte secret seed
//! (mode 0600), `fleet.pub` the 32-byte public key.
//!
//! Signatures cover a context string and the payload, so a signature made
//! for one kind of message (a generation) can never pass for another (a
//! purge).

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::ControlError;

/// The context every generation signature covers.
pub const GENERATION_CONTEXT: &[u8] = b"brink-fleet-generation-v1\n";

/// The context every purge signature covers.
pub const PURGE_CONTEXT: &[u8] = b"brink-fleet-purge-v1\n";

/// Writes a new key pair into `dir` as `fleet.key` (0600) and `fleet.pub`;
/// refuses to overwrite either. Returns both paths.
pub fn keygen(dir: &Path) -> Result<(PathBuf, PathBuf), ControlError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| ControlError::Key(format!("cannot create {}: {e}", dir.display())))?;
    let seed: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&seed);
    let private = dir.join("fleet.key");
    let public = dir.join("fleet.pub");
    write_new(&private, &STANDARD.encode(key.to_bytes()), 0o600)?;
    write_new(
        &public,
        &STANDARD.encode(key.verifying_key().to_bytes()),
        0o644,
    )?;
    Ok((private, public))
}

fn write_new(path: &Path, line: &str, mode: u32) -> Result<(), ControlError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| ControlError::Key(format!("cannot create {}: {e}", path.display())))?;
    writeln!(f, "{line}")
        .map_err(|e| ControlError::Key(format!("cannot write {}: {e}", path.display())))
}

fn read_32(path: &Path, what: &str) -> Result<[u8; 32], ControlError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ControlError::Key(format!("cannot read {}: {e}", path.display())))?;
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| {
            ControlError::Key(format!(
                "{} is not a fleet {what} (one base64 line of 32 bytes, as `brink fleet keygen` writes)",
                path.display()
            ))
        })
}

/// Reads `fleet.key`.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, ControlError> {
    Ok(SigningKey::from_bytes(&read_32(path, "private key")?))
}

/// Reads `fleet.pub`.
pub fn read_trust_key(path: &Path) -> Result<VerifyingKey, ControlError> {
    VerifyingKey::from_bytes(&read_32(path, "public key")?)
        .map_err(|e| ControlError::Key(format!("{}: not an ed25519 key: {e}", path.display())))
}

/// Signs `payload` under `context`; the base64 signature.
pub fn sign(key: &SigningKey, context: &[u8], payload: &[u8]) -> String {
    let mut msg = context.to_vec();
    msg.extend_from_slice(payload);
    STANDARD.encode(key.sign(&msg).to_bytes())
}

/// Whether `signature` (base64) is `key`'s over `context` and `payload`.
pub fn verify(key: &VerifyingKey, context: &[u8], payload: &[u8], signature: &str) -> bool {
    let Some(sig) = STANDARD
        .decode(signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
    else {
        return false;
    };
    let mut msg = context.to_vec();
    msg.extend_from_slice(payload);
    key.verify_strict(&msg, &Signature::from_bytes(&sig))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_writes_a_private_key_only_its_owner_reads() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("brink-keygen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (private, public) = keygen(&dir).unwrap();
        let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let key = read_signing_key(&private).unwrap();
        let trust = read_trust_key(&public).unwrap();
        let sig = sign(&key, GENERATION_CONTEXT, b"payload");
        assert!(verify(&trust, GENERATION_CONTEXT, b"payload", &sig));
        assert!(!verify(&trust, GENERATION_CONTEXT, b"payload!", &sig));
        assert!(!verify(&trust, b"other", b"payload", &sig));
        assert!(!verify(
            &trust,
            GENERATION_CONTEXT,
            b"payload",
            "not base64"
        ));
        assert!(keygen(&dir).is_err(), "keygen must not overwrite a key");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
