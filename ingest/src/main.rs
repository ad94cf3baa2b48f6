//! `ingest`: backfills the lake from EventBridge events and CloudTrail log files.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use ingest::backfill;
use spa_core::lake::Lake;
use spa_core::period::{Day, Month};

/// Store what happens in the sandbox accounts as Parquet in the lake.
///
///   ingest <paths|s3://...>...   EventBridge events and CloudTrail log files, recursively, into
///                                events/dt=YYYY-MM-DD/ (partitioned by each event's own UTC day)
///
/// Inputs may be CloudTrail log files (.json or .json.gz, organization or single-account trail
/// layout; digest and empty files are skipped), single CloudTrail records, EventBridge events
/// (one per file, an array, or one per line) and SNS notifications carrying them. Anything
/// unreadable goes to quarantine/ with its reason and bytes; the rest proceeds, and the exit
/// status is 3 instead of 0.
///
/// Running the same backfill again replaces what it wrote, and repeated events inside a write
/// are dropped, so nothing is duplicated.
///
///   ingest compact --day YYYY-MM-DD   merge a day's small files into one, one row per event id
///   ingest compact --from D --to D    the same for every day of a range
///   ingest accounts [--date D]        snapshot of every account of the organization into
///                                     accounts/snapshot=YYYY-MM-DD/ (file or AWS Organizations)
///   ingest costs --month YYYY-MM      a month of costs into costs/month=YYYY-MM/, replacing it:
///                                     Cost Explorer (API or saved responses), --from-cur,
///                                     --from-focus
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Cli {
    /// The settings file; relative paths inside it resolve against its folder.
    #[arg(
        long,
        default_value = "settings.yaml",
        value_name = "FILE",
        global = true
    )]
    settings: PathBuf,
    /// Groups of files processed at once [default: the number of cores].
    #[arg(long, value_name = "N")]
    parallel: Option<usize>,
    /// Files, folders or s3://bucket/prefix to ingest.
    #[arg(value_name = "PATH")]
    inputs: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Store a month of costs: one row per day, account, service and record type, amounts as
    /// exact decimals, from `costs.source`: `aws` (Cost Explorer, two daily queries, every page
    /// followed, requests counted), `local` (saved GetCostAndUsage responses in `costs.path`),
    /// `cur` or `focus` (exports in `costs.path`), or the export given here. Running it again
    /// replaces the month. With --day, the month to date: its days up to that day (Cost
    /// Explorer is asked for those days only; later rows of a source are counted and left out).
    #[command(group = clap::ArgGroup::new("period").required(true).args(["month", "day"]))]
    Costs {
        /// The month, e.g. 2026-10.
        #[arg(long, value_name = "YYYY-MM", value_parser = str::parse::<Month>)]
        month: Option<Month>,
        /// The month to date, up to this day, e.g. 2026-11-24 (daily runs).
        #[arg(long, value_name = "YYYY-MM-DD")]
        day: Option<NaiveDate>,
        /// Import a Cost and Usage Report export (Parquet file or folder) instead of the source
        /// of settings.yaml.
        #[arg(long, value_name = "PATH", conflicts_with = "from_focus")]
        from_cur: Option<std::path::PathBuf>,
        /// Import a FOCUS 1.0 export (CSV or Parquet, file or folder) instead of the source of
        /// settings.yaml; rows of other providers than AWS are counted and left out.
        #[arg(long, value_name = "PATH")]
        from_focus: Option<std::path::PathBuf>,
    },
    /// Snapshot every account of the organization (active, suspended, closed) with its unit,
    /// tags, state, holder and cost center. Reads the organization file or AWS Organizations,
    /// as settings.yaml says. Taking a day's snapshot again replaces it.
    Accounts {
        /// Day of the snapshot [default: today, UTC].
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<NaiveDate>,
        /// Tag reads in flight against AWS Organizations.
        #[arg(long, default_value_t = 8, value_name = "N")]
        concurrency: usize,
    },
    /// Merge each day's small files of events/ into one object, one row per event id (each
    /// source's rows sorted by time), streaming: memory holds one source at a time. Safe to
    /// interrupt and rerun: the merged object is written before any source is removed.
    Compact {
        /// One day.
        #[arg(long, value_name = "YYYY-MM-DD", conflicts_with_all = ["from", "to"])]
        day: Option<NaiveDate>,
        /// First day of a range.
        #[arg(long, value_name = "YYYY-MM-DD", requires = "to")]
        from: Option<NaiveDate>,
        /// Last day of a range (included).
        #[arg(long, value_name = "YYYY-MM-DD", requires = "from")]
        to: Option<NaiveDate>,
    },
}

