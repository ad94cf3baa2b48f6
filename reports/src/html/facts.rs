//! What the HTML pages say beyond the month's sums, read from the lake: cost per cost center
//! and OU over the last twelve months, the largest changes per account and service with what
//! the lake knows about why (lifecycle events, launches in CloudTrail), the month's exceptions,
//! and what the accounts' health is judged on (sign-ins, transitions).
//!
//! Read with Polars whatever the engine of the run (see [`crate::extras`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use foldhash::HashMap;

use chrono::{DateTime, NaiveTime, Utc};
use polars::prelude::*;
use rust_decimal::Decimal;
use spa_core::events::{Activity, LifecycleEvent};
use spa_core::lake::columns::{ACCOUNT_ID, ACTIVITY, EVENT_NAME, EVENT_TIME, RAW, UNBLENDED};
use spa_core::organization::NO_COST_TAG;
use spa_core::period::Month;

use crate::accounts::{AccountInfo, UNKNOWN};
use crate::costs::{Line, MonthCosts};
use crate::data::DataError;
use crate::engine::Datasets;
use crate::exceptions::ExceptionRow;
use crate::frames::{borrowed, collect, decimals, texts, times};
use crate::inventory::Seen;

/// Months of history on the charts (the month itself included).
pub const HISTORY_MONTHS: u32 = 12;
/// Movers listed on the organization's page, and on a cost center's.
pub(super) const ORGANIZATION_MOVERS: usize = 15;
pub(super) const COST_CENTER_MOVERS: usize = 10;

/// The change of one account and service against the previous month.
#[derive(Debug, Clone, PartialEq)]
pub struct Mover {
    /// Account id.
    pub account: Arc<str>,
    /// Account name.
    pub name: Arc<str>,
    /// Cost center.
    pub cost_center: Arc<str>,
    /// OU.
    pub ou: Arc<str>,
    /// Service.
    pub service: Arc<str>,
    /// Previous month's amount.
    pub previous: Decimal,
    /// This month's amount.
    pub current: Decimal,
}

impl Mover {
    /// This month's amount less the previous month's.
    pub fn change(&self) -> Decimal {
        self.current - self.previous
    }
}

/// Something the lake recorded about an account during the month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// When.
    pub time: DateTime<Utc>,
    /// What, in a few words.
    pub text: String,
}

/// Spend per cost center and OU.
pub type GroupSpend = BTreeMap<(String, String), Decimal>;

/// What the lake recorded about an account during the month: the first [`REASONS`] things, in
/// time order, and how many more events there were.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reasons {
    /// The first ones.
    pub first: Vec<Reason>,
    /// Lifecycle events and launch calls after them.
    pub more: usize,
}

/// Reasons listed per mover.
pub const REASONS: usize = 3;

/// What the pages of a month are made of, beyond the month's sums.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Per month (oldest first, the month itself last), spend per cost center and OU.
    pub history: Vec<(Month, GroupSpend)>,
    /// The accounts and services whose amount changed.
    pub movers: Movers,
    /// What the lake knows about the movers' accounts in the month, per account, in time order.
    pub reasons: BTreeMap<String, Reasons>,
    /// The month's exceptions.
    pub exceptions: Vec<ExceptionRow>,
    /// The accounts at the month's end.
    pub accounts: BTreeMap<String, AccountInfo>,
    /// Last sign-in and transition per account up to the month's end.
    pub seen: BTreeMap<String, Seen>,
    /// The moment health is judged at: the month's end, or now when the month is not over.
    pub at: DateTime<Utc>,
}

/// Spend per (cost center, OU) of `lines` (credits and refunds left out, as on the cost
/// centers' rows).
fn spend_by_group(lines: &[Line]) -> GroupSpend {
    let mut sums: HashMap<(&str, &str), Decimal> = HashMap::default();
    for l in lines.iter().filter(|l| l.per_cost_center()) {
        *sums
            .entry((l.cost_center.as_ref(), l.ou.as_ref()))
            .or_default() += l.amount;
    }
    sums.into_iter()
        .map(|((cc, ou), amount)| ((cc.to_string(), ou.to_string()), amount))
        .collect()
}

