//! Anomalies of a month: the days an account's spend jumped far outside its own recent range,
//! by the rule of the daily spend alerts' jumps (the account's `spend.jump` settings: a day
//! above `factor` times the mean of the up to 7 days before it that the lake holds, a day
//! without costs counting as zero, and above `min_amount`), each with its drivers: the services
//! whose spend that day exceeded their own mean over the same days by the most (by half a cent
//! at least). The daily run
//! alerts on a jump the day it happens; this lists the month's. Read with Polars.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use polars::prelude::*;
use rust_decimal::Decimal;
use spa_core::Settings;
use spa_core::lake::columns::{ACCOUNT_ID, DAY, SERVICE, UNBLENDED};
use spa_core::period::{Day, Month};
use spa_core::settings::SpendLimits;
use spa_core::spend::{Figures, Kind, Scope, decide};

use crate::accounts::AccountInfo;
use crate::costs::{DaySpend, is_spend};
use crate::data::DataError;
use crate::engine::Datasets;
use crate::frames::{collect, decimals, texts};
use crate::table::{Cell, Column, Row, Table};

/// Drivers listed per anomaly.
const DRIVERS: usize = 3;

/// A service's spend on an anomaly's day against its mean over the days before.
#[derive(Debug, Clone, PartialEq)]
pub struct Driver {
    /// Service.
    pub service: String,
    /// Spend on the day.
    pub day: Decimal,
    /// Mean over the days before.
    pub mean: Decimal,
}

/// One account's anomalous day.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// The day.
    pub day: NaiveDate,
    /// Account id.
    pub account: String,
    /// Its name and cost center (the snapshot at the month's end).
    pub info: AccountInfo,
    /// Spend on the day.
    pub spend: Decimal,
    /// Mean of the days before it.
    pub mean: Decimal,
    /// Days averaged.
    pub days: usize,
    /// The services that grew most.
    pub drivers: Vec<Driver>,
}

/// The jump rule's limits of an account (nothing else of its thresholds).
fn jump_of(settings: &Settings, id: &str, info: &AccountInfo) -> SpendLimits {
    SpendLimits {
        jump: info.spend_limits(id, settings).jump,
        ..SpendLimits::default()
    }
}

/// The month's anomalies, largest spend first, found in `days` (the month's and the month
/// before's spend per account and day), then their drivers read from the lake.
pub async fn find(
    settings: &Settings,
    data: &Datasets<'_>,
    month: Month,
    days: &DaySpend,
    accounts: &BTreeMap<String, AccountInfo>,
) -> Result<Vec<Anomaly>, DataError> {
    let rates = &settings.features.extra_currencies;
    let in_month: Vec<NaiveDate> = days
        .held
        .iter()
        .copied()
        .filter(|d| Month::of(*d) == month)
        .collect();
    let mut found = Vec::new();
    for (id, series) in &days.by_account {
        let info = accounts
            .get(id)
            .cloned()
            .unwrap_or_else(AccountInfo::unknown);
        let limits = jump_of(settings, id, &info);
        if limits.jump.is_none() {
            continue;
        }
        let on = |d: &NaiveDate| series.get(d).copied().unwrap_or_default();
        for day in &in_month {
            let before = days.trailing(*day);
            let figures = Figures {
                day: Day::of(*day),
                spend: on(day),
                month_to_date: Decimal::ZERO,
                trailing: before.iter().map(on).collect(),
                estimate: None,
            };
            let alerts = decide(&Scope::Account(id.clone()), &limits, rates, &figures);
            if let Some(jump) = alerts.iter().find(|a| a.kind == Kind::Jump) {
                found.push(Anomaly {
                    day: *day,
                    account: id.clone(),
                    info: info.clone(),
                    spend: figures.spend,
                    mean: jump.mean.unwrap_or_default(),
                    days: before.len(),
                    drivers: Vec::new(),
                });
            }
        }
    }
    found.sort_by(|a, b| {
        b.spend
            .cmp(&a.spend)
            .then_with(|| (a.day, &a.account).cmp(&(b.day, &b.account)))
    });
    drivers(data, month, days, &mut found).await?;
    Ok(found)
}

