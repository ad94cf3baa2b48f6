//! The daily spend run: every account's and cost center's spend on a day, month to date, the
//! trailing days and the same-day estimate of what was launched, checked against their spend
//! thresholds ([`spa_core::spend::decide`]); each alert with what drove it (the day's top
//! services against their trailing mean, the day's launches) as a [`Notice`]; and the day's
//! CSV and workbook under `reporting.spend_prefix`.
//!
//! It reads the lake with Polars on this machine (the costs of the day's month, and of the
//! month before in the first week, the accounts snapshot of the day, the day's launch events).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, TimeDelta};
use polars::prelude::*;
use rust_decimal::Decimal;
use spa_core::Settings;
use spa_core::events::ExceptionLabel;
use spa_core::lake::NOT_SPEND;
use spa_core::lake::columns::{
    ACCOUNT_ID, ACCOUNT_NAME, DAY, ERROR_CODE, EVENT_NAME, EVENT_TIME, LABEL, MESSAGE, RAW,
    RECORD_TYPE, SERVICE, UNBLENDED,
};
use spa_core::period::{Day, Month};
use spa_core::settings::SpendLimits;
use spa_core::spend::{Alert, Figures, Kind, Notice, Scope, TRAILING_DAYS, decide};

use crate::accounts::{self, AccountInfo};
use crate::data::DataError;
use crate::engine::Datasets;
use crate::frames::{collect, decimals, texts, times};
use crate::launches::{self, Launch, Prices};
use crate::report::{ALL, Family, Report};
use crate::table::{Cell, Column, Kind as CellKind, Row, Table};

/// What the daily run could not do.
#[derive(Debug, thiserror::Error)]
pub enum DailyError {
    /// Reading the lake.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Days of the month before the day evaluated that the lake holds no costs for.
    #[error(
        "the lake {lake} has no costs for {days} (needed for the month to date of {day}); fill them with `cargo run -p ingest -- costs --day {last}`"
    )]
    MissingDays {
        /// The lake.
        lake: String,
        /// The missing days, as ranges.
        days: String,
        /// The day evaluated.
        day: Day,
        /// The last day to fetch.
        last: Day,
    },
}

impl From<PolarsError> for DailyError {
    fn from(e: PolarsError) -> Self {
        DailyError::Data(DataError::from(e))
    }
}

/// A launch of the day, priced.
#[derive(Debug, Clone, PartialEq)]
pub struct Priced {
    /// The launch.
    pub launch: Launch,
    /// Estimated spend per day (USD) of what has a price.
    pub per_day: Decimal,
    /// What it started that the table does not price.
    pub unpriced: Vec<String>,
}

/// A service's spend on the day against its trailing mean.
#[derive(Debug, Clone, PartialEq)]
pub struct Driver {
    /// Service.
    pub service: String,
    /// Spend on the day.
    pub day: Decimal,
    /// Mean over the trailing days the lake holds.
    pub mean: Decimal,
}

/// One scope's day: who it is, its thresholds, its figures and alerts.
#[derive(Debug, Clone)]
pub struct ScopeDay {
    /// Account or cost center.
    pub scope: Scope,
    /// The account as the snapshot knows it (cost centers: only `cost_center`).
    pub info: AccountInfo,
    /// Thresholds.
    pub limits: SpendLimits,
    /// Figures.
    pub figures: Figures,
    /// Alerts decided.
    pub alerts: Vec<Alert>,
}

/// What the run found.
#[derive(Debug, Clone)]
pub struct Daily {
    /// The day evaluated.
    pub day: Day,
    /// Whether the lake holds Cost Explorer's figures for the day (else only launch estimates
    /// are checked).
    pub day_in_costs: bool,
    /// Accounts with spend this month or a launch today, by id.
    pub accounts: Vec<ScopeDay>,
    /// Cost centers, by name.
    pub centers: Vec<ScopeDay>,
    /// The day's launches, priced.
    pub launches: Vec<Priced>,
    /// Every alert with its message, largest amount first.
    pub notices: Vec<Notice>,
    /// The day's budget notifications and billing alarms, as the exceptions path stored them
    /// (`BudgetAlert`: delivered on their own, listed here, never raised again).
    pub budget_alerts: Vec<BudgetRow>,
}

/// A `BudgetAlert` exception of the day.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetRow {
    /// When its event happened.
    pub time: chrono::DateTime<chrono::Utc>,
    /// The account.
    pub account: String,
    /// Its name when raised.
    pub name: String,
    /// What the notification or alarm said.
    pub message: String,
}

