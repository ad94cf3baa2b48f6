//! The sweep: every exception the lake's events imply over a range of days that is not stored
//! yet is raised with its context and stored. It is the guarantee behind the live path (which
//! raises the same ids from the batch it just wrote), so running it again stores nothing new.

use std::collections::HashSet;

use spa_core::Settings;
use spa_core::lake::{Dataset, Lake, LakeError};
use spa_core::period::Day;

use super::classify::{Candidate, Rules, candidates, classify, unreadable};
use super::context::Context;
use super::store::{self, Exception};

/// What a sweep found.
#[derive(Debug, Default)]
pub struct Sweep {
    /// Days read.
    pub days: usize,
    /// Events read.
    pub events: u64,
    /// Exceptions the events imply, stored before or now.
    pub found: usize,
    /// Those stored by this sweep, in day and event order.
    pub raised: Vec<Exception>,
}

impl Sweep {
    /// The summary a command prints: one line per exception stored now, then the counts.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .raised
            .iter()
            .map(|e| {
                let c = &e.candidate;
                let name = e
                    .account
                    .as_ref()
                    .and_then(|a| a.name.as_deref())
                    .unwrap_or(if c.account_id.is_some() {
                        "unknown account"
                    } else {
                        "-"
                    });
                format!(
                    "{}  {:<8}  {:<23}  {} ({name})  {}",
                    e.day(),
                    c.label.severity(),
                    c.label,
                    c.account_id.as_deref().unwrap_or("-"),
                    c.message
                )
            })
            .collect();
        out.push(format!(
            "{} days, {} events: {} exceptions, {} new stored, {} already stored",
            self.days,
            self.events,
            self.found,
            self.raised.len(),
            self.found - self.raised.len()
        ));
        out
    }
}

/// Adds the account's context to each candidate (the account as the snapshot of its day knows
/// it, its month-to-date cost: costs are read for these accounts only); `raised_at` stamps
/// them.
pub async fn with_context(
    lake: &Lake,
    candidates: Vec<Candidate>,
    raised_at: i64,
) -> Result<Vec<Exception>, LakeError> {
    let accounts: HashSet<String> = candidates
        .iter()
        .filter_map(|c| c.account_id.clone())
        .collect();
    let context = &mut Context::for_accounts(accounts);
    let mut out = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let mut exception = Exception {
            candidate,
            raised_at,
            account: None,
            cost: None,
        };
        if let Some(account) = exception.candidate.account_id.clone() {
            let day = exception.day();
            exception.account = context.account(lake, &account, day).await?;
            exception.cost = context.month_to_date(lake, &account, day).await?;
        }
        out.push(exception);
    }
    Ok(out)
}

/// Days read at once by a sweep.
const DAYS_IN_FLIGHT: usize = 2;

/// The events read on `day` and the exceptions they (and, when alerts are queued, the day's
/// quarantine rows) imply.
async fn classify_day(
    lake: &Lake,
    rules: &Rules,
    day: Day,
) -> Result<(u64, Vec<Candidate>), LakeError> {
    // Only the rows classify looks at are read whole.
    let (batches, read) = lake
        .read_partition_where(Dataset::Events, &day.to_string(), &candidates())
        .await?;
    let mut found = Vec::new();
    for batch in &batches {
        found.extend(classify(rules, batch));
    }
    if rules.alert_queue.is_some() {
        for batch in lake
            .read_partition(Dataset::Quarantine, &day.to_string())
            .await?
        {
            found.extend(unreadable(rules, &batch));
        }
    }
    Ok((read, found))
}

/// Raises and stores what the events of `from..=to` imply and the lake does not hold yet.
pub async fn sweep(
    lake: &Lake,
    settings: &Settings,
    from: Day,
    to: Day,
    raised_at: i64,
) -> Result<Sweep, LakeError> {
    let rules = Rules::of(settings);
    let mut report = Sweep::default();
    let mut new = Vec::new();
    // The days are read and classified [`DAYS_IN_FLIGHT`] at a time (decoding is CPU work, on
    // the runtime's threads), and taken in day order: what is not stored yet is looked up then.
    let mut days = from.through(to);
    let mut reading = std::collections::VecDeque::new();
    loop {
        while reading.len() < DAYS_IN_FLIGHT {
            let Some(day) = days.next() else { break };
            let (lake, rules) = (lake.clone(), rules.clone());
            reading.push_back(tokio::spawn(async move {
                classify_day(&lake, &rules, day)
                    .await
                    .map(|found| (day, found))
            }));
        }
        let Some(next) = reading.pop_front() else {
            break;
        };
        let (day, (events, candidates)) = next.await.expect("classifying a day does not panic")?;
        report.days += 1;
        report.events += events;
        if candidates.is_empty() {
            continue;
        }
        report.found += candidates
            .iter()
            .map(|c| c.id.as_str())
            .collect::<HashSet<_>>()
            .len();
        new.extend(store::unstored(lake, day, candidates).await?);
    }
    // Context for every new exception at once: the month's costs are read once, for their
    // accounts only.
    let raised = with_context(lake, new, raised_at).await?;
    store::write(lake, &raised).await?;
    report.raised = raised;
    Ok(report)
}

/// The sweep of a whole month (what a monthly activity report runs first, so that it lists
/// every exception of the month).
pub async fn sweep_month(
    lake: &Lake,
    settings: &Settings,
    month: spa_core::period::Month,
    raised_at: i64,
) -> Result<Sweep, LakeError> {
    let (first, last) = (Day::of(month.first()), Day::of(month.last()));
    sweep(lake, settings, first, last, raised_at).await
}

/// The sweep of `from..=to`, then with `send` the delivery of every exception stored for those
/// days that the ledger does not hold as sent (new ones, and failed ones again).
pub async fn sweep_and_deliver(
    lake: &Lake,
    settings: &Settings,
    from: Day,
    to: Day,
    send: bool,
    now: i64,
) -> Result<(Sweep, Option<super::deliver::Deliveries>), super::deliver::DeliverError> {
    let report = sweep(lake, settings, from, to, now).await?;
    if !send {
        return Ok((report, None));
    }
    let mut stored = Vec::new();
    for day in from.through(to) {
        stored.extend(store::read(lake, day).await?);
    }
    let deliverer = super::deliver::Deliverer::new(settings, lake);
    let delivered = deliverer.deliver(&stored, now).await?;
    Ok((report, Some(delivered)))
}
