//! `reports`: the report jobs over the lake, for SREs rerunning a month and for the schedules.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use reports::jobs::Job;
use reports::period::{Month, Week};
use spa_core::lake::Lake;

/// Produce the reports of the sandbox accounts from the lake.
///
/// --month YYYY-MM (default: the previous month) writes the month's cost and activity reports;
/// --week YYYY-Www writes the week's inventory; --only picks one family.
///
/// Costs: per cost center a workbook (summary by OU and account, services, usages) with the
/// services and usages as CSV; for the organization (folder `all`) a workbook with the cost per
/// cost center (change against the previous month, chart), the summary by cost center, OU and
/// account, and the charges per account and record type (credits and refunds appear only
/// there), each also as CSV.
/// Activities: console logins, on-boardings and maintenances with their durations, failures;
/// per cost center, and for the organization with counts per cost center.
/// Inventory: every account with cost center, owner, OU, state, last console login and last
/// lifecycle transition.
///
/// Files go to `<reporting prefix>/<cost center>/<YYYY>/<period>-<cost center>-<label>.<xlsx|csv>`
/// in the lake, or under --out. A rerun replaces them.
///
/// With the shipped settings the lake is a local folder that is filled from the fixtures
/// (through the ingest code) the first time a period is asked for:
///
///   cargo run -p reports -- --month 2026-10
///   cargo run -p reports -- --week 2026-W44
///
/// --send e-mails the month's cost summary with the organization's workbook and CSV files to
/// features.cost_email_recipients, through mail.transport (an outbox folder of .eml files by
/// default, SMTP or SES). Nothing is sent without --send; a rerun with --send sends again.
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The settings file; relative paths inside it resolve against its folder.
    #[arg(
        long,
        global = true,
        default_value = "settings.yaml",
        value_name = "FILE"
    )]
    settings: PathBuf,
    /// Month to report, e.g. 2026-10 [default: the previous month, unless --week is given].
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_month)]
    month: Option<Month>,
    /// ISO week to report, e.g. 2026-W44 (inventory) [default with --only inventory: the
    /// previous week].
    #[arg(long, value_name = "YYYY-Www", value_parser = parse_week)]
    week: Option<Week>,
    /// Only one family of reports.
    #[arg(long, value_parser = ["costs", "activities", "inventory"])]
    only: Option<String>,
    /// Write the reports into this folder (same layout) instead of the lake.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// E-mail the reports to the recipients of settings.yaml (never without this flag).
    #[arg(long)]
    send: bool,
    /// Where the reports' aggregations run: `local` (Polars over the lake) or `athena` (the
    /// work group and database of settings.yaml's `athena` section, over the same S3 lake).
    #[arg(long, default_value = "local", value_parser = ["local", "athena"])]
    engine: String,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run a query of sql/queries/ (or any SQL file over the tables events, costs, accounts and
    /// quarantine) on the lake with Polars SQL, or on Athena with --engine athena. `${name}`
    /// placeholders are filled from --param; the file's header lists them (`-- param name: ...`).
    ///
    ///   cargo run -p reports -- query sql/queries/cost_per_cost_center.sql \
    ///       --param month=2026-10 --param snapshot=2026-10-31
    #[command(verbatim_doc_comment)]
    Query {
        /// The SQL file.
        file: PathBuf,
        /// A parameter, NAME=VALUE (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// Output format.
        #[arg(long, default_value = "table", value_parser = ["table", "csv", "json"])]
        format: String,
        /// Where the query runs: `local` (Polars SQL on the lake) or `athena` (the work group
        /// and database of settings.yaml's `athena` section).
        #[arg(long, default_value = "local", value_parser = ["local", "athena"])]
        engine: String,
    },
    /// Athena administration.
    Athena {
        #[command(subcommand)]
        command: AthenaCommand,
    },
}

