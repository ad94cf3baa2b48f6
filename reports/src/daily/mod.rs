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
use spa_core::lake::columns::{
    ACCOUNT_ID, ACCOUNT_NAME, DAY, EVENT_TIME, LABEL, MESSAGE, RAW, SERVICE, UNBLENDED,
};
use spa_core::period::{Day, Month};
use spa_core::settings::SpendLimits;
use spa_core::spend::{Alert, Figures, Kind, Notice, Scope, TRAILING_DAYS, decide};

use crate::accounts::{self, AccountInfo};
use crate::data::DataError;
use crate::engine::Datasets;
use crate::frames::{collect, decimals, texts, times};
use crate::launches::{self, Launch, Prices};
mod digest;
mod files;
mod queries;

use crate::costs::{DaySpend, day_spend};
pub use digest::digest;
pub use files::reports;
use queries::{budget_alerts, launches_of, service_spend};

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
    format!("{:.2}", crate::mail::round(d, 2))
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
    let mut spend = DaySpend::default();
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
    let mut launched_by: BTreeMap<&str, Vec<&Priced>> = BTreeMap::new();
    for l in &launches {
        launched_by
            .entry(l.launch.account.as_str())
            .or_default()
            .push(l);
    }

    // Every account with spend in the window, a launch today, or in the snapshot.
    let mut ids: BTreeSet<String> = spend.by_account.keys().cloned().collect();
    ids.extend(launches.iter().map(|l| l.launch.account.clone()));
    let trailing_days = spend.trailing(date);
    let mut accounts_out = Vec::new();
    let mut centers: BTreeMap<String, Figures> = BTreeMap::new();
    for id in &ids {
        let info = known.get(id).cloned().unwrap_or_else(AccountInfo::unknown);
        let days = spend.by_account.get(id);
        let on = |d: &NaiveDate| days.and_then(|m| m.get(d)).copied().unwrap_or_default();
        let estimate: Option<Decimal> = launched_by
            .get(id.as_str())
            .map(|list| list.iter().map(|l| l.per_day).sum());
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
        let limits = info.spend_limits(id, settings);
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
            .flat_map(|m| launched_by.get(m).into_iter().flatten().copied())
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
    // The day's cost per cost center, for the dashboard (metric `DailyCost`, USD; a level, so
    // a rerun sets the same value).
    if day_in_costs {
        for c in &centers_out {
            let usd = c.figures.spend.to_string().parse::<f64>().unwrap_or(0.0);
            metrics::gauge!(
                spa_core::metrics::DAILY_COST,
                "CostCenter" => spa_core::metrics::dimension_value(&c.info.cost_center)
            )
            .set(usd);
        }
    }
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
