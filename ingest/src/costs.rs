//! Costs from Cost Explorer `GetCostAndUsage` responses into `costs/month=YYYY-MM/`.
//!
//! Two daily queries describe a month: A, grouped by linked account and service, filtered to the
//! `Usage` record type; B, grouped by linked account and record type. The rows of the lake are
//! A's rows (record type `Usage`, one per service) and B's rows of every other record type
//! (`Tax`, `Credit`, `Refund`, `Support`, ...; their service column holds the record type). So
//! the month's total is B's total, and every amount keeps the decimal digits Cost Explorer wrote.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, RecordBatch,
    StringBuilder,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;
use spa_core::lake::{Dataset, Lake, LakeError, MONEY_PRECISION, MONEY_SCALE, ObjectWriter};
use spa_core::period::{Day, Month};

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
        }
    }
}

/// One group of a response: its two keys and its metrics as Cost Explorer wrote them.
pub(crate) struct Group<'a> {
    pub keys: [&'a str; 2],
    /// `UnblendedCost` amount and unit.
    pub unblended: Option<(&'a str, Option<&'a str>)>,
    /// `AmortizedCost` amount.
    pub amortized: Option<&'a str>,
}

/// The row of a group (record type `Usage` for the service query), or `None` when the
/// combination rule leaves it out (`Usage` of the record type query, counted by the service
/// query) and `all` is false.
pub(crate) fn group_row<'a>(
    grouping: Grouping,
    day: NaiveDate,
    estimated: Option<bool>,
    group: &Group<'a>,
    all: bool,
    origin: &str,
) -> Result<Option<CostRef<'a>>, CostError> {
    let [account, second] = group.keys;
    let (service, record_type) = match grouping {
        Grouping::Service => (second, "Usage"),
        Grouping::RecordType if second == "Usage" && !all => return Ok(None),
        Grouping::RecordType => (second, second),
    };
    let (text, unit) = group
        .unblended
        .ok_or_else(|| bad(origin, "a group without UnblendedCost"))?;
    let unblended = amount(text).map_err(|e| bad(origin, format!("UnblendedCost: {e}")))?;
    let amortized = group
        .amortized
        .map(|t| amount(t).map_err(|e| bad(origin, format!("AmortizedCost: {e}"))))
        .transpose()?;
    Ok(Some(CostRef {
        day,
        account,
        service,
        record_type,
        usage_type: None,
        unblended,
        amortized,
        currency: unit.unwrap_or("USD"),
        estimated,
    }))
}

/// The grouping of a response from its `GroupDefinitions` keys.
pub(crate) fn grouping_of(keys: &[&str], origin: &str) -> Result<Grouping, CostError> {
    match keys {
        ["LINKED_ACCOUNT", "SERVICE"] => Ok(Grouping::Service),
        ["LINKED_ACCOUNT", "RECORD_TYPE"] => Ok(Grouping::RecordType),
        other => Err(bad(
            origin,
            format!(
                "grouped by {other:?}; expected [LINKED_ACCOUNT, SERVICE] or [LINKED_ACCOUNT, RECORD_TYPE]"
            ),
        )),
    }
}

/// A day as Cost Explorer writes it (`2026-10-01`).
pub(crate) fn day_of(start: &str, origin: &str) -> Result<NaiveDate, CostError> {
    start
        .parse::<Day>()
        .map(Day::date)
        .map_err(|_| bad(origin, format!("bad TimePeriod.Start `{start}`")))
}

