//! The rows of one month on their way into `costs/month=YYYY-MM/`, column by column, into the
//! month's one object; Cost Explorer's usage-type rows into `usage_types/`, and the month's spend
//! per account and service into `cost_totals/`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Array, Date32Builder, Decimal128Builder,
    RecordBatch, StringArray, StringBuilder,
};
use arrow::datatypes::{Schema, SchemaRef};
use bytes::Bytes;
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rust_decimal::Decimal;
use spa_core::lake::{Dataset, Lake, MONEY_PRECISION, MONEY_SCALE, NOT_SPEND, ObjectWriter};
use spa_core::period::Month;

use super::{CostError, CostRef, CostRow};

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

    fn push(&mut self, r: &CostRef<'_>, unblended: i128, source: &str) {
        self.day.append_value((r.day - EPOCH).num_days() as i32);
        self.account.append_value(r.account);
        self.service.append_value(r.service);
        self.record_type.append_value(r.record_type);
        self.usage_type.append_option(r.usage_type);
        self.unblended.append_value(unblended);
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

/// Cost Explorer's usage-type rows, column by column, then batch by batch into a compressed
/// spill (zstd Parquet in memory, without the version column): the costs version each row names
/// is known only once the costs object is stored, and millions of rows held as Arrow arrays
/// would cost a gigabyte where the spill costs tens of megabytes.
struct UsageColumns {
    day: Date32Builder,
    account: StringBuilder,
    usage_type: StringBuilder,
    unblended: Decimal128Builder,
    amortized: Decimal128Builder,
    currency: StringBuilder,
    estimated: BooleanBuilder,
    /// The usage_types schema without its last column, `costs_version`.
    schema: SchemaRef,
    spill: ArrowWriter<Vec<u8>>,
    rows: usize,
}

impl UsageColumns {
    fn new() -> Self {
        let text = || StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16);
        let full = Dataset::UsageTypes.schema();
        let schema = Arc::new(Schema::new(
            full.fields()[..full.fields().len() - 1].to_vec(),
        ));
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        UsageColumns {
            day: Date32Builder::with_capacity(BATCH_ROWS),
            account: text(),
            usage_type: text(),
            unblended: money_builder(),
            amortized: money_builder(),
            currency: text(),
            estimated: BooleanBuilder::with_capacity(BATCH_ROWS),
            spill: ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))
                .expect("a valid spill schema"),
            schema,
            rows: 0,
        }
    }

    fn push(&mut self, r: &CostRef<'_>, unblended: i128) -> Result<(), CostError> {
        self.day.append_value((r.day - EPOCH).num_days() as i32);
        self.account.append_value(r.account);
        self.usage_type
            .append_value(r.usage_type.unwrap_or_default());
        self.unblended.append_value(unblended);
        self.amortized.append_option(r.amortized.map(mantissa));
        self.currency.append_value(r.currency);
        self.estimated.append_option(r.estimated);
        self.rows += 1;
        if self.day.len() >= BATCH_ROWS {
            self.cut()?;
        }
        Ok(())
    }

    fn cut(&mut self) -> Result<(), CostError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.day.finish()),
            Arc::new(self.account.finish()),
            Arc::new(self.usage_type.finish()),
            Arc::new(self.unblended.finish()),
            Arc::new(self.amortized.finish()),
            Arc::new(self.currency.finish()),
            Arc::new(self.estimated.finish()),
        ];
        let batch =
            RecordBatch::try_new(self.schema.clone(), columns).expect("columns follow the schema");
        self.spill.write(&batch).map_err(spill_error)
    }

    /// Stores the rows in `usage_types/month=.../`, each naming `costs_version`, replacing
    /// the month's earlier object.
    async fn store(
        mut self,
        lake: &Lake,
        month: &str,
        costs_version: &str,
    ) -> Result<(), CostError> {
        if self.day.len() > 0 {
            self.cut()?;
        }
        let spilled = Bytes::from(self.spill.into_inner().map_err(spill_error)?);
        let mut writer = lake.writer(Dataset::UsageTypes, month, "usage_types")?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(spilled)
            .and_then(|b| b.with_batch_size(BATCH_ROWS).build())
            .map_err(spill_error)?;
        for batch in reader {
            let batch = batch.map_err(|e| spill_error(e.into()))?;
            let mut columns = batch.columns().to_vec();
            columns.push(Arc::new(StringArray::from(vec![
                costs_version;
                batch.num_rows()
            ])));
            let batch = RecordBatch::try_new(Dataset::UsageTypes.schema(), columns)
                .expect("columns follow the usage_types schema");
            writer.write(&batch)?;
        }
        if writer.rows() == 0 {
            writer.write(&RecordBatch::new_empty(Dataset::UsageTypes.schema()))?;
        }
        writer.finish().await?;
        Ok(())
    }
}

