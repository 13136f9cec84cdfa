//! What the binary's end-to-end tests share: the workspace root and running `karpenter`
//! there.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The workspace root (examples and test data paths are relative to it).
pub fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Run the binary with `args` in the workspace root.
pub fn karpenter(args: &[&str]) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_karpenter"))
        .args(args)
        .current_dir(root())
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("running karpenter: {e}"),
    }
}
