//! `lifecycle`: drives sandbox accounts through on-boarding and maintenance from the state
//! kept in their tags; operator commands for SREs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use clap::{Parser, Subcommand};
use lifecycle::Engine;
use lifecycle::decide::{Keys, Outcome, Trigger};
use lifecycle::engine::{Planned, plan};
use spa_core::Settings;
use spa_core::organization::{AccountStatus, State};
use spa_core::settings::{AccountId, Adapter};

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
    /// The settings file; relative paths inside it resolve against its folder.
    #[arg(
        long,
        global = true,
        default_value = "settings.yaml",
        value_name = "FILE"
    )]
    settings: PathBuf,
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
}

fn main() -> ExitCode {
    spa_core::cli::init_logging();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    spa_core::cli::exit("lifecycle", runtime.block_on(run(cli)))
}

/// Reads the whole organization; from AWS Organizations (about one request per account, which
/// takes a while for large organizations) with a progress line every 10 s.
async fn organization(engine: &Engine) -> anyhow::Result<spa_core::organization::Organization> {
    let started = std::time::Instant::now();
    if engine.settings.organization.adapter != Adapter::Aws {
        return Ok(engine.directory.organization().await?);
    }
    eprintln!("reading the organization from AWS Organizations ...");
    let reading = engine.directory.organization();
    tokio::pin!(reading);
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(10));
    ticks.tick().await;
    let org = loop {
        tokio::select! {
            read = &mut reading => break read?,
            _ = ticks.tick() => eprintln!(
                "  {} requests in {:.0} s (about one per account)",
                engine.directory.requests(),
                started.elapsed().as_secs_f64()
            ),
        }
    };
    eprintln!(
        "read {} accounts in {:.1} s ({} requests)",
        org.accounts.len(),
        started.elapsed().as_secs_f64(),
        engine.directory.requests()
    );
    Ok(org)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(&cli.settings).context("settings")?;
    let engine = Engine::new(settings, cli.concurrency)
        .await
        .context("adapters")?;
    let now = Utc::now();
    match cli.command {
        Command::Plan { all } => {
            let org = organization(&engine).await?;
            let planned = plan(&engine.settings, &org, &Trigger::Reconcile, now);
            print_plan(&planned, all);
            eprintln!(
                "{} Organizations requests ({} accounts)",
                engine.directory.requests(),
                org.accounts.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply(change) => bulk(&engine, Trigger::Reconcile, &change, now).await,
        Command::Maintenance(change) => bulk(&engine, Trigger::Maintenance, &change, now).await,
        Command::Release(change) => bulk(&engine, Trigger::Release, &change, now).await,
        Command::Reset(change) => bulk(&engine, Trigger::Reset, &change, now).await,
        Command::Check => check(&engine).await,
        Command::Show { account, days } => show(&engine, &account, days, now).await,
        Command::Simulate { from, windows } => simulate(engine, from, windows).await,
    }
}

fn state_name(state: Option<State>) -> &'static str {
    state.map_or("-", State::as_str)
}

fn print_plan(planned: &[Planned], all: bool) {
    let (mut due, mut nothing, mut skipped) = (0, 0, 0);
    println!(
        "{:<12}  {:<24}  {:<20}  {:<9}  {:<22}  {:<9}  {:<11}  events",
        "account", "name", "OU", "state", "action", "next", "build"
    );
    for p in planned {
        match &p.outcome {
            Outcome::Act(d) => {
                due += 1;
                let events: Vec<&str> = d.events.iter().map(|e| e.as_str()).collect();
                println!(
                    "{:<12}  {:<24}  {:<20}  {:<9}  {:<22}  {:<9}  {:<11}  {}",
                    p.account.id,
                    truncate(&p.account.name, 24),
                    truncate(&p.unit, 20),
                    state_name(d.from),
                    d.action,
                    d.to.map_or("(same)", State::as_str),
                    d.build.as_ref().map_or("-", |b| b.kind.as_str()),
                    events.join(", ")
                );
            }
            Outcome::Nothing => nothing += 1,
            Outcome::Skip(reason) => {
                skipped += 1;
                if all {
                    println!(
                        "{:<12}  {:<24}  {:<20}  skipped: {reason}",
                        p.account.id,
                        truncate(&p.account.name, 24),
                        truncate(&p.unit, 20)
                    );
                }
            }
        }
    }
    eprintln!(
        "{} accounts: {due} due, {nothing} with nothing due, {skipped} skipped (management, unmanaged, inactive or badly tagged; --all lists them)",
        planned.len()
    );
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(width - 1).collect();
        t.push('~');
        t
    }
}

