//! Month-end forecast per account and cost center from the month's days so far, with the
//! model's error measured on the months before it in the lake.
//!
//! The model is a recent run rate: the spend so far, plus the mean daily spend of the last
//! [`WINDOW`] days held (fewer at the start of a month; a day without costs counts as zero)
//! times the days left (that product kept to a millionth). It is linear: a cost center's
//! forecast is the sum of its accounts', the organization's the sum of all. Once the lake holds the month's last day, the
//! forecast is the month's spend.
//!
//! Backtest: for each of the [`BACKTEST_MONTHS`] months before whose last day the lake holds,
//! the model is run on that month's days up to the same day of the month and compared with
//! the month's actual spend; the error shown is the mean absolute percentage error over those
//! months (a month whose actual spend is zero or less is left out of a scope's mean).
//!
//! Spend is what the cost centers count: credits and refunds left out. Read with Polars.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate};
use rust_decimal::Decimal;
use spa_core::period::Month;

use crate::accounts::AccountInfo;
use crate::costs::{DaySpend, day_spend};
use crate::data::DataError;
use crate::engine::Datasets;
use crate::table::{Cell, Column, Kind, Row, Table};
use spa_core::organization::NO_COST_TAG;

/// Days whose mean spend is the run rate.
pub const WINDOW: u32 = 7;
/// Months before the reported one that the backtest looks at.
pub const BACKTEST_MONTHS: u32 = 6;

/// The model on one series: spend so far, run rate, forecast.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Estimate {
    /// Spend from the month's first day through the cut-off.
    pub so_far: Decimal,
    /// Mean daily spend of the window.
    pub rate: Decimal,
    /// Month-end forecast.
    pub forecast: Decimal,
}

/// The model on `days` (spend per day) for `month`, knowing the days through `through`.
pub fn estimate(days: &BTreeMap<NaiveDate, Decimal>, month: Month, through: NaiveDate) -> Estimate {
    let held = through.day().min(month.last().day());
    let window = WINDOW.min(held).max(1);
    let first = month.first();
    let so_far: Decimal = days.range(first..=through).map(|(_, v)| *v).sum();
    let from = through - Days::new(u64::from(window - 1));
    let recent: Decimal = days.range(from.max(first)..=through).map(|(_, v)| *v).sum();
    let rate = recent / Decimal::from(window);
    let left = month.last().day() - held;
    Estimate {
        so_far,
        rate,
        // To a millionth: the spend so far stays exact, and is the forecast on the last day.
        forecast: so_far + (rate * Decimal::from(left)).round_dp(6),
    }
}

impl std::ops::AddAssign for Estimate {
    fn add_assign(&mut self, other: Estimate) {
        self.so_far += other.so_far;
        self.rate += other.rate;
        self.forecast += other.forecast;
    }
}

/// A scope's backtest: the mean absolute percentage error and the months it averages.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Backtest {
    /// Mean absolute percentage error (percent).
    pub error: Option<Decimal>,
    /// Months averaged.
    pub months: usize,
}

/// Per scope (account, cost center, organization): the estimate and its backtest.
#[derive(Debug, Clone, Default)]
pub struct Forecast {
    /// The reported month.
    pub month: Option<Month>,
    /// The last day of the month the lake holds costs for (`None`: none).
    pub through: Option<NaiveDate>,
    /// Per account: cost center, name, estimate, backtest.
    pub accounts: BTreeMap<String, (String, String, Estimate, Backtest)>,
    /// Per cost center.
    pub centers: BTreeMap<String, (Estimate, Backtest)>,
    /// The organization.
    pub organization: (Estimate, Backtest),
    /// Spend per account and day of the month and the month before (what anomalies are
    /// looked for in).
    pub days: DaySpend,
}

impl Forecast {
    /// Whether the lake holds the whole month (the forecast is then the actual spend).
    pub fn complete(&self) -> bool {
        matches!((self.month, self.through), (Some(m), Some(t)) if t >= m.last())
    }
}

type Series = BTreeMap<NaiveDate, Decimal>;

fn add(into: &mut Series, from: &Series) {
    for (day, v) in from {
        *into.entry(*day).or_default() += *v;
    }
}

/// Percentage error of `forecast` against `actual`, if the actual is positive.
fn error(forecast: Decimal, actual: Decimal) -> Option<Decimal> {
    (actual > Decimal::ZERO).then(|| ((forecast - actual).abs() / actual) * Decimal::ONE_HUNDRED)
}