/// Spend per account and service (credits and refunds left out).
fn spend_by_service(lines: &[Line]) -> HashMap<(&str, &str), (&Line, Decimal)> {
    let mut out: HashMap<(&str, &str), (&Line, Decimal)> = HashMap::default();
    for l in lines.iter().filter(|l| l.per_cost_center()) {
        out.entry((l.account.as_ref(), l.service.as_ref()))
            .or_insert((l, Decimal::ZERO))
            .1 += l.amount;
    }
    out
}

/// The accounts and services whose spend changed: the ones the pages show (the organization's
/// first [`ORGANIZATION_MOVERS`] and each cost center's first [`COST_CENTER_MOVERS`], largest
/// change either way first), and how many there are in all.
#[derive(Debug, Clone, Default)]
pub struct Movers {
    /// The movers shown, largest change first.
    pub shown: Vec<Mover>,
    /// Per cost center, how many changed.
    pub per_center: BTreeMap<Arc<str>, usize>,
    /// How many changed in the organization.
    pub all: usize,
}

/// Every account and service whose spend changed, ranked; see [`Movers`].
pub fn movers(current: &MonthCosts, previous: Option<&MonthCosts>) -> Movers {
    let now = spend_by_service(&current.lines);
    let before = previous
        .map(|p| spend_by_service(&p.lines))
        .unwrap_or_default();
    let mut changed: Vec<(&Line, Decimal, Decimal)> = now
        .iter()
        .map(|(key, (line, amount))| {
            let was = before.get(key).map_or(Decimal::ZERO, |(_, a)| *a);
            (*line, was, *amount)
        })
        .chain(
            before
                .iter()
                .filter(|(key, _)| !now.contains_key(*key))
                .map(|(_, (line, was))| (*line, *was, Decimal::ZERO)),
        )
        .filter(|(_, was, is)| was != is)
        .collect();
    changed.sort_unstable_by(|a, b| {
        (b.2 - b.1)
            .abs()
            .cmp(&(a.2 - a.1).abs())
            .then_with(|| (&a.0.account, &a.0.service).cmp(&(&b.0.account, &b.0.service)))
    });
    let mut out = Movers {
        all: changed.len(),
        ..Movers::default()
    };
    for (k, (line, previous, current)) in changed.into_iter().enumerate() {
        let n = out.per_center.entry(line.cost_center.clone()).or_default();
        *n += 1;
        if k < ORGANIZATION_MOVERS || *n <= COST_CENTER_MOVERS {
            out.shown.push(Mover {
                account: line.account.clone(),
                name: line.name.clone(),
                cost_center: line.cost_center.clone(),
                ou: line.ou.clone(),
                service: line.service.clone(),
                previous,
                current,
            });
        }
    }
    out
}

/// Spend per account of a month without its lines (older months of the history).
async fn month_spend(
    data: &Datasets<'_>,
    month: Month,
) -> Result<Option<BTreeMap<String, Decimal>>, DataError> {
    let Some(costs) = data.costs(month).await? else {
        return Ok(None);
    };
    let df = collect(
        costs
            .filter(crate::costs::is_spend())
            .group_by([col(ACCOUNT_ID)])
            .agg([col(UNBLENDED).sum()]),
    )?;
    let (ids, amounts) = (texts(&df, ACCOUNT_ID)?, decimals(&df, UNBLENDED)?);
    Ok(Some(
        ids.into_iter()
            .zip(amounts)
            .map(|(id, a)| (id, a.unwrap_or_default()))
            .collect(),
    ))
}

