//! `package`: the three Lambda functions built with cargo-lambda (release, arm64, for
//! `provided.al2023`), each zip named by its content's digest, and a `manifest.json` that says
//! which zip is which function. A changed binary gets a new name, so CloudFormation sees the
//! change; an unchanged one keeps its name, so nothing is redeployed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::stacks::digest;

/// A Lambda function of the system: the template's name for it, the package and binary that
/// make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// `ingest`, `lifecycle`, `reports`.
    pub name: &'static str,
    /// The workspace package.
    pub package: &'static str,
    /// The binary.
    pub binary: &'static str,
}

/// The system's functions.
pub const FUNCTIONS: [Function; 3] = [
    Function {
        name: "ingest",
        package: "ingest",
        binary: "ingest-lambda",
    },
    Function {
        name: "lifecycle",
        package: "lifecycle",
        binary: "lifecycle-lambda",
    },
    Function {
        name: "reports",
        package: "reports",
        binary: "reports-lambda",
    },
];

/// The manifest file `package` writes beside the zips.
pub const MANIFEST: &str = "manifest.json";

/// What packaging could not do.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// cargo-lambda failed or is missing.
    #[error("cargo lambda build of {binary}: {message}")]
    Build {
        /// The binary.
        binary: String,
        /// What went wrong.
        message: String,
    },
    /// The manifest is missing or names no zip for a function.
    #[error("{}: {message} (run `deploy package --out {}` first)", path.display(), path.parent().unwrap_or(Path::new(".")).display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PackageError + '_ {
    move |source| PackageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Builds every function with `cargo lambda build --release --arm64 --output-format zip` in
/// `workspace`, copies each zip into `out` as `<function>-<digest>.zip` and writes the manifest.
/// Returns the function → file map.
pub fn build(workspace: &Path, out: &Path) -> Result<BTreeMap<String, String>, PackageError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let lambda_dir = out.join("build");
    let mut files = BTreeMap::new();
    for f in FUNCTIONS {
        tracing::info!(binary = f.binary, "cargo lambda build (release, arm64)");
        let status = Command::new("cargo")
            .current_dir(workspace)
            .args([
                "lambda",
                "build",
                "--release",
                "--arm64",
                "--output-format",
                "zip",
            ])
            .arg("--lambda-dir")
            .arg(&lambda_dir)
            .args(["--package", f.package, "--bin", f.binary])
            .status()
            .map_err(|e| PackageError::Build {
                binary: f.binary.into(),
                message: format!("cannot run cargo: {e}"),
            })?;
        if !status.success() {
            return Err(PackageError::Build {
                binary: f.binary.into(),
                message: format!(
                    "{status} (is cargo-lambda installed? `pip install cargo-lambda` gives it, with zig for the arm64 link)"
                ),
            });
        }
        let zip = lambda_dir.join(f.binary).join("bootstrap.zip");
        let bytes = std::fs::read(&zip).map_err(io(&zip))?;
        let file = format!("{}-{}.zip", f.name, digest(&bytes));
        let target = out.join(&file);
        std::fs::write(&target, &bytes).map_err(io(&target))?;
        tracing::info!(file = %target.display(), bytes = bytes.len(), "packaged");
        files.insert(f.name.to_string(), file);
    }
    write_manifest(out, &files)?;
    Ok(files)
}

/// Writes `manifest.json` into `dir`.
pub fn write_manifest(dir: &Path, files: &BTreeMap<String, String>) -> Result<(), PackageError> {
    let path = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(&json!({ "functions": files }))
        .expect("JSON values serialize");
    std::fs::write(&path, text + "\n").map_err(io(&path))
}

/// Reads the manifest in `dir`: every function's zip, each present beside it.
pub fn read_manifest(dir: &Path) -> Result<BTreeMap<String, String>, PackageError> {
    let path = dir.join(MANIFEST);
    let bad = |message: String| PackageError::Manifest {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let mut files = BTreeMap::new();
    for f in FUNCTIONS {
        let file = value["functions"][f.name]
            .as_str()
            .ok_or_else(|| bad(format!("no zip named for `{}`", f.name)))?;
        if file.contains('/') || file.contains('\\') || !dir.join(file).is_file() {
            return Err(bad(format!(
                "`{file}` ({}) is not a zip in this folder",
                f.name
            )));
        }
        files.insert(f.name.to_string(), file.to_string());
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_reads_back_and_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = BTreeMap::new();
        for f in FUNCTIONS {
            let file = format!("{}-0123456789ab.zip", f.name);
            std::fs::write(dir.path().join(&file), b"zip").unwrap();
            files.insert(f.name.to_string(), file);
        }
        write_manifest(dir.path(), &files).unwrap();
        assert_eq!(read_manifest(dir.path()).unwrap(), files);

        std::fs::remove_file(dir.path().join("reports-0123456789ab.zip")).unwrap();
        let err = read_manifest(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("`reports-0123456789ab.zip` (reports) is not a zip"),
            "{err}"
        );
        assert!(err.contains("deploy package --out"), "{err}");

        let empty = tempfile::tempdir().unwrap();
        let err = read_manifest(empty.path()).unwrap_err().to_string();
        assert!(err.contains("cannot read"), "{err}");
    }
}
