//! `reports`: the report jobs over the lake, for SREs rerunning a month and for the schedules.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use reports::engine::QueryArgs;
use reports::jobs::{Job, RunArgs};
use spa_core::lake::{Lake, Store};
use spa_core::period::Day;
use spa_core::process::SettingsArg;

/// mimalloc instead of the system allocator: on the 10,000-account month the reports peak at
/// 0.68x the memory (glibc's per-thread arenas keep the Polars scans' freed buffers) and run in
/// 0.94x the time (three runs each, in turn).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Produce the reports of the sandbox accounts from the lake.
///
/// --month YYYY-MM (default: the previous month) writes the month's cost and activity reports;
/// --week YYYY-Www writes the week's inventory; --only picks one family.
///
/// Costs: per cost center a workbook (summary by OU and account, services, usages: by usage
/// type, from CUR or FOCUS per service, from Cost Explorer per account without the service)
/// with the services and usages as CSV; for the organization (folder `all`) a workbook with the
/// cost per cost center (change against the previous month, chart), the summary by cost center,
/// OU and account, and the charges per account and record type (credits and refunds appear
/// only there), each also as CSV. Every cost workbook has the month-end forecast (its backtest
/// error on earlier months), the organization's also the month's anomalies; the forecast is a
/// CSV too.
/// Beside each cost workbook, an HTML page that opens in any browser: 12 months of cost per cost
/// center and OU, cost per day, the forecast, anomalies, what was used, the largest changes and
/// what the lake recorded about them, exceptions, idle and stuck accounts (--no-html: none).
/// Activities: console logins, on-boardings and maintenances with their durations, failures;
/// per cost center, and for the organization with counts per cost center.
/// Inventory: every account with cost center, owner, OU, state, last console login and last
/// lifecycle transition.
///
/// Files go to the lake, or under --out, as
/// `<reporting prefix>/<cost center>/<YYYY>/<period>-<cost center>-<label>.<xlsx|html|csv>`;
/// a rerun replaces them.
///
/// With the shipped settings the lake is a local folder that is filled from the fixtures
/// (through the ingest code) the first time a period is asked for:
///
///   cargo run -p reports -- --month 2026-10
///   cargo run -p reports -- --week 2026-W44
///
/// --send e-mails the month's cost summary (with its main chart inline) and the organization's
/// workbook, HTML page and CSV files to features.cost_email_recipients, through
/// mail.transport (an outbox folder of .eml files by default, SMTP or SES). Nothing is sent
/// without --send; a rerun with --send sends again.
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: SettingsArg,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run a query of sql/queries/ (or any SQL file over events, costs, accounts, quarantine) on
    /// the lake with Polars SQL, or on Athena with --engine athena. `${name}` is filled from
    /// --param, of the kind the header declares (`-- param name (kind): ...`), else refused.
    ///
    ///   cargo run -p reports -- query sql/queries/cost_per_cost_center.sql \
    ///       --param month=2026-10 --param snapshot=2026-10-31
    #[command(verbatim_doc_comment)]
    Query(QueryArgs),
    /// Raise the exceptions (what needs a human: root or IAM-user console sign-ins, failed
    /// builds, failed on-boardings and maintenances, budget alerts, accounts taken out of the
    /// lifecycle) that the lake's events imply between --from and --to and that are not stored
    /// yet, each with its account's context and month-to-date cost, into the lake's
    /// `exceptions` dataset. A rerun stores nothing new. With --send, every exception stored
    /// for those days goes to the channels of settings.yaml's `exceptions` section once: the
    /// `deliveries` ledger skips what was sent and retries what failed.
    ///
    ///   cargo run -p reports -- exceptions --from 2026-10-01 --to 2026-10-31 --send
    #[command(verbatim_doc_comment)]
    Exceptions {
        /// First UTC day [default: --to].
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = str::parse::<Day>)]
        from: Option<Day>,
        /// Last UTC day [default: today].
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = str::parse::<Day>)]
        to: Option<Day>,
        /// Deliver them (e-mail, Teams, Slack, SNS as settings say); nothing is sent without it.
        #[arg(long)]
        send: bool,
    },
    /// The daily spend run: every account's and cost center's spend on --day against its
    /// thresholds (settings: `spend` in defaults, OUs and accounts; per cost center under
    /// reporting.cost_centers): the day above `daily_limit`, month to date above a step of
    /// `monthly_budget`, the month-end forecast above it, a `jump` against the trailing 7-day
    /// mean, and the day's launches (EC2, NAT gateways, RDS, EKS, SageMaker, from CloudTrail,
    /// priced per hour from reports/prices.yaml and reporting.launch_prices) as an `estimate`
    /// before Cost Explorer shows them. Each alert becomes a SpendAlert exception (once per
    /// account or cost center x threshold x day, or x month for budget steps and the forecast,
    /// however often the run repeats) that names what drove it; the day's CSV and workbook go
    /// under reporting.spend_prefix. With --send the alerts go to their channels and the account
    /// holders (exceptions.labels.SpendAlert), and FinOps (features.cost_email_recipients) gets
    /// one digest for the day. It reads the lake with Polars on this machine.
    ///
    ///   cargo run -p reports -- daily --day 2026-10-14 --send
    #[command(verbatim_doc_comment)]
    Daily {
        /// The UTC day [default: today]. Days of its month before it must be in the lake's costs.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = str::parse::<Day>)]
        day: Option<Day>,
        /// Deliver the alerts and the FinOps digest; nothing is sent without it.
        #[arg(long)]
        send: bool,
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

fn main() -> ExitCode {
    spa_core::process::init_logging();
    let cli = Cli::parse();
    spa_core::process::exit("reports", run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    if cli.command.is_some() && cli.run.given() {
        anyhow::bail!(
            "--month, --week, --only, --out and --send belong to a report run, not to a subcommand"
        );
    }
    let settings = cli.settings.load()?;
    let runtime = spa_core::process::runtime(Some(2), None)?;
    match &cli.command {
        Some(Command::Query(args)) => {
            let started = std::time::Instant::now();
            let answer = runtime.block_on(reports::engine::query_file(&settings, args))?;
            print!("{}", answer.text);
            eprintln!(
                "{}: {} rows in {:.3} s (query {:.3} s, {})",
                args.file.display(),
                answer.rows,
                started.elapsed().as_secs_f64(),
                answer.query.as_secs_f64(),
                answer.engine
            );
        }
        Some(Command::Exceptions { from, to, send }) => {
            let to = to.unwrap_or_else(|| Day::of(chrono::Utc::now().date_naive()));
            let from = from.unwrap_or(to);
            anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
            let (sweep, delivered) = runtime.block_on(exceptions(&settings, from, to, *send))?;
            for line in sweep.lines() {
                println!("{line}");
            }
            if let Some(delivered) = delivered {
                for line in delivered.lines() {
                    println!("{line}");
                }
                let failed = delivered.failed().count();
                anyhow::ensure!(
                    failed == 0,
                    "{failed} deliveries failed (recorded in the ledger; the next run with --send retries them)"
                );
            }
        }
        Some(Command::Daily { day, send }) => {
            let day = day.unwrap_or_else(|| Day::of(chrono::Utc::now().date_naive()));
            let failed = runtime.block_on(daily(&settings, day, *send))?;
            anyhow::ensure!(
                failed == 0,
                "{failed} deliveries failed (recorded in the ledger; the next run with --send retries them)"
            );
        }
        Some(Command::Athena {
            command: AthenaCommand::Setup { sql },
        }) => {
            let done = runtime.block_on(async {
                let athena = reports::athena::Athena::new(&settings).await;
                reports::athena::setup(&settings, &athena, sql).await
            })?;
            eprint!("{}", done.describe(&settings));
        }
        None => {
            let job = cli
                .run
                .job(chrono::Utc::now().date_naive())
                .map_err(anyhow::Error::msg)?;
            runtime.block_on(report(&cli.run, &settings, &job))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The exceptions of `from..=to`, after a seeded local lake is filled through ingest for the
/// months they span.
async fn exceptions(
    settings: &spa_core::Settings,
    from: Day,
    to: Day,
    send: bool,
) -> anyhow::Result<(
    ingest::exceptions::Sweep,
    Option<ingest::exceptions::deliver::Deliveries>,
)> {
    let lake = Lake::open(settings).await;
    let mut month = from.month();
    while month <= to.month() {
        for line in
            ingest::seed::fill(settings, &lake, Some(month), month.first(), month.last()).await?
        {
            eprintln!(
                "lake {}: filled from the seed through ingest: {line}",
                lake.location()
            );
        }
        month = month.next();
    }
    let now = chrono::Utc::now().timestamp_micros();
    Ok(ingest::exceptions::sweep::sweep_and_deliver(&lake, settings, from, to, send, now).await?)
}

/// The daily spend run of `day`: a seeded local lake is filled through ingest first, the
/// alerts are stored as exceptions through ingest; returns the number of failed deliveries.
async fn daily(settings: &spa_core::Settings, day: Day, send: bool) -> anyhow::Result<usize> {
    let lake = Lake::open(settings).await;
    let month = day.month();
    for line in ingest::seed::fill(settings, &lake, Some(month), month.first(), day.date()).await? {
        eprintln!(
            "lake {}: filled from the seed through ingest: {line}",
            lake.location()
        );
    }
    // The day's exceptions first (its billing alarms and budget notifications among them): the
    // run lists them, and they are never raised again as spend alerts.
    let now = chrono::Utc::now().timestamp_micros();
    ingest::exceptions::sweep(&lake, settings, day, day, now).await?;
    let data = reports::engine::Datasets::local(&lake);
    let started = std::time::Instant::now();
    let run = reports::daily::run(settings, &data, day).await?;
    for line in run.lines() {
        println!("{line}");
    }
    let out = Store::open(&settings.lake, settings).await;
    let ran = started.elapsed();
    let written = reports::write(settings, &out, &reports::daily::reports(&run)).await?;
    let written_at = started.elapsed();
    tracing::info!(
        run_ms = ran.as_millis() as u64,
        write_ms = (written_at - ran).as_millis() as u64,
        "daily files"
    );
    for file in &written {
        println!(
            "  {}/{}  ({} bytes)",
            out.location(),
            file.key,
            file.bytes.len()
        );
    }
    let digest = match reports::daily::digest(settings, &run, &written) {
        Some(message) if send => Some(message?),
        _ => None,
    };
    let outcome = ingest::exceptions::spend::store_and_deliver(
        &lake,
        settings,
        day,
        &run.notices,
        digest,
        send,
        now,
    )
    .await?;
    tracing::info!(
        store_and_deliver_ms = (started.elapsed() - written_at).as_millis() as u64,
        "daily alerts"
    );
    for line in outcome.lines() {
        println!("{line}");
    }
    Ok(outcome.failed())
}

/// A report run: a seeded local lake is first filled through ingest (never by the library).
async fn report(args: &RunArgs, settings: &spa_core::Settings, job: &Job) -> anyhow::Result<()> {
    let lake = Lake::open(settings).await;
    for (month, first, last) in job.periods() {
        for line in ingest::seed::fill(settings, &lake, month, first, last).await? {
            eprintln!(
                "lake {}: filled from the seed of {} through ingest: {line}",
                lake.location(),
                settings.file.display()
            );
        }
    }
    // The activity report lists the month's exceptions: any the live path or the hourly sweep
    // has not stored yet are raised first (through ingest; nothing is sent).
    if let (Some(month), true) = (job.month, job.activities) {
        let now = chrono::Utc::now().timestamp_micros();
        let sweep = ingest::exceptions::sweep::sweep_month(&lake, settings, month, now).await?;
        if !sweep.raised.is_empty() {
            eprintln!(
                "lake {}: {} exceptions of {month} raised through ingest (none sent)",
                lake.location(),
                sweep.raised.len()
            );
        }
    }
    let out = match &args.out {
        Some(dir) => Store::local(dir),
        None => Store::open(&settings.lake, settings).await,
    };
    let written =
        reports::jobs::run(settings, &lake, &out, job, &mut |line| eprintln!("{line}")).await?;
    println!("{} files written to {}:", written.len(), out.location());
    for file in &written {
        println!("  {}  ({} bytes)", file.key, file.size);
    }
    Ok(())
}
