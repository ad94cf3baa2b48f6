//! The pages of a month: the organization's and each cost center's, built from the month's
//! sums, the [`facts`](super::facts), the forecast and the anomalies.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration};
use rust_decimal::Decimal;
use spa_core::Settings;
use spa_core::organization::{NO_COST_TAG, State};
use spa_core::period::Month;

use super::chart::{ChartData, Series};
use super::facts::{COST_CENTER_MOVERS, Facts, HISTORY_MONTHS, Mover, ORGANIZATION_MOVERS};
use super::{Chart, Figure, Page, Section, cents};
use crate::accounts::AccountInfo;
use crate::anomalies::{self, Anomaly};
use crate::costs::{Line, MonthCosts, by_cost_center};
use crate::exceptions::{ExceptionRow, cost_center_of};
use crate::forecast::{self, Backtest, Estimate, Forecast};
use crate::inventory::Seen;
use crate::table::{Cell, Column, Kind, Row, Table};

/// Groups drawn on a chart; the rest are summed as "Other".
const CHART_GROUPS: usize = 8;
/// Rows of the exceptions table.
const EXCEPTIONS_SHOWN: usize = 100;

/// `1 month`, `2 months`.
fn counted(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Which part of the organization a page is about.
#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    Organization,
    CostCenter(&'a str),
}

/// The facts split by cost center once, so that each page reads only its own rows.
struct Grouped<'a> {
    movers: BTreeMap<&'a str, Vec<&'a Mover>>,
    all_movers: Vec<&'a Mover>,
    exceptions: BTreeMap<&'a str, Vec<&'a ExceptionRow>>,
    all_exceptions: Vec<&'a ExceptionRow>,
    accounts: BTreeMap<&'a str, Vec<(&'a String, &'a AccountInfo)>>,
    all_accounts: Vec<(&'a String, &'a AccountInfo)>,
    lines: BTreeMap<&'a str, Vec<&'a Line>>,
    /// The lines by usage type ([`MonthCosts::usage_lines`]), per cost center and for all.
    usages: BTreeMap<&'a str, Vec<&'a Line>>,
    all_usages: Vec<&'a Line>,
    /// Spend per day (days 1 to the last held) of the month and of the month before, per cost
    /// center and for the organization.
    days: BTreeMap<&'a str, [Vec<Decimal>; 2]>,
    all_days: [Vec<Decimal>; 2],
    /// Whether the lake holds days of the month before.
    before_held: bool,
}

