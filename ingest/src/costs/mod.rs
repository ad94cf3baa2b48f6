//! Costs into `costs/month=YYYY-MM/`: every source (Cost Explorer's API or saved responses in
//! [`cost_explorer`], CUR exports in [`cur`], FOCUS exports in [`focus`]) pushes the same
//! [`CostRef`] rows into the month's [`writer::MonthWriter`]; [`source`] picks the source from the
//! settings or the command line.
//!
//! Two daily Cost Explorer queries describe a month: A, grouped by linked account and service, filtered to the
//! `Usage` record type; B, grouped by linked account and record type. The rows of the lake are
//! A's rows (record type `Usage`, one per service) and B's rows of every other record type
//! (`Tax`, `Credit`, `Refund`, `Support`, ...; their service column holds the record type). So
//! the month's total is B's total, and every amount keeps the decimal digits Cost Explorer wrote.
//! A third query, C, grouped by linked account and usage type and filtered to `Usage` like A,
//! says what was used; Cost Explorer groups by two dimensions at most, so C's rows cannot name
//! their service. They go to `usage_types/month=YYYY-MM/` ([`CostRef::by_usage_type`]), the
//! detail of A's rows, and into no total.

pub mod cost_explorer;
pub mod cur;
pub mod focus;
pub mod source;
mod values;
pub mod writer;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use spa_core::lake::{LakeError, MONEY_SCALE};

pub use cost_explorer::{Grouping, combine, load_saved, parse, read_response};
pub use writer::{MonthSummary, MonthWriter, SumsSummary, sum_stored_month, write_month};

/// One cost: a day, an account, a service and a record type.
#[derive(Debug, Clone, PartialEq)]
pub struct CostRow {
    /// Usage day.
    pub day: NaiveDate,
    /// Linked account.
    pub account: String,
    /// Service, or the record type for rows that are not usage.
    pub service: String,
    /// `Usage`, `Tax`, `Credit`, `Refund`, `Support`, ...
    pub record_type: String,
    /// Usage type, where the source has it (CUR).
    pub usage_type: Option<String>,
    /// Unblended cost.
    pub unblended: Decimal,
    /// Amortized cost, when the response has it.
    pub amortized: Option<Decimal>,
    /// Currency of the amounts.
    pub currency: String,
    /// Whether Cost Explorer marked the day as estimated.
    pub estimated: Option<bool>,
    /// A row of Cost Explorer's usage-type query (see [`CostRef::by_usage_type`]).
    pub by_usage_type: bool,
}

/// What exports sum over: day, account, service, record type, usage type, currency.
pub(crate) type SumKey = (NaiveDate, String, String, String, Option<String>, String);

/// Rows from exact sums per [`SumKey`] (exports carry no amortized cost nor estimate flag).
pub(crate) fn rows_from_sums(sums: std::collections::BTreeMap<SumKey, Decimal>) -> Vec<CostRow> {
    sums.into_iter()
        .map(
            |((day, account, service, record_type, usage_type, currency), unblended)| CostRow {
                day,
                account,
                service,
                record_type,
                usage_type,
                unblended,
                amortized: None,
                currency,
                estimated: None,
                by_usage_type: false,
            },
        )
        .collect()
}

/// Costs that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// A response file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A response is not what Cost Explorer returns for our queries.
    #[error("{origin}: {message}")]
    Response {
        /// The file or request it came from.
        origin: String,
        /// What was wrong.
        message: String,
    },
    /// Writing the lake failed.
    #[error(transparent)]
    Lake(#[from] LakeError),
}

pub(crate) fn bad(origin: &str, message: impl Into<String>) -> CostError {
    CostError::Response {
        origin: origin.to_string(),
        message: message.into(),
    }
}

/// An amount as Cost Explorer writes it (`"0.0000012345"`, sometimes `"1.2E-7"`), exactly.
pub fn amount(text: &str) -> Result<Decimal, String> {
    Decimal::from_str_exact(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map(|d| d.normalize())
        .map_err(|_| format!("`{text}` is not an amount"))
        .and_then(|d| {
            if d.scale() > MONEY_SCALE as u32 {
                Err(format!("`{text}` has more than {MONEY_SCALE} decimals"))
            } else if d.abs() >= money_limit() {
                Err(format!(
                    "`{text}` is out of range: an amount must be below 10^{MONEY_DIGITS} in absolute value (its {MONEY_SCALE} decimals must fit the 28 digits of an exact decimal)"
                ))
            } else {
                Ok(d)
            }
        })
}

/// Digits before the decimal point an amount may have: 28 exact digits, 12 of them decimals.
pub(crate) const MONEY_DIGITS: u32 = 28 - MONEY_SCALE as u32;

/// The first amount out of range: 10^16 (at 12 decimals, an amount at or above it cannot be held
/// exactly, and would be rescaled).
pub(crate) fn money_limit() -> Decimal {
    Decimal::from_i128_with_scale(10i128.pow(MONEY_DIGITS), 0)
}

/// One cost borrowed from its source, on its way into the lake.
#[derive(Debug, Clone, Copy)]
pub struct CostRef<'a> {
    /// Usage day.
    pub day: NaiveDate,
    /// Linked account.
    pub account: &'a str,
    /// Service, or the record type for rows that are not usage.
    pub service: &'a str,
    /// `Usage`, `Tax`, `Credit`, ...
    pub record_type: &'a str,
    /// Usage type, where the source has it.
    pub usage_type: Option<&'a str>,
    /// Unblended cost.
    pub unblended: Decimal,
    /// Amortized cost.
    pub amortized: Option<Decimal>,
    /// Currency of the amounts.
    pub currency: &'a str,
    /// Whether Cost Explorer marked the day as estimated.
    pub estimated: Option<bool>,
    /// A row of Cost Explorer's usage-type query: its account's `Usage` on that day by usage
    /// type, with an empty service. It details rows of the service query, so it is written to
    /// `usage_types/` and counted in no total.
    pub by_usage_type: bool,
}

impl CostRow {
    /// The row as a [`CostRef`].
    pub fn as_ref(&self) -> CostRef<'_> {
        CostRef {
            day: self.day,
            account: &self.account,
            service: &self.service,
            record_type: &self.record_type,
            usage_type: self.usage_type.as_deref(),
            unblended: self.unblended,
            amortized: self.amortized,
            currency: &self.currency,
            estimated: self.estimated,
            by_usage_type: self.by_usage_type,
        }
    }
}

impl From<CostRef<'_>> for CostRow {
    fn from(r: CostRef<'_>) -> Self {
        CostRow {
            day: r.day,
            account: r.account.to_string(),
            service: r.service.to_string(),
            record_type: r.record_type.to_string(),
            usage_type: r.usage_type.map(str::to_string),
            unblended: r.unblended,
            amortized: r.amortized,
            currency: r.currency.to_string(),
            estimated: r.estimated,
            by_usage_type: r.by_usage_type,
        }
    }
}

/// Every file under `path` (or `path` itself) whose extension is one of `extensions`, in name
/// order.
pub(crate) fn files_with(path: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, CostError> {
    let wanted = |p: &Path| {
        p.extension()
            .is_some_and(|e| extensions.iter().any(|x| e == *x))
    };
    let mut files = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(at) = stack.pop() {
        if at.is_dir() {
            let read = |e| CostError::Read {
                path: at.clone(),
                source: e,
            };
            for entry in std::fs::read_dir(&at).map_err(read)? {
                stack.push(entry.map_err(read)?.path());
            }
        } else if wanted(&at) || at == path {
            files.push(at);
        }
    }
    files.sort();
    Ok(files)
}