fn mean(errors: &[Decimal]) -> Backtest {
    Backtest {
        error: (!errors.is_empty()).then(|| {
            (errors.iter().copied().sum::<Decimal>() / Decimal::from(errors.len())).round_dp(1)
        }),
        months: errors.len(),
    }
}

/// Reads the month's spend per account and day and the months before, and forecasts; cost
/// centers and names from `accounts` (the snapshot at the month's end; unknown accounts go to
/// `NoCostTag`).
pub async fn load(
    data: &Datasets<'_>,
    month: Month,
    accounts: &BTreeMap<String, AccountInfo>,
) -> Result<Forecast, DataError> {
    let mut now = DaySpend::default();
    day_spend(data, month, month.last(), &mut now).await?;
    let Some(through) = now.held.iter().next_back().copied() else {
        return Ok(Forecast {
            month: Some(month),
            days: now,
            ..Forecast::default()
        });
    };
    let mut recent = now.clone();
    let day = through.day();
    let center = |id: &str| -> String {
        accounts
            .get(id)
            .map_or_else(|| NO_COST_TAG.to_string(), |a| a.cost_center.clone())
    };
    // Past months whose last day the lake holds: the model at the same day of the month.
    let mut errors_account: BTreeMap<String, Vec<Decimal>> = BTreeMap::new();
    let mut errors_center: BTreeMap<String, Vec<Decimal>> = BTreeMap::new();
    let mut errors_all = Vec::new();
    let mut past = month;
    for _ in 0..BACKTEST_MONTHS {
        past = past.previous();
        let mut spend = DaySpend::default();
        day_spend(data, past, past.last(), &mut spend).await?;
        if past == month.previous() {
            for (id, series) in &spend.by_account {
                recent
                    .by_account
                    .entry(id.clone())
                    .or_default()
                    .extend(series);
            }
            recent.held.extend(&spend.held);
        }
        if !spend.held.contains(&past.last()) {
            continue;
        }
        let cut = past
            .first()
            .with_day(day.min(past.last().day()))
            .expect("a day of the month");
        let (mut centers, mut all): (BTreeMap<String, Series>, Series) = Default::default();
        for (id, days) in &spend.by_account {
            let e = estimate(days, past, cut);
            let actual = estimate(days, past, past.last()).so_far;
            if let Some(err) = error(e.forecast, actual) {
                errors_account.entry(id.clone()).or_default().push(err);
            }
            add(centers.entry(center(id)).or_default(), days);
            add(&mut all, days);
        }
        for (cc, days) in &centers {
            let e = estimate(days, past, cut);
            if let Some(err) = error(e.forecast, estimate(days, past, past.last()).so_far) {
                errors_center.entry(cc.clone()).or_default().push(err);
            }
        }
        if let Some(err) = error(
            estimate(&all, past, cut).forecast,
            estimate(&all, past, past.last()).so_far,
        ) {
            errors_all.push(err);
        }
    }
    let mut out = Forecast {
        month: Some(month),
        through: Some(through),
        days: recent,
        ..Forecast::default()
    };
    // A cost center's estimate is the sum of its accounts' (the same model, summed as the
    // tables sum their rows), the organization's the sum of all.
    let mut centers: BTreeMap<String, Estimate> = BTreeMap::new();
    let mut all = Estimate::default();
    for (id, days) in &now.by_account {
        let cc = center(id);
        let name = accounts
            .get(id)
            .map_or_else(|| crate::accounts::UNKNOWN.to_string(), |a| a.name.clone());
        let backtest = mean(errors_account.get(id).map_or(&[][..], Vec::as_slice));
        let e = estimate(days, month, through);
        *centers.entry(cc.clone()).or_default() += e;
        all += e;
        out.accounts.insert(id.clone(), (cc, name, e, backtest));
    }
    for (cc, e) in centers {
        let backtest = mean(errors_center.get(&cc).map_or(&[][..], Vec::as_slice));
        out.centers.insert(cc, (e, backtest));
    }
    out.organization = (all, mean(&errors_all));
    Ok(out)
}