#[derive(Debug, clap::Subcommand)]
enum AthenaCommand {
    /// Create the database, the lake's tables (from sql/tables, partition projection, so no
    /// crawler) and a named query per file of sql/queries, in the configured work group.
    /// Idempotent: run it again after adding a query.
    Setup {
        /// The sql/ folder.
        #[arg(long, default_value = "sql", value_name = "DIR")]
        sql: PathBuf,
    },
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn athena_setup(settings: &std::path::Path, sql: &std::path::Path) -> anyhow::Result<ExitCode> {
    let settings = spa_core::Settings::load(settings).context("settings")?;
    let done = runtime()?.block_on(async {
        let athena = reports::athena::Athena::new(&settings).await;
        reports::athena::setup(&settings, &athena, sql).await
    })?;
    for statement in &done.statements {
        eprintln!("  {statement}");
    }
    eprintln!(
        "athena: database {} and {} tables in work group {}; named queries: {} created, {} already there",
        settings.athena.database,
        done.statements.len() - 1,
        settings.athena.workgroup,
        done.created.len(),
        done.kept.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn query(
    settings: &std::path::Path,
    file: &std::path::Path,
    params: &[(String, String)],
    format: &str,
    on_athena: bool,
) -> anyhow::Result<ExitCode> {
    use reports::sql::{Format, SqlFile, render, run_local};
    let settings = spa_core::Settings::load(settings).context("settings")?;
    let sql = SqlFile::read(file)?;
    let values = params.iter().cloned().collect();
    let text = sql.filled(&values)?;
    let format = match format {
        "csv" => Format::Csv,
        "json" => Format::Json,
        _ => Format::Table,
    };
    let started = std::time::Instant::now();
    let (df, engine) = runtime()?.block_on(async {
        if on_athena {
            let athena = reports::athena::Athena::new(&settings).await;
            let results = athena.query(&text).await?;
            let engine = format!("Athena query {}", results.id);
            anyhow::Ok((reports::sql::frame(&results.columns)?, engine))
        } else {
            let lake = Lake::open(&settings).await;
            anyhow::Ok((
                run_local(&lake, &sql, &text).await?,
                "local, Polars SQL".into(),
            ))
        }
    })?;
    print!("{}", render(&df, format)?);
    eprintln!(
        "{}: {} rows in {:.2} s ({engine})",
        file.display(),
        df.height(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn parse_month(text: &str) -> Result<Month, String> {
    text.parse()
}

fn parse_week(text: &str) -> Result<Week, String> {
    text.parse()
}

fn main() -> ExitCode {
    spa_core::cli::init_logging();
    let cli = Cli::parse();
    spa_core::cli::exit("reports", run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    if cli.command.is_some()
        && (cli.month.is_some()
            || cli.week.is_some()
            || cli.only.is_some()
            || cli.out.is_some()
            || cli.send)
    {
        anyhow::bail!(
            "--month, --week, --only, --out and --send belong to a report run, not to a subcommand"
        );
    }
    match &cli.command {
        Some(Command::Query {
            file,
            params,
            format,
            engine,
        }) => return query(&cli.settings, file, params, format, engine == "athena"),
        Some(Command::Athena {
            command: AthenaCommand::Setup { sql },
        }) => return athena_setup(&cli.settings, sql),
        None => {}
    }
    let settings = spa_core::Settings::load(&cli.settings).context("settings")?;
    if cli.send && cli.only.as_deref().is_some_and(|o| o != "costs") {
        anyhow::bail!("--send mails the cost reports: use it with the costs family");
    }
    let today = chrono::Utc::now().date_naive();
    let only = cli.only.as_deref();
    let wants = |family: &str| only.is_none_or(|o| o == family);
    let week = match (cli.week, only) {
        (Some(week), _) => Some(week),
        (None, Some("inventory")) => Some(Week::of(today - chrono::Days::new(7))),
        (None, _) => None,
    }
    .filter(|_| wants("inventory"));
    let month = match (cli.month, cli.week) {
        (Some(month), _) => Some(month),
        (None, None) => Some(Month::of(today).previous()),
        (None, Some(_)) => None,
    }
    .filter(|_| wants("costs") || wants("activities"));
    if month.is_none() && week.is_none() {
        anyhow::bail!(
            "nothing to report: --only inventory needs a week, costs and activities a month"
        );
    }
    let job = Job {
        month,
        week,
        costs: wants("costs"),
        activities: wants("activities"),
        inventory: wants("inventory"),
        send: cli.send,
        athena: cli.engine == "athena",
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let lake = Lake::open(&settings).await;
        let out = match &cli.out {
            Some(dir) => Lake::local(dir),
            None => lake.clone(),
        };
        let written = reports::jobs::run(&settings, &lake, &out, &job, &mut |line| {
            eprintln!("{line}")
        })
        .await?;
        println!("{} files written to {}:", written.len(), out.location());
        for file in &written {
            println!("  {}  ({} bytes)", file.key, file.bytes.len());
        }
        Ok(ExitCode::SUCCESS)
    })
}