async fn bulk(
    engine: &Engine,
    trigger: Trigger,
    change: &Change,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let org = organization(engine).await?;
    for id in &change.accounts {
        if org.account(id).is_none() {
            bail!("account {id} is not in the organization");
        }
    }
    let planned: Vec<Planned> = plan(&engine.settings, &org, &trigger, now)
        .into_iter()
        .filter(|p| change.accounts.is_empty() || change.accounts.contains(&p.account.id))
        .collect();
    print_plan(&planned, !change.accounts.is_empty());
    let due: Vec<&Planned> = planned
        .iter()
        .filter(|p| matches!(p.outcome, Outcome::Act(_)))
        .collect();
    if due.is_empty() {
        eprintln!("nothing to do");
        return Ok(ExitCode::SUCCESS);
    }
    let single = change.accounts.len() == 1 && due.len() == 1;
    if !change.yes && !single {
        eprintln!(
            "nothing done: {} accounts would change; run again with --yes to carry it out",
            due.len()
        );
        return Ok(ExitCode::from(2));
    }
    let mut failed = Vec::new();
    for (i, p) in due.iter().enumerate() {
        let mut account = p.account.clone();
        match engine.run(&mut account, trigger.clone(), now).await {
            Ok(Ok(done)) => {
                let steps: Vec<String> = done
                    .steps
                    .iter()
                    .map(|d| format!("{} -> {}", d.action, state_name(d.to.or(d.from))))
                    .collect();
                println!("{}  {}", account.id, steps.join("; "));
            }
            Ok(Err(reason)) => println!("{}  skipped: {reason}", account.id),
            Err(e) => {
                eprintln!("{}  FAILED: {e}", account.id);
                failed.push(account.id.to_string());
            }
        }
        if (i + 1) % 100 == 0 {
            eprintln!("  {}/{} accounts", i + 1, due.len());
        }
    }
    eprintln!(
        "{} accounts changed, {} failed; {} Organizations, {} CodeBuild, {} EventBridge requests",
        due.len() - failed.len(),
        failed.len(),
        engine.directory.requests(),
        engine.builds.requests(),
        engine.emitter.requests()
    );
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        bail!("{} accounts failed: {}", failed.len(), failed.join(", "))
    }
}

/// The problems of one account's tags.
fn problems(settings: &Settings, account: &spa_core::organization::Account) -> Vec<String> {
    let keys = Keys::of(settings);
    let mut out = Vec::new();
    let managed = settings.effective(&account.id, Some(&account.parent));
    let Some(effective) = managed else {
        if account.tags.contains_key(&keys.state) {
            out.push(format!(
                "has {} but is not managed (not listed, not in a managed OU)",
                keys.state
            ));
        }
        return out;
    };
    if account.status != AccountStatus::Active {
        return out;
    }
    let state = match account.state(settings) {
        Ok(Some(s)) => s,
        Ok(None) => {
            out.push(format!(
                "no {} tag: waits for the maintenance window (or `reset` it)",
                keys.state
            ));
            return out;
        }
        Err(e) => {
            out.push(format!("{}: {e}", keys.state));
            return out;
        }
    };
    if state == State::Vanilla {
        return out;
    }
    if !account.tags.contains_key(&keys.holder) {
        out.push(format!(
            "no {} tag (the account e-mail is used)",
            keys.holder
        ));
    }
    match account.tags.get(&keys.since) {
        None => out.push(format!("no {} tag", keys.since)),
        Some(s) if DateTime::parse_from_rfc3339(s).is_err() => {
            out.push(format!("{} `{s}` is not an RFC 3339 time", keys.since));
        }
        Some(_) => {}
    }
    if account.cost_center(settings) == spa_core::organization::NO_COST_TAG {
        out.push(format!(
            "no {} tag: costs report under NoCostTag",
            settings.features.cost_center_tag.as_str()
        ));
    }
    for (key, value) in &effective.account_tags {
        match account.tags.get(key.as_str()) {
            Some(v) if v == value => {}
            Some(v) => out.push(format!("{key} is `{v}`, the settings say `{value}`")),
            None => out.push(format!("no {key} tag (the settings say `{value}`)")),
        }
    }
    if let Some(failed) = account.tags.get(&keys.failed) {
        out.push(format!(
            "a failure was reported while {failed}: fix it, then `release` or `reset` the account"
        ));
    }
    out
}

