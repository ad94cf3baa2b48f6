//! The operator commands of the `lifecycle` command line: the plan table, changes over many
//! accounts (printed first, carried out with `--yes`), the tag check, one account's page and the
//! simulation. Tables go to `out`, progress and summaries to `err`; the pure parts
//! ([`plan_lines`], [`problems`]) are unit-tested.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use spa_core::Settings;
use spa_core::organization::{Account, AccountStatus, Organization, State, TagKeys};
use spa_core::settings::{AccountId, Adapter};

use crate::Engine;
use crate::decide::{Outcome, Trigger, decide};
use crate::engine::{Planned, plan};

/// What an operator command could not do.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The lifecycle.
    #[error(transparent)]
    Lifecycle(#[from] crate::Error),
    /// Writing to the terminal.
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
    /// Some accounts failed (each is printed with its error).
    #[error("{} accounts failed: {}", .0.len(), .0.join(", "))]
    Failed(Vec<String>),
    /// The command needs other adapters.
    #[error("{0}")]
    Settings(String),
}

/// How a command ended, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Done (exit 0).
    Done,
    /// Problems found (exit 1).
    Problems,
    /// Nothing done: the changes need `--yes` (exit 2).
    NeedsYes,
}

/// Where a command writes: its table and its progress.
pub struct Console<'a> {
    /// Tables and results (standard output).
    pub out: &'a mut dyn Write,
    /// Progress and summaries (standard error).
    pub err: &'a mut dyn Write,
}

/// The accounts a change applies to, and whether to carry it out.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Only these accounts; empty for every account.
    pub accounts: Vec<AccountId>,
    /// Carry the changes out (otherwise they are only printed).
    pub yes: bool,
    /// Put one message per account due on the lifecycle queue, for the worker function,
    /// instead of acting here.
    pub via_queue: bool,
}

fn state_name(state: Option<State>) -> &'static str {
    state.map_or("-", State::as_str)
}

/// `text` cut to `width` characters, the last one `~` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(width - 1).collect();
        t.push('~');
        t
    }
}

/// Reads the whole organization; from AWS Organizations (about one request per account, which
/// takes a while for large organizations) with a progress line every 10 s.
pub async fn organization(
    engine: &Engine,
    err: &mut dyn Write,
) -> Result<Organization, OperatorError> {
    let started = std::time::Instant::now();
    if engine.settings.organization.adapter != Adapter::Aws {
        return Ok(engine.directory.organization().await?);
    }
    writeln!(err, "reading the organization from AWS Organizations ...")?;
    let reading = engine.directory.organization();
    tokio::pin!(reading);
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(10));
    ticks.tick().await;
    let org = loop {
        tokio::select! {
            read = &mut reading => break read?,
            _ = ticks.tick() => writeln!(
                err,
                "  {} requests in {:.0} s (about one per account)",
                engine.directory.requests(),
                started.elapsed().as_secs_f64()
            )?,
        }
    };
    let attempts = engine.directory.attempts();
    writeln!(
        err,
        "read {} accounts in {:.1} s ({} requests, {} retried, {} throttled)",
        org.accounts.len(),
        started.elapsed().as_secs_f64(),
        engine.directory.requests(),
        attempts.retries,
        attempts.throttled
    )?;
    Ok(org)
}

/// The plan as table lines (header first; skipped accounts only with `all`) and its summary.
pub(crate) fn plan_lines(planned: &[Planned], all: bool) -> (Vec<String>, String) {
    let (mut due, mut nothing, mut skipped) = (0, 0, 0);
    let mut lines = vec![format!(
        "{:<12}  {:<24}  {:<20}  {:<9}  {:<22}  {:<9}  {:<11}  events",
        "account", "name", "OU", "state", "action", "next", "build"
    )];
    for p in planned {
        match &p.outcome {
            Outcome::Act(d) => {
                due += 1;
                let events: Vec<&str> = d.events.iter().map(|e| e.as_str()).collect();
                lines.push(format!(
                    "{:<12}  {:<24}  {:<20}  {:<9}  {:<22}  {:<9}  {:<11}  {}",
                    p.account.id,
                    truncate(&p.account.name, 24),
                    truncate(&p.unit, 20),
                    state_name(d.from),
                    d.action,
                    d.to.map_or("(same)", State::as_str),
                    d.build.as_ref().map_or("-", |b| b.kind.as_str()),
                    events.join(", ")
                ));
            }
            Outcome::Nothing => nothing += 1,
            Outcome::Skip(reason) => {
                skipped += 1;
                if all {
                    lines.push(format!(
                        "{:<12}  {:<24}  {:<20}  skipped: {reason}",
                        p.account.id,
                        truncate(&p.account.name, 24),
                        truncate(&p.unit, 20)
                    ));
                }
            }
        }
    }
    let summary = format!(
        "{} accounts: {due} due, {nothing} with nothing due, {skipped} skipped (management, unmanaged, inactive or badly tagged; --all lists them)",
        planned.len()
    );
    (lines, summary)
}