/// An error of the in-memory spill, named as the object it is on its way to.
fn spill_error(source: parquet::errors::ParquetError) -> CostError {
    CostError::Lake(spa_core::lake::LakeError::Parquet {
        key: format!(
            "{}/ (usage types held until the costs are stored)",
            Dataset::UsageTypes.name()
        ),
        source,
    })
}

/// One account's spend so far, per service, in the money scale.
struct AccountSpend {
    /// The currency of the account's first spend row.
    currency: String,
    services: HashMap<String, i128>,
}

/// The month's spend per account and service (credits and refunds left out), summed while the
/// rows pass, for `cost_totals/`.
#[derive(Default)]
struct Totals {
    accounts: HashMap<String, AccountSpend>,
    through: Option<NaiveDate>,
}

impl Totals {
    fn add(&mut self, r: &CostRef<'_>, unblended: i128) {
        self.through = self.through.max(Some(r.day));
        if NOT_SPEND.contains(&r.record_type) {
            return;
        }
        let account = match self.accounts.get_mut(r.account) {
            Some(a) => a,
            None => self
                .accounts
                .entry(r.account.to_string())
                .or_insert_with(|| AccountSpend {
                    currency: r.currency.to_string(),
                    services: HashMap::new(),
                }),
        };
        match account.services.get_mut(r.service) {
            Some(sum) => *sum = sum.saturating_add(unblended),
            None => {
                account.services.insert(r.service.to_string(), unblended);
            }
        }
    }

    /// The rows, sorted by account and service, each naming the costs object they sum.
    fn batch(self, costs_version: &str) -> RecordBatch {
        let mut rows: Vec<(&str, &str, i128, &str)> = self
            .accounts
            .iter()
            .flat_map(|(account, spend)| {
                spend.services.iter().map(|(service, sum)| {
                    (
                        account.as_str(),
                        service.as_str(),
                        *sum,
                        spend.currency.as_str(),
                    )
                })
            })
            .collect();
        rows.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let through = self.through.map_or(0, |d| (d - EPOCH).num_days() as i32);
        let mut spend = money_builder();
        for r in &rows {
            spend.append_value(r.2);
        }
        let n = rows.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(spend.finish()),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
            Arc::new(Date32Array::from(vec![through; n])),
            Arc::new(StringArray::from(vec![costs_version; n])),
        ];
        RecordBatch::try_new(Dataset::CostTotals.schema(), columns)
            .expect("columns follow the cost_totals schema")
    }
}

const BATCH_ROWS: usize = 65_536;
const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");

/// The rows of one month on their way into `costs/month=YYYY-MM/`: built column by column and
/// compressed batch by batch into the month's one object, which replaces what an earlier run
/// wrote for that month when [`MonthWriter::finish`] stores it. Rows of other months are counted
/// and left out. The month's spend per account and service goes to `cost_totals/` after the
/// costs, naming the version of the costs object it sums: a reader trusts it only while that
/// version is the one stored, so a crash between the two writes or a later rewrite of the
/// costs leaves totals that are ignored, never wrong ones. Cost Explorer's usage-type rows
/// ([`CostRef::by_usage_type`]) are spilled compressed until then and go to `usage_types/`
/// between the two,
/// naming the costs version the same way (every month gets that object, empty for sources whose
/// costs rows carry their usage type).
pub struct MonthWriter<'l> {
    lake: &'l Lake,
    totals: Totals,
    usages: UsageColumns,
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
            lake,
            totals: Totals::default(),
            usages: UsageColumns::new(),
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
        // Usage-type rows detail rows counted here already: left out without a count.
        if Month::of(row.day) != self.month {
            self.other_months += usize::from(!row.by_usage_type);
            return Ok(());
        }
        if self.until.is_some_and(|until| row.day > until) {
            self.later += usize::from(!row.by_usage_type);
            return Ok(());
        }
        let unblended = mantissa(row.unblended);
        if row.by_usage_type {
            return self.usages.push(&row, unblended);
        }
        self.columns.push(&row, unblended, &self.source);
        self.totals.add(&row, unblended);
        self.rows += 1;
        self.total += row.unblended;
        if self.columns.len() >= BATCH_ROWS {
            self.writer.write(&self.columns.finish())?;
        }
        Ok(())
    }

    /// Stores the month's object, then its totals; nothing of either is visible before.
    pub async fn finish(mut self) -> Result<MonthSummary, CostError> {
        if self.columns.len() > 0 || self.rows == 0 {
            self.writer.write(&self.columns.finish())?;
        }
        let (key, version) = self.writer.finish_versioned().await?;
        let month = self.month.to_string();
        let usage_rows = self.usages.rows;
        self.usages.store(self.lake, &month, &version).await?;
        self.lake
            .write(
                Dataset::CostTotals,
                &month,
                "cost_totals",
                &[self.totals.batch(&version)],
            )
            .await?;
        Ok(MonthSummary {
            rows: self.rows,
            usage_rows,
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
    /// Rows written to `costs/`.
    pub rows: usize,
    /// Usage-type rows written to `usage_types/` (Cost Explorer's query C).
    pub usage_rows: usize,
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