fn main() -> ExitCode {
    spa_core::process::init_logging();
    let cli = Cli::parse();
    spa_core::process::exit("ingest", run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let settings = spa_core::Settings::load(&cli.settings).context("settings")?;
    // A fixed, small set of threads: memory stays flat however long the backfill runs (each new
    // thread would bring its own allocator arena).
    let parallel = cli
        .parallel
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(parallel)
        .max_blocking_threads(parallel)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let lake = Lake::open(&settings).await;
        match &cli.command {
            Some(Command::Compact { day, from, to }) => compact(&lake, *day, *from, *to).await,
            Some(Command::Costs {
                month,
                day,
                from_cur,
                from_focus,
            }) => {
                let month = match (month, day) {
                    (Some(month), _) => *month,
                    (None, Some(day)) => Month::of(*day),
                    (None, None) => unreachable!("clap requires --month or --day"),
                };
                let done = ingest::month::costs(
                    &lake,
                    &settings,
                    month,
                    *day,
                    from_cur.as_deref(),
                    from_focus.as_deref(),
                )
                .await?;
                for note in &done.notes {
                    println!("{note}");
                }
                let s = done.summary;
                let until = day.map(|d| format!(" up to {d}")).unwrap_or_default();
                println!(
                    "costs {month}{until}: {} rows, {} in all, {} rows of other months and {} of later days left out -> {}/{}",
                    s.rows,
                    s.total,
                    s.other_months,
                    s.later_days,
                    lake.location(),
                    s.key
                );
                Ok(ExitCode::SUCCESS)
            }
            Some(Command::Accounts { date, concurrency }) => {
                let day = Day::of(date.unwrap_or_else(|| chrono::Utc::now().date_naive()));
                let s = ingest::accounts::snapshot(&lake, &settings, day, *concurrency).await?;
                println!(
                    "accounts: {} accounts ({} managed) in {} API requests -> {}/{}",
                    s.accounts,
                    s.managed,
                    s.requests,
                    lake.location(),
                    s.key
                );
                Ok(ExitCode::SUCCESS)
            }
            None => backfill(cli, &settings, &lake, parallel).await,
        }
    })
}

async fn compact(
    lake: &Lake,
    day: Option<NaiveDate>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> anyhow::Result<ExitCode> {
    let days: Vec<NaiveDate> = match (day, from, to) {
        (Some(d), _, _) => vec![d],
        (None, Some(from), Some(to)) if from <= to => {
            from.iter_days().take_while(|d| *d <= to).collect()
        }
        (None, Some(from), Some(to)) => anyhow::bail!("--from {from} is after --to {to}"),
        _ => anyhow::bail!("say which days: --day YYYY-MM-DD, or --from and --to"),
    };
    for day in days {
        let day = Day::of(day).to_string();
        let r = ingest::compact::day(lake, &day)
            .await
            .with_context(|| format!("compacting {day}"))?;
        match r.merged {
            Some(_) => println!(
                "{day}: {} objects, {} rows -> 1 object, {} rows",
                r.objects, r.rows_before, r.rows_after
            ),
            None => println!("{day}: {} object(s), nothing to merge", r.objects),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn backfill(
    cli: &Cli,
    settings: &spa_core::Settings,
    lake: &Lake,
    parallel: usize,
) -> anyhow::Result<ExitCode> {
    if cli.inputs.is_empty() {
        anyhow::bail!("nothing to ingest: give files, folders or s3:// prefixes (see --help)");
    }
    let started = Instant::now();
    let files = backfill::collect(&cli.inputs, settings).await?;
    if files.is_empty() {
        anyhow::bail!("no files under {}", cli.inputs.join(", "));
    }
    let count = files.len() as u64;
    let groups = backfill::groups(files);
    eprintln!(
        "ingest: {count} files in {} groups into {}",
        groups.len(),
        lake.location()
    );
    let bar = ProgressBar::new(count).with_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} files, {msg} [{elapsed_precise}, eta {eta}]",
        )
        .expect("valid template"),
    );
    let records = std::cell::Cell::new(0u64);
    let stats = backfill::run(lake, groups, parallel, |s, files| {
        records.set(records.get() + s.records);
        bar.inc(files as u64);
        bar.set_message(format!("{} records", records.get()));
    })
    .await?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "files {} ({} digests, {} empty), records {}, events written {}, duplicates dropped {}, quarantined {}",
        stats.inputs,
        stats.digests,
        stats.empty,
        stats.records,
        stats.written,
        stats.duplicates,
        stats.quarantined
    );
    println!(
        "{:.1} MB read ({:.1} MB of JSON) in {secs:.1} s: {:.0} records/s, {:.1} MB/s of JSON",
        stats.bytes as f64 / 1e6,
        stats.json_bytes as f64 / 1e6,
        stats.records as f64 / secs,
        stats.json_bytes as f64 / 1e6 / secs
    );
    Ok(if stats.quarantined > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
