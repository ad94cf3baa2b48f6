//! The commands of the `ingest` command line, each an argument set and what it does: a month of
//! costs, an organization snapshot, the compaction of days of events, and backfills of event
//! files with a progress bar. Results go to `out` as lines; the exit status follows
//! [`Ended`].

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use spa_core::Settings;
use spa_core::lake::Lake;
use spa_core::period::{Day, Month};

use crate::events::backfill;

/// What a command could not do.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Costs.
    #[error(transparent)]
    Costs(#[from] crate::costs::source::SourceError),
    /// The snapshot.
    #[error(transparent)]
    Accounts(#[from] crate::accounts::SnapshotError),
    /// Compacting a day.
    #[error("compacting {day}: {source}")]
    Compact {
        /// The day.
        day: Day,
        /// Why.
        source: spa_core::lake::LakeError,
    },
    /// A backfill.
    #[error(transparent)]
    Backfill(#[from] backfill::BackfillError),
    /// The arguments.
    #[error("{0}")]
    Usage(String),
    /// Writing the output.
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

/// How a command ended, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Everything was stored (exit 0).
    Done,
    /// Stored, with some input quarantined (exit 3).
    Quarantined,
}

/// The arguments of `ingest costs`.
#[derive(Debug, Clone, clap::Args)]
#[command(group = clap::ArgGroup::new("period").required(true).args(["month", "day"]))]
pub struct CostsArgs {
    /// The month, e.g. 2026-10.
    #[arg(long, value_name = "YYYY-MM", value_parser = str::parse::<Month>)]
    pub month: Option<Month>,
    /// The month to date, up to this day, e.g. 2026-11-24 (daily runs).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub day: Option<NaiveDate>,
    /// Import a Cost and Usage Report export (Parquet file or folder) instead of the source
    /// of settings.yaml.
    #[arg(long, value_name = "PATH", conflicts_with = "from_focus")]
    pub from_cur: Option<PathBuf>,
    /// Import a FOCUS 1.0 export (CSV or Parquet, file or folder) instead of the source of
    /// settings.yaml; rows of other providers than AWS are counted and left out.
    #[arg(long, value_name = "PATH")]
    pub from_focus: Option<PathBuf>,
    /// Write the month's sums (monthly_costs, cost_totals) again from the costs already in the
    /// lake, asking no source: for months stored before monthly_costs existed.
    #[arg(
        long,
        requires = "month",
        conflicts_with_all = ["day", "from_cur", "from_focus"]
    )]
    pub sums_from_lake: bool,
}

/// `ingest costs`: the month (or the month to `--day`) from its source, with the source's notes.
pub async fn costs(
    lake: &Lake,
    settings: &Settings,
    args: &CostsArgs,
    out: &mut dyn Write,
) -> Result<Ended, CommandError> {
    let month = match (args.month, args.day) {
        (Some(month), _) => month,
        (None, Some(day)) => Month::of(day),
        (None, None) => {
            return Err(CommandError::Usage(
                "say which month: --month or --day".into(),
            ));
        }
    };
    if args.sums_from_lake {
        let s = crate::costs::sum_stored_month(lake, month)
            .await
            .map_err(crate::costs::source::SourceError::from)?;
        writeln!(
            out,
            "sums {month}: {} cost rows of {}/{} -> {} rows in monthly_costs, {} in cost_totals",
            s.rows,
            lake.location(),
            s.key,
            s.monthly_rows,
            s.total_rows
        )?;
        return Ok(Ended::Done);
    }
    let done = crate::costs::source::month(
        lake,
        settings,
        month,
        args.day,
        args.from_cur.as_deref(),
        args.from_focus.as_deref(),
    )
    .await?;
    for note in &done.notes {
        writeln!(out, "{note}")?;
    }
    let s = done.summary;
    let until = args.day.map(|d| format!(" up to {d}")).unwrap_or_default();
    writeln!(
        out,
        "costs {month}{until}: {} rows, {} in all, {} rows of other months and {} of later days left out -> {}/{}",
        s.rows,
        s.total,
        s.other_months,
        s.later_days,
        lake.location(),
        s.key
    )?;
    if s.usage_rows > 0 {
        writeln!(
            out,
            "usage types {month}{until}: {} rows (the detail of the usage rows, in no total)",
            s.usage_rows
        )?;
    }
    Ok(Ended::Done)
}

/// The arguments of `ingest accounts`.
#[derive(Debug, Clone, clap::Args)]
pub struct AccountsArgs {
    /// Day of the snapshot [default: today, UTC].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<NaiveDate>,
    /// Tag reads in flight against AWS Organizations.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub concurrency: usize,
}