fn print_plan(console: &mut Console<'_>, planned: &[Planned], all: bool) -> std::io::Result<()> {
    let (lines, summary) = plan_lines(planned, all);
    for line in lines {
        writeln!(console.out, "{line}")?;
    }
    writeln!(console.err, "{summary}")
}

/// `plan`: what is due now; changes nothing.
pub async fn show_plan(
    engine: &Engine,
    all: bool,
    now: DateTime<Utc>,
    console: &mut Console<'_>,
) -> Result<Ended, OperatorError> {
    let org = organization(engine, console.err).await?;
    let planned = plan(&engine.settings, &org, &Trigger::Reconcile, now);
    print_plan(console, &planned, all)?;
    writeln!(
        console.err,
        "{} Organizations requests ({} accounts)",
        engine.directory.requests(),
        org.accounts.len()
    )?;
    Ok(Ended::Done)
}

/// `apply`, `maintenance`, `release`, `reset`: `trigger` for every account of `change` with
/// something due, printed first; carried out with `yes`, or when it targets one account.
pub async fn bulk(
    engine: &Engine,
    trigger: Trigger,
    change: &Change,
    now: DateTime<Utc>,
    console: &mut Console<'_>,
) -> Result<Ended, OperatorError> {
    let org = organization(engine, console.err).await?;
    for id in &change.accounts {
        if org.account(id).is_none() {
            return Err(crate::Error::UnknownAccount(id.to_string()).into());
        }
    }
    let planned: Vec<Planned> = plan(&engine.settings, &org, &trigger, now)
        .into_iter()
        .filter(|p| change.accounts.is_empty() || change.accounts.contains(&p.account.id))
        .collect();
    print_plan(console, &planned, !change.accounts.is_empty())?;
    let due: Vec<&Planned> = planned
        .iter()
        .filter(|p| matches!(p.outcome, Outcome::Act(_)))
        .collect();
    if due.is_empty() {
        writeln!(console.err, "nothing to do")?;
        return Ok(Ended::Done);
    }
    let single = change.accounts.len() == 1 && due.len() == 1;
    if !change.yes && !single {
        writeln!(
            console.err,
            "nothing done: {} accounts would change; run again with --yes to carry it out",
            due.len()
        )?;
        return Ok(Ended::NeedsYes);
    }
    if change.via_queue {
        let action = crate::fanout::Action::of(&trigger).ok_or_else(|| {
            OperatorError::Settings("this command does not go through the queue".into())
        })?;
        // The accounts shown above, nothing else: the organization is not read again.
        let batch =
            crate::fanout::Batch::of(action, due.iter().map(|p| &p.account), planned.len(), now);
        let sent = crate::fanout::start_run(engine, &batch).await?;
        writeln!(
            console.err,
            "run {}: {} messages on {} ({} SQS requests); the worker function carries them out (`lifecycle queue` shows what is left and what failed)",
            sent.run,
            sent.enqueued,
            engine.settings.lifecycle_queue(),
            sent.requests
        )?;
        return Ok(Ended::Done);
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
                writeln!(console.out, "{}  {}", account.id, steps.join("; "))?;
            }
            Ok(Err(reason)) => writeln!(console.out, "{}  skipped: {reason}", account.id)?,
            Err(e) => {
                writeln!(console.err, "{}  FAILED: {e}", account.id)?;
                failed.push(account.id.to_string());
            }
        }
        if (i + 1) % 100 == 0 {
            writeln!(console.err, "  {}/{} accounts", i + 1, due.len())?;
        }
    }
    let attempts = engine.directory.attempts() + engine.builds.attempts();
    writeln!(
        console.err,
        "{} accounts changed, {} failed; {} Organizations, {} CodeBuild, {} EventBridge requests; {} retried, {} throttled",
        due.len() - failed.len(),
        failed.len(),
        engine.directory.requests(),
        engine.builds.requests(),
        engine.emitter.requests(),
        attempts.retries,
        attempts.throttled
    )?;
    if failed.is_empty() {
        Ok(Ended::Done)
    } else {
        Err(OperatorError::Failed(failed))
    }
}

