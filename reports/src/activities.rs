//! Monthly activity reports: console logins, on-boardings (CreatedAccount until
//! ReleasedAccount) and maintenances (ExpiredAccount until ReleasedAccount) with their
//! durations, and failures, per cost center, from the events in the lake.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, Utc};
use polars::prelude::*;
use rust_decimal::Decimal;

use spa_core::events::{Activity as Label, LifecycleEvent};
use spa_core::lake::columns::{ACCOUNT_ID, ACTIVITY, ACTOR_NAME, ACTOR_TYPE, EVENT_TIME};
use spa_core::period::Month;

use crate::accounts::AccountInfo;
use crate::data::DataError;
use crate::engine::Datasets;
use crate::frames::{borrowed, times};
use crate::report::{ALL, Family, Report};
use crate::table::{Cell, Column, Kind, Row, Table};

/// Activity labels a report reads.
const LABELS: [Label; 8] = [
    Label::ConsoleLogin,
    Label::FailedConsoleLogin,
    Label::Lifecycle(LifecycleEvent::CreatedAccount),
    Label::Lifecycle(LifecycleEvent::ExpiredAccount),
    Label::Lifecycle(LifecycleEvent::ReleasedAccount),
    Label::Lifecycle(LifecycleEvent::FailedOnBoarding),
    Label::Lifecycle(LifecycleEvent::FailedMaintenance),
    Label::Lifecycle(LifecycleEvent::AssignedAccount),
];

/// Days before the month whose events may open an on-boarding or maintenance that ends in it.
const LOOKBACK_DAYS: u64 = 7;

/// One labelled event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When.
    pub time: DateTime<Utc>,
    /// Account the event is about.
    pub account: String,
    /// Activity label.
    pub activity: Label,
    /// Actor (`Root`, `IAMUser: alice`, ...), for sign-ins.
    pub actor: String,
}

/// What happened, as a report row.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// `Console login`, `On-boarding`, `Maintenance`, `Failed ...`, `... (not finished)`.
    pub transaction: &'static str,
    /// When it ended (or failed, or started when not finished).
    pub time: DateTime<Utc>,
    /// Account.
    pub account: String,
    /// Who: the sign-in's actor, or the account's holder.
    pub identifier: String,
    /// From start to end, in minutes.
    pub minutes: Option<Decimal>,
    /// Whether it is a failure.
    pub failed: bool,
}