/// Reads one `GetCostAndUsage` response into `sink`: every group when `all`, else the rows the
/// lake keeps (see the module docs).
pub fn read_response(
    response: &Value,
    origin: &str,
    all: bool,
    sink: &mut dyn FnMut(CostRef<'_>) -> Result<(), CostError>,
) -> Result<Grouping, CostError> {
    let keys: Vec<&str> = response["GroupDefinitions"]
        .as_array()
        .ok_or_else(|| bad(origin, "no GroupDefinitions: expected a GetCostAndUsage response grouped by LINKED_ACCOUNT and SERVICE or RECORD_TYPE"))?
        .iter()
        .map(|d| d["Key"].as_str().unwrap_or_default())
        .collect();
    let grouping = grouping_of(&keys, origin)?;
    for result in response["ResultsByTime"]
        .as_array()
        .ok_or_else(|| bad(origin, "no ResultsByTime"))?
    {
        let day = day_of(
            result["TimePeriod"]["Start"].as_str().unwrap_or_default(),
            origin,
        )?;
        let estimated = result["Estimated"].as_bool();
        for group in result["Groups"].as_array().into_iter().flatten() {
            let key = |i: usize| {
                group["Keys"][i]
                    .as_str()
                    .ok_or_else(|| bad(origin, "a group without its two keys"))
            };
            let metric = |name: &str| group["Metrics"].get(name);
            let unblended = metric("UnblendedCost")
                .map(|m| {
                    m["Amount"]
                        .as_str()
                        .map(|a| (a, m["Unit"].as_str()))
                        .ok_or_else(|| bad(origin, "UnblendedCost without Amount"))
                })
                .transpose()?;
            let amortized = metric("AmortizedCost")
                .map(|m| {
                    m["Amount"]
                        .as_str()
                        .ok_or_else(|| bad(origin, "AmortizedCost without Amount"))
                })
                .transpose()?;
            let g = Group {
                keys: [key(0)?, key(1)?],
                unblended,
                amortized,
            };
            if let Some(row) = group_row(grouping, day, estimated, &g, all, origin)? {
                sink(row)?;
            }
        }
    }
    Ok(grouping)
}

/// Parses one `GetCostAndUsage` response: its grouping and every group as a row.
pub fn parse(response: &Value, origin: &str) -> Result<(Grouping, Vec<CostRow>), CostError> {
    let mut rows = Vec::new();
    let grouping = read_response(response, origin, true, &mut |r| {
        rows.push(r.into());
        Ok(())
    })?;
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

/// Reads saved responses (every `.json` file under `dir`, or `dir` itself, in name order) into
/// `sink`, keeping the rows the lake keeps.
pub fn load_saved(
    dir: &Path,
    sink: &mut dyn FnMut(CostRef<'_>) -> Result<(), CostError>,
) -> Result<(), CostError> {
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
    for path in &files {
        let text = std::fs::read(path).map_err(|source| CostError::Read {
            path: path.clone(),
            source,
        })?;
        let origin = path.display().to_string();
        let value: Value =
            serde_json::from_slice(&text).map_err(|e| bad(&origin, format!("not JSON: {e}")))?;
        read_response(&value, &origin, false, sink)?;
    }
    Ok(())
}

/// Rows of the costs dataset, column by column.
struct Columns {
    day: Date32Builder,
    account: StringBuilder,
    service: StringBuilder,
    record_type: StringBuilder,
    usage_type: StringBuilder,
    unblended: Decimal128Builder,
    amortized: Decimal128Builder,
    currency: StringBuilder,
    estimated: BooleanBuilder,
    source: StringBuilder,
}

fn money_builder() -> Decimal128Builder {
    Decimal128Builder::with_capacity(BATCH_ROWS)
        .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)
        .expect("valid money type")
}

fn mantissa(mut d: Decimal) -> i128 {
    d.rescale(MONEY_SCALE as u32);
    d.mantissa()
}

impl Columns {
    fn new() -> Self {
        let text = || StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16);
        Columns {
            day: Date32Builder::with_capacity(BATCH_ROWS),
            account: text(),
            service: text(),
            record_type: text(),
            usage_type: text(),
            unblended: money_builder(),
            amortized: money_builder(),
            currency: text(),
            estimated: BooleanBuilder::with_capacity(BATCH_ROWS),
            source: text(),
        }
    }

    fn push(&mut self, r: &CostRef<'_>, source: &str) {
        self.day.append_value((r.day - EPOCH).num_days() as i32);
        self.account.append_value(r.account);
        self.service.append_value(r.service);
        self.record_type.append_value(r.record_type);
        self.usage_type.append_option(r.usage_type);
        self.unblended.append_value(mantissa(r.unblended));
        self.amortized.append_option(r.amortized.map(mantissa));
        self.currency.append_value(r.currency);
        self.estimated.append_option(r.estimated);
        self.source.append_value(source);
    }

    fn len(&self) -> usize {
        self.day.len()
    }

    fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.day.finish()),
            Arc::new(self.account.finish()),
            Arc::new(self.service.finish()),
            Arc::new(self.record_type.finish()),
            Arc::new(self.usage_type.finish()),
            Arc::new(self.unblended.finish()),
            Arc::new(self.amortized.finish()),
            Arc::new(self.currency.finish()),
            Arc::new(self.estimated.finish()),
            Arc::new(self.source.finish()),
        ];
        RecordBatch::try_new(Dataset::Costs.schema(), columns)
            .expect("columns follow the costs schema")
    }
}