impl<'a> Grouped<'a> {
    fn new(month: Month, current: &'a MonthCosts, facts: &'a Facts, forecast: &Forecast) -> Self {
        let center = |id: &str| -> &'a str {
            facts
                .accounts
                .get(id)
                .map_or(NO_COST_TAG, |a| a.cost_center.as_str())
        };
        let mut movers: BTreeMap<&str, Vec<&Mover>> = BTreeMap::new();
        for m in &facts.movers.shown {
            movers.entry(m.cost_center.as_ref()).or_default().push(m);
        }
        let mut exceptions: BTreeMap<&str, Vec<&ExceptionRow>> = BTreeMap::new();
        for r in &facts.exceptions {
            if let Some(cc) = cost_center_of(r, &facts.accounts) {
                exceptions.entry(cc).or_default().push(r);
            }
        }
        let mut accounts: BTreeMap<&str, Vec<(&String, &AccountInfo)>> = BTreeMap::new();
        for (id, info) in &facts.accounts {
            accounts
                .entry(info.cost_center.as_str())
                .or_default()
                .push((id, info));
        }
        let lines = by_cost_center(current.lines.iter().filter(|l| l.per_cost_center()));
        let all_usages: Vec<&Line> = current
            .usage_lines()
            .iter()
            .filter(|l| l.per_cost_center())
            .collect();
        let usages = by_cost_center(all_usages.iter().copied());
        let held = forecast.through.map_or(0, |t| t.day()) as usize;
        let before = month.previous();
        let empty = || [vec![Decimal::ZERO; held], vec![Decimal::ZERO; held]];
        let mut days: BTreeMap<&str, [Vec<Decimal>; 2]> = BTreeMap::new();
        let mut all_days = empty();
        for (id, series) in &forecast.days.by_account {
            let sums = days.entry(center(id)).or_insert_with(empty);
            for (date, amount) in series {
                let which = if Month::of(*date) == month {
                    0
                } else if Month::of(*date) == before {
                    1
                } else {
                    continue;
                };
                let d = date.day() as usize;
                if d <= held {
                    sums[which][d - 1] += *amount;
                    all_days[which][d - 1] += *amount;
                }
            }
        }
        Grouped {
            movers,
            all_movers: facts
                .movers
                .shown
                .iter()
                .take(ORGANIZATION_MOVERS)
                .collect(),
            exceptions,
            all_exceptions: facts.exceptions.iter().collect(),
            accounts,
            all_accounts: facts.accounts.iter().collect(),
            lines,
            usages,
            all_usages,
            days,
            all_days,
            before_held: forecast.days.held.iter().any(|d| Month::of(*d) == before),
        }
    }

    fn movers(&self, scope: Scope<'_>) -> &[&'a Mover] {
        match scope {
            Scope::Organization => &self.all_movers,
            Scope::CostCenter(cc) => self.movers.get(cc).map_or(&[], Vec::as_slice),
        }
    }

    fn exceptions(&self, scope: Scope<'_>) -> &[&'a ExceptionRow] {
        match scope {
            Scope::Organization => &self.all_exceptions,
            Scope::CostCenter(cc) => self.exceptions.get(cc).map_or(&[], Vec::as_slice),
        }
    }

    fn accounts(&self, scope: Scope<'_>) -> &[(&'a String, &'a AccountInfo)] {
        match scope {
            Scope::Organization => &self.all_accounts,
            Scope::CostCenter(cc) => self.accounts.get(cc).map_or(&[], Vec::as_slice),
        }
    }

    fn days(&self, scope: Scope<'_>) -> Option<&[Vec<Decimal>; 2]> {
        match scope {
            Scope::Organization => Some(&self.all_days),
            Scope::CostCenter(cc) => self.days.get(cc),
        }
    }
}

/// A history chart: one series per group (the largest ones, the rest as "Other").
fn history_chart(
    title: String,
    facts: &Facts,
    currency: &str,
    group: impl Fn(&(String, String)) -> Option<String>,
) -> Chart {
    let months: Vec<Month> = facts.history.iter().map(|(m, _)| *m).collect();
    let mut per_group: BTreeMap<String, Vec<Decimal>> = BTreeMap::new();
    for (i, (_, sums)) in facts.history.iter().enumerate() {
        for (key, amount) in sums {
            if let Some(name) = group(key) {
                per_group
                    .entry(name)
                    .or_insert_with(|| vec![Decimal::ZERO; months.len()])[i] += *amount;
            }
        }
    }
    let mut ranked: Vec<(String, Vec<Decimal>)> = per_group.into_iter().collect();
    ranked.sort_by(|a, b| {
        let total = |v: &Vec<Decimal>| v.iter().copied().sum::<Decimal>();
        total(&b.1).cmp(&total(&a.1)).then_with(|| a.0.cmp(&b.0))
    });
    let mut series: Vec<Series> = Vec::new();
    let mut other = vec![Decimal::ZERO; months.len()];
    for (k, (name, values)) in ranked.into_iter().enumerate() {
        if k < CHART_GROUPS {
            series.push(Series { name, values });
        } else {
            for (o, v) in other.iter_mut().zip(values) {
                *o += v;
            }
        }
    }
    if other.iter().any(|v| !v.is_zero()) {
        series.push(Series {
            name: "Other".into(),
            values: other,
        });
    }
    Chart::Columns(ChartData {
        title,
        categories: months.iter().map(Month::to_string).collect(),
        series,
        unit: currency.to_string(),
    })
}

/// Spend per day of the month through the last day held, and the month before's on the same
/// days of the month (credits and refunds left out).
fn daily_chart(
    title: String,
    month: Month,
    (grouped, scope): (&Grouped<'_>, Scope<'_>),
    currency: &str,
) -> Chart {
    let held = grouped.all_days[0].len();
    let [now, before] = grouped
        .days(scope)
        .cloned()
        .unwrap_or_else(|| [vec![Decimal::ZERO; held], vec![Decimal::ZERO; held]]);
    let mut series = vec![Series {
        name: month.to_string(),
        values: now,
    }];
    if grouped.before_held {
        series.push(Series {
            name: month.previous().to_string(),
            values: before,
        });
    }
    Chart::Lines(ChartData {
        title,
        categories: (1..=held).map(|d| d.to_string()).collect(),
        series,
        unit: currency.to_string(),
    })
}

