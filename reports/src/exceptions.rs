//! The month's exceptions (what needed a human, as the `exceptions` dataset holds them) as a
//! sheet of the activity reports and as CSV files under `reporting.exceptions_prefix`: one for
//! the organization and one per cost center that had any.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use polars::prelude::*;
use rust_decimal::Decimal;
use spa_core::lake::columns::{
    ACCOUNT_ID, ACCOUNT_NAME, COST_CENTER, CURRENCY, EVENT_TIME, EXCEPTION_ID, HOLDER, LABEL,
    MESSAGE, MTD_COST, OU_NAME, SEVERITY,
};
use spa_core::period::Month;

use crate::accounts::AccountInfo;
use crate::data::DataError;
use crate::engine::Datasets;
use crate::frames::{decimals, strings, times};
use crate::report::{ALL, Family, Report};
use crate::table::{Cell, Column, Kind, Row, Table};

/// One exception of the month.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionRow {
    /// When its event happened.
    pub time: DateTime<Utc>,
    /// `critical`, `high`, `warning`.
    pub severity: String,
    /// Its label.
    pub label: String,
    /// The account, if any.
    pub account: Option<String>,
    /// The account's name when raised.
    pub name: Option<String>,
    /// Holder when raised.
    pub holder: Option<String>,
    /// Cost center when raised.
    pub cost_center: Option<String>,
    /// OU when raised.
    pub ou: Option<String>,
    /// What happened.
    pub message: String,
    /// Month-to-date cost when raised.
    pub cost: Option<Decimal>,
    /// Its currency.
    pub currency: Option<String>,
}

/// The Athena query of the month's exceptions.
pub fn athena_sql(month: Month) -> String {
    format!(
        "SELECT {EXCEPTION_ID}, {EVENT_TIME}, {SEVERITY}, {LABEL}, {ACCOUNT_ID}, {ACCOUNT_NAME}, {HOLDER}, \
         {COST_CENTER}, {OU_NAME}, {MESSAGE}, CAST({MTD_COST} AS VARCHAR) AS {MTD_COST}, {CURRENCY} \
         FROM exceptions WHERE dt BETWEEN '{}' AND '{}' ORDER BY {EVENT_TIME}",
        month.first(),
        month.last()
    )
}

/// The month's exceptions in time order, each once.
pub async fn load(data: &Datasets<'_>, month: Month) -> Result<Vec<ExceptionRow>, DataError> {
    let Some(frame) = data.exceptions(month).await? else {
        return Ok(Vec::new());
    };
    let columns = [
        EXCEPTION_ID,
        EVENT_TIME,
        SEVERITY,
        LABEL,
        ACCOUNT_ID,
        ACCOUNT_NAME,
        HOLDER,
        COST_CENTER,
        OU_NAME,
        MESSAGE,
        MTD_COST,
        CURRENCY,
    ];
    let df = data
        .aggregate(
            frame
                .select(columns.iter().map(|c| col(*c)).collect::<Vec<_>>())
                .sort([EVENT_TIME], SortMultipleOptions::default()),
            &athena_sql(month),
        )
        .await?;
    let ids = strings(&df, EXCEPTION_ID)?;
    let time = times(&df, EVENT_TIME)?;
    let (severity, label, account) = (
        strings(&df, SEVERITY)?,
        strings(&df, LABEL)?,
        strings(&df, ACCOUNT_ID)?,
    );
    let (name, holder, cc) = (
        strings(&df, ACCOUNT_NAME)?,
        strings(&df, HOLDER)?,
        strings(&df, COST_CENTER)?,
    );
    let (ou, message, currency) = (
        strings(&df, OU_NAME)?,
        strings(&df, MESSAGE)?,
        strings(&df, CURRENCY)?,
    );
    let cost = decimals(&df, MTD_COST)?;
    let mut seen = HashSet::new();
    Ok((0..df.height())
        .filter(|&i| ids[i].as_ref().is_some_and(|id| seen.insert(id.clone())))
        .filter_map(|i| {
            Some(ExceptionRow {
                time: time[i]?,
                severity: severity[i].clone()?,
                label: label[i].clone()?,
                account: account[i].clone(),
                name: name[i].clone(),
                holder: holder[i].clone(),
                cost_center: cc[i].clone(),
                ou: ou[i].clone(),
                message: message[i].clone()?,
                cost: cost[i],
                currency: currency[i].clone(),
            })
        })
        .collect())
}

/// The cost center an exception reports under: the account's in the month's snapshot, else the
/// one stored when it was raised, else none (organization only).
pub fn cost_center_of<'a>(
    row: &'a ExceptionRow,
    accounts: &'a BTreeMap<String, AccountInfo>,
) -> Option<&'a str> {
    row.account
        .as_ref()
        .and_then(|a| accounts.get(a))
        .map(|info| info.cost_center.as_str())
        .or(row.cost_center.as_deref())
}

/// The Exceptions sheet of `rows`.
pub fn table(rows: &[&ExceptionRow]) -> Table {
    let mut table = Table::new(
        "Exceptions",
        vec![
            Column::of("Time", Kind::Time),
            Column::text("Severity"),
            Column::text("Label"),
            Column::text("Account"),
            Column::text("Name"),
            Column::text("Holder"),
            Column::text("Cost Center"),
            Column::text("Organizational Unit"),
            Column::text("Message"),
            Column::of("Cost this month", Kind::Number),
            Column::text("Currency"),
        ],
    );
    table.totals = false;
    for r in rows {
        let text = |v: &Option<String>| v.clone().map_or(Cell::Empty, Cell::from);
        table.rows.push(Row::new(vec![
            Cell::Time(r.time),
            r.severity.clone().into(),
            r.label.clone().into(),
            text(&r.account),
            text(&r.name),
            text(&r.holder),
            text(&r.cost_center),
            text(&r.ou),
            r.message.clone().into(),
            r.cost.map_or(Cell::Empty, Cell::Decimal),
            text(&r.currency),
        ]));
    }
    table
}

/// The month's exceptions as CSV files under the exceptions prefix: the organization's, and one
/// per cost center that had any.
pub fn reports(
    month: Month,
    rows: &[ExceptionRow],
    accounts: &BTreeMap<String, AccountInfo>,
) -> Vec<Report> {
    let mut by_cc: BTreeMap<&str, Vec<&ExceptionRow>> = BTreeMap::new();
    for r in rows {
        if let Some(cc) = cost_center_of(r, accounts) {
            by_cc.entry(cc).or_default().push(r);
        }
    }
    let report = |cost_center: &str, list: &[&ExceptionRow], organization: bool| Report {
        family: Family::Exceptions,
        cost_center: cost_center.to_string(),
        organization,
        period: month.to_string(),
        year: month.year(),
        label: "exceptions".into(),
        tables: vec![table(list)],
        csv: vec![0],
        charts: Vec::new(),
        workbook: false,
        page: None,
    };
    let mut out: Vec<Report> = by_cc
        .iter()
        .map(|(cc, list)| report(cc, list, false))
        .collect();
    let all: Vec<&ExceptionRow> = rows.iter().collect();
    out.push(report(ALL, &all, true));
    out
}