/// `ingest accounts`: the snapshot of the day given (today by default).
pub async fn accounts(
    lake: &Lake,
    settings: &Settings,
    args: &AccountsArgs,
    out: &mut dyn Write,
) -> Result<Ended, CommandError> {
    let day = Day::of(args.date.unwrap_or_else(|| chrono::Utc::now().date_naive()));
    let s = crate::accounts::snapshot(lake, settings, day, args.concurrency).await?;
    writeln!(
        out,
        "accounts: {} accounts ({} managed) in {} API requests -> {}/{}",
        s.accounts,
        s.managed,
        s.requests,
        lake.location(),
        s.key
    )?;
    Ok(Ended::Done)
}

/// The arguments of `ingest compact`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompactArgs {
    /// One day.
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with_all = ["from", "to"])]
    pub day: Option<NaiveDate>,
    /// First day of a range.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "to")]
    pub from: Option<NaiveDate>,
    /// Last day of a range (included).
    #[arg(long, value_name = "YYYY-MM-DD", requires = "from")]
    pub to: Option<NaiveDate>,
}

impl CompactArgs {
    /// The days asked for: one, or every day of a range.
    pub fn days(&self) -> Result<Vec<NaiveDate>, String> {
        match (self.day, self.from, self.to) {
            (Some(d), _, _) => Ok(vec![d]),
            (None, Some(from), Some(to)) if from <= to => {
                Ok(from.iter_days().take_while(|d| *d <= to).collect())
            }
            (None, Some(from), Some(to)) => Err(format!("--from {from} is after --to {to}")),
            _ => Err("say which days: --day YYYY-MM-DD, or --from and --to".into()),
        }
    }
}

/// `ingest compact`: each day's objects merged into one, a line per day.
pub async fn compact(
    lake: &Lake,
    args: &CompactArgs,
    out: &mut dyn Write,
) -> Result<Ended, CommandError> {
    for day in args.days().map_err(CommandError::Usage)? {
        let day = Day::of(day);
        let r = crate::events::compact::day(lake, &day.to_string())
            .await
            .map_err(|source| CommandError::Compact { day, source })?;
        match r.merged {
            Some(_) => writeln!(
                out,
                "{day}: {} objects, {} rows -> 1 object, {} rows",
                r.objects, r.rows_before, r.rows_after
            )?,
            None => writeln!(out, "{day}: {} object(s), nothing to merge", r.objects)?,
        }
    }
    Ok(Ended::Done)
}

/// A backfill of `inputs` (files, folders, `s3://` prefixes) with `parallel` groups in flight:
/// a progress bar on the terminal, then the counts and the throughput.
pub async fn backfill(
    lake: &Lake,
    settings: &Settings,
    inputs: &[String],
    parallel: usize,
    out: &mut dyn Write,
) -> Result<Ended, CommandError> {
    if inputs.is_empty() {
        return Err(CommandError::Usage(
            "nothing to ingest: give files, folders or s3:// prefixes (see --help)".into(),
        ));
    }
    let started = Instant::now();
    let walk = backfill::Walk::new(inputs, settings).await?;
    let count = walk.files();
    if count == 0 {
        return Err(CommandError::Usage(format!(
            "no files under {}",
            inputs.join(", ")
        )));
    }
    eprintln!("ingest: {count} files into {}", lake.location());
    let bar = ProgressBar::new(count).with_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} files, {msg} [{elapsed_precise}, eta {eta}]",
        )
        .expect("valid template"),
    );
    let records = std::cell::Cell::new(0u64);
    let policy = crate::events::Policy::of(settings);
    let stats = backfill::run(lake, &policy, walk, parallel, |s, files| {
        records.set(records.get() + s.records);
        bar.inc(files as u64);
        bar.set_message(format!("{} records", records.get()));
    })
    .await?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    writeln!(
        out,
        "files {} ({} digests, {} empty), records {}, events written {}, duplicates dropped {}, quarantined {}",
        stats.inputs,
        stats.digests,
        stats.empty,
        stats.records,
        stats.written,
        stats.duplicates,
        stats.quarantined
    )?;
    writeln!(
        out,
        "{:.1} MB read ({:.1} MB of JSON) in {secs:.1} s: {:.0} records/s, {:.1} MB/s of JSON",
        stats.bytes as f64 / 1e6,
        stats.json_bytes as f64 / 1e6,
        stats.records as f64 / secs,
        stats.json_bytes as f64 / 1e6 / secs
    )?;
    let stages = stats.stages.named();
    let spent: f64 = stages.iter().map(|(_, d)| d.as_secs_f64()).sum();
    let shown: Vec<String> = stages
        .iter()
        .map(|(name, d)| {
            let secs = d.as_secs_f64();
            format!(
                "{name} {secs:.2} s ({:.0} %)",
                100.0 * secs / spent.max(1e-9)
            )
        })
        .collect();
    writeln!(out, "stages: {}", shown.join(", "))?;
    Ok(if stats.quarantined > 0 {
        Ended::Quarantined
    } else {
        Ended::Done
    })
}
