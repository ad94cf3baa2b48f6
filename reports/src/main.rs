//! `reports`: monthly cost and activity reports, weekly inventories and daily spend alerts from
//! the lake, as CSV and Excel, e-mailed to FinOps and account holders.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

/// Produce the reports of the sandbox accounts from the lake.
///
/// Monthly cost reports (per cost center and organizational unit: services, usages, a summary
/// and charges per record type, as CSV and Excel), monthly activity reports (console logins,
/// on-boardings, maintenances), weekly inventories (state and last console login of every
/// account) and daily spend alerts. Reports are written under the `reporting` prefixes of
/// settings.yaml (or --out) and e-mailed with --send.
///
/// Status: the report jobs are not built yet (issue #6: reports; issue #7: SQL queries and
/// Athena). Today this command validates the settings and says so.
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Cli {
    /// The settings file; relative paths inside it resolve against its folder.
    #[arg(long, default_value = "settings.yaml", value_name = "FILE")]
    settings: PathBuf,
    /// Month to report, e.g. 2026-10 (cost and activity reports).
    #[arg(long, value_name = "YYYY-MM")]
    month: Option<String>,
    /// ISO week to report, e.g. 2026-W44 (inventory).
    #[arg(long, value_name = "YYYY-Www")]
    week: Option<String>,
    /// Only one family of reports.
    #[arg(long, value_parser = ["costs", "activities", "inventory"])]
    only: Option<String>,
    /// Write the reports into this folder instead of the lake's reporting prefixes.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// E-mail the reports to the recipients of settings.yaml (never without this flag).
    #[arg(long)]
    send: bool,
}

fn main() -> ExitCode {
    spa_core::cli::init_logging();
    let cli = Cli::parse();
    spa_core::cli::exit("reports", run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let settings = spa_core::Settings::load(&cli.settings).context("settings")?;
    eprintln!(
        "reports: settings {} are valid (lake {}); the report jobs are not built yet (issue #6)",
        settings.file.display(),
        settings.lake
    );
    Ok(ExitCode::from(2))
}
