//! `reports`: the report jobs over the lake, for SREs rerunning a month and for the schedules.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use reports::data::Data;
use reports::period::Month;
use spa_core::lake::Lake;

/// Produce the reports of the sandbox accounts from the lake.
///
/// Monthly cost reports: per cost center a workbook (summary by OU and account, services,
/// usages) with the services and usages as CSV; for the organization (folder `all`) a workbook
/// with the cost per cost center (change against the previous month, chart), the summary
/// by cost center, OU and account, and the charges per account and record type (credits and
/// refunds appear only there), each also as CSV. Files go to
/// `<reporting prefix>/<cost center>/<YYYY>/<YYYY-MM>-<cost center>-<label>.<xlsx|csv>` in the
/// lake, or under --out. A rerun replaces them.
///
/// With the shipped settings the lake is a local folder that is filled from the fixtures
/// (through the ingest code) the first time a month is asked for:
///
///   cargo run -p reports -- --month 2026-10
///
/// Status: cost reports work; activity reports, inventories (--week) and e-mail (--send) come
/// next (issue #6), SQL and Athena with issue #7.
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Cli {
    /// The settings file; relative paths inside it resolve against its folder.
    #[arg(long, default_value = "settings.yaml", value_name = "FILE")]
    settings: PathBuf,
    /// Month to report, e.g. 2026-10 [default: the previous month].
    #[arg(long, value_name = "YYYY-MM", value_parser = clap::value_parser!(String))]
    month: Option<String>,
    /// ISO week to report, e.g. 2026-W44 (inventory).
    #[arg(long, value_name = "YYYY-Www")]
    week: Option<String>,
    /// Only one family of reports.
    #[arg(long, value_parser = ["costs", "activities", "inventory"])]
    only: Option<String>,
    /// Write the reports into this folder (same layout) instead of the lake.
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
    if cli.week.is_some() || matches!(cli.only.as_deref(), Some("activities" | "inventory")) {
        anyhow::bail!(
            "activity reports and inventories are not built yet (issue #6); cost reports are: --month YYYY-MM"
        );
    }
    if cli.send {
        anyhow::bail!(
            "--send: e-mail is not built yet (issue #6); the reports are written without it"
        );
    }
    let month: Month = match &cli.month {
        Some(m) => m
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--month: {e}"))?,
        None => Month::of(chrono::Utc::now().date_naive()).previous(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let lake = Lake::open(&settings).await;
        for line in reports::fill(&settings, &lake, month).await? {
            eprintln!(
                "lake {}: filled from the seed in {} through ingest: {line}",
                lake.location(),
                settings.file.display()
            );
        }
        let out = match &cli.out {
            Some(dir) => Lake::local(dir),
            None => lake.clone(),
        };
        let started = Instant::now();
        let data = Data::new(&lake);
        let (reports, total) = reports::cost_reports(&settings, &data, month).await?;
        eprintln!(
            "costs {month}: {} reports ({} cost centers and the organization), {total} in all, in {:.1} s",
            reports.len(),
            reports.len() - 1,
            started.elapsed().as_secs_f64()
        );
        let mut written = Vec::new();
        for report in &reports {
            let files = reports::write(&settings, &out, std::slice::from_ref(report)).await?;
            eprintln!(
                "  {:<24} {} files",
                report.cost_center,
                files.len()
            );
            written.extend(files);
        }
        println!("{} files written to {}:", written.len(), out.location());
        for file in &written {
            println!("  {}  ({} bytes)", file.key, file.bytes.len());
        }
        Ok(ExitCode::SUCCESS)
    })
}
