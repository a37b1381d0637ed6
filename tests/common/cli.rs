//! Running the `aegpu` binary from a test: each test file includes this module with
//! `#[path = "common/cli.rs"] mod cli;` and takes what it needs.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// `aegpu ARGS…` run from the repository root (where relative data paths point).
pub fn aegpu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aegpu"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("aegpu runs")
}

/// A path named `name` in this test binary's own temporary folder.
pub fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "aegpu-{}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The one `error…` line of a refused command (which must exit non-zero and not
/// panic); other stderr lines (the backend chosen) are not errors.
pub fn one_error_line(out: &Output) -> String {
    assert!(!out.status.success(), "expected a refusal");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    errors[0].to_string()
}