const BATCH_ROWS: usize = 65_536;
const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");

/// The rows of one month on their way into `costs/month=YYYY-MM/`: built column by column and
/// compressed batch by batch into the month's one object, which replaces what an earlier run
/// wrote for that month when [`MonthWriter::finish`] stores it. Rows of other months are counted
/// and left out.
pub struct MonthWriter<'l> {
    month: Month,
    source: String,
    columns: Columns,
    writer: ObjectWriter<'l>,
    rows: usize,
    other_months: usize,
    until: Option<NaiveDate>,
    later: usize,
    total: Decimal,
}

impl<'l> MonthWriter<'l> {
    /// A writer of `month` for rows from `source` (`cost-explorer`, `cur`, `focus`).
    pub fn new(lake: &'l Lake, month: Month, source: &str) -> Result<Self, CostError> {
        Ok(MonthWriter {
            month,
            source: source.to_string(),
            columns: Columns::new(),
            writer: lake.writer(Dataset::Costs, &month.to_string(), "costs")?,
            rows: 0,
            other_months: 0,
            until: None,
            later: 0,
            total: Decimal::ZERO,
        })
    }

    /// Keeps the month to date: rows after `day` are counted and left out.
    pub fn until(mut self, day: NaiveDate) -> Self {
        self.until = Some(day);
        self
    }

    /// Adds one row.
    pub fn push(&mut self, row: CostRef<'_>) -> Result<(), CostError> {
        if Month::of(row.day) != self.month {
            self.other_months += 1;
            return Ok(());
        }
        if self.until.is_some_and(|until| row.day > until) {
            self.later += 1;
            return Ok(());
        }
        self.columns.push(&row, &self.source);
        self.rows += 1;
        self.total += row.unblended;
        if self.columns.len() >= BATCH_ROWS {
            self.writer.write(&self.columns.finish())?;
        }
        Ok(())
    }

    /// Stores the month's object; nothing of it is visible before.
    pub async fn finish(mut self) -> Result<MonthSummary, CostError> {
        if self.columns.len() > 0 || self.rows == 0 {
            self.writer.write(&self.columns.finish())?;
        }
        let key = self.writer.finish().await?;
        Ok(MonthSummary {
            rows: self.rows,
            other_months: self.other_months,
            later_days: self.later,
            total: self.total,
            key,
        })
    }
}

/// What a month's ingestion did.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthSummary {
    /// Rows written.
    pub rows: usize,
    /// Rows of other months, counted and left out.
    pub other_months: usize,
    /// Rows of the month after the day it was written up to, counted and left out.
    pub later_days: usize,
    /// Sum of the unblended amounts written.
    pub total: Decimal,
    /// The object written.
    pub key: String,
}

/// Writes `rows` as the month's one object (see [`MonthWriter`]).
pub async fn write_month(
    lake: &Lake,
    month: Month,
    rows: Vec<CostRow>,
    source: &str,
) -> Result<MonthSummary, CostError> {
    let mut writer = MonthWriter::new(lake, month, source)?;
    for row in &rows {
        writer.push(row.as_ref())?;
    }
    writer.finish().await
}
