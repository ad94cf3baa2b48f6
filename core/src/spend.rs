//! Spend alerts decided: pure functions from one scope's figures for a day (an account, or a
//! cost center's sum) and its thresholds to the alerts that day raises. Each alert carries a key
//! that is the same however often the day is evaluated, so storing by key raises it once: per
//! day for `daily_limit`, `jump` and `estimate`, per month for a budget step and the forecast.
//!
//! Spend is the unblended cost of every record type but Credit and Refund, in USD, exact.

use std::collections::BTreeMap;
use std::fmt;

use chrono::Datelike;
use rust_decimal::Decimal;

use crate::period::Day;
use crate::settings::{Amount, Currency, Rate, SpendLimits};

/// Days of the month a forecast needs before it can alert: fewer days give run rates that
/// swing with one day's spend.
pub const FORECAST_FROM_DAY: u32 = 3;

/// Days averaged for a jump.
pub const TRAILING_DAYS: usize = 7;

/// What an alert is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// One account (its id).
    Account(String),
    /// A cost center as a whole (its name).
    CostCenter(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Account(id) => write!(f, "account {id}"),
            Scope::CostCenter(name) => write!(f, "cost center {name}"),
        }
    }
}

/// The threshold kinds, as the alerts and the issue name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The day's spend above `daily_limit`.
    DailyLimit,
    /// Month-to-date spend above a step of `monthly_budget` (the highest step crossed).
    MonthlyBudget,
    /// The month-end forecast above `monthly_budget`, while month-to-date is not.
    Forecast,
    /// The day's spend above `factor` x the trailing mean and above `min_amount`.
    Jump,
    /// The estimated run rate of the day's launches (not yet in the costs) above `daily_limit`.
    Estimate,
}

impl Kind {
    /// The name used in keys, files and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DailyLimit => "daily_limit",
            Kind::MonthlyBudget => "monthly_budget",
            Kind::Forecast => "forecast",
            Kind::Jump => "jump",
            Kind::Estimate => "estimate",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One scope's figures for a day, in USD.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// The day evaluated.
    pub day: Day,
    /// Spend on the day (from the costs).
    pub spend: Decimal,
    /// Spend from the first of the month through the day.
    pub month_to_date: Decimal,
    /// Spend of each of the up to [`TRAILING_DAYS`] days before, for the days the lake holds
    /// costs of (a day without a row of this scope counts as zero).
    pub trailing: Vec<Decimal>,
    /// Estimated spend per day of the day's launches not yet in the costs.
    pub estimate: Option<Decimal>,
}

impl Figures {
    /// The mean of the trailing days, if any is known.
    pub fn trailing_mean(&self) -> Option<Decimal> {
        if self.trailing.is_empty() {
            return None;
        }
        let sum: Decimal = self.trailing.iter().sum();
        Some(sum / Decimal::from(self.trailing.len()))
    }

    /// The month-end forecast: month-to-date spend at the month's daily run rate so far.
    pub fn forecast(&self) -> Decimal {
        let date = self.day.date();
        let days = Decimal::from(days_in_month(date));
        (self.month_to_date * days / Decimal::from(date.day())).round_dp(12)
    }
}

fn days_in_month(date: chrono::NaiveDate) -> u32 {
    let month = crate::period::Month::of(date);
    month.last().day()
}

/// One alert decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// What it is about.
    pub scope: Scope,
    /// Which threshold.
    pub kind: Kind,
    /// The day evaluated.
    pub day: Day,
    /// The figure compared (USD): the day's spend, month-to-date, the forecast or the estimate.
    pub amount: Decimal,
    /// The threshold it passed, as written (for a budget step: the step's share of the budget).
    pub threshold: Amount,
    /// The budget step crossed, in percent (budget steps only).
    pub step: Option<u16>,
    /// The trailing mean (jumps only).
    pub mean: Option<Decimal>,
}

impl Alert {
    /// The key that makes the alert once-only: the same for every evaluation of the same
    /// scope, kind and period (day, or month and step).
    pub fn key(&self) -> String {
        let scope = match &self.scope {
            Scope::Account(id) => format!("account/{id}"),
            Scope::CostCenter(name) => format!("cost-center/{name}"),
        };
        match self.kind {
            Kind::MonthlyBudget => format!(
                "spend/{scope}/{}/{}/{}",
                self.kind,
                self.day.month(),
                self.step.unwrap_or(0)
            ),
            Kind::Forecast => format!("spend/{scope}/{}/{}", self.kind, self.day.month()),
            _ => format!("spend/{scope}/{}/{}", self.kind, self.day),
        }
    }
}

