//! `ingest`: backfills the lake from EventBridge events, CloudTrail log files, costs and
//! organization snapshots. The Lambda entry point shares its library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

/// Store what happens in the sandbox accounts as Parquet in the lake.
///
/// Planned commands:
///   ingest <paths|s3://...>...        EventBridge events and CloudTrail log files (.json, .json.gz),
///                                     recursively, into events/dt=YYYY-MM-DD/ (issue #3)
///   ingest compact --day YYYY-MM-DD   merge a day's small files, deduplicated by event id (issue #3)
///   ingest costs --month YYYY-MM      Cost Explorer, CUR or FOCUS into costs/month=YYYY-MM/ (issue #4)
///   ingest accounts                   organization snapshot into accounts/snapshot=YYYY-MM-DD/ (issue #4)
///
/// Malformed input goes to quarantine/ with its reason; writes are atomic and idempotent.
///
/// Status: not built yet. Today this command validates the settings and says so.
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Cli {
    /// The settings file; relative paths inside it resolve against its folder.
    #[arg(long, default_value = "settings.yaml", value_name = "FILE")]
    settings: PathBuf,
    /// Files, folders or s3:// prefixes to ingest.
    #[arg(value_name = "PATH")]
    inputs: Vec<String>,
}

fn main() -> ExitCode {
    spa_core::cli::init_logging();
    let cli = Cli::parse();
    spa_core::cli::exit("ingest", run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let settings = spa_core::Settings::load(&cli.settings).context("settings")?;
    eprintln!(
        "ingest: settings {} are valid (lake {}); ingestion is not built yet (issues #3 and #4)",
        settings.file.display(),
        settings.lake
    );
    Ok(ExitCode::from(2))
}
