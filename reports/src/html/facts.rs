//! What the HTML pages say beyond the month's sums, read from the lake: cost per cost center
//! and OU over the last twelve months, the largest changes per account and service with what
//! the lake knows about why (lifecycle events, launches in CloudTrail), the month's exceptions,
//! and what the accounts' health is judged on (sign-ins, transitions).
//!
//! Read with Polars whatever the engine of the run (see [`crate::with_extras`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveTime, Utc};
use polars::prelude::*;
use rust_decimal::Decimal;
use spa_core::events::{Activity, LifecycleEvent};
use spa_core::lake::NOT_SPEND;
use spa_core::lake::columns::{
    ACCOUNT_ID, ACTIVITY, ERROR_CODE, EVENT_NAME, EVENT_TIME, RAW, RECORD_TYPE, UNBLENDED,
};
use spa_core::organization::NO_COST_TAG;
use spa_core::period::Month;

use crate::accounts::{AccountInfo, UNKNOWN};
use crate::costs::{Line, MonthCosts};
use crate::data::DataError;
use crate::engine::Datasets;
use crate::exceptions::ExceptionRow;
use crate::frames::{collect, decimals, strings, texts, times};
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
    pub account: String,
    /// Account name.
    pub name: String,
    /// Cost center.
    pub cost_center: String,
    /// OU.
    pub ou: String,
    /// Service.
    pub service: String,
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reason {
    /// When.
    pub time: DateTime<Utc>,
    /// What, in a few words.
    pub text: String,
}

/// Spend per cost center and OU.
pub type GroupSpend = BTreeMap<(String, String), Decimal>;

/// What the pages of a month are made of, beyond the month's sums.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Per month (oldest first, the month itself last), spend per cost center and OU.
    pub history: Vec<(Month, GroupSpend)>,
    /// Every account and service whose amount changed, largest change first.
    pub movers: Vec<Mover>,
    /// What the lake knows about the movers' accounts in the month, per account, in time order.
    pub reasons: BTreeMap<String, Vec<Reason>>,
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
pub(super) fn spend_by_group(lines: &[Line]) -> GroupSpend {
    let mut out = BTreeMap::new();
    for l in lines.iter().filter(|l| l.per_cost_center()) {
        *out.entry((l.cost_center.clone(), l.ou.clone()))
            .or_default() += l.amount;
    }
    out
}

/// Spend per account and service (credits and refunds left out).
fn spend_by_service(lines: &[Line]) -> BTreeMap<(&str, &str), (&Line, Decimal)> {
    let mut out: BTreeMap<(&str, &str), (&Line, Decimal)> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.per_cost_center()) {
        out.entry((l.account.as_str(), l.service.as_str()))
            .or_insert((l, Decimal::ZERO))
            .1 += l.amount;
    }
    out
}