/// The problems of one account's tags: state valid, holder and cost center present, the
/// settings' account tags applied, no failure left unhandled.
pub(crate) fn problems(settings: &Settings, account: &Account) -> Vec<String> {
    let keys = TagKeys::of(settings);
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
    if let Some(unsent) = account.tags.get(&keys.unsent) {
        out.push(format!(
            "events not sent yet ({unsent}): the account's next step (`apply`, the hourly check) sends them"
        ));
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

/// `check`: the problems of every account but the management account.
pub async fn check(engine: &Engine, console: &mut Console<'_>) -> Result<Ended, OperatorError> {
    let org = organization(engine, console.err).await?;
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
                writeln!(
                    console.out,
                    "{}  {:<24}  {p}",
                    account.id,
                    truncate(&account.name, 24)
                )?;
            }
        }
    }
    writeln!(
        console.err,
        "{checked} accounts checked, {bad} with problems"
    )?;
    Ok(if bad == 0 {
        Ended::Done
    } else {
        Ended::Problems
    })
}

/// `show`: one account's state, tags, merged settings, what is due and its last events.
pub async fn show(
    engine: &Engine,
    id: &AccountId,
    days: u32,
    now: DateTime<Utc>,
    console: &mut Console<'_>,
) -> Result<Ended, OperatorError> {
    let Some(account) = engine.directory.account(id).await? else {
        return Err(crate::Error::UnknownAccount(id.to_string()).into());
    };
    let settings = &engine.settings;
    let out = &mut *console.out;
    writeln!(out, "account   {} ({})", account.id, account.name)?;
    writeln!(out, "email     {}", account.email)?;
    writeln!(out, "status    {}", account.status.as_str())?;
    writeln!(out, "parent    {}", account.parent)?;
    writeln!(
        out,
        "state     {}",
        match account.state(settings) {
            Ok(s) => state_name(s).to_string(),
            Err(e) => e,
        }
    )?;
    writeln!(out, "holder    {}", account.holder(settings))?;
    writeln!(out, "cost      {}", account.cost_center(settings))?;
    writeln!(out, "tags:")?;
    for (k, v) in &account.tags {
        writeln!(out, "  {k}: {v}")?;
    }
    match settings.effective(&account.id, Some(&account.parent)) {
        Some(effective) => {
            writeln!(out, "merged settings:")?;
            let yaml = serde_yaml_ng::to_string(&effective)
                .map_err(|e| OperatorError::Settings(e.to_string()))?;
            for line in yaml.lines() {
                writeln!(out, "  {line}")?;
            }
        }
        None => writeln!(out, "merged settings: none (not managed)")?,
    }
    write_guardrails(out, settings, &account.parent)?;
    let due = match decide(settings, &account, &Trigger::Reconcile, now) {
        Outcome::Act(d) => format!("{} -> {}", d.action, state_name(d.to.or(d.from))),
        Outcome::Nothing => "nothing".into(),
        Outcome::Skip(reason) => format!("nothing ({reason})"),
    };
    writeln!(out, "due now   {due}")?;
    let lake = spa_core::lake::Lake::open(settings).await;
    let events = crate::history::last_events(&lake, id, now, days)
        .await
        .map_err(crate::Error::from)?;
    writeln!(out, "last events (the lake, {days} days):")?;
    if events.is_empty() {
        writeln!(out, "  none")?;
    }
    for e in events {
        writeln!(out, "  {e}")?;
    }
    Ok(Ended::Done)
}

/// The guardrails (service control policies) of the accounts in `parent`, statement by
/// statement, and the principals they spare.
fn write_guardrails(
    out: &mut dyn std::io::Write,
    settings: &spa_core::Settings,
    parent: &spa_core::settings::OuId,
) -> Result<(), OperatorError> {
    if !settings.guardrails.enabled() {
        writeln!(out, "guardrails: none (guardrails.feature is not enabled)")?;
        return Ok(());
    }
    if !settings.organizational_units.contains_key(parent) {
        writeln!(out, "guardrails: none ({parent} is not a managed OU)")?;
        return Ok(());
    }
    let policies = spa_core::guardrails::policies(settings)
        .map_err(|e| OperatorError::Settings(e.to_string()))?;
    writeln!(out, "guardrails (service control policies on {parent}):")?;
    for policy in spa_core::guardrails::of_unit(&policies, parent) {
        writeln!(out, "  {}", policy.name)?;
        for s in &policy.statements {
            writeln!(out, "    {}: {}", s.sid, s.summary)?;
        }
    }
    writeln!(
        out,
        "  all but DenyRootUser, DenyLeavingOrganization and DenySharingOutsideOrganization spare: {}",
        spa_core::guardrails::exempt_principals(settings).join(", ")
    )?;
    Ok(())
}

