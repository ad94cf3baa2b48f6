//! The reports library reads the lake and never writes it. Its sources (every file of `src/`
//! but the binaries, `src/main.rs` and `src/bin/`) call none of the methods that write a `Lake`
//! (`write`, `writer`, `delete`) and nothing of the ingest crate. Report files go to a `Store`,
//! whose writing method is `put`. The binaries write the lake only through two doors of ingest:
//! the seed fill of a local lake and the exceptions sweep.

use std::path::{Path, PathBuf};

/// What a library source may not hold, and why.
const FORBIDDEN: [(&str, &str); 4] = [
    ("ingest::", "the ingest crate writes the lake"),
    (".write(", "Lake::write"),
    (".writer(", "Lake::writer"),
    (".delete(", "Lake::delete"),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_reports_library_has_no_write_path_to_the_lake() {
    // The folder cargo runs the test for (a binary shared through one target folder may have
    // been built in another clone, whose path `env!` would hold).
    let package = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let src = package.join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let binaries: Vec<PathBuf> = files
        .iter()
        .filter(|f| *f == &src.join("main.rs") || f.starts_with(src.join("bin")))
        .cloned()
        .collect();
    files.retain(|f| !binaries.contains(f));
    assert!(files.len() > 10, "{files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (pattern, why) in FORBIDDEN {
                if line.contains(pattern) {
                    found.push(format!(
                        "{}:{}: `{pattern}` ({why}): {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The command line is where the seed fill happens; the binaries use nothing else of ingest
    // but the exceptions sweep.
    let main = std::fs::read_to_string(src.join("main.rs")).unwrap();
    assert!(main.contains("ingest::seed::fill("));
    for file in &binaries {
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let rest = line
                .replace("ingest::seed::fill(", "")
                .replace("ingest::exceptions::", "");
            assert!(
                !rest.contains("ingest::"),
                "{}:{}: {}",
                file.display(),
                number + 1,
                line.trim()
            );
        }
    }
}