/// Every account and service whose spend changed, largest change (either way) first.
pub fn movers(current: &MonthCosts, previous: Option<&MonthCosts>) -> Vec<Mover> {
    let now = spend_by_service(&current.lines);
    let before = previous
        .map(|p| spend_by_service(&p.lines))
        .unwrap_or_default();
    let keys: BTreeSet<&(&str, &str)> = now.keys().chain(before.keys()).collect();
    let mut out: Vec<Mover> = keys
        .into_iter()
        .filter_map(|key| {
            let (line, current) = now
                .get(key)
                .map_or((None, Decimal::ZERO), |(l, a)| (Some(*l), *a));
            let (old, previous) = before
                .get(key)
                .map_or((None, Decimal::ZERO), |(l, a)| (Some(*l), *a));
            let line = line.or(old)?;
            (current != previous).then(|| Mover {
                account: line.account.clone(),
                name: line.name.clone(),
                cost_center: line.cost_center.clone(),
                ou: line.ou.clone(),
                service: line.service.clone(),
                previous,
                current,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.change()
            .abs()
            .cmp(&a.change().abs())
            .then_with(|| (&a.account, &a.service).cmp(&(&b.account, &b.service)))
    });
    out
}

/// The movers shown: the organization's first ones and each cost center's.
fn shown_movers(movers: &[Mover]) -> BTreeSet<&str> {
    let mut accounts: BTreeSet<&str> = movers
        .iter()
        .take(ORGANIZATION_MOVERS)
        .map(|m| m.account.as_str())
        .collect();
    let mut per_cc: BTreeMap<&str, usize> = BTreeMap::new();
    for m in movers {
        let n = per_cc.entry(m.cost_center.as_str()).or_default();
        if *n < COST_CENTER_MOVERS {
            *n += 1;
            accounts.insert(m.account.as_str());
        }
    }
    accounts
}

/// Spend per account of a month without its lines (older months of the history).
async fn month_spend(
    data: &Datasets<'_>,
    month: Month,
) -> Result<Option<BTreeMap<String, Decimal>>, DataError> {
    let Some(costs) = data.costs(month).await? else {
        return Ok(None);
    };
    let spend = NOT_SPEND
        .iter()
        .map(|t| col(RECORD_TYPE).neq(lit(*t)))
        .reduce(|a, b| a.and(b))
        .expect("NOT_SPEND is not empty");
    let df = collect(
        costs
            .filter(spend)
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
) -> Result<BTreeMap<String, Vec<Reason>>, DataError> {
    let ids: Vec<String> = accounts.iter().map(|a| a.to_string()).collect();
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let lifecycle: Vec<String> = LifecycleEvent::ALL
        .iter()
        .map(|e| Activity::from(*e).to_string())
        .collect();
    let launches = spa_core::events::LAUNCH_EVENTS;
    let filter = lifecycle
        .iter()
        .map(|l| col(ACTIVITY).eq(lit(l.as_str())))
        .chain(std::iter::once(
            launches
                .iter()
                .map(|n| col(EVENT_NAME).eq(lit(*n)))
                .reduce(|a, b| a.or(b))
                .expect("launch event names")
                .and(col(ERROR_CODE).is_null()),
        ))
        .reduce(|a, b| a.or(b))
        .expect("labels");
    let Some(events) = data
        .events(month.first(), month.last(), Some(filter))
        .await?
    else {
        return Ok(BTreeMap::new());
    };
    let wanted = DataFrame::new(
        ids.len(),
        vec![polars::prelude::Column::new(ACCOUNT_ID.into(), ids)],
    )?;
    let frame = events
        .join(
            wanted.lazy(),
            [col(ACCOUNT_ID)],
            [col(ACCOUNT_ID)],
            JoinArgs::new(JoinType::Inner),
        )
        .select([
            col(EVENT_TIME),
            col(ACCOUNT_ID),
            col(ACTIVITY),
            col(EVENT_NAME),
            col(RAW),
        ]);
    let df = collect(frame)?;
    let (time, account) = (times(&df, EVENT_TIME)?, strings(&df, ACCOUNT_ID)?);
    let (activity, raw) = (strings(&df, ACTIVITY)?, strings(&df, RAW)?);
    let mut out: BTreeMap<String, Vec<Reason>> = BTreeMap::new();
    for i in 0..df.height() {
        let (Some(time), Some(account)) = (time[i], account[i].clone()) else {
            continue;
        };
        let launch = raw[i].as_deref().and_then(crate::launches::parse);
        let text = match (&activity[i], launch) {
            (Some(label), _) if lifecycle.contains(label) => label.clone(),
            (_, Some(launch)) => {
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
            _ => continue,
        };
        out.entry(account).or_default().push(Reason { time, text });
    }
    for list in out.values_mut() {
        list.sort();
        list.dedup();
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
    let movers = movers(current, previous);
    let reasons = reasons(data, month, &shown_movers(&movers)).await?;
    let exceptions = crate::exceptions::load(data, month).await?;
    let seen = crate::inventory::seen(data, month.last()).await?;
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
