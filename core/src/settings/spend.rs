//! Spend thresholds: the `spend` entry of `defaults`, `organizational_units.<ou>`,
//! `accounts.<id>` (merged field by field, the most specific wins) and of
//! `reporting.cost_centers.<name>`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::values::from_text;
use super::{Currency, Rate};

/// An amount of money as written: a positive exact decimal in USD, or in a currency of
/// `features.extra_currencies` (`"45 EUR"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount {
    /// The figure.
    pub value: Decimal,
    /// The currency; `None` is USD.
    pub currency: Option<Currency>,
}

impl FromStr for Amount {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{text}` is not an amount (expected a positive decimal in USD, e.g. 50, or with a currency of features.extra_currencies, e.g. \"45 EUR\")"
            )
        };
        let mut parts = text.split_whitespace();
        let figure = parts.next().ok_or_else(bad)?;
        let currency = match parts.next() {
            None => None,
            Some("USD") => None,
            Some(code) => Some(code.parse::<Currency>().map_err(|_| bad())?),
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        match Decimal::from_str_exact(figure) {
            Ok(value) if value > Decimal::ZERO => Ok(Amount { value, currency }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.currency {
            Some(c) => write!(f, "{} {c}", self.value),
            None => write!(f, "{} USD", self.value),
        }
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d)
    }
}

impl Amount {
    /// An amount in USD.
    pub fn usd(value: Decimal) -> Self {
        Amount {
            value,
            currency: None,
        }
    }

    /// Whether `usd` (exact, in USD) is above this amount. A foreign amount is compared in its
    /// own currency (`usd` times the rate of one USD), so nothing is rounded; an unknown
    /// currency (refused when the settings load) compares as never exceeded.
    pub fn exceeded_by(&self, usd: Decimal, rates: &BTreeMap<Currency, Rate>) -> bool {
        match self.in_usd_units(usd, rates) {
            Some(value) => value > self.value,
            None => false,
        }
    }

    /// `usd` in this amount's currency.
    pub fn in_usd_units(&self, usd: Decimal, rates: &BTreeMap<Currency, Rate>) -> Option<Decimal> {
        match &self.currency {
            None => Some(usd),
            Some(c) => rates.get(c).and_then(|r| usd.checked_mul(r.0)),
        }
    }

    /// This amount in USD (divided by the rate, rounded to 12 decimals), for display beside
    /// USD figures; comparisons use [`Amount::exceeded_by`].
    pub fn approx_usd(&self, rates: &BTreeMap<Currency, Rate>) -> Option<Decimal> {
        match &self.currency {
            None => Some(self.value),
            Some(c) => rates
                .get(c)
                .and_then(|r| self.value.checked_div(r.0))
                .map(|v| v.round_dp(12)),
        }
    }
}

/// A threshold that an entry sets, or turns off for what it covers (`none`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Threshold {
    /// Alert above this amount.
    At(Amount),
    /// No alert, whatever a less specific entry says.
    Off,
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim() == "none" {
            Ok(Threshold::Off)
        } else {
            text.parse::<Amount>()
                .map(Threshold::At)
                .map_err(|e| format!("{e}, or none to turn it off"))
        }
    }
}

impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Threshold::At(a) => a.serialize(s),
            Threshold::Off => s.serialize_str("none"),
        }
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d)
    }
}

/// Percentages of the monthly budget that alert when month-to-date spend crosses them:
/// 1 to 1000, increasing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steps(Vec<u16>);

impl Steps {
    /// The percentages, increasing.
    pub fn percents(&self) -> &[u16] {
        &self.0
    }
}

impl Default for Steps {
    fn default() -> Self {
        Steps(vec![50, 80, 100])
    }
}

impl FromStr for Steps {
    type Err = String;

    /// Percentages separated by spaces, commas or semicolons (`50 80 100`).
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{text}` is not a list of budget steps (expected increasing percentages from 1 to 1000, e.g. 50 80 100)"
            )
        };
        let steps = text
            .split([' ', ',', ';'])
            .filter(|p| !p.is_empty())
            .map(|p| p.trim_end_matches('%').parse::<u16>().map_err(|_| bad()))
            .collect::<Result<Vec<u16>, String>>()?;
        Steps::new(steps).map_err(|_| bad())
    }
}

impl Steps {
    fn new(steps: Vec<u16>) -> Result<Self, String> {
        let ok = !steps.is_empty()
            && steps.iter().all(|s| (1..=1000).contains(s))
            && steps.windows(2).all(|w| w[0] < w[1]);
        if ok {
            Ok(Steps(steps))
        } else {
            Err(format!(
                "{steps:?}: expected increasing percentages from 1 to 1000, e.g. [50, 80, 100]"
            ))
        }
    }
}

