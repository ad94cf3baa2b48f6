//! Weekly inventories: every account of the snapshot valid at the week's end with its cost
//! center, owner, OU, state, last console login and last lifecycle transition, so unused
//! accounts and accounts stuck in a state stand out.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::*;

use spa_core::events::{Activity, LifecycleEvent};
use spa_core::lake::columns::{ACCOUNT_ID, ACTIVITY, EVENT_TIME};
use spa_core::period::Week;

use crate::accounts::AccountInfo;
use crate::activities::{labelled, sql_list};
use crate::data::DataError;
use crate::engine::Datasets;
use crate::frames::{strings, times};
use crate::report::{ALL, Family, Report};
use crate::table::{Cell, Column, Kind, Row, Table};

/// Labels whose last event per account the inventory shows: the sign-in and the lifecycle
/// events (each a transition, or a failure reported in a state).
fn labels() -> Vec<Activity> {
    let mut labels = vec![Activity::ConsoleLogin];
    labels.extend(LifecycleEvent::ALL.map(Activity::from));
    labels
}

/// What the events say about an account up to the week's end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// Last successful console login.
    pub last_login: Option<DateTime<Utc>>,
    /// Last lifecycle transition and when.
    pub last_transition: Option<(String, DateTime<Utc>)>,
}

/// The last event of each label per account up to `until`, in Athena's dialect (the same as
/// the Polars query of [`seen`]).
pub fn athena_sql(until: NaiveDate) -> String {
    format!(
        "SELECT account_id, activity, MAX(event_time) AS event_time FROM events \
         WHERE dt <= '{until}' AND activity IN ({}) GROUP BY account_id, activity",
        sql_list(&labels())
    )
}

/// Reads, from every day of events up to `until`, each account's last console login and last
/// lifecycle transition.
pub async fn seen(
    data: &Datasets<'_>,
    until: NaiveDate,
) -> Result<BTreeMap<String, Seen>, DataError> {
    let start = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let labels = labels();
    let Some(events) = data.events(start, until, Some(labelled(&labels))).await? else {
        return Ok(BTreeMap::new());
    };
    let sql = athena_sql(until);
    let df = data
        .aggregate(
            events
                .group_by([col(ACCOUNT_ID), col(ACTIVITY)])
                .agg([col(EVENT_TIME).max()]),
            &sql,
        )
        .await?;
    let (account, activity, time) = (
        strings(&df, ACCOUNT_ID)?,
        strings(&df, ACTIVITY)?,
        times(&df, EVENT_TIME)?,
    );
    let mut out: BTreeMap<String, Seen> = BTreeMap::new();
    for i in 0..df.height() {
        let (Some(account), Some(activity), Some(time)) =
            (account[i].clone(), activity[i].clone(), time[i])
        else {
            continue;
        };
        let seen = out.entry(account).or_default();
        if activity == Activity::ConsoleLogin.as_str() {
            seen.last_login = Some(time);
        } else if seen.last_transition.as_ref().is_none_or(|(_, t)| time > *t) {
            seen.last_transition = Some((activity, time));
        }
    }
    Ok(out)
}

fn days_between(from: DateTime<Utc>, to: NaiveDate) -> i64 {
    (to - from.date_naive()).num_days()
}

/// The inventory table of `accounts` at the end of `week`.
pub fn table(
    week: Week,
    accounts: &[(&String, &AccountInfo)],
    seen: &BTreeMap<String, Seen>,
) -> Table {
    let mut table = Table::new(
        "Inventory",
        vec![
            Column::text("Cost Center"),
            Column::text("Cost Owner"),
            Column::text("Organizational Unit"),
            Column::text("Account"),
            Column::text("Name"),
            Column::text("Email"),
            Column::text("Status"),
            Column::text("State"),
            Column::of("Last Console Login", Kind::Time),
            Column::of("Days Since Login", Kind::Count),
            Column::text("Last Transition"),
            Column::of("Transition Time", Kind::Time),
            Column::of("Days In State", Kind::Count),
        ],
    );
    table.totals = false;
    let end = week.last();
    let mut rows: Vec<&(&String, &AccountInfo)> = accounts.iter().collect();
    rows.sort_by(|a, b| (&a.1.cost_center, &a.1.ou, a.0).cmp(&(&b.1.cost_center, &b.1.ou, b.0)));
    let none = Seen::default();
    for (id, info) in rows {
        let s = seen.get(*id).unwrap_or(&none);
        table.rows.push(Row::new(vec![
            info.cost_center.clone().into(),
            info.holder.clone().into(),
            info.ou.clone().into(),
            (*id).clone().into(),
            info.name.clone().into(),
            info.email.clone().into(),
            info.status.clone().into(),
            info.state.clone().into(),
            s.last_login.map_or(Cell::Empty, Cell::Time),
            s.last_login
                .map_or(Cell::Empty, |t| Cell::Count(days_between(t, end))),
            s.last_transition
                .as_ref()
                .map_or(Cell::Empty, |(name, _)| name.clone().into()),
            s.last_transition
                .as_ref()
                .map_or(Cell::Empty, |(_, t)| Cell::Time(*t)),
            s.last_transition
                .as_ref()
                .map_or(Cell::Empty, |(_, t)| Cell::Count(days_between(*t, end))),
        ]));
    }
    table
}

/// The week's inventories: one per cost center and one for the organization.
pub fn reports(
    week: Week,
    accounts: &BTreeMap<String, AccountInfo>,
    seen: &BTreeMap<String, Seen>,
) -> Vec<Report> {
    let mut by_cc: BTreeMap<&str, Vec<(&String, &AccountInfo)>> = BTreeMap::new();
    for (id, info) in accounts {
        by_cc
            .entry(info.cost_center.as_str())
            .or_default()
            .push((id, info));
    }
    let report = |cost_center: &str, list: &[(&String, &AccountInfo)]| Report {
        family: Family::Inventory,
        cost_center: cost_center.to_string(),
        organization: false,
        period: week.to_string(),
        year: week.year(),
        label: "inventory".into(),
        tables: vec![table(week, list, seen)],
        csv: vec![0],
        charts: Vec::new(),
        workbook: true,
        page: None,
    };
    let mut out: Vec<Report> = by_cc.iter().map(|(cc, list)| report(cc, list)).collect();
    let all: Vec<(&String, &AccountInfo)> = accounts.iter().collect();
    out.push(Report {
        organization: true,
        ..report(ALL, &all)
    });
    out
}