/// `simulate`: the local lifecycle over `windows` maintenance windows from `from`, in simulated
/// time (builds take 25 and 50 minutes); the events go to the lake, the tags to the file.
pub async fn simulate(
    mut engine: Engine,
    from: NaiveDate,
    windows: u32,
    console: &mut Console<'_>,
) -> Result<Ended, OperatorError> {
    let s = &engine.settings;
    if s.organization.adapter != Adapter::Local
        || s.builds.adapter != Adapter::Local
        || s.events.adapter != Adapter::Local
    {
        return Err(OperatorError::Settings(format!(
            "simulate needs the local organization, builds and events adapters (settings {})",
            s.file.display()
        )));
    }
    engine.local_durations = (TimeDelta::minutes(25), TimeDelta::minutes(50));
    let start = from.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let mut counts = BTreeMap::<String, usize>::new();
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
        let org = organization(&engine, console.err).await?;
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
        writeln!(
            console.err,
            "{}  {:<11}  {changed} accounts",
            when.format("%Y-%m-%d %H:%M"),
            match trigger {
                Trigger::Maintenance => "maintenance",
                _ => "apply",
            }
        )?;
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    writeln!(
        console.err,
        "events written to the lake: {}",
        summary.join(", ")
    )?;
    Ok(Ended::Done)
}

/// `lifecycle work`: the queue worked from here until it is empty, with progress; then what
/// was done and the requests made.
pub async fn work(
    engine: &Engine,
    max: Option<usize>,
    console: &mut Console<'_>,
) -> Result<Ended, OperatorError> {
    let started = std::time::Instant::now();
    let mut last = started;
    let drained = crate::fanout::drain(engine, max, |d| {
        if last.elapsed().as_secs() >= 5 {
            last = std::time::Instant::now();
            tracing::info!(
                received = d.received,
                done = d.done,
                skipped = d.skipped,
                failed = d.failed,
                "working the queue"
            );
        }
    })
    .await?;
    let attempts = engine.directory.attempts() + engine.builds.attempts();
    writeln!(
        console.err,
        "{} messages in {:.1} s: {} done, {} skipped, {} failed (back on the queue); {} Organizations, {} CodeBuild, {} EventBridge requests, {} member roles assumed; {} retried, {} throttled",
        drained.received,
        started.elapsed().as_secs_f64(),
        drained.done,
        drained.skipped,
        drained.failed,
        engine.directory.requests(),
        engine.builds.requests(),
        engine.emitter.requests(),
        engine.builds.member_accounts().await,
        attempts.retries,
        attempts.throttled
    )?;
    Ok(if drained.failed > 0 {
        Ended::Problems
    } else {
        Ended::Done
    })
}

/// How many runs `lifecycle queue` shows.
const RUNS_SHOWN: usize = 3;