/// The `BudgetAlert` exceptions stored for `day`.
async fn budget_alerts(data: &Datasets<'_>, day: Day) -> Result<Vec<BudgetRow>, DailyError> {
    let Some(frame) = data.exceptions(day.month()).await? else {
        return Ok(Vec::new());
    };
    let df = collect(
        frame
            .filter(col(LABEL).eq(lit(ExceptionLabel::BudgetAlert.to_string())))
            .select([
                col(EVENT_TIME),
                col(ACCOUNT_ID),
                col(ACCOUNT_NAME),
                col(MESSAGE),
            ]),
    )?;
    let times = times(&df, EVENT_TIME)?;
    let (ids, names, messages) = (
        texts(&df, ACCOUNT_ID)?,
        texts(&df, ACCOUNT_NAME)?,
        texts(&df, MESSAGE)?,
    );
    let mut out: Vec<BudgetRow> = (0..df.height())
        .filter_map(|i| {
            let time = times[i]?;
            (time.date_naive() == day.date()).then(|| BudgetRow {
                time,
                account: ids[i].clone(),
                name: names[i].clone(),
                message: messages[i].clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.account.cmp(&b.account)));
    Ok(out)
}

impl Daily {
    /// Lines for the command's output.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.day_in_costs {
            out.push(format!(
                "the lake has no Cost Explorer figures for {} yet: only the launch estimates were checked",
                self.day
            ));
        }
        for n in &self.notices {
            out.push(format!(
                "{} {}: {} USD (threshold {})",
                n.alert.scope,
                n.alert.kind,
                money(n.alert.amount),
                n.alert.threshold
            ));
        }
        for b in &self.budget_alerts {
            out.push(format!(
                "budget alert (an exception of its own) for {} ({}): {}",
                b.account, b.name, b.message
            ));
        }
        let total: Decimal = self.accounts.iter().map(|a| a.figures.spend).sum();
        out.push(format!(
            "{}: {} accounts, {} cost centers, spend {} USD, {} launches, {} alerts, {} budget alerts",
            self.day,
            self.accounts.len(),
            self.centers.len(),
            money(total),
            self.launches.len(),
            self.notices.len(),
            self.budget_alerts.len()
        ));
        out
    }
}