/// The lifecycle events and successful launch calls of `accounts` during `month`.
async fn reasons(
    data: &Datasets<'_>,
    month: Month,
    accounts: &BTreeSet<&str>,
) -> Result<BTreeMap<String, Reasons>, DataError> {
    let ids: Vec<String> = accounts.iter().map(|a| a.to_string()).collect();
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let lifecycle = LifecycleEvent::ALL.map(Activity::from);
    let filter = crate::activities::labelled(&lifecycle).or(crate::launches::succeeded());
    let Some(events) = data
        .events_of(month.first(), month.last(), Some(filter), Some(ids))
        .await?
    else {
        return Ok(BTreeMap::new());
    };
    let frame = events.select([
        col(EVENT_TIME),
        col(ACCOUNT_ID),
        col(ACTIVITY),
        col(EVENT_NAME),
        col(RAW),
    ]);
    let started = std::time::Instant::now();
    let df = collect(frame)?;
    tracing::debug!(
        rows = df.height(),
        seconds = started.elapsed().as_secs_f64(),
        "reasons' events read"
    );
    let (time, account) = (times(&df, EVENT_TIME)?, borrowed(&df, ACCOUNT_ID)?);
    let (activity, raw) = (borrowed(&df, ACTIVITY)?, borrowed(&df, RAW)?);
    // Per account in time order; only the first few are read (a launch call's JSON parsed), the
    // rest counted.
    let mut rows: Vec<(&str, DateTime<Utc>, usize)> = (0..df.height())
        .filter_map(|i| Some((account[i]?, time[i]?, i)))
        .collect();
    rows.sort_unstable();
    let mut out: BTreeMap<String, Reasons> = BTreeMap::new();
    for (id, at, i) in rows {
        let reasons = out.entry(id.to_string()).or_default();
        if reasons.first.len() >= REASONS {
            reasons.more += 1;
            continue;
        }
        let text = match activity[i] {
            Some(label) if lifecycle.iter().any(|l| l.as_str() == label) => label.to_string(),
            _ => match raw[i].and_then(crate::launches::parse) {
                Some(launch) => {
                    let what: Vec<String> = launch
                        .launched
                        .iter()
                        .map(|l| format!("{} {}", l.count, l.key))
                        .collect();
                    let what = if what.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", what.join(", "))
                    };
                    format!(
                        "{}{what} in {} by {}",
                        launch.event, launch.region, launch.actor
                    )
                }
                None => continue,
            },
        };
        let reason = Reason { time: at, text };
        if reasons.first.last() != Some(&reason) {
            reasons.first.push(reason);
        }
    }
    Ok(out)
}

/// Reads what the pages of `month` need besides `current` and `previous`.
/// `accounts`: the snapshot at the month's end.
pub async fn load(
    data: &Datasets<'_>,
    month: Month,
    current: &MonthCosts,
    previous: Option<&MonthCosts>,
    accounts: BTreeMap<String, AccountInfo>,
) -> Result<Facts, DataError> {
    let started = std::time::Instant::now();
    let step = |what: &str| {
        tracing::debug!(
            step = what,
            seconds = started.elapsed().as_secs_f64(),
            "pages' facts"
        )
    };
    let mut history = Vec::new();
    // Oldest first: the 10 months before the previous one are read here; the previous month
    // and this one are already summed in their lines.
    let mut m = month;
    for _ in 1..HISTORY_MONTHS {
        m = m.previous();
    }
    for _ in 2..HISTORY_MONTHS {
        if let Some(spend) = month_spend(data, m).await? {
            let (_, known) = crate::accounts::load(data, m.last()).await?;
            let mut groups = GroupSpend::new();
            for (id, amount) in spend {
                let (cc, ou) = known.get(&id).map_or_else(
                    || (NO_COST_TAG.to_string(), UNKNOWN.to_string()),
                    |a| (a.cost_center.clone(), a.ou.clone()),
                );
                *groups.entry((cc, ou)).or_default() += amount;
            }
            history.push((m, groups));
        }
        m = m.next();
    }
    if let Some(p) = previous {
        history.push((month.previous(), spend_by_group(&p.lines)));
    }
    history.push((month, spend_by_group(&current.lines)));
    step("history");
    let movers = movers(current, previous);
    step("movers");
    let shown: BTreeSet<&str> = movers.shown.iter().map(|m| m.account.as_ref()).collect();
    let reasons = reasons(data, month, &shown).await?;
    step("reasons");
    let exceptions = crate::exceptions::load(data, month).await?;
    step("exceptions");
    let seen = crate::inventory::seen(data, month.last()).await?;
    step("sign-ins and transitions");
    let end = month
        .last()
        .and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("valid time"))
        .and_utc();
    Ok(Facts {
        history,
        movers,
        reasons,
        exceptions,
        accounts,
        seen,
        at: end.min(Utc::now()),
    })
}