/// `lifecycle queue`: what the worker function still has to do, the latest runs' progress
/// (accounts done, skipped, failed, pending, from the lake's records), and what failed every
/// attempt (left in the dead-letter queue for a human; `--via-queue` again re-sends what is
/// still due).
pub async fn queue_status(
    engine: &Engine,
    console: &mut Console<'_>,
) -> Result<Ended, OperatorError> {
    let status = engine.queue().await?.status().await?;
    writeln!(
        console.out,
        "{}: {} waiting, {} in flight",
        engine.settings.lifecycle_queue(),
        status.waiting,
        status.in_flight
    )?;
    let lake = engine.lake().await;
    for progress in crate::runs::progress(lake, RUNS_SHOWN).await? {
        let count = |o: crate::runs::Outcome| progress.outcomes.get(&o).copied().unwrap_or(0);
        writeln!(
            console.out,
            "run {} ({} accounts visited {}): {} enqueued, {} done, {} skipped, {} failed, {} pending",
            progress.run.run,
            progress.run.accounts,
            progress.run.at.format("%Y-%m-%d %H:%M UTC"),
            progress.run.enqueued,
            count(crate::runs::Outcome::Done),
            count(crate::runs::Outcome::Skipped),
            count(crate::runs::Outcome::Failed),
            progress.pending()
        )?;
    }
    match &status.dead_letter_queue {
        None => writeln!(console.out, "no dead-letter queue")?,
        Some(name) => writeln!(console.out, "{name}: {} failed every attempt", status.dead)?,
    }
    for (id, sample) in &status.dead_samples {
        let job = match sample {
            Ok(job) => job,
            Err(text) => {
                writeln!(console.out, "  message {id}, not a lifecycle job: {text}")?;
                continue;
            }
        };
        writeln!(
            console.out,
            "  {}  {}  run {}",
            job.account,
            job.action.name(),
            job.run
        )?;
        match crate::runs::failure(lake, &job.run, &job.account).await {
            Some((attempt, reason)) => {
                writeln!(console.out, "    attempt {attempt} failed: {reason}")?
            }
            None => writeln!(console.out, "    (no reason recorded for message {id})")?,
        }
    }

    Ok(if status.dead > 0 {
        Ended::Problems
    } else {
        Ended::Done
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn settings() -> Settings {
        crate::decide::tests::settings(true, false)
    }

    /// A released account with every tag right, then `edit` applied to its tags.
    fn account(edit: impl FnOnce(&mut BTreeMap<String, String>)) -> Account {
        let mut account = crate::decide::tests::account(Some("released"));
        account.tags.extend(
            [
                ("account-holder", "alice@example.com"),
                ("managed-by", "sandbox-automation"),
                ("business-unit", "engineering"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        edit(&mut account.tags);
        account
    }

    #[test]
    fn tag_problems_each_named_once() {
        let s = settings();
        let cases: Vec<(&str, Account, Vec<&str>)> = vec![
            ("all right", account(|_| {}), vec![]),
            (
                "vanilla needs nothing else",
                account(|t| {
                    t.clear();
                    t.insert("account-state".into(), "vanilla".into());
                }),
                vec![],
            ),
            (
                "no holder",
                account(|t| {
                    t.remove("account-holder");
                }),
                vec!["no account-holder tag (the account e-mail is used)"],
            ),
            (
                "events not sent",
                account(|t| {
                    t.insert(
                        "account-unsent".into(),
                        "2026-10-03T18:00:05Z ReleasedAccount".into(),
                    );
                }),
                vec![
                    "events not sent yet (2026-10-03T18:00:05Z ReleasedAccount): the account's next step (`apply`, the hourly check) sends them",
                ],
            ),
            (
                "since not a time",
                account(|t| {
                    t.insert("account-since".into(), "yesterday".into());
                }),
                vec!["account-since `yesterday` is not an RFC 3339 time"],
            ),
            (
                "no cost center, wrong account tag",
                account(|t| {
                    t.remove("cost-center");
                    t.insert("managed-by".into(), "someone".into());
                }),
                vec![
                    "no cost-center tag: costs report under NoCostTag",
                    "managed-by is `someone`, the settings say `sandbox-automation`",
                ],
            ),
            (
                "a failure reported",
                account(|t| {
                    t.insert("account-failed".into(), "expired".into());
                }),
                vec![
                    "a failure was reported while expired: fix it, then `release` or `reset` the account",
                ],
            ),
            (
                "untagged",
                account(|t| {
                    t.remove("account-state");
                }),
                vec!["no account-state tag: waits for the maintenance window (or `reset` it)"],
            ),
            (
                "not a state",
                account(|t| {
                    t.insert("account-state".into(), "bogus".into());
                }),
                vec![
                    "account-state: `bogus` is not a state (expected vanilla, assigned, released or expired)",
                ],
            ),
        ];
        for (case, account, expected) in cases {
            assert_eq!(problems(&s, &account), expected, "{case}");
        }
        // An account outside the managed set with a state tag.
        let mut outside = account(|_| {});
        outside.parent = "ou-test-others01".parse().unwrap();
        assert_eq!(
            problems(&s, &outside),
            ["has account-state but is not managed (not listed, not in a managed OU)"]
        );
        // Inactive accounts are not checked.
        let mut closed = account(|t| {
            t.remove("account-holder");
        });
        closed.status = AccountStatus::Closed;
        assert!(problems(&s, &closed).is_empty());
    }

    #[test]
    fn names_are_cut_to_their_column() {
        assert_eq!(truncate("sandbox-alice", 24), "sandbox-alice");
        assert_eq!(truncate("abcdef", 4), "abc~");
        // Characters, not bytes.
        assert_eq!(truncate("ééééé", 3), "éé~");
    }
}