impl Serialize for Steps {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Steps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let steps = Vec::<u16>::deserialize(d)?;
        Steps::new(steps).map_err(serde::de::Error::custom)
    }
}

/// The factor of a jump: a decimal above 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Factor(pub Decimal);

impl FromStr for Factor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match Decimal::from_str_exact(text.trim()) {
            Ok(f) if f > Decimal::ONE => Ok(Factor(f)),
            _ => Err(format!(
                "`{text}` is not a jump factor (expected a decimal above 1, e.g. 3)"
            )),
        }
    }
}

impl Serialize for Factor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Factor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d)
    }
}

/// `jump` of a `spend` entry: a day above `factor` times the trailing 7-day mean and above
/// `min_amount`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JumpEntry {
    /// Multiple of the trailing 7-day mean; `none`... is written as leaving `jump` out.
    #[serde(default)]
    pub factor: Option<Factor>,
    /// The least day's spend that can be a jump.
    #[serde(default)]
    pub min_amount: Option<Amount>,
}

/// A `spend` entry as written: every field optional, so a more specific entry changes only
/// what it names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spend {
    /// One day's spend above this alerts.
    #[serde(default)]
    pub daily_limit: Option<Threshold>,
    /// The month's budget: month-to-date spend crossing each step alerts, and the month-end
    /// forecast crossing 100 %.
    #[serde(default)]
    pub monthly_budget: Option<Threshold>,
    /// Percentages of `monthly_budget` that alert (default 50, 80, 100).
    #[serde(default)]
    pub steps: Option<Steps>,
    /// A day far above the trailing 7-day mean.
    #[serde(default)]
    pub jump: Option<JumpEntry>,
}

/// The thresholds that apply to one account (or cost center) after merging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SpendLimits {
    /// One day's spend above this alerts.
    pub daily_limit: Option<Amount>,
    /// The month's budget.
    pub monthly_budget: Option<Amount>,
    /// Percentages of the budget that alert.
    pub steps: Steps,
    /// A jump: a day above `factor` x the trailing 7-day mean and above `min_amount`.
    pub jump: Option<Jump>,
}

/// A jump threshold after merging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jump {
    /// Multiple of the trailing 7-day mean.
    pub factor: Decimal,
    /// The least day's spend that can be a jump (default 0).
    pub min_amount: Amount,
}

impl SpendLimits {
    /// The limits of `entries`, least specific first: each field from the last entry that
    /// sets it (`none` turns a threshold off).
    pub fn merge<'a>(entries: impl IntoIterator<Item = &'a Spend>) -> Self {
        let mut daily = None;
        let mut budget = None;
        let mut steps = None;
        let mut factor = None;
        let mut min_amount = None;
        for e in entries {
            if e.daily_limit.is_some() {
                daily.clone_from(&e.daily_limit);
            }
            if e.monthly_budget.is_some() {
                budget.clone_from(&e.monthly_budget);
            }
            if e.steps.is_some() {
                steps.clone_from(&e.steps);
            }
            if let Some(jump) = &e.jump {
                if jump.factor.is_some() {
                    factor = jump.factor;
                }
                if jump.min_amount.is_some() {
                    min_amount.clone_from(&jump.min_amount);
                }
            }
        }
        let on = |t: Option<Threshold>| match t {
            Some(Threshold::At(a)) => Some(a),
            _ => None,
        };
        SpendLimits {
            daily_limit: on(daily),
            monthly_budget: on(budget),
            steps: steps.unwrap_or_default(),
            jump: factor.map(|f| Jump {
                factor: f.0,
                min_amount: min_amount.unwrap_or(Amount::usd(Decimal::ZERO)),
            }),
        }
    }

    /// Whether any threshold is set.
    pub fn any(&self) -> bool {
        self.daily_limit.is_some() || self.monthly_budget.is_some() || self.jump.is_some()
    }

    /// Every amount with the key that sets it (for the currency check).
    pub(crate) fn amounts(spend: &Spend) -> Vec<(&'static str, &Amount)> {
        let mut out = Vec::new();
        if let Some(Threshold::At(a)) = &spend.daily_limit {
            out.push(("daily_limit", a));
        }
        if let Some(Threshold::At(a)) = &spend.monthly_budget {
            out.push(("monthly_budget", a));
        }
        if let Some(a) = spend.jump.as_ref().and_then(|j| j.min_amount.as_ref()) {
            out.push(("jump.min_amount", a));
        }
        out
    }
}