fn change_note(now: Decimal, before: Option<Decimal>, currency: &str) -> String {
    match before {
        Some(b) if !b.is_zero() => {
            let pct = ((now - b) / b * Decimal::ONE_HUNDRED)
                .round_dp_with_strategy(1, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
            let sign = if now >= b { "+" } else { "" };
            format!(
                "{sign}{} {currency} ({sign}{pct}%) against the month before",
                cents(now - b)
            )
        }
        Some(_) => format!("{} {currency} the month before", cents(Decimal::ZERO)),
        None => "no costs in the lake for the month before".into(),
    }
}

/// The headline figure of the forecast.
fn forecast_figure(
    forecast: &Forecast,
    scope: Option<(&Estimate, &Backtest)>,
    currency: &str,
) -> Figure {
    let Some((e, b)) = scope else {
        return Figure {
            label: "Month-end forecast".into(),
            value: "n/a".into(),
            note: "no costs this month".into(),
        };
    };
    let note = if forecast.complete() {
        "the lake holds the whole month: this is its spend".to_string()
    } else {
        let days = forecast.through.map_or(0, |t| chrono::Datelike::day(&t));
        match b.error {
            Some(err) => format!(
                "from {days} days; backtest error {err} % over {}",
                counted(b.months, "month")
            ),
            None => format!("from {days} days; no earlier month to backtest"),
        }
    };
    Figure {
        label: "Month-end forecast".into(),
        value: format!("{} {currency}", cents(e.forecast)),
        note,
    }
}

fn forecast_section(forecast: &Forecast, currency: &str, cost_center: Option<&str>) -> Section {
    let held = forecast.through.map_or(0, |t| chrono::Datelike::day(&t));
    Section {
        id: "forecast",
        title: "Month-end forecast".into(),
        intro: format!(
            "Spend so far (credits and refunds left out) over the {held} days the lake holds, plus \
             the mean of the last {} of them times the days left. The backtest error is the mean \
             absolute percentage error of the same forecast, made at the same day of each of up \
             to {} earlier months that the lake holds whole, against what they came to.",
            forecast::WINDOW,
            forecast::BACKTEST_MONTHS
        ),
        empty: "No costs this month.".into(),
        table: forecast::summary(forecast, currency, cost_center),
        more: 0,
    }
}

/// Usage types shown on a page.
const USAGES_SHOWN: usize = 15;

/// What was used: the largest services and usage types of `lines` (the scope's lines by usage
/// type, credits and refunds left out), with their share of the scope's spend that has a usage
/// type. Without a service on any line (Cost Explorer's usage types) the table has no Service
/// column.
fn usage_section(lines: &[&Line], currency: &str) -> Section {
    let mut sums: BTreeMap<(&str, &str), Decimal> = BTreeMap::new();
    let mut total = Decimal::ZERO;
    for l in lines.iter().filter(|l| !l.usage_type.is_empty()) {
        *sums
            .entry((l.service.as_ref(), l.usage_type.as_ref()))
            .or_default() += l.amount;
        total += l.amount;
    }
    let with_service = sums.keys().any(|(service, _)| !service.is_empty());
    let mut ranked: Vec<((&str, &str), Decimal)> = sums.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut columns = Vec::new();
    if with_service {
        columns.push(Column::text("Service"));
    }
    columns.extend([
        Column::text("Usage Type"),
        Column::money("Amount", currency),
        Column::of("Share %", Kind::Number),
    ]);
    let mut table = Table::new("What was used", columns);
    table.totals = false;
    for ((service, usage), amount) in ranked.iter().take(USAGES_SHOWN) {
        let share = if total.is_zero() {
            Cell::Empty
        } else {
            Cell::Decimal((*amount / total * Decimal::ONE_HUNDRED).round_dp(1))
        };
        let mut cells: Vec<Cell> = Vec::new();
        if with_service {
            cells.push(service.to_string().into());
        }
        cells.extend([usage.to_string().into(), Cell::Decimal(*amount), share]);
        table.rows.push(Row::new(cells));
    }
    let what = if with_service {
        "services and usage types"
    } else {
        "usage types (Cost Explorer gives them per account, not per service)"
    };
    Section {
        id: "usage",
        title: "What was used".into(),
        intro: format!(
            "The {USAGES_SHOWN} largest {what} of the month (instance hours, storage, requests, \
             transfer, ...), with their share of the usage; the usages CSV file holds every one."
        ),
        empty: "The month's costs carry no usage types: they were ingested from Cost Explorer \
                without its usage-type query. `cargo run -p ingest -- costs --month YYYY-MM` \
                asks for them."
            .into(),
        table,
        more: ranked.len().saturating_sub(USAGES_SHOWN),
    }
}

fn anomalies_section(found: &[Anomaly], currency: &str, cost_center: Option<&str>) -> Section {
    Section {
        id: "anomalies",
        title: "Anomalies".into(),
        intro: "Days an account spent far more than its own recent days: above the jump factor \
                of its spend settings times the mean of the 7 days before (the days the lake \
                holds), and above their least amount, largest first, with the services that \
                grew most that day against their own mean. The daily spend alerts warn of each \
                on the day."
            .into(),
        empty: "No anomaly this month.".into(),
        table: anomalies::table(found, currency, cost_center),
        more: 0,
    }
}

fn movers_section(
    facts: &Facts,
    grouped: &Grouped<'_>,
    scope: Scope<'_>,
    currency: &str,
) -> Section {
    let limit = match scope {
        Scope::Organization => ORGANIZATION_MOVERS,
        Scope::CostCenter(_) => COST_CENTER_MOVERS,
    };
    let mut columns = vec![
        Column::text("Account"),
        Column::text("Name"),
        Column::text("Cost Center"),
        Column::text("Service"),
    ];
    columns.extend([
        Column::money("Previous Month", currency),
        Column::money("Amount", currency),
        Column::money("Change", currency),
        Column::text("What the lake recorded this month"),
    ]);
    let mut table = Table::new("Top movers", columns);
    table.totals = false;
    let chosen = grouped.movers(scope);
    let changed = match scope {
        Scope::Organization => facts.movers.all,
        Scope::CostCenter(cc) => facts.movers.per_center.get(cc).copied().unwrap_or(0),
    };
    for m in chosen.iter().take(limit) {
        let reasons = match facts.reasons.get(&*m.account) {
            Some(r) if !r.first.is_empty() => {
                let mut shown: Vec<String> = r
                    .first
                    .iter()
                    .map(|r| format!("{} {}", r.time.format("%m-%d %H:%M"), r.text))
                    .collect();
                if r.more > 0 {
                    shown.push(format!("and {} more events", r.more));
                }
                shown.join("; ")
            }
            _ => "no lifecycle event or launch recorded".to_string(),
        };
        table.rows.push(Row::new(vec![
            m.account.clone().into(),
            m.name.clone().into(),
            m.cost_center.clone().into(),
            m.service.clone().into(),
            Cell::Decimal(m.previous),
            Cell::Decimal(m.current),
            Cell::Decimal(m.change()),
            reasons.into(),
        ]));
    }
    Section {
        id: "movers",
        title: "Top movers".into(),
        intro: "The accounts and services whose cost changed most against the month before, \
                either way, with the lifecycle events and the launch calls CloudTrail recorded \
                for the account during the month."
            .into(),
        empty: "No account's cost changed.".into(),
        table,
        more: changed.saturating_sub(chosen.len().min(limit)),
    }
}

fn exceptions_section(facts: &Facts, grouped: &Grouped<'_>, scope: Scope<'_>) -> (Section, usize) {
    let mut table = Table::new(
        "Exceptions",
        vec![
            Column::of("Time", Kind::Time),
            Column::text("Severity"),
            Column::text("Label"),
            Column::text("Account"),
            Column::text("Name"),
            Column::text("Cost Center"),
            Column::text("Message"),
        ],
    );
    table.totals = false;
    let rows = grouped.exceptions(scope);
    let text = |v: &Option<String>| v.clone().map_or(Cell::Empty, Cell::from);
    for r in rows.iter().rev().take(EXCEPTIONS_SHOWN) {
        table.rows.push(Row::new(vec![
            Cell::Time(r.time),
            r.severity.clone().into(),
            r.label.clone().into(),
            text(&r.account),
            text(&r.name),
            cost_center_of(r, &facts.accounts).map_or(Cell::Empty, Cell::from),
            r.message.clone().into(),
        ]));
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        *counts.entry(r.label.as_str()).or_default() += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(l, n)| format!("{l} {n}")).collect();
    let intro = if rows.is_empty() {
        "What reached a human during the month.".to_string()
    } else {
        format!(
            "What reached a human during the month, latest first: {}.",
            summary.join(", ")
        )
    };
    (
        Section {
            id: "exceptions",
            title: "Exceptions".into(),
            intro,
            empty: "No exception this month.".into(),
            table,
            more: rows.len().saturating_sub(EXCEPTIONS_SHOWN),
        },
        rows.len(),
    )
}

/// Idle and stuck accounts of the scope at `facts.at`.
fn health_sections(
    settings: &Settings,
    facts: &Facts,
    (grouped, scope): (&Grouped<'_>, Scope<'_>),
    spend: &BTreeMap<&str, Decimal>,
    currency: &str,
) -> (Section, Section) {
    let mut idle = Table::new(
        "Idle accounts",
        vec![
            Column::text("Account"),
            Column::text("Name"),
            Column::text("Cost Center"),
            Column::text("Holder"),
            Column::of("Last Console Login", Kind::Time),
            Column::of("Days Since Login", Kind::Count),
            Column::money("Amount", currency),
        ],
    );
    idle.totals = false;
    let mut stuck = Table::new(
        "Stuck accounts",
        vec![
            Column::text("Account"),
            Column::text("Name"),
            Column::text("Cost Center"),
            Column::text("State"),
            Column::of("Since", Kind::Time),
            Column::of("Hours In State", Kind::Count),
        ],
    );
    stuck.totals = false;
    let none = Seen::default();
    let mut idle_rows = Vec::new();
    for &(id, info) in grouped.accounts(scope) {
        if info.status != "ACTIVE" {
            continue;
        }
        let seen = facts.seen.get(id).unwrap_or(&none);
        if info.state == State::Released.as_str() {
            let days = seen.last_login.map(|t| (facts.at - t).num_days());
            if days.is_none_or(|d| d >= i64::from(settings.reporting.idle_days)) {
                idle_rows.push((
                    spend.get(id.as_str()).copied().unwrap_or_default(),
                    id,
                    info,
                    seen,
                    days,
                ));
            }
        }
        let limit = if info.state == State::Assigned.as_str() {
            Some(settings.automation.on_boarding_timeout_hours)
        } else if info.state == State::Expired.as_str() {
            Some(settings.automation.maintenance_timeout_hours)
        } else {
            None
        };
        let Some(limit) = limit else { continue };
        // In a transitional state with no transition in the lake, since when is unknown.
        let since = seen.last_transition.as_ref().map(|(_, t)| *t);
        if since.is_some_and(|t| facts.at - t <= Duration::hours(i64::from(limit))) {
            continue;
        }
        stuck.rows.push(Row::new(vec![
            id.clone().into(),
            info.name.clone().into(),
            info.cost_center.clone().into(),
            info.state.clone().into(),
            since.map_or(Cell::Empty, Cell::Time),
            since.map_or(Cell::Empty, |t| Cell::Count((facts.at - t).num_hours())),
        ]));
    }
    idle_rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    for (amount, id, info, seen, days) in idle_rows {
        idle.rows.push(Row::new(vec![
            id.clone().into(),
            info.name.clone().into(),
            info.cost_center.clone().into(),
            info.holder.clone().into(),
            seen.last_login.map_or(Cell::Empty, Cell::Time),
            days.map_or(Cell::Empty, Cell::Count),
            Cell::Decimal(amount),
        ]));
    }
    let at = facts.at.format("%Y-%m-%d %H:%M UTC");
    (
        Section {
            id: "idle",
            title: "Idle accounts".into(),
            intro: format!(
                "Released accounts without a console sign-in in the {} days before {at}, \
                 largest cost first.",
                settings.reporting.idle_days
            ),
            empty: "No idle account.".into(),
            table: idle,
            more: 0,
        },
        Section {
            id: "stuck",
            title: "Accounts stuck in a state".into(),
            intro: format!(
                "Accounts still assigned {} hours or still expired {} hours after their last \
                 transition at {at}, and those in either state without a transition recorded in \
                 the lake.",
                settings.automation.on_boarding_timeout_hours,
                settings.automation.maintenance_timeout_hours
            ),
            empty: "No account is stuck.".into(),
            table: stuck,
            more: 0,
        },
    )
}

/// The organization's page and one per cost center (by name). `centers` is the organization
/// report's cost centers table (the CSV file's rows).
pub fn pages(
    settings: &Settings,
    (month, current, previous): (Month, &MonthCosts, Option<&MonthCosts>),
    centers: &Table,
    facts: &Facts,
    (forecast, anomalies): (&Forecast, &[Anomaly]),
) -> (Page, BTreeMap<String, Page>) {
    let currency = current.currency.as_str();
    let total = crate::costs::total(current);
    let previous_total = previous.map(crate::costs::total);
    let mut spend: BTreeMap<&str, Decimal> = BTreeMap::new();
    for l in current.lines.iter().filter(|l| l.per_cost_center()) {
        *spend.entry(l.account.as_ref()).or_default() += l.amount;
    }
    let subtitle = format!(
        "{month}: amounts in {currency}, unblended, as the lake holds them; accounts as of the \
         snapshot of {}.",
        current.snapshot
    );
    let footer = "Made by the sandbox reports from the data lake. The CSV files and the workbook \
                  beside this page hold every row; the figures here are the same, rounded to the \
                  cent.";
    let grouped = Grouped::new(month, current, facts, forecast);
    let organization = {
        let scope = Scope::Organization;
        let (exceptions, raised) = exceptions_section(facts, &grouped, scope);
        let (idle, stuck) = health_sections(settings, facts, (&grouped, scope), &spend, currency);
        let figures = vec![
            Figure {
                label: "Total".into(),
                value: format!("{} {currency}", cents(total)),
                note: change_note(total, previous_total, currency),
            },
            forecast_figure(
                forecast,
                forecast
                    .through
                    .map(|_| (&forecast.organization.0, &forecast.organization.1)),
                currency,
            ),
            Figure {
                label: "Accounts with costs".into(),
                value: spend.len().to_string(),
                note: format!("in {}", counted(grouped.lines.len(), "cost center")),
            },
            Figure {
                label: "Exceptions".into(),
                value: raised.to_string(),
                note: "raised this month".into(),
            },
            Figure {
                label: "Idle / stuck accounts".into(),
                value: format!("{} / {}", idle.table.rows.len(), stuck.table.rows.len()),
                note: format!("at {}", facts.at.format("%Y-%m-%d")),
            },
        ];
        let mut cost_centers = centers.clone();
        cost_centers.name = "Cost centers".into();
        Page {
            title: format!("Sandbox costs {month}: organization"),
            subtitle: subtitle.clone(),
            figures,
            charts: vec![
                history_chart(
                    format!("Cost per cost center, last {HISTORY_MONTHS} months ({currency})"),
                    facts,
                    currency,
                    |(cc, _)| Some(cc.clone()),
                ),
                history_chart(
                    format!(
                        "Cost per organizational unit, last {HISTORY_MONTHS} months ({currency})"
                    ),
                    facts,
                    currency,
                    |(_, ou)| Some(ou.clone()),
                ),
                daily_chart(
                    format!("Cost per day, {month} against the month before ({currency})"),
                    month,
                    (&grouped, scope),
                    currency,
                ),
            ],
            sections: vec![
                Section {
                    id: "cost-centers",
                    title: "Cost centers".into(),
                    intro: "Each cost center's cost this month against the month before; credits \
                            and refunds stay at organization level. The same rows as the cost \
                            centers CSV file."
                        .into(),
                    empty: "No costs this month.".into(),
                    table: cost_centers,
                    more: 0,
                },
                forecast_section(forecast, currency, None),
                anomalies_section(anomalies, currency, None),
                usage_section(&grouped.all_usages, currency),
                movers_section(facts, &grouped, scope, currency),
                exceptions,
                idle,
                stuck,
            ],
            footer: footer.into(),
        }
    };
    let mut per_cc = BTreeMap::new();
    let before: BTreeMap<&str, Decimal> = previous
        .map(|p| {
            let mut m: BTreeMap<&str, Decimal> = BTreeMap::new();
            for l in p.lines.iter().filter(|l| l.per_cost_center()) {
                *m.entry(l.account.as_ref()).or_default() += l.amount;
            }
            m
        })
        .unwrap_or_default();
    let centers_now = crate::costs::cost_center_totals(&current.lines);
    let centers_before = previous.map(|p| crate::costs::cost_center_totals(&p.lines));
    for (cc, amount) in &centers_now {
        let scope = Scope::CostCenter(cc);
        let (exceptions, raised) = exceptions_section(facts, &grouped, scope);
        let (idle, stuck) = health_sections(settings, facts, (&grouped, scope), &spend, currency);
        let mut accounts = Table::new(
            "Accounts",
            vec![
                Column::text("Account"),
                Column::text("Name"),
                Column::text("Organizational Unit"),
                Column::money("Previous Month", currency),
                Column::money("Amount", currency),
                Column::money("Change", currency),
            ],
        );
        let mut rows: BTreeMap<(&str, &str, &str), Decimal> = BTreeMap::new();
        for l in grouped.lines.get(cc.as_ref()).into_iter().flatten() {
            *rows
                .entry((l.ou.as_ref(), l.account.as_ref(), l.name.as_ref()))
                .or_default() += l.amount;
        }
        for ((ou, account, name), now) in &rows {
            let was = previous.map(|_| before.get(account).copied().unwrap_or_default());
            accounts.rows.push(Row::new(vec![
                account.to_string().into(),
                name.to_string().into(),
                ou.to_string().into(),
                was.map_or(Cell::Empty, Cell::Decimal),
                Cell::Decimal(*now),
                was.map_or(Cell::Empty, |w| Cell::Decimal(*now - w)),
            ]));
        }
        let was = centers_before
            .as_ref()
            .map(|b| b.get(cc).copied().unwrap_or_default());
        let figures = vec![
            Figure {
                label: "Total".into(),
                value: format!("{} {currency}", cents(*amount)),
                note: change_note(*amount, was, currency),
            },
            forecast_figure(
                forecast,
                forecast.centers.get(cc.as_ref()).map(|(e, b)| (e, b)),
                currency,
            ),
            Figure {
                label: "Accounts with costs".into(),
                value: rows.len().to_string(),
                note: format!(
                    "in {}",
                    counted(
                        rows.keys()
                            .map(|(ou, _, _)| ou)
                            .collect::<BTreeSet<_>>()
                            .len(),
                        "organizational unit"
                    )
                ),
            },
            Figure {
                label: "Exceptions".into(),
                value: raised.to_string(),
                note: "raised this month".into(),
            },
            Figure {
                label: "Idle / stuck accounts".into(),
                value: format!("{} / {}", idle.table.rows.len(), stuck.table.rows.len()),
                note: format!("at {}", facts.at.format("%Y-%m-%d")),
            },
        ];
        let page = Page {
            title: format!("Sandbox costs {month}: {cc}"),
            subtitle: subtitle.clone(),
            figures,
            charts: vec![
                history_chart(
                    format!(
                        "Cost of {cc} per organizational unit, last {HISTORY_MONTHS} months ({currency})"
                    ),
                    facts,
                    currency,
                    |(c, ou)| (**c == **cc).then(|| ou.clone()),
                ),
                daily_chart(
                    format!("Cost of {cc} per day, {month} against the month before ({currency})"),
                    month,
                    (&grouped, scope),
                    currency,
                ),
            ],
            sections: vec![
                Section {
                    id: "accounts",
                    title: "Accounts".into(),
                    intro: "Each account's cost this month (credits and refunds are at \
                            organization level); the services CSV file adds up to these rows."
                        .into(),
                    empty: "No costs this month.".into(),
                    table: accounts,
                    more: 0,
                },
                forecast_section(forecast, currency, Some(cc)),
                anomalies_section(anomalies, currency, Some(cc)),
                usage_section(
                    grouped.usages.get(cc.as_ref()).map_or(&[], Vec::as_slice),
                    currency,
                ),
                movers_section(facts, &grouped, scope, currency),
                exceptions,
                idle,
                stuck,
            ],
            footer: footer.into(),
        };
        per_cc.insert(cc.to_string(), page);
    }
    (organization, per_cc)
}