/// The forecast as a table: per cost center (a subtotal row) its accounts, in `currency`;
/// only `cost_center`'s when given.
pub fn table(forecast: &Forecast, currency: &str, cost_center: Option<&str>) -> Table {
    let mut table = Table::new(
        "Forecast",
        vec![
            Column::text("Cost Center"),
            Column::text("Account"),
            Column::text("Name"),
            Column::of("Days Held", Kind::Number),
            Column::money("Spend So Far", currency),
            Column::money("Daily Rate", currency),
            Column::money("Month-End Forecast", currency),
            Column::of("Backtest Error %", Kind::Number),
            Column::of("Backtest Months", Kind::Number),
        ],
    );
    let held = forecast.through.map_or(0, |t| t.day());
    let row = |cc: &str, id: &str, name: &str, e: &Estimate, b: &Backtest| -> Vec<Cell> {
        vec![
            cc.to_string().into(),
            if id.is_empty() {
                Cell::Empty
            } else {
                id.to_string().into()
            },
            if name.is_empty() {
                Cell::Empty
            } else {
                name.to_string().into()
            },
            Cell::Empty,
            Cell::Decimal(e.so_far),
            Cell::Decimal(e.rate.round_dp(6)),
            Cell::Decimal(e.forecast),
            b.error.map_or(Cell::Empty, Cell::Decimal),
            Cell::Decimal(Decimal::from(b.months)),
        ]
    };
    for (cc, (e, b)) in &forecast.centers {
        if cost_center.is_some_and(|c| c != cc) {
            continue;
        }
        table.rows.push(Row {
            cells: row(cc, "", "", e, b),
            level: 0,
            subtotal: true,
        });
        for (id, (acc_cc, name, e, b)) in &forecast.accounts {
            if acc_cc == cc {
                let mut cells = row(cc, id, name, e, b);
                cells[3] = Cell::Decimal(Decimal::from(held));
                table.rows.push(Row {
                    cells,
                    level: 1,
                    subtotal: false,
                });
            }
        }
    }
    table
}

/// A page's forecast table: the organization's cost centers, or one cost center's accounts,
/// with a totals row.
pub fn summary(forecast: &Forecast, currency: &str, cost_center: Option<&str>) -> Table {
    let first = if cost_center.is_some() {
        "Account"
    } else {
        "Cost Center"
    };
    let mut table = Table::new(
        "Forecast",
        vec![
            Column::text(first),
            Column::money("Spend So Far", currency),
            Column::money("Daily Rate", currency),
            Column::money("Month-End Forecast", currency),
            Column::of("Backtest Error %", Kind::Number),
        ],
    );
    let mut push = |name: &str, e: &Estimate, b: &Backtest| {
        table.rows.push(Row::new(vec![
            name.to_string().into(),
            Cell::Decimal(e.so_far),
            Cell::Decimal(e.rate.round_dp(6)),
            Cell::Decimal(e.forecast),
            b.error.map_or(Cell::Empty, Cell::Decimal),
        ]))
    };
    match cost_center {
        None => {
            for (cc, (e, b)) in &forecast.centers {
                push(cc, e, b);
            }
        }
        Some(cc) => {
            for (id, (c, _, e, b)) in &forecast.accounts {
                if c == cc {
                    push(id, e, b);
                }
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 10, day).unwrap()
    }

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn run_rate_of_the_last_seven_days() {
        let month: Month = "2026-10".parse().unwrap();
        // 10 a day for days 1-7, 20 a day for days 8-14; through the 14th.
        let days: Series = (1..=14)
            .map(|i| (d(i), if i <= 7 { dec("10") } else { dec("20") }))
            .collect();
        let e = estimate(&days, month, d(14));
        // So far 70 + 140 = 210; rate 20; 17 days left: 210 + 340 = 550.
        assert_eq!(e.so_far, dec("210"));
        assert_eq!(e.rate, dec("20"));
        assert_eq!(e.forecast, dec("550"));
        // On day 3, the window is 3 days: 30 so far, rate 10, 28 days left.
        assert_eq!(estimate(&days, month, d(3)).forecast, dec("310"));
        // A day without costs counts as zero: through the 16th (nothing on 15, 16), the last 7
        // days are 10..=16: 5 x 20 = 100 / 7.
        let e = estimate(&days, month, d(16));
        assert_eq!(e.rate, dec("100") / dec("7"));
        // The month's last day: the forecast is what was spent.
        let e = estimate(&days, month, d(31));
        assert_eq!(e.forecast, e.so_far);
    }

    #[test]
    fn errors_and_their_mean() {
        assert_eq!(error(dec("110"), dec("100")), Some(dec("10")));
        assert_eq!(error(dec("80"), dec("100")), Some(dec("20")));
        assert_eq!(error(dec("5"), dec("0")), None);
        let b = mean(&[dec("10"), dec("20")]);
        assert_eq!((b.error, b.months), (Some(dec("15")), 2));
        assert_eq!(mean(&[]).error, None);
    }
}