/// An alert ready to become a `SpendAlert` exception: the decision, a message for a human (the
/// amounts, the threshold, what drove it, what to do) and who the scope is, as the accounts
/// snapshot of the day knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The decision.
    pub alert: Alert,
    /// What happened and what to do, for the exception's message.
    pub message: String,
    /// Account name (account scope).
    pub name: Option<String>,
    /// Account e-mail (account scope).
    pub email: Option<String>,
    /// Account holder (account scope).
    pub holder: Option<String>,
    /// Cost center (either scope).
    pub cost_center: Option<String>,
    /// OU name (account scope).
    pub ou: Option<String>,
    /// Region of the launch behind an estimate.
    pub region: Option<String>,
    /// Who launched what an estimate prices.
    pub actor: Option<String>,
    /// When the alert's evidence happened (UTC microseconds): the launch for an estimate, else
    /// the start of the day evaluated.
    pub time: i64,
}

/// The alerts of one scope for one day.
pub fn decide(
    scope: &Scope,
    limits: &SpendLimits,
    rates: &BTreeMap<Currency, Rate>,
    f: &Figures,
) -> Vec<Alert> {
    let alert = |kind, amount, threshold: &Amount| Alert {
        scope: scope.clone(),
        kind,
        day: f.day,
        amount,
        threshold: threshold.clone(),
        step: None,
        mean: None,
    };
    let mut out = Vec::new();
    if let Some(limit) = &limits.daily_limit {
        if limit.exceeded_by(f.spend, rates) {
            out.push(alert(Kind::DailyLimit, f.spend, limit));
        }
        if let Some(estimate) = f.estimate
            && limit.exceeded_by(estimate, rates)
        {
            out.push(alert(Kind::Estimate, estimate, limit));
        }
    }
    if let Some(budget) = &limits.monthly_budget {
        // The highest step whose share of the budget month-to-date spend is above: compared
        // as mtd x 100 > budget x step, in the budget's currency, exactly.
        let spent = budget.in_usd_units(f.month_to_date, rates);
        let crossed = limits.steps.percents().iter().rev().find(|step| {
            spent.is_some_and(|s| s * Decimal::ONE_HUNDRED > budget.value * Decimal::from(**step))
        });
        if let Some(step) = crossed {
            let share = Amount {
                value: budget.value * Decimal::from(*step) / Decimal::ONE_HUNDRED,
                currency: budget.currency.clone(),
            };
            out.push(Alert {
                step: Some(*step),
                ..alert(Kind::MonthlyBudget, f.month_to_date, &share)
            });
        }
        let date = f.day.date();
        if date.day() >= FORECAST_FROM_DAY && !budget.exceeded_by(f.month_to_date, rates) {
            // forecast > budget, compared as mtd x days in month > budget x day of month.
            let projected =
                budget.in_usd_units(f.month_to_date * Decimal::from(days_in_month(date)), rates);
            if projected.is_some_and(|p| p > budget.value * Decimal::from(date.day())) {
                out.push(alert(Kind::Forecast, f.forecast(), budget));
            }
        }
    }
    // spend > factor x mean, compared as spend x days > factor x their sum.
    if let Some(jump) = &limits.jump
        && let Some(mean) = f.trailing_mean()
        && f.spend * Decimal::from(f.trailing.len())
            > jump.factor * f.trailing.iter().sum::<Decimal>()
        && jump.min_amount.exceeded_by(f.spend, rates)
    {
        out.push(Alert {
            mean: Some(mean.round_dp(12)),
            ..alert(Kind::Jump, f.spend, &jump.min_amount)
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::settings::Spend;

    fn rates() -> BTreeMap<Currency, Rate> {
        BTreeMap::from([("EUR".parse().unwrap(), Rate(Decimal::new(92, 2)))])
    }

    fn day(d: u32) -> Day {
        Day::of(chrono::NaiveDate::from_ymd_opt(2026, 10, d).unwrap())
    }

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn limits(yaml: &str) -> SpendLimits {
        SpendLimits::merge([&serde_yaml_ng::from_str::<Spend>(yaml).unwrap()])
    }

    fn figures(d: u32, spend: &str, mtd: &str, trailing: &[&str]) -> Figures {
        Figures {
            day: day(d),
            spend: dec(spend),
            month_to_date: dec(mtd),
            trailing: trailing.iter().map(|t| dec(t)).collect(),
            estimate: None,
        }
    }

    fn kinds(alerts: &[Alert]) -> Vec<(Kind, Option<u16>)> {
        alerts.iter().map(|a| (a.kind, a.step)).collect()
    }

    #[test]
    fn each_kind_at_its_boundary() {
        let scope = Scope::Account("123456789012".into());
        let l =
            limits("daily_limit: 50\nmonthly_budget: 1000\njump: { factor: 3, min_amount: 20 }");
        let run = |f: &Figures| kinds(&decide(&scope, &l, &rates(), f));
        // At the limit: nothing; a cent above: daily_limit.
        assert_eq!(run(&figures(10, "50", "100", &[])), []);
        assert_eq!(
            run(&figures(10, "50.01", "100", &[])),
            [(Kind::DailyLimit, None)]
        );
        // Steps: 500 is not above 50 %; 500.01 is; 800.01 gives the 80 % step only.
        assert_eq!(run(&figures(31, "1", "500", &[])), []);
        assert_eq!(
            run(&figures(31, "1", "500.01", &[])),
            [(Kind::MonthlyBudget, Some(50))]
        );
        assert_eq!(
            run(&figures(31, "1", "800.01", &[])),
            [(Kind::MonthlyBudget, Some(80))]
        );
        assert_eq!(
            run(&figures(31, "1", "1000.01", &[])),
            [(Kind::MonthlyBudget, Some(100))]
        );
        // Forecast on day 10 of 31: 322.59 x 31 / 10 = 1000.029 > 1000; 322.58 gives 999.998.
        assert_eq!(
            run(&figures(10, "1", "322.59", &[])),
            [(Kind::Forecast, None)]
        );
        assert_eq!(run(&figures(10, "1", "322.58", &[])), []);
        // Not before day 3, and not once the budget itself is passed.
        assert_eq!(run(&figures(2, "1", "70", &[])), []);
        // Jump: mean 10, factor 3: 30 is not above, 30.01 is, but only above min_amount 20.
        let week = ["10"; 7];
        assert_eq!(run(&figures(20, "30", "300", &week)), []);
        assert_eq!(
            run(&figures(20, "30.01", "300", &week)),
            [(Kind::Jump, None)]
        );
        let small = ["1"; 7];
        assert_eq!(run(&figures(20, "19", "100", &small)), []);
        assert_eq!(
            run(&figures(20, "20.5", "100", &small)),
            [(Kind::Jump, None)]
        );
        // No history: no jump.
        assert_eq!(run(&figures(20, "45", "100", &[])), []);
        // Estimate: a launch's day above the daily limit.
        let mut launched = figures(20, "5", "100", &[]);
        launched.estimate = Some(dec("786.72"));
        assert_eq!(run(&launched), [(Kind::Estimate, None)]);
    }

    #[test]
    fn foreign_thresholds_compare_in_their_currency() {
        let scope = Scope::CostCenter("Research".into());
        // 46 EUR is exactly 50 USD at 0.92.
        let l = limits("daily_limit: \"46 EUR\"\nmonthly_budget: \"920 EUR\"");
        let run = |f: &Figures| kinds(&decide(&scope, &l, &rates(), f));
        assert_eq!(run(&figures(31, "50", "1", &[])), []);
        assert_eq!(
            run(&figures(31, "50.000001", "1", &[])),
            [(Kind::DailyLimit, None)]
        );
        // 920 EUR = 1000 USD: 80 % is 800 USD.
        assert_eq!(
            run(&figures(31, "1", "800", &[])),
            [(Kind::MonthlyBudget, Some(50))]
        );
        assert_eq!(
            run(&figures(31, "1", "800.01", &[])),
            [(Kind::MonthlyBudget, Some(80))]
        );
    }

    #[test]
    fn keys_name_the_period_of_their_kind() {
        let a = Alert {
            scope: Scope::Account("123456789012".into()),
            kind: Kind::MonthlyBudget,
            day: day(14),
            amount: Decimal::ONE,
            threshold: Amount::usd(Decimal::ONE),
            step: Some(80),
            mean: None,
        };
        assert_eq!(
            a.key(),
            "spend/account/123456789012/monthly_budget/2026-10/80"
        );
        let f = Alert {
            kind: Kind::Forecast,
            step: None,
            ..a.clone()
        };
        assert_eq!(f.key(), "spend/account/123456789012/forecast/2026-10");
        let d = Alert {
            kind: Kind::DailyLimit,
            step: None,
            ..a
        };
        assert_eq!(d.key(), "spend/account/123456789012/daily_limit/2026-10-14");
    }

    /// A month's spend and launch estimate per day, in cents.
    type Days = (Vec<u32>, Vec<Option<u32>>);

    /// A month of days and thresholds (cents, factor), drawn at random.
    fn month() -> impl Strategy<Value = (Days, u32, u32, u32, u32)> {
        (
            (
                proptest::collection::vec(0u32..20_000, 31),
                proptest::collection::vec(proptest::option::of(0u32..40_000), 31),
            ),
            1u32..20_000,  // daily limit, cents
            1u32..400_000, // budget, cents
            2u32..6,       // jump factor
            0u32..5_000,   // jump minimum, cents
        )
    }

    proptest! {
        /// Against a model: evaluating every day of a month, each day twice (a rerun), the
        /// alerts stored by key are exactly what the rules say, each once.
        #[test]
        fn a_month_of_runs_and_reruns_matches_the_model(((cents, estimates), limit, budget, factor, minimum) in month()) {
            let yaml = format!(
                "daily_limit: {}\nmonthly_budget: {}\njump: {{ factor: {factor}, min_amount: {} }}",
                Decimal::new(limit.into(), 2), Decimal::new(budget.into(), 2), Decimal::new(minimum.into(), 2) + Decimal::new(1, 2)
            );
            let l = limits(&yaml);
            let scope = Scope::Account("123456789012".into());
            let spend: Vec<Decimal> = cents.iter().map(|c| Decimal::new((*c).into(), 2)).collect();
            let mut stored: BTreeMap<String, Alert> = BTreeMap::new();
            for d in 1..=31usize {
                let f = Figures {
                    day: day(d as u32),
                    spend: spend[d - 1],
                    month_to_date: spend[..d].iter().sum(),
                    trailing: spend[d.saturating_sub(8)..d - 1].to_vec(),
                    estimate: estimates[d - 1].map(|c| Decimal::new(c.into(), 2)),
                };
                for _run in 0..2 {
                    for a in decide(&scope, &l, &rates(), &f) {
                        stored.entry(a.key()).or_insert(a);
                    }
                }
            }
            // The model, in integer cents.
            let mut expected: BTreeSet<String> = BTreeSet::new();
            let mut mtd = 0u64;
            for d in 1..=31usize {
                let c = u64::from(cents[d - 1]);
                mtd += c;
                if c > u64::from(limit) {
                    expected.insert(format!("spend/account/123456789012/daily_limit/{}", day(d as u32)));
                }
                if estimates[d - 1].is_some_and(|e| e > limit) {
                    expected.insert(format!("spend/account/123456789012/estimate/{}", day(d as u32)));
                }
                if let Some(step) = [100u64, 80, 50].into_iter().find(|s| mtd * 100 > u64::from(budget) * s) {
                    expected.insert(format!("spend/account/123456789012/monthly_budget/2026-10/{step}"));
                }
                if d >= 3 && mtd <= u64::from(budget) && mtd * 31 > u64::from(budget) * d as u64 {
                    expected.insert("spend/account/123456789012/forecast/2026-10".into());
                }
                let before = &cents[d.saturating_sub(8)..d - 1];
                if !before.is_empty() {
                    let sum: u64 = before.iter().map(|x| u64::from(*x)).sum();
                    // c > factor x sum / n  <=>  c x n > factor x sum
                    if c * before.len() as u64 > u64::from(factor) * sum && c > u64::from(minimum) + 1 {
                        expected.insert(format!("spend/account/123456789012/jump/{}", day(d as u32)));
                    }
                }
            }
            let got: BTreeSet<String> = stored.keys().cloned().collect();
            prop_assert_eq!(got, expected);
        }
    }
}
