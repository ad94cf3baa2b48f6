//! `ingest`: backfills the lake from EventBridge events and CloudTrail log files.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ingest::commands::{self, AccountsArgs, CompactArgs, CostsArgs, Ended};
use spa_core::lake::Lake;
use spa_core::process::SettingsArg;

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
/// are dropped, so nothing is duplicated. Files are taken a day at a time (a trail's files of
/// every account and region for one day together, after a first pass over the inputs that
/// counts them), so a trail of any length is read in the same memory.
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
    #[command(flatten)]
    settings: SettingsArg,
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
    /// exact decimals, from `costs.source`: `aws` (Cost Explorer, three daily queries, every
    /// page followed, requests counted; the third, by usage type, goes to usage_types/),
    /// `local` (saved GetCostAndUsage responses in `costs.path`),
    /// `cur` or `focus` (exports in `costs.path`), or the export given here. Running it again
    /// replaces the month. With --day, the month to date: its days up to that day (Cost
    /// Explorer is asked for those days only; later rows of a source are counted and left out).
    Costs(CostsArgs),
    /// Snapshot every account of the organization (active, suspended, closed) with its unit,
    /// tags, state, holder and cost center. Reads the organization file or AWS Organizations,
    /// as settings.yaml says. Taking a day's snapshot again replaces it.
    Accounts(AccountsArgs),
    /// Merge each day's small files of events/ into one object, one row per event id (each
    /// source's rows sorted by time), streaming: memory holds one source at a time. Safe to
    /// interrupt and rerun: the merged object is written before any source is removed.
    Compact(CompactArgs),
}

fn main() -> ExitCode {
    spa_core::process::init_logging();
    let cli = Cli::parse();
    spa_core::process::exit("ingest", run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.settings.load()?;
    // A fixed, small set of threads: memory stays flat however long the backfill runs (each new
    // thread would bring its own allocator arena).
    let parallel = cli
        .parallel
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let runtime = spa_core::process::runtime(Some(parallel), Some(parallel))?;
    let ended = runtime.block_on(async {
        let lake = Lake::open(&settings).await;
        let out = &mut std::io::stdout();
        match &cli.command {
            Some(Command::Compact(args)) => commands::compact(&lake, args, out).await,
            Some(Command::Costs(args)) => commands::costs(&lake, &settings, args, out).await,
            Some(Command::Accounts(args)) => commands::accounts(&lake, &settings, args, out).await,
            None => commands::backfill(&lake, &settings, &cli.inputs, parallel, out).await,
        }
    })?;
    Ok(match ended {
        Ended::Done => ExitCode::SUCCESS,
        Ended::Quarantined => ExitCode::from(3),
    })
}