/// `'a', 'b', ...`: labels as a SQL list.
pub(crate) fn sql_list(labels: &[Label]) -> String {
    labels
        .iter()
        .map(|l| format!("'{l}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Keeps events whose activity label is one of `labels`.
pub(crate) fn labelled(labels: &[Label]) -> Expr {
    labels
        .iter()
        .map(|l| col(ACTIVITY).eq(lit(l.as_str())))
        .reduce(|a, b| a.or(b))
        .unwrap_or_else(|| lit(false))
}

/// The labelled events of the days `from..=to`, each once, in Athena's dialect (the same as
/// the Polars query of [`load`]).
pub fn athena_sql(from: chrono::NaiveDate, to: chrono::NaiveDate) -> String {
    format!(
        "SELECT event_time, account_id, activity, actor_type, actor_name FROM ( \
           SELECT event_time, account_id, activity, actor_type, actor_name, \
                  ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY event_time) AS copy \
           FROM events WHERE dt BETWEEN '{from}' AND '{to}' AND activity IN ({})) e \
         WHERE copy = 1 ORDER BY event_time",
        sql_list(&LABELS)
    )
}

/// Reads the labelled events of the month (and the days before it that can open a transaction).
pub async fn load(data: &Datasets<'_>, month: Month) -> Result<Vec<Event>, DataError> {
    Ok(load_timed(data, month).await?.0)
}

/// [`load`], with the time the query took (reading, filtering, deduplicating and sorting; not
/// making the events).
pub async fn load_timed(
    data: &Datasets<'_>,
    month: Month,
) -> Result<(Vec<Event>, std::time::Duration), DataError> {
    let from = month.first() - Days::new(LOOKBACK_DAYS);
    let started = std::time::Instant::now();
    let Some(events) = data
        .events(from, month.last(), Some(labelled(&LABELS)))
        .await?
    else {
        return Err(data.data().missing(
            spa_core::lake::Dataset::Events,
            &month.to_string(),
            "fill it with `cargo run -p ingest -- <event files or folders>`".into(),
        ));
    };
    let sql = athena_sql(from, month.last());
    let df = data
        .aggregate(
            events
                .select([
                    col(EVENT_TIME),
                    col(ACCOUNT_ID),
                    col(ACTIVITY),
                    col(ACTOR_TYPE),
                    col(ACTOR_NAME),
                ])
                .sort([EVENT_TIME], SortMultipleOptions::default()),
            &sql,
        )
        .await?;
    let query = started.elapsed();
    let (time, account, activity) = (
        times(&df, EVENT_TIME)?,
        borrowed(&df, ACCOUNT_ID)?,
        borrowed(&df, ACTIVITY)?,
    );
    let (kind, name) = (borrowed(&df, ACTOR_TYPE)?, borrowed(&df, ACTOR_NAME)?);
    let events = (0..df.height())
        .filter_map(|i| {
            Some(Event {
                time: time[i]?,
                account: account[i]?.to_string(),
                activity: activity[i]?.parse().ok()?,
                actor: match (kind[i], name[i]) {
                    (Some(k), Some(n)) => format!("{k}: {n}"),
                    (Some(k), None) => k.to_string(),
                    (None, Some(n)) => n.to_string(),
                    (None, None) => String::new(),
                },
            })
        })
        .collect();
    Ok((events, query))
}

fn minutes(from: DateTime<Utc>, to: DateTime<Utc>) -> Decimal {
    (Decimal::from((to - from).num_seconds()) / Decimal::from(60)).round_dp(1)
}

/// Pairs each account's lifecycle events into transactions and lists sign-ins: the rows of
/// the month (events are in time order; those before the month only open transactions).
pub fn activities(
    events: &[Event],
    month: Month,
    accounts: &BTreeMap<String, AccountInfo>,
) -> Vec<Activity> {
    let in_month = |t: &DateTime<Utc>| Month::of(t.date_naive()) == month;
    let holder = |account: &str| accounts.get(account).map_or("", |a| a.holder.as_str());
    use LifecycleEvent::*;
    let mut open: BTreeMap<&str, (&'static str, DateTime<Utc>)> = BTreeMap::new();
    let mut out = Vec::new();
    for e in events {
        let row = |transaction, minutes, failed, identifier: &str| Activity {
            transaction,
            time: e.time,
            account: e.account.clone(),
            identifier: identifier.to_string(),
            minutes,
            failed,
        };
        match e.activity {
            Label::ConsoleLogin | Label::FailedConsoleLogin if in_month(&e.time) => {
                let failed = e.activity == Label::FailedConsoleLogin;
                let name = if failed {
                    "Failed console login"
                } else {
                    "Console login"
                };
                out.push(row(name, None, failed, &e.actor));
            }
            Label::Lifecycle(CreatedAccount) => {
                open.insert(&e.account, ("On-boarding", e.time));
            }
            Label::Lifecycle(ExpiredAccount) => {
                open.insert(&e.account, ("Maintenance", e.time));
            }
            Label::Lifecycle(ReleasedAccount) => {
                if let Some((name, start)) = open.remove(e.account.as_str())
                    && in_month(&e.time)
                {
                    out.push(row(
                        name,
                        Some(minutes(start, e.time)),
                        false,
                        holder(&e.account),
                    ));
                }
            }
            Label::Lifecycle(failure @ (FailedOnBoarding | FailedMaintenance))
                if in_month(&e.time) =>
            {
                let start = open.remove(e.account.as_str()).map(|(_, t)| t);
                let name = if failure == FailedOnBoarding {
                    "Failed on-boarding"
                } else {
                    "Failed maintenance"
                };
                out.push(row(
                    name,
                    start.map(|s| minutes(s, e.time)),
                    true,
                    holder(&e.account),
                ));
            }
            _ => {}
        }
    }
    for (account, (name, start)) in open {
        if in_month(&start) {
            out.push(Activity {
                transaction: if name == "On-boarding" {
                    "On-boarding (not finished)"
                } else {
                    "Maintenance (not finished)"
                },
                time: start,
                account: account.to_string(),
                identifier: holder(account).to_string(),
                minutes: None,
                failed: false,
            });
        }
    }
    out.sort_by(|a, b| (a.time, &a.account).cmp(&(b.time, &b.account)));
    out
}

fn activity_table(name: &str, rows: &[(&AccountInfo, &Activity)]) -> Table {
    let mut table = Table::new(
        name,
        vec![
            Column::text("Transaction"),
            Column::of("Time", Kind::Time),
            Column::text("Cost Center"),
            Column::text("Organizational Unit"),
            Column::text("Account"),
            Column::text("Name"),
            Column::text("Identifier"),
            Column::of("Duration (min)", Kind::Number),
        ],
    );
    table.totals = false;
    for (info, a) in rows {
        table.rows.push(Row::new(vec![
            a.transaction.into(),
            Cell::Time(a.time),
            info.cost_center.clone().into(),
            info.ou.clone().into(),
            a.account.clone().into(),
            info.name.clone().into(),
            a.identifier.clone().into(),
            a.minutes.map_or(Cell::Empty, Cell::Decimal),
        ]));
    }
    table
}

/// Counts per cost center and the median duration of on-boardings and maintenances.
fn summary(rows: &[(&AccountInfo, &Activity)]) -> Table {
    const KINDS: [&str; 6] = [
        "Console login",
        "Failed console login",
        "On-boarding",
        "Maintenance",
        "Failed on-boarding",
        "Failed maintenance",
    ];
    let mut columns = vec![Column::text("Cost Center")];
    columns.extend(
        KINDS
            .iter()
            .map(|k| Column::of(&format!("{k}s"), Kind::Count)),
    );
    columns.push(Column::of("Median On-boarding (min)", Kind::Number));
    columns.push(Column::of("Median Maintenance (min)", Kind::Number));
    let mut table = Table::new("Cost Centers", columns);
    let mut by_cc: BTreeMap<&str, Vec<&Activity>> = BTreeMap::new();
    for (info, a) in rows {
        by_cc.entry(info.cost_center.as_str()).or_default().push(a);
    }
    let median = |list: &[&Activity], kind: &str| {
        let mut d: Vec<Decimal> = list
            .iter()
            .filter(|a| a.transaction == kind)
            .filter_map(|a| a.minutes)
            .collect();
        d.sort();
        match d.len() {
            0 => Cell::Empty,
            n if n % 2 == 1 => Cell::Decimal(d[n / 2]),
            n => Cell::Decimal(((d[n / 2 - 1] + d[n / 2]) / Decimal::TWO).round_dp(1)),
        }
    };
    for (cc, list) in by_cc {
        let mut cells: Vec<Cell> = vec![cc.into()];
        for kind in KINDS {
            cells.push(Cell::Count(
                list.iter().filter(|a| a.transaction == kind).count() as i64,
            ));
        }
        cells.push(median(&list, "On-boarding"));
        cells.push(median(&list, "Maintenance"));
        table.rows.push(Row::new(cells));
    }
    table
}

/// The month's activity reports: one per cost center, and one for the organization (counts per
/// cost center, failures, every activity).
pub fn reports(
    month: Month,
    activities: &[Activity],
    accounts: &BTreeMap<String, AccountInfo>,
    exceptions: &[crate::exceptions::ExceptionRow],
) -> Vec<Report> {
    let unknown = AccountInfo::unknown();
    let rows: Vec<(&AccountInfo, &Activity)> = activities
        .iter()
        .map(|a| (accounts.get(&a.account).unwrap_or(&unknown), a))
        .collect();
    let mut by_cc: BTreeMap<&str, Vec<(&AccountInfo, &Activity)>> = BTreeMap::new();
    for r in &rows {
        by_cc.entry(r.0.cost_center.as_str()).or_default().push(*r);
    }
    let report = |cost_center: &str, tables: Vec<Table>, csv: Vec<usize>| Report {
        family: Family::Activities,
        cost_center: cost_center.to_string(),
        organization: false,
        period: month.to_string(),
        year: month.year(),
        label: "activities".into(),
        tables,
        csv,
        charts: Vec::new(),
        workbook: true,
        page: None,
    };
    let mut exceptions_by_cc: BTreeMap<&str, Vec<&crate::exceptions::ExceptionRow>> =
        BTreeMap::new();
    for e in exceptions {
        if let Some(cc) = crate::exceptions::cost_center_of(e, accounts) {
            exceptions_by_cc.entry(cc).or_default().push(e);
        }
    }
    let mut out: Vec<Report> = by_cc
        .iter()
        .map(|(cc, list)| {
            let mut tables = vec![activity_table("Activities", list)];
            if let Some(found) = exceptions_by_cc.get(cc) {
                tables.push(crate::exceptions::table(found));
            }
            report(cc, tables, vec![0])
        })
        .collect();
    let failures: Vec<(&AccountInfo, &Activity)> =
        rows.iter().copied().filter(|(_, a)| a.failed).collect();
    out.push(Report {
        organization: true,
        ..report(
            ALL,
            vec![
                summary(&rows),
                activity_table("Failures", &failures),
                activity_table("Activities", &rows),
                crate::exceptions::table(&exceptions.iter().collect::<Vec<_>>()),
            ],
            vec![0, 1, 2],
        )
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn event(time: &str, account: &str, activity: &str) -> Event {
        Event {
            time: at(time),
            account: account.into(),
            activity: activity.parse().unwrap(),
            actor: "IAMUser: bob".into(),
        }
    }

    #[test]
    fn lifecycle_events_pair_into_transactions() {
        let month: Month = "2026-10".parse().unwrap();
        let events = vec![
            // A maintenance that opened before the month and ends in it.
            event("2026-09-28T18:00:00Z", "A", "ExpiredAccount"),
            event("2026-10-01T08:00:00Z", "B", "ConsoleLogin"),
            event("2026-10-01T10:00:00Z", "A", "ReleasedAccount"),
            event("2026-10-05T10:00:00Z", "C", "CreatedAccount"),
            event("2026-10-05T10:00:30Z", "C", "AssignedAccount"),
            event("2026-10-05T10:25:00Z", "C", "ReleasedAccount"),
            event("2026-10-10T18:00:00Z", "B", "ExpiredAccount"),
            event("2026-10-11T18:00:00Z", "B", "FailedMaintenance"),
            event("2026-10-30T09:00:00Z", "D", "CreatedAccount"),
            // Next month's sign-in is not this month's.
            event("2026-11-01T00:00:01Z", "B", "ConsoleLogin"),
        ];
        let accounts = BTreeMap::from([(
            "C".to_string(),
            AccountInfo {
                holder: "carol@example.com".into(),
                ..AccountInfo::default()
            },
        )]);
        let all = activities(&events, month, &accounts);
        let got: Vec<(&str, &str, Option<Decimal>, bool)> = all
            .iter()
            .map(|a| (a.transaction, a.account.as_str(), a.minutes, a.failed))
            .collect();
        // Durations by hand: 2 days 16 h = 3840 min; 25 min; 24 h = 1440 min.
        assert_eq!(
            got,
            [
                ("Console login", "B", None, false),
                ("Maintenance", "A", Some(Decimal::from(3840)), false),
                ("On-boarding", "C", Some(Decimal::from(25)), false),
                ("Failed maintenance", "B", Some(Decimal::from(1440)), true),
                ("On-boarding (not finished)", "D", None, false),
            ]
        );
        let carol = all.iter().find(|a| a.account == "C").unwrap();
        assert_eq!(carol.identifier, "carol@example.com");
    }
}