async fn check(engine: &Engine) -> anyhow::Result<ExitCode> {
    let org = organization(engine).await?;
    let mut accounts: Vec<_> = org.accounts.iter().collect();
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    let (mut bad, mut checked) = (0, 0);
    for account in accounts {
        if account.id == engine.settings.automation.management_account_id {
            continue;
        }
        checked += 1;
        let found = problems(&engine.settings, account);
        if !found.is_empty() {
            bad += 1;
            for p in found {
                println!("{}  {:<24}  {p}", account.id, truncate(&account.name, 24));
            }
        }
    }
    eprintln!("{checked} accounts checked, {bad} with problems");
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn show(
    engine: &Engine,
    id: &AccountId,
    days: u32,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let Some(account) = engine.directory.account(id).await? else {
        bail!("account {id} is not in the organization");
    };
    let settings = &engine.settings;
    println!("account   {} ({})", account.id, account.name);
    println!("email     {}", account.email);
    println!("status    {}", account.status.as_str());
    println!("parent    {}", account.parent);
    println!(
        "state     {}",
        match account.state(settings) {
            Ok(s) => state_name(s).to_string(),
            Err(e) => e,
        }
    );
    println!("holder    {}", account.holder(settings));
    println!("cost      {}", account.cost_center(settings));
    println!("tags:");
    for (k, v) in &account.tags {
        println!("  {k}: {v}");
    }
    match settings.effective(&account.id, Some(&account.parent)) {
        Some(effective) => {
            println!("merged settings:");
            let yaml = serde_yaml_ng::to_string(&effective)?;
            for line in yaml.lines() {
                println!("  {line}");
            }
        }
        None => println!("merged settings: none (not managed)"),
    }
    let due = match lifecycle::decide::decide(settings, &account, &Trigger::Reconcile, now) {
        Outcome::Act(d) => format!("{} -> {}", d.action, state_name(d.to.or(d.from))),
        Outcome::Nothing => "nothing".into(),
        Outcome::Skip(reason) => format!("nothing ({reason})"),
    };
    println!("due now   {due}");
    let lake = spa_core::lake::Lake::open(settings).await;
    let events = lifecycle::history::last_events(&lake, id, now, days).await?;
    println!("last events (the lake, {days} days):");
    if events.is_empty() {
        println!("  none");
    }
    for e in events {
        println!("  {e}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn simulate(mut engine: Engine, from: NaiveDate, windows: u32) -> anyhow::Result<ExitCode> {
    let s = &engine.settings;
    if s.organization.adapter != Adapter::Local
        || s.builds.adapter != Adapter::Local
        || s.events.adapter != Adapter::Local
    {
        bail!(
            "simulate needs the local organization, builds and events adapters (settings {})",
            s.file.display()
        );
    }
    engine.local_durations = (TimeDelta::minutes(25), TimeDelta::minutes(50));
    let start = from.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut at = start;
    let mut rounds = vec![(Trigger::Reconcile, start)];
    for _ in 0..windows {
        let Some(next) = engine.settings.automation.maintenance_window.next_after(at) else {
            break;
        };
        rounds.push((Trigger::Maintenance, next));
        at = next;
    }
    for (trigger, when) in rounds {
        let org = organization(&engine).await?;
        let mut changed = 0;
        for (i, p) in plan(&engine.settings, &org, &trigger, when)
            .into_iter()
            .filter(|p| matches!(p.outcome, Outcome::Act(_)))
            .enumerate()
        {
            let mut account = p.account;
            // Accounts spread over the window's first minutes, as a real run takes time.
            let started = when + TimeDelta::seconds(i as i64 * 7);
            if let Ok(done) = engine.run(&mut account, trigger.clone(), started).await? {
                changed += 1;
                for e in done.events {
                    *counts.entry(e.event.to_string()).or_default() += 1;
                }
            }
        }
        eprintln!(
            "{}  {:<11}  {changed} accounts",
            when.format("%Y-%m-%d %H:%M"),
            match trigger {
                Trigger::Maintenance => "maintenance",
                _ => "apply",
            }
        );
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    eprintln!("events written to the lake: {}", summary.join(", "));
    Ok(ExitCode::SUCCESS)
}
