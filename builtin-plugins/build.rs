//! Compiles the guest plugins (`guest-plugins/`, its own workspace) to
//! `wasm32-wasip2` components, so a fresh clone needs no manual step. This
//! crate embeds the sample plugins (`src/lib.rs`) and exports the directory
//! as `GUEST_DIR`, where tests find the fixtures.
//!
//! The build script lives in this tiny crate rather than in `brink`'s, so a
//! guest edit re-runs it and rebuilds only this crate's few lines; the host
//! crate is then recompiled incrementally against an unchanged interface.
//!
//! The guest build uses `<target>/guest-plugins` as its target directory, so
//! dev, release and clippy builds of the host share one guest build.

use std::path::{Path, PathBuf};
use std::process::Command;

const WATCH: [&str; 10] = [
    "../wit",
    "../guest-plugins/Cargo.toml",
    "../guest-plugins/Cargo.lock",
    "../guest-plugins/sdk",
    "../guest-plugins/auth",
    "../guest-plugins/router",
    "../guest-plugins/personalize",
    "../guest-plugins/fixtures",
    "build.rs",
    "../rust-toolchain.toml",
];

fn main() {
    for path in WATCH {
        println!("cargo:rerun-if-changed={path}");
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = guest_target_dir(&out_dir);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-plugins/Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--workspace",
        "--target",
        "wasm32-wasip2",
    ])
    .arg("--manifest-path")
    .arg(&manifest)
    .env("CARGO_TARGET_DIR", &target_dir)
    // The host's flags (coverage, sanitizers, target-cpu) must not leak into the guest build.
    .env_remove("CARGO_ENCODED_RUSTFLAGS")
    .env_remove("RUSTFLAGS")
    .env_remove("CARGO_BUILD_RUSTFLAGS")
    .env_remove("CARGO_PRIMARY_PACKAGE")
    .env_remove("RUSTC_WORKSPACE_WRAPPER");
    let status = cmd
        .status()
        .expect("cannot run cargo to build the guest plugins");
    if !status.success() {
        panic!(
            "building guest-plugins for wasm32-wasip2 failed (is the target installed? \
             `rustup target add wasm32-wasip2`; rust-toolchain.toml lists it)"
        );
    }
    let dir = target_dir.join("wasm32-wasip2").join("release");
    for name in ["brink_auth", "brink_router", "brink_personalize"] {
        let wasm = dir.join(format!("{name}.wasm"));
        assert!(
            wasm.is_file(),
            "guest build did not produce {}",
            wasm.display()
        );
    }
    println!("cargo:rustc-env=BRINK_GUEST_DIR={}", dir.display());
}

/// `<target>/guest-plugins`: the cargo target directory is the ancestor of
/// OUT_DIR that holds `CACHEDIR.TAG`; OUT_DIR itself if none does.
fn guest_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").is_file())
        .map(|t| t.join("guest-plugins"))
        .unwrap_or_else(|| out_dir.join("guest-plugins"))
}