/// An amount for a message: two decimals.
fn money(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

/// `NOT_SPEND` as a Polars predicate on the record type.
fn is_spend() -> Expr {
    NOT_SPEND
        .iter()
        .map(|t| col(RECORD_TYPE).neq(lit(*t)))
        .reduce(|a, b| a.and(b))
        .expect("NOT_SPEND is not empty")
}

/// Per account and day, spend (USD) through `until`, and the days the costs hold.
struct DaySpend {
    by_account: BTreeMap<String, BTreeMap<NaiveDate, Decimal>>,
    held: BTreeSet<NaiveDate>,
}

async fn day_spend(
    data: &Datasets<'_>,
    month: Month,
    until: NaiveDate,
    out: &mut DaySpend,
) -> Result<(), DailyError> {
    let Some(costs) = data.costs(month).await? else {
        return Ok(());
    };
    // Filtered and grouped on the date itself; only the sums' days become text.
    let frame = costs
        .select([
            col(DAY),
            col(ACCOUNT_ID),
            is_spend().alias("spend"),
            col(UNBLENDED),
        ])
        .filter(col(DAY).lt_eq(lit(until)))
        .group_by([col(ACCOUNT_ID), col(DAY), col("spend")])
        .agg([col(UNBLENDED).sum()])
        .with_column(col(DAY).cast(DataType::String));
    let df = collect(frame)?;
    let (ids, days, amounts) = (
        texts(&df, ACCOUNT_ID)?,
        texts(&df, DAY)?,
        decimals(&df, UNBLENDED)?,
    );
    let spend = df.column("spend")?.bool()?.clone();
    for i in 0..df.height() {
        let Ok(day) = days[i].parse::<NaiveDate>() else {
            continue;
        };
        out.held.insert(day);
        if spend.get(i) == Some(true) {
            *out.by_account
                .entry(ids[i].clone())
                .or_default()
                .entry(day)
                .or_default() += amounts[i].unwrap_or_default();
        }
    }
    Ok(())
}

/// One service of one account: its spend on the day, and summed over the trailing days.
#[derive(Debug, Clone, Default)]
struct ServiceDays {
    day: Decimal,
    trailing: Decimal,
}

/// Per account of `accounts`, per service: spend on `day` and summed over `from..day`.
async fn service_spend(
    data: &Datasets<'_>,
    months: &[Month],
    from: NaiveDate,
    day: NaiveDate,
    accounts: &BTreeSet<String>,
) -> Result<BTreeMap<String, BTreeMap<String, ServiceDays>>, DailyError> {
    let mut out: BTreeMap<String, BTreeMap<String, ServiceDays>> = BTreeMap::new();
    if accounts.is_empty() {
        return Ok(out);
    }
    let wanted = DataFrame::new(
        accounts.len(),
        vec![polars::prelude::Column::new(
            ACCOUNT_ID.into(),
            accounts.iter().cloned().collect::<Vec<String>>(),
        )],
    )?;
    for month in months {
        let Some(costs) = data.costs(*month).await? else {
            continue;
        };
        // Two sums per account and service: the day's, and the trailing days'.
        let frame = costs
            .filter(
                col(DAY)
                    .gt_eq(lit(from))
                    .and(col(DAY).lt_eq(lit(day)))
                    .and(is_spend()),
            )
            .select([col(DAY), col(ACCOUNT_ID), col(SERVICE), col(UNBLENDED)])
            .join(
                wanted.clone().lazy(),
                [col(ACCOUNT_ID)],
                [col(ACCOUNT_ID)],
                JoinArgs::new(JoinType::Inner),
            )
            .group_by([
                col(ACCOUNT_ID),
                col(SERVICE),
                col(DAY).eq(lit(day)).alias("today"),
            ])
            .agg([col(UNBLENDED).sum()]);
        let df = collect(frame)?;
        let (ids, services, amounts) = (
            texts(&df, ACCOUNT_ID)?,
            texts(&df, SERVICE)?,
            decimals(&df, UNBLENDED)?,
        );
        let today = df.column("today")?.bool()?.clone();
        for i in 0..df.height() {
            let entry = out
                .entry(ids[i].clone())
                .or_default()
                .entry(services[i].clone())
                .or_default();
            let amount = amounts[i].unwrap_or_default();
            if today.get(i) == Some(true) {
                entry.day += amount;
            } else {
                entry.trailing += amount;
            }
        }
    }
    Ok(out)
}

/// The day's successful launch calls, priced.
async fn launches_of(
    data: &Datasets<'_>,
    day: NaiveDate,
    prices: &Prices,
) -> Result<Vec<Priced>, DailyError> {
    let named = launches::EVENT_NAMES
        .iter()
        .map(|n| col(EVENT_NAME).eq(lit(*n)))
        .reduce(|a, b| a.or(b))
        .expect("launch event names");
    let filter = named.and(col(ERROR_CODE).is_null());
    let Some(frame) = data.events(day, day, Some(filter)).await? else {
        return Ok(Vec::new());
    };
    let df = collect(frame.select([col(RAW)]))?;
    let mut out: Vec<Priced> = texts(&df, RAW)?
        .iter()
        .filter_map(|raw| launches::parse(raw))
        .map(|launch| {
            let (per_day, unpriced) = prices.per_day(&launch);
            Priced {
                launch,
                per_day,
                unpriced,
            }
        })
        .collect();
    out.sort_by(|a, b| a.launch.time.cmp(&b.launch.time));
    Ok(out)
}

/// Days as ranges: `2026-10-03, 2026-10-07..2026-10-09`.
fn ranges(days: &[NaiveDate]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < days.len() {
        let mut j = i;
        while j + 1 < days.len() && days[j + 1] == days[j] + TimeDelta::days(1) {
            j += 1;
        }
        out.push(if i == j {
            days[i].to_string()
        } else {
            format!("{}..{}", days[i], days[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

/// Runs the day: figures, alerts and their notices.
pub async fn run(settings: &Settings, data: &Datasets<'_>, day: Day) -> Result<Daily, DailyError> {
    let started = std::time::Instant::now();
    let date = day.date();
    let month = day.month();
    let first_trailing = date - TimeDelta::days(TRAILING_DAYS as i64);
    let mut months = vec![month];
    if Month::of(first_trailing) != month {
        months.insert(0, month.previous());
    }
    let mut spend = DaySpend {
        by_account: BTreeMap::new(),
        held: BTreeSet::new(),
    };
    for m in &months {
        day_spend(data, *m, date, &mut spend).await?;
    }
    let missing: Vec<NaiveDate> = month
        .first()
        .iter_days()
        .take_while(|d| *d < date)
        .filter(|d| !spend.held.contains(d))
        .collect();
    if !missing.is_empty() {
        return Err(DailyError::MissingDays {
            lake: data.lake().location().to_string(),
            days: ranges(&missing),
            day,
            last: day,
        });
    }
    let day_in_costs = spend.held.contains(&date);
    let (_, known) = accounts::load(data, date).await?;
    let prices = Prices::with(&settings.reporting.launch_prices);
    let launches = launches_of(data, date, &prices).await?;

    // Every account with spend in the window, a launch today, or in the snapshot.
    let mut ids: BTreeSet<String> = spend.by_account.keys().cloned().collect();
    ids.extend(launches.iter().map(|l| l.launch.account.clone()));
    let trailing_days: Vec<NaiveDate> = (1..=TRAILING_DAYS as i64)
        .rev()
        .map(|k| date - TimeDelta::days(k))
        .filter(|d| spend.held.contains(d))
        .collect();
    let mut accounts_out = Vec::new();
    let mut centers: BTreeMap<String, Figures> = BTreeMap::new();
    for id in &ids {
        let info = known.get(id).cloned().unwrap_or_else(AccountInfo::unknown);
        let days = spend.by_account.get(id);
        let on = |d: &NaiveDate| days.and_then(|m| m.get(d)).copied().unwrap_or_default();
        let estimate: Option<Decimal> = launches
            .iter()
            .filter(|l| &l.launch.account == id)
            .map(|l| l.per_day)
            .reduce(|a, b| a + b);
        let figures = Figures {
            day,
            spend: on(&date),
            month_to_date: days
                .map(|m| {
                    m.range(month.first()..=date)
                        .map(|(_, v)| *v)
                        .sum::<Decimal>()
                })
                .unwrap_or_default(),
            trailing: trailing_days.iter().map(on).collect(),
            estimate,
        };
        let center = centers
            .entry(info.cost_center.clone())
            .or_insert_with(|| Figures {
                day,
                spend: Decimal::ZERO,
                month_to_date: Decimal::ZERO,
                trailing: vec![Decimal::ZERO; trailing_days.len()],
                estimate: None,
            });
        center.spend += figures.spend;
        center.month_to_date += figures.month_to_date;
        for (sum, v) in center.trailing.iter_mut().zip(&figures.trailing) {
            *sum += *v;
        }
        if let Some(e) = figures.estimate {
            center.estimate = Some(center.estimate.unwrap_or_default() + e);
        }
        let limits = match (id.parse(), info.ou_id.parse().ok()) {
            (Ok(account), ou) => settings.spend_limits(&account, ou.as_ref()),
            (Err(_), _) => SpendLimits::merge([&settings.defaults.spend]),
        };
        accounts_out.push(ScopeDay {
            scope: Scope::Account(id.clone()),
            info,
            limits,
            figures,
            alerts: Vec::new(),
        });
    }
    let mut centers_out: Vec<ScopeDay> = centers
        .into_iter()
        .map(|(name, figures)| ScopeDay {
            scope: Scope::CostCenter(name.clone()),
            info: AccountInfo {
                cost_center: name.clone(),
                ..AccountInfo::default()
            },
            limits: settings.cost_center_limits(&name),
            figures,
            alerts: Vec::new(),
        })
        .collect();
    let rates = &settings.features.extra_currencies;
    for s in accounts_out.iter_mut().chain(centers_out.iter_mut()) {
        // Without the day's costs only the launch estimate can be judged.
        let limits = if day_in_costs {
            s.limits.clone()
        } else {
            SpendLimits {
                daily_limit: s.limits.daily_limit.clone(),
                ..SpendLimits::default()
            }
        };
        s.alerts = decide(&s.scope, &limits, rates, &s.figures);
    }

    // What drove each alert: the day's services of the accounts concerned.
    let mut concerned: BTreeSet<String> = BTreeSet::new();
    for s in &accounts_out {
        if !s.alerts.is_empty() {
            concerned.insert(id_of(&s.scope).to_string());
        }
    }
    let alerted_centers: BTreeSet<&str> = centers_out
        .iter()
        .filter(|c| !c.alerts.is_empty())
        .map(|c| c.info.cost_center.as_str())
        .collect();
    for s in &accounts_out {
        if alerted_centers.contains(s.info.cost_center.as_str()) {
            concerned.insert(id_of(&s.scope).to_string());
        }
    }
    let decided = started.elapsed();
    let services = service_spend(data, &months, first_trailing, date, &concerned).await?;
    let drivers = started.elapsed();
    let drivers_of = |accounts: &BTreeSet<&str>| -> Vec<Driver> {
        let mut by_service: BTreeMap<&str, (Decimal, Decimal)> = BTreeMap::new();
        for account in accounts {
            for (service, days) in services.get(*account).into_iter().flatten() {
                let entry = by_service.entry(service.as_str()).or_default();
                entry.0 += days.day;
                entry.1 += days.trailing;
            }
        }
        let n = Decimal::from(trailing_days.len().max(1));
        let mut out: Vec<Driver> = by_service
            .into_iter()
            .map(|(service, (day, trailing))| Driver {
                service: service.to_string(),
                day,
                mean: (trailing / n).round_dp(12),
            })
            .filter(|d| !d.day.is_zero())
            .collect();
        out.sort_by(|a, b| b.day.cmp(&a.day).then_with(|| a.service.cmp(&b.service)));
        out.truncate(5);
        out
    };
    let mut members_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for a in &accounts_out {
        members_of
            .entry(a.info.cost_center.as_str())
            .or_default()
            .insert(id_of(&a.scope));
    }
    let mut launches_of: BTreeMap<&str, Vec<&Priced>> = BTreeMap::new();
    for l in &launches {
        launches_of
            .entry(l.launch.account.as_str())
            .or_default()
            .push(l);
    }
    let mut notices = Vec::new();
    for s in accounts_out.iter().chain(&centers_out) {
        if s.alerts.is_empty() {
            continue;
        }
        let members: BTreeSet<&str> = match &s.scope {
            Scope::Account(id) => BTreeSet::from([id.as_str()]),
            Scope::CostCenter(name) => members_of.get(name.as_str()).cloned().unwrap_or_default(),
        };
        let drivers = drivers_of(&members);
        let launched: Vec<&Priced> = members
            .iter()
            .flat_map(|m| launches_of.get(m).into_iter().flatten().copied())
            .collect();
        for alert in &s.alerts {
            notices.push(notice(s, alert, &drivers, &launched, day));
        }
    }
    notices.sort_by(|a, b| {
        b.alert
            .amount
            .cmp(&a.alert.amount)
            .then_with(|| a.alert.key().cmp(&b.alert.key()))
    });
    tracing::info!(
        figures_and_decisions_ms = decided.as_millis() as u64,
        drivers_ms = (drivers - decided).as_millis() as u64,
        notices_ms = (started.elapsed() - drivers).as_millis() as u64,
        "daily run"
    );
    accounts_out.retain(|a| {
        !a.figures.month_to_date.is_zero()
            || a.figures.estimate.is_some()
            || !a.figures.trailing.iter().all(Decimal::is_zero)
    });
    let budget_alerts = budget_alerts(data, day).await?;
    Ok(Daily {
        day,
        day_in_costs,
        accounts: accounts_out,
        centers: centers_out,
        launches,
        notices,
        budget_alerts,
    })
}

fn id_of(scope: &Scope) -> &str {
    match scope {
        Scope::Account(id) | Scope::CostCenter(id) => id,
    }
}

/// The start of `day` in UTC microseconds.
fn start_of(day: Day) -> i64 {
    day.date()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_micros()
}

/// An alert's notice: the message a human reads (what, how much, the threshold, what drove
/// it, what to do) and who the scope is.
fn notice(
    s: &ScopeDay,
    alert: &Alert,
    drivers: &[Driver],
    launched: &[&Priced],
    day: Day,
) -> Notice {
    let who = match &s.scope {
        Scope::Account(id) => {
            if s.info.name.is_empty() {
                format!("account {id}")
            } else {
                format!("account {id} ({})", s.info.name)
            }
        }
        Scope::CostCenter(name) => format!("cost center {name}"),
    };
    let f = &s.figures;
    let mut lines = vec![match alert.kind {
        Kind::DailyLimit => format!(
            "Spend of {who} on {day}: {} USD, above the daily limit of {}.",
            money(alert.amount),
            alert.threshold
        ),
        Kind::MonthlyBudget => format!(
            "Spend of {who} this month through {day}: {} USD, above {} % of the monthly budget ({}).",
            money(alert.amount),
            alert.step.unwrap_or(100),
            alert.threshold
        ),
        Kind::Forecast => format!(
            "Forecast for {who} in {}: {} USD at this month's daily rate so far ({} USD in {} days), above the monthly budget of {}. This is a forecast: not spent yet.",
            day.month(),
            money(alert.amount),
            money(f.month_to_date),
            day.date().day(),
            alert.threshold
        ),
        Kind::Jump => format!(
            "Spend of {who} on {day}: {} USD, against a mean of {} USD over the {} days before.",
            money(alert.amount),
            money(alert.mean.unwrap_or_default()),
            f.trailing.len()
        ),
        Kind::Estimate => format!(
            "Resources launched in {who} on {day} cost about {} USD per day at on-demand prices (an estimate from CloudTrail: Cost Explorer has not shown them yet), above the daily limit of {}.",
            money(alert.amount),
            alert.threshold
        ),
    }];
    if !drivers.is_empty() {
        lines.push(
            "What drove it (the day's top services, against their mean over the days before):"
                .into(),
        );
        for d in drivers {
            let change = if d.mean.is_zero() {
                "new".to_string()
            } else {
                format!(
                    "{:+} %",
                    ((d.day - d.mean) / d.mean * Decimal::ONE_HUNDRED).round_dp(0)
                )
            };
            lines.push(format!(
                "- {}: {} USD (mean {} USD, {change})",
                d.service,
                money(d.day),
                money(d.mean)
            ));
        }
    }
    if !launched.is_empty() {
        lines.push("Launched that day (CloudTrail):".into());
        for l in launched {
            let what: Vec<String> = l
                .launch
                .launched
                .iter()
                .map(|x| format!("{} x {}", x.count, x.key))
                .collect();
            lines.push(format!(
                "- {} {} in {} at {} by {}: about {} USD per day{}",
                l.launch.event,
                what.join(", "),
                l.launch.region,
                l.launch.time,
                l.launch.actor,
                money(l.per_day),
                if l.unpriced.is_empty() {
                    String::new()
                } else {
                    format!(" (no price for {})", l.unpriced.join(", "))
                }
            ));
        }
    }
    lines.push(
        "What to do: look at what runs in the account (the services and launches above), stop or resize what is not needed; if the spend is expected, ask FinOps to raise the threshold (settings.yaml, spend)."
            .into(),
    );
    let first = launched.first();
    let account = matches!(s.scope, Scope::Account(_));
    let some = |v: &str| (account && !v.is_empty()).then(|| v.to_string());
    Notice {
        alert: alert.clone(),
        message: lines.join("\n"),
        name: some(&s.info.name),
        email: some(&s.info.email),
        holder: some(&s.info.holder),
        cost_center: Some(s.info.cost_center.clone()).filter(|c| !c.is_empty()),
        ou: some(&s.info.ou),
        region: (alert.kind == Kind::Estimate)
            .then(|| first.map(|l| l.launch.region.clone()))
            .flatten(),
        actor: (alert.kind == Kind::Estimate)
            .then(|| first.map(|l| l.launch.actor.clone()))
            .flatten(),
        time: match (alert.kind, first) {
            (Kind::Estimate, Some(l)) => chrono::DateTime::parse_from_rfc3339(&l.launch.time)
                .map(|t| t.timestamp_micros())
                .unwrap_or_else(|_| start_of(day)),
            _ => start_of(day),
        },
    }
}

/// The day's CSV and workbook (the organization's: `all`): alerts, accounts, cost centers and
/// launches.
pub fn reports(daily: &Daily) -> Vec<Report> {
    let limit = |a: &Option<spa_core::settings::Amount>| {
        a.as_ref()
            .map_or(Cell::Empty, |a| Cell::Text(a.to_string()))
    };
    let mut alerts = Table::new(
        "Alerts",
        vec![
            Column::text("Scope"),
            Column::text("Account"),
            Column::text("Name"),
            Column::text("Cost Center"),
            Column::text("Threshold kind"),
            Column::of("Amount (USD)", CellKind::Number),
            Column::text("Threshold"),
            Column::text("Message"),
        ],
    );
    alerts.totals = false;
    for n in &daily.notices {
        let (scope, account) = match &n.alert.scope {
            Scope::Account(id) => ("account", id.clone()),
            Scope::CostCenter(_) => ("cost center", String::new()),
        };
        alerts.rows.push(Row::new(vec![
            scope.into(),
            account.into(),
            n.name.clone().unwrap_or_default().into(),
            n.cost_center.clone().unwrap_or_default().into(),
            n.alert.kind.as_str().into(),
            Cell::Decimal(n.alert.amount),
            n.alert.threshold.to_string().into(),
            n.message.clone().into(),
        ]));
    }
    let figures_columns = |first: Vec<Column>| {
        let mut columns = first;
        columns.extend([
            Column::money("Spend", "USD"),
            Column::money("Estimate (launches)", "USD"),
            Column::of("Trailing mean", CellKind::Number),
            Column::money("Month to date", "USD"),
            Column::of("Forecast", CellKind::Number),
            Column::text("Daily limit"),
            Column::text("Monthly budget"),
            Column::text("Alerts"),
        ]);
        columns
    };
    let figures_cells = |s: &ScopeDay| -> Vec<Cell> {
        let f = &s.figures;
        vec![
            Cell::Decimal(f.spend),
            f.estimate.map_or(Cell::Empty, Cell::Decimal),
            f.trailing_mean()
                .map_or(Cell::Empty, |m| Cell::Decimal(m.round_dp(12))),
            Cell::Decimal(f.month_to_date),
            Cell::Decimal(f.forecast()),
            limit(&s.limits.daily_limit),
            limit(&s.limits.monthly_budget),
            s.alerts
                .iter()
                .map(|a| a.kind.as_str())
                .collect::<Vec<_>>()
                .join(" ")
                .into(),
        ]
    };
    let mut accounts = Table::new(
        "Accounts",
        figures_columns(vec![
            Column::text("Account"),
            Column::text("Name"),
            Column::text("Cost Center"),
            Column::text("Organizational Unit"),
        ]),
    );
    for s in &daily.accounts {
        let mut cells: Vec<Cell> = vec![
            id_of(&s.scope).into(),
            s.info.name.clone().into(),
            s.info.cost_center.clone().into(),
            s.info.ou.clone().into(),
        ];
        cells.extend(figures_cells(s));
        accounts.rows.push(Row::new(cells));
    }
    let mut centers = Table::new(
        "Cost Centers",
        figures_columns(vec![Column::text("Cost Center")]),
    );
    for s in &daily.centers {
        let mut cells: Vec<Cell> = vec![s.info.cost_center.clone().into()];
        cells.extend(figures_cells(s));
        centers.rows.push(Row::new(cells));
    }
    let mut launched = Table::new(
        "Launches",
        vec![
            Column::text("Time"),
            Column::text("Account"),
            Column::text("Region"),
            Column::text("Event"),
            Column::text("Started"),
            Column::text("By"),
            Column::money("Estimate per day", "USD"),
            Column::text("Not priced"),
        ],
    );
    for l in &daily.launches {
        launched.rows.push(Row::new(vec![
            l.launch.time.clone().into(),
            l.launch.account.clone().into(),
            l.launch.region.clone().into(),
            l.launch.event.clone().into(),
            l.launch
                .launched
                .iter()
                .map(|x| format!("{} x {}", x.count, x.key))
                .collect::<Vec<_>>()
                .join(", ")
                .into(),
            l.launch.actor.clone().into(),
            Cell::Decimal(l.per_day),
            l.unpriced.join(", ").into(),
        ]));
    }
    let mut budget = Table::new(
        "Budget Alerts",
        vec![
            Column::of("Time", CellKind::Time),
            Column::text("Account"),
            Column::text("Name"),
            Column::text("Message"),
        ],
    );
    budget.totals = false;
    for b in &daily.budget_alerts {
        budget.rows.push(Row::new(vec![
            Cell::Time(b.time),
            b.account.clone().into(),
            b.name.clone().into(),
            b.message.clone().into(),
        ]));
    }
    vec![Report {
        family: Family::Spend,
        cost_center: ALL.into(),
        organization: true,
        period: daily.day.to_string(),
        year: daily.day.date().year(),
        label: "spend".into(),
        tables: vec![alerts, accounts, centers, launched, budget],
        csv: vec![1],
        charts: Vec::new(),
        workbook: true,
    }]
}

/// The FinOps digest of the day: every account and cost center over a threshold, largest
/// first, with the day's totals, the day's workbook attached; `None` without alerts.
pub fn digest(
    settings: &Settings,
    daily: &Daily,
    written: &[crate::report::Written],
) -> Option<Result<lettre::Message, crate::mail::MailError>> {
    use crate::mail::MailError;
    use lettre::message::header::{ContentTransferEncoding, ContentType};
    use lettre::message::{Attachment, Body, Mailbox, MultiPart};
    if daily.notices.is_empty() && daily.budget_alerts.is_empty() {
        return None;
    }
    let compose = || -> Result<lettre::Message, MailError> {
        let recipients = &settings.features.cost_email_recipients;
        if recipients.is_empty() {
            return Err(MailError::Settings(format!(
                "{}: features.cost_email_recipients is empty: nobody to send the spend digest to",
                settings.file.display()
            )));
        }
        let mailbox = |address: &str| -> Result<Mailbox, MailError> {
            address
                .parse()
                .map_err(|e| MailError::Compose(format!("`{address}`: {e}")))
        };
        let spend: Decimal = daily.accounts.iter().map(|a| a.figures.spend).sum();
        let mtd: Decimal = daily.accounts.iter().map(|a| a.figures.month_to_date).sum();
        let estimate: Decimal = daily.launches.iter().map(|l| l.per_day).sum();
        let subject = format!(
            "[{}] Spend {}: {} alerts, {} USD spent that day",
            settings.environment_identifier,
            daily.day,
            daily.notices.len(),
            money(spend)
        );
        let who = |n: &Notice| match &n.alert.scope {
            Scope::Account(id) => match &n.name {
                Some(name) => format!("{id} ({name})"),
                None => id.clone(),
            },
            Scope::CostCenter(name) => format!("cost center {name}"),
        };
        let mut text = vec![
            format!("Spend of the sandbox accounts on {}", daily.day),
            String::new(),
            format!("Spent that day: {} USD", money(spend)),
            format!("Month to date: {} USD", money(mtd)),
            format!(
                "Launched that day, estimated: {} USD per day",
                money(estimate)
            ),
            String::new(),
            format!("Over a threshold ({}), largest first:", daily.notices.len()),
        ];
        let e = |t: &str| html_escape::encode_text(t).into_owned();
        let mut rows = String::new();
        for n in &daily.notices {
            text.push(format!(
                "- {}: {} {} USD (threshold {})",
                who(n),
                n.alert.kind,
                money(n.alert.amount),
                n.alert.threshold
            ));
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td style=\"text-align:right\">{}</td><td>{}</td><td>{}</td></tr>\n",
                e(&who(n)),
                e(n.alert.kind.as_str()),
                e(&money(n.alert.amount)),
                e(&n.alert.threshold.to_string()),
                e(n.cost_center.as_deref().unwrap_or(""))
            ));
        }
        let mut budget_rows = String::new();
        if !daily.budget_alerts.is_empty() {
            text.push(String::new());
            text.push(
                "Budget notifications and billing alarms of the day (sent on their own as exceptions):"
                    .into(),
            );
            for b in &daily.budget_alerts {
                text.push(format!("- {} ({}): {}", b.account, b.name, b.message));
                budget_rows.push_str(&format!(
                    "<li>{} ({}): {}</li>\n",
                    e(&b.account),
                    e(&b.name),
                    e(&b.message)
                ));
            }
        }
        text.push(String::new());
        text.push("Each alert's drivers are in the attached workbook (sheet Alerts).".into());
        let html = format!(
            "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n<h2>Spend of the sandbox accounts on {day}</h2>\n<p>Spent that day: <b>{spend} USD</b><br>Month to date: {mtd} USD<br>Launched that day, estimated: {estimate} USD per day</p>\n<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\n<tr><th>Who</th><th>Threshold kind</th><th>Amount (USD)</th><th>Threshold</th><th>Cost center</th></tr>\n{rows}</table>\n{budget}<p>Each alert's drivers are in the attached workbook (sheet Alerts).</p>\n</body></html>\n",
            budget = if budget_rows.is_empty() {
                String::new()
            } else {
                format!(
                    "<p>Budget notifications and billing alarms of the day (sent on their own as exceptions):</p>\n<ul>{budget_rows}</ul>\n"
                )
            },
            day = e(&daily.day.to_string()),
            spend = e(&money(spend)),
            mtd = e(&money(mtd)),
            estimate = e(&money(estimate)),
        );
        let mut body =
            MultiPart::mixed().multipart(MultiPart::alternative_plain_html(text.join("\n"), html));
        for file in written.iter().filter(|f| f.key.ends_with(".xlsx")) {
            let bytes =
                Body::new_with_encoding(file.bytes.to_vec(), ContentTransferEncoding::Base64)
                    .map_err(|_| MailError::Compose("base64 encoding".into()))?;
            let name = file.key.rsplit('/').next().unwrap_or(&file.key).to_string();
            body = body.singlepart(
                Attachment::new(name).body(
                    bytes,
                    ContentType::parse(
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    )
                    .expect("valid content type"),
                ),
            );
        }
        let from = settings
            .features
            .origin_email
            .as_ref()
            .map_or(crate::mail::DEFAULT_FROM, |e| e.as_str());
        let mut builder = lettre::Message::builder()
            .from(mailbox(from)?)
            .subject(subject);
        for to in recipients {
            builder = builder.to(mailbox(to.as_str())?);
        }
        builder
            .multipart(body)
            .map_err(|e| MailError::Compose(e.to_string()))
    };
    Some(compose())
}
