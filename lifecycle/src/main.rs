//! `lifecycle`: drives sandbox accounts through on-boarding and maintenance from the state
//! kept in their tags; operator commands for SREs.

use std::process::ExitCode;

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use clap::{Parser, Subcommand};
use lifecycle::Engine;
use lifecycle::decide::Trigger;
use lifecycle::operator::{self, Console, Ended};
use spa_core::process::SettingsArg;
use spa_core::settings::AccountId;

/// Operate the lifecycle of the sandbox accounts, kept in their `<prefix>state` tags.
///
/// States: vanilla -> assigned (preparation build) -> released -> expired at the maintenance
/// window (purge build) -> assigned -> ... Every transition emits an event (EventBridge, or the
/// local lake). The organization, builds and events are local or AWS as settings.yaml says;
/// the shipped settings use the local organization file and record builds, which succeed at
/// once.
///
/// Commands that change accounts print what they will do and need --yes, unless they target
/// one account with --account. Nothing is ever done to the management account, to accounts
/// outside the managed set or to accounts that are not active.
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Cli {
    #[command(flatten)]
    settings: SettingsArg,
    /// Organizations tag reads at once (AWS adapter).
    #[arg(long, global = true, default_value_t = 8, value_name = "N")]
    concurrency: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Table of what is due now (on-boardings, builds to resume, accounts stuck too long);
    /// changes nothing.
    Plan {
        /// Also list the accounts skipped, with the reason.
        #[arg(long)]
        all: bool,
    },
    /// Carry out what `plan` shows.
    Apply(Change),
    /// Expire what the maintenance window expires (released and untagged managed accounts),
    /// then start their purge.
    Maintenance(Change),
    /// Hand accounts to their holders now (tag released).
    Release(Change),
    /// Put accounts back to vanilla; `apply` (or the tag event in AWS) on-boards them again.
    Reset(Change),
    /// Check the tags of the managed accounts: state valid, holder and cost center present,
    /// the settings' account tags applied. Exit status 1 when something is wrong.
    Check,
    /// The lifecycle queue: messages waiting and in flight, and those that failed every attempt
    /// (exit status 1 when there are any).
    Queue,
    /// Work the lifecycle queue from here, as the worker function does (ten messages at a
    /// time; the failed ones come back, then go to the dead-letter queue); stops when the queue
    /// is empty. For when the function cannot, and to measure a run.
    Work {
        /// Stop after this many messages.
        #[arg(long, value_name = "N")]
        max: Option<usize>,
    },
    /// One account: state, tags, merged settings, what is due, last events in the lake.
    Show {
        /// The account id.
        account: AccountId,
        /// Events of this many days back.
        #[arg(long, default_value_t = 60, value_name = "DAYS")]
        days: u32,
    },
    /// Run the lifecycle over several maintenance windows in simulated time (local adapters
    /// only): on-boards vanilla accounts at --from, then at each window expires, purges and
    /// prepares again (builds take 25 and 50 simulated minutes). The events go to the lake,
    /// where reports find them; the tags go to the organization file.
    Simulate {
        /// The first day (UTC midnight).
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: NaiveDate,
        /// Maintenance windows to run.
        #[arg(long, default_value_t = 4, value_name = "N")]
        windows: u32,
    },
}

#[derive(Debug, clap::Args)]
struct Change {
    /// Only these accounts (repeatable); default: every account.
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<AccountId>,
    /// Carry the changes out (otherwise they are only printed).
    #[arg(long)]
    yes: bool,
    /// With --yes: put one message per account on the lifecycle queue
    /// (automation.lifecycle_queue) for the worker function, instead of acting here.
    #[arg(long)]
    via_queue: bool,
}

fn main() -> ExitCode {
    spa_core::process::init_logging();
    let cli = Cli::parse();
    let result = spa_core::process::runtime(None, None).and_then(|r| r.block_on(run(cli)));
    spa_core::process::exit("lifecycle", result)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.settings.load()?;
    let engine = Engine::new(settings, cli.concurrency)
        .await
        .context("adapters")?;
    let now = Utc::now();
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let console = &mut Console {
        out: &mut out,
        err: &mut err,
    };
    let change = |c: Change| operator::Change {
        accounts: c.accounts,
        yes: c.yes,
        via_queue: c.via_queue,
    };
    let ended = match cli.command {
        Command::Plan { all } => operator::show_plan(&engine, all, now, console).await?,
        Command::Apply(c) => {
            operator::bulk(&engine, Trigger::Reconcile, &change(c), now, console).await?
        }
        Command::Maintenance(c) => {
            operator::bulk(&engine, Trigger::Maintenance, &change(c), now, console).await?
        }
        Command::Release(c) => {
            operator::bulk(&engine, Trigger::Release, &change(c), now, console).await?
        }
        Command::Reset(c) => {
            operator::bulk(&engine, Trigger::Reset, &change(c), now, console).await?
        }
        Command::Check => operator::check(&engine, console).await?,
        Command::Queue => operator::queue_status(&engine, console).await?,
        Command::Work { max } => operator::work(&engine, max, console).await?,
        Command::Show { account, days } => {
            operator::show(&engine, &account, days, now, console).await?
        }
        Command::Simulate { from, windows } => {
            operator::simulate(engine, from, windows, console).await?
        }
    };
    Ok(match ended {
        Ended::Done => ExitCode::SUCCESS,
        Ended::Problems => ExitCode::FAILURE,
        Ended::NeedsYes => ExitCode::from(2),
    })
}
