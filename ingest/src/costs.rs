//! Costs from Cost Explorer `GetCostAndUsage` responses into `costs/month=YYYY-MM/`.
//!
//! Two daily queries describe a month: A, grouped by linked account and service, filtered to the
//! `Usage` record type; B, grouped by linked account and record type. The rows of the lake are
//! A's rows (record type `Usage`, one per service) and B's rows of every other record type
//! (`Tax`, `Credit`, `Refund`, `Support`, ...; their service column holds the record type). So
//! the month's total is B's total, and every amount keeps the decimal digits Cost Explorer wrote.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, RecordBatch, StringArray,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;
use spa_core::lake::{Dataset, Lake, LakeError, MONEY_PRECISION, MONEY_SCALE};

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
            },
        )
        .collect()
}

/// The second dimension of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// `[LINKED_ACCOUNT, SERVICE]` (query A).
    Service,
    /// `[LINKED_ACCOUNT, RECORD_TYPE]` (query B).
    RecordType,
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

fn bad(origin: &str, message: impl Into<String>) -> CostError {
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
            } else {
                Ok(d)
            }
        })
}

/// Parses one `GetCostAndUsage` response.
pub fn parse(response: &Value, origin: &str) -> Result<(Grouping, Vec<CostRow>), CostError> {
    let keys: Vec<&str> = response["GroupDefinitions"]
        .as_array()
        .ok_or_else(|| bad(origin, "no GroupDefinitions: expected a GetCostAndUsage response grouped by LINKED_ACCOUNT and SERVICE or RECORD_TYPE"))?
        .iter()
        .map(|d| d["Key"].as_str().unwrap_or_default())
        .collect();
    let grouping = match keys.as_slice() {
        ["LINKED_ACCOUNT", "SERVICE"] => Grouping::Service,
        ["LINKED_ACCOUNT", "RECORD_TYPE"] => Grouping::RecordType,
        other => {
            return Err(bad(
                origin,
                format!(
                    "grouped by {other:?}; expected [LINKED_ACCOUNT, SERVICE] or [LINKED_ACCOUNT, RECORD_TYPE]"
                ),
            ));
        }
    };
    let mut rows = Vec::new();
    for result in response["ResultsByTime"]
        .as_array()
        .ok_or_else(|| bad(origin, "no ResultsByTime"))?
    {
        let start = result["TimePeriod"]["Start"].as_str().unwrap_or_default();
        let day = NaiveDate::parse_from_str(start, "%Y-%m-%d")
            .map_err(|_| bad(origin, format!("bad TimePeriod.Start `{start}`")))?;
        let estimated = result["Estimated"].as_bool();
        for group in result["Groups"].as_array().into_iter().flatten() {
            let key = |i: usize| {
                group["Keys"][i]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad(origin, "a group without its two keys"))
            };
            let metric = |name: &str| -> Result<Option<(Decimal, String)>, CostError> {
                match group["Metrics"].get(name) {
                    None => Ok(None),
                    Some(m) => {
                        let text = m["Amount"]
                            .as_str()
                            .ok_or_else(|| bad(origin, format!("{name} without Amount")))?;
                        let value =
                            amount(text).map_err(|e| bad(origin, format!("{name}: {e}")))?;
                        Ok(Some((
                            value,
                            m["Unit"].as_str().unwrap_or("USD").to_string(),
                        )))
                    }
                }
            };
            let (unblended, currency) = metric("UnblendedCost")?
                .ok_or_else(|| bad(origin, "a group without UnblendedCost"))?;
            let (account, second) = (key(0)?, key(1)?);
            let (service, record_type) = match grouping {
                Grouping::Service => (second, "Usage".to_string()),
                Grouping::RecordType => (second.clone(), second),
            };
            rows.push(CostRow {
                day,
                account,
                service,
                record_type,
                usage_type: None,
                unblended,
                amortized: metric("AmortizedCost")?.map(|(v, _)| v),
                currency,
                estimated,
            });
        }
    }
    Ok((grouping, rows))
}

