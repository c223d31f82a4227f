//! Builds the plugin components for `wasm32-wasip2` and embeds the core
//! ones, so that `cargo build` leaves a `switchboard` binary that runs the
//! three core plugins with no other file and no other step.
//!
//! The nested build uses its own target folder (`target/wasm`), so it never
//! waits on the outer build's lock. The SDK example and the test suite's
//! hostile plugin are built in the same run (a few seconds) and found by
//! tests through `SWITCHBOARD_WASM_DIR`.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const CORE: [&str; 3] = ["billing", "crm", "monitoring"];
const OTHERS: [&str; 3] = [
    "switchboard-plugin-greeter",
    "switchboard-plugin-hostile",
    "switchboard-plugin-clash",
];

fn main() {
    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("the engine lives in a workspace")
        .to_path_buf();
    for dir in [
        "plugin-sdk",
        "plugins",
        "examples",
        "tests/plugins",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    ensure_target();

    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_absolute() { d } else { root.join(d) })
        .unwrap_or_else(|| root.join("target"))
        .join("wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    for name in CORE {
        cmd.args(["-p", &format!("switchboard-plugin-{name}")]);
    }
    for name in OTHERS {
        cmd.args(["-p", name]);
    }
    // The outer build's settings are for the host, not for wasm.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        cmd.env_remove(var);
    }
    // Small components compile faster in the host and load faster.
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s");
    let output = cmd.output().expect("cannot run cargo to build the plugins");
    if !output.status.success() {
        panic!(
            "building the plugins for {TARGET} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let built = target_dir.join(TARGET).join("release");
    let out_dir = PathBuf::from(env_var("OUT_DIR"));
    for name in CORE {
        let from = built.join(format!("switchboard_plugin_{name}.wasm"));
        copy(&from, &out_dir.join(format!("{name}.wasm")));
    }
    println!("cargo:rustc-env=SWITCHBOARD_WASM_DIR={}", built.display());
}

fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", from.display(), to.display()));
}

/// Installs the wasm target with rustup when it is missing.
fn ensure_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let installed = sysroot
        .map(|s| Path::new(&s).join("lib/rustlib").join(TARGET).is_dir())
        .unwrap_or(false);
    if installed {
        return;
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    match status {
        Ok(s) if s.success() => {}
        _ => panic!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed; run it by hand"
        ),
    }
}