validated_text!(
    /// A key of the launch price table: `<kind>/<type>`, optionally `@<region>`, with kind one
    /// of `ec2`, `nat`, `rds`, `eks`, `sagemaker` (e.g. `ec2/p4d.24xlarge@eu-west-1`).
    PriceKey,
    |s| {
        let (key, region) = match s.split_once('@') {
            Some((k, r)) => (k, Some(r)),
            None => (s, None),
        };
        let kind_ok = key.split_once('/').is_some_and(|(kind, t)| {
            ["ec2", "nat", "rds", "eks", "sagemaker"].contains(&kind)
                && !t.is_empty()
                && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        });
        let region_ok = region.is_none_or(|r| r.parse::<super::Region>().is_ok());
        if kind_ok && region_ok {
            Ok(())
        } else {
            Err(format!(
                "`{s}` is not a price key (expected <kind>/<type>[@region], kind ec2, nat, rds, eks or sagemaker, e.g. ec2/p4d.24xlarge@eu-west-1)"
            ))
        }
    }
);

/// An hourly price in USD: a positive exact decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourlyPrice(pub Decimal);

impl FromStr for HourlyPrice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match Decimal::from_str_exact(text.trim()) {
            Ok(p) if p > Decimal::ZERO => Ok(HourlyPrice(p)),
            _ => Err(format!(
                "`{text}` is not an hourly price (expected a positive decimal in USD, e.g. \"21.96\")"
            )),
        }
    }
}

impl Serialize for HourlyPrice {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for HourlyPrice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d)
    }
}

/// `reporting.cost_centers.<name>`: what applies to a cost center as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostCenterOptions {
    /// Thresholds on the sum of the cost center's accounts.
    #[serde(default)]
    pub spend: Spend,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates() -> BTreeMap<Currency, Rate> {
        BTreeMap::from([("EUR".parse().unwrap(), Rate(Decimal::new(92, 2)))])
    }

    #[test]
    fn amounts_parse_and_compare_exactly_in_their_currency() {
        let usd: Amount = "50".parse().unwrap();
        assert_eq!(usd, Amount::usd(Decimal::new(50, 0)));
        assert_eq!("50 USD".parse::<Amount>().unwrap(), usd);
        let eur: Amount = "46 EUR".parse().unwrap();
        // 50 USD is 46 EUR at 0.92: not above; a hundredth of a cent more is.
        assert!(!eur.exceeded_by(Decimal::new(50, 0), &rates()));
        assert!(eur.exceeded_by(Decimal::new(5_000_001, 5), &rates()));
        assert!(!usd.exceeded_by(Decimal::new(50, 0), &rates()));
        assert!(usd.exceeded_by(Decimal::new(50_000_000_000_001, 12), &rates()));
        for bad in ["", "0", "-5", "5 eur", "5 EUR x", "five", "1e3"] {
            assert!(bad.parse::<Amount>().is_err(), "{bad}");
        }
        let unknown: Amount = "5 CHF".parse().unwrap();
        assert!(!unknown.exceeded_by(Decimal::new(1000, 0), &rates()));
    }

    #[test]
    fn steps_are_increasing_percentages() {
        assert_eq!(
            "50 80 100".parse::<Steps>().unwrap().percents(),
            [50, 80, 100]
        );
        assert_eq!(
            "25%;75%,120".parse::<Steps>().unwrap().percents(),
            [25, 75, 120]
        );
        for bad in ["", "80 50", "0 50", "50 50", "1001", "fifty"] {
            assert!(bad.parse::<Steps>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_most_specific_entry_wins_field_by_field_and_none_turns_off() {
        let entry = |yaml: &str| serde_yaml_ng::from_str::<Spend>(yaml).unwrap();
        let defaults =
            entry("daily_limit: 50\nmonthly_budget: 500\njump: { factor: 3, min_amount: 20 }");
        let ou = entry("daily_limit: \"40 EUR\"\nsteps: [90, 100]\njump: { factor: 4 }");
        let account = entry("monthly_budget: none");
        let merged = SpendLimits::merge([&defaults, &ou, &account]);
        assert_eq!(merged.daily_limit, Some("40 EUR".parse().unwrap()));
        assert_eq!(merged.monthly_budget, None);
        assert_eq!(merged.steps.percents(), [90, 100]);
        assert_eq!(
            merged.jump,
            Some(Jump {
                factor: Decimal::new(4, 0),
                min_amount: "20".parse().unwrap()
            })
        );
        let plain = SpendLimits::merge([&Spend::default()]);
        assert!(!plain.any());
        assert_eq!(plain.steps, Steps::default());
    }
}