/// Fills each anomaly's drivers: per service, its spend on the day against its mean over the
/// same days before.
async fn drivers(
    data: &Datasets<'_>,
    month: Month,
    days: &DaySpend,
    found: &mut [Anomaly],
) -> Result<(), DataError> {
    if found.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = found
        .iter()
        .map(|a| a.account.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let wanted = crate::frames::account_ids(ids)?;
    let mut per: BTreeMap<(String, String), BTreeMap<NaiveDate, Decimal>> = BTreeMap::new();
    for m in [month.previous(), month] {
        let Some(costs) = data.costs(m).await? else {
            continue;
        };
        let frame = costs
            .filter(is_spend())
            .join(
                wanted.clone().lazy(),
                [col(ACCOUNT_ID)],
                [col(ACCOUNT_ID)],
                JoinArgs::new(JoinType::Inner),
            )
            .group_by([col(ACCOUNT_ID), col(SERVICE), col(DAY)])
            .agg([col(UNBLENDED).sum()])
            .with_column(col(DAY).cast(DataType::String));
        let df = collect(frame)?;
        let (account, service, day, amount) = (
            texts(&df, ACCOUNT_ID)?,
            texts(&df, SERVICE)?,
            texts(&df, DAY)?,
            decimals(&df, UNBLENDED)?,
        );
        for i in 0..df.height() {
            let Ok(d) = day[i].parse::<NaiveDate>() else {
                continue;
            };
            *per.entry((account[i].clone(), service[i].clone()))
                .or_default()
                .entry(d)
                .or_default() += amount[i].unwrap_or_default();
        }
    }
    for anomaly in found.iter_mut() {
        let before = days.trailing(anomaly.day);
        let mut list: Vec<Driver> = per
            .range((anomaly.account.clone(), String::new())..)
            .take_while(|((a, _), _)| *a == anomaly.account)
            .map(|((_, service), series)| {
                let on = |d: &NaiveDate| series.get(d).copied().unwrap_or_default();
                let sum: Decimal = before.iter().map(on).sum();
                Driver {
                    service: service.clone(),
                    day: on(&anomaly.day),
                    mean: if before.is_empty() {
                        Decimal::ZERO
                    } else {
                        sum / Decimal::from(before.len())
                    },
                }
            })
            // Growth that shows at all, to the cent.
            .filter(|d| d.day - d.mean >= Decimal::new(5, 3))
            .collect();
        list.sort_by(|a, b| {
            (b.day - b.mean)
                .cmp(&(a.day - a.mean))
                .then_with(|| a.service.cmp(&b.service))
        });
        list.truncate(DRIVERS);
        anomaly.drivers = list;
    }
    Ok(())
}

/// The anomalies as a table (of one cost center when given), amounts in `currency`.
pub fn table(found: &[Anomaly], currency: &str, cost_center: Option<&str>) -> Table {
    let mut table = Table::new(
        "Anomalies",
        vec![
            Column::of("Day", crate::table::Kind::Text),
            Column::text("Account"),
            Column::text("Name"),
            Column::text("Cost Center"),
            Column::money("Spend", currency),
            Column::money("Mean Before", currency),
            Column::text("Drivers"),
        ],
    );
    table.totals = false;
    for a in found
        .iter()
        .filter(|a| cost_center.is_none_or(|cc| a.info.cost_center == cc))
    {
        let drivers: Vec<String> = a
            .drivers
            .iter()
            .map(|d| {
                format!(
                    "{} {} (mean {})",
                    d.service,
                    crate::html::cents(d.day),
                    crate::html::cents(d.mean)
                )
            })
            .collect();
        table.rows.push(Row::new(vec![
            a.day.to_string().into(),
            a.account.clone().into(),
            a.info.name.clone().into(),
            a.info.cost_center.clone().into(),
            Cell::Decimal(a.spend),
            Cell::Decimal(a.mean.round_dp(6)),
            drivers.join("; ").into(),
        ]));
    }
    table
}