/// The month's rows from the responses of both queries (see the module docs).
pub fn combine(responses: Vec<(Grouping, Vec<CostRow>)>) -> Vec<CostRow> {
    let mut rows = Vec::new();
    for (grouping, part) in responses {
        match grouping {
            Grouping::Service => rows.extend(part),
            Grouping::RecordType => {
                rows.extend(part.into_iter().filter(|r| r.record_type != "Usage"))
            }
        }
    }
    rows
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

/// Reads saved responses: every `.json` file under `dir` (or `dir` itself), in name order.
pub fn load_saved(dir: &Path) -> Result<Vec<(Grouping, Vec<CostRow>)>, CostError> {
    if !dir.exists() {
        return Err(bad(
            &dir.display().to_string(),
            "no such file or folder: costs.path should hold saved GetCostAndUsage responses (the generator writes some: `cargo run -p spa-fixtures -- --from-org fixtures/organization.yaml --only costs --out DIR`, then use DIR/costs)",
        ));
    }
    let files = files_with(dir, &["json"])?;
    if files.is_empty() {
        return Err(bad(
            &dir.display().to_string(),
            "no saved GetCostAndUsage responses (*.json)",
        ));
    }
    files
        .iter()
        .map(|path| {
            let text = std::fs::read(path).map_err(|source| CostError::Read {
                path: path.clone(),
                source,
            })?;
            let value: Value = serde_json::from_slice(&text)
                .map_err(|e| bad(&path.display().to_string(), format!("not JSON: {e}")))?;
            parse(&value, &path.display().to_string())
        })
        .collect()
}

fn money(values: impl Iterator<Item = Option<Decimal>>) -> ArrayRef {
    let mantissas: Vec<Option<i128>> = values
        .map(|v| {
            v.map(|mut d| {
                d.rescale(MONEY_SCALE as u32);
                d.mantissa()
            })
        })
        .collect();
    Arc::new(
        Decimal128Array::from(mantissas)
            .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)
            .expect("valid money type"),
    )
}

/// The rows as a batch of the `costs` dataset.
pub fn batch(rows: &[CostRow], source: &str) -> RecordBatch {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let text = |f: &dyn Fn(&CostRow) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            rows.iter()
                .map(|r| Some((r.day - epoch).num_days() as i32))
                .collect::<Date32Array>(),
        ),
        text(&|r| Some(r.account.clone())),
        text(&|r| Some(r.service.clone())),
        text(&|r| Some(r.record_type.clone())),
        text(&|r| r.usage_type.clone()),
        money(rows.iter().map(|r| Some(r.unblended))),
        money(rows.iter().map(|r| r.amortized)),
        text(&|r| Some(r.currency.clone())),
        Arc::new(rows.iter().map(|r| r.estimated).collect::<BooleanArray>()),
        text(&|_| Some(source.to_string())),
    ];
    RecordBatch::try_new(Dataset::Costs.schema(), columns).expect("columns follow the costs schema")
}

/// What a month's ingestion did.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthSummary {
    /// Rows written.
    pub rows: usize,
    /// Rows of other months, counted and left out.
    pub other_months: usize,
    /// Sum of the unblended amounts written.
    pub total: Decimal,
    /// The object written.
    pub key: String,
}

/// Writes the rows of `month` (`YYYY-MM`) as the month's one object, replacing what an earlier
/// run wrote for that month.
pub async fn write_month(
    lake: &Lake,
    month: &str,
    rows: Vec<CostRow>,
    source: &str,
) -> Result<MonthSummary, CostError> {
    let first = NaiveDate::from_str(&format!("{month}-01"))
        .map_err(|_| bad(month, "expected a month, YYYY-MM"))?;
    let (inside, outside): (Vec<CostRow>, Vec<CostRow>) = rows
        .into_iter()
        .partition(|r| r.day.format("%Y-%m").to_string() == first.format("%Y-%m").to_string());
    let total = inside.iter().map(|r| r.unblended).sum();
    let key = lake
        .write(Dataset::Costs, month, "costs", &[batch(&inside, source)])
        .await?;
    Ok(MonthSummary {
        rows: inside.len(),
        other_months: outside.len(),
        total,
        key,
    })
}
