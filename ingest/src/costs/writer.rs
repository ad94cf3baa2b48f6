//! The rows of one month on their way into `costs/month=YYYY-MM/`, column by column, into the
//! month's one object; Cost Explorer's usage-type rows into `usage_types/`, the month's sums per
//! account, service, record type and currency into `monthly_costs/`, and its spend per account
//! and service into `cost_totals/`.

use std::hash::BuildHasher;
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

use super::values::Values;
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

fn money_builder(rows: usize) -> Decimal128Builder {
    Decimal128Builder::with_capacity(rows)
        .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)
        .expect("valid money type")
}

fn mantissa(mut d: Decimal) -> i128 {
    d.rescale(MONEY_SCALE as u32);
    d.mantissa()
}

impl Columns {
    fn with_capacity(rows: usize) -> Self {
        let text = || StringBuilder::with_capacity(rows, rows * 16);
        Columns {
            day: Date32Builder::with_capacity(rows),
            account: text(),
            service: text(),
            record_type: text(),
            usage_type: text(),
            unblended: money_builder(rows),
            amortized: money_builder(rows),
            currency: text(),
            estimated: BooleanBuilder::with_capacity(rows),
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
}

/// Cost Explorer's usage-type rows, column by column (without the version column: the costs
/// version each row names is known only once the costs object is stored).
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
}

impl UsageColumns {
    fn with_capacity(rows: usize) -> Self {
        let text = || StringBuilder::with_capacity(rows, rows * 16);
        UsageColumns {
            day: Date32Builder::with_capacity(rows),
            account: text(),
            usage_type: text(),
            unblended: money_builder(rows),
            amortized: money_builder(rows),
            currency: text(),
            estimated: BooleanBuilder::with_capacity(rows),
            schema: usages_spilled(),
        }
    }

    fn push(&mut self, r: &CostRef<'_>, unblended: i128) {
        self.day.append_value((r.day - EPOCH).num_days() as i32);
        self.account.append_value(r.account);
        self.usage_type
            .append_value(r.usage_type.unwrap_or_default());
        self.unblended.append_value(unblended);
        self.amortized.append_option(r.amortized.map(mantissa));
        self.currency.append_value(r.currency);
        self.estimated.append_option(r.estimated);
    }
}

/// The usage_types schema without its last column, `costs_version`.
fn usages_spilled() -> SchemaRef {
    let full = Dataset::UsageTypes.schema();
    Arc::new(Schema::new(
        full.fields()[..full.fields().len() - 1].to_vec(),
    ))
}

/// Builders of a batch of rows.
trait Batch {
    fn len(&self) -> usize;
    fn finish(&mut self) -> RecordBatch;
}

impl Batch for Columns {
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

impl Batch for UsageColumns {
    fn len(&self) -> usize {
        self.day.len()
    }

    fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.day.finish()),
            Arc::new(self.account.finish()),
            Arc::new(self.usage_type.finish()),
            Arc::new(self.unblended.finish()),
            Arc::new(self.amortized.finish()),
            Arc::new(self.currency.finish()),
            Arc::new(self.estimated.finish()),
        ];
        RecordBatch::try_new(self.schema.clone(), columns).expect("columns follow the schema")
    }
}

/// Partitions of a month's rows by account (see [`MonthWriter`]).
const PARTS: usize = 32;
/// Rows a partition holds as Arrow arrays before it compresses them into its spill.
const PART_ROWS: usize = 8_192;
/// Rows of a row group of a partition's spill.
const SPILL_ROW_GROUP: usize = 65_536;

/// The partition of an account's rows: a hash fixed across runs, so the same rows make the
/// same object.
fn part_of(account: &str) -> usize {
    (foldhash::fast::FixedState::with_seed(0).hash_one(account) % PARTS as u64) as usize
}

/// A month's rows of one dataset held until the month is complete: [`PARTS`] partitions by
/// account, each built [`PART_ROWS`] rows at a time and compressed into an in-memory spill
/// (zstd Parquet: millions of rows held as Arrow arrays would cost a gigabyte where the spill
/// costs tens of megabytes), then given back partition by partition, sorted.
struct Parts<B> {
    parts: Vec<(B, ArrowWriter<Vec<u8>>)>,
    schema: SchemaRef,
    dataset: Dataset,
    held: &'static str,
    rows: usize,
}

impl<B: Batch> Parts<B> {
    fn new(dataset: Dataset, held: &'static str, schema: SchemaRef, make: impl Fn() -> B) -> Self {
        Parts {
            parts: (0..PARTS)
                .map(|_| (make(), spill_writer(schema.clone())))
                .collect(),
            schema,
            dataset,
            held,
            rows: 0,
        }
    }

    /// Adds a row of `account` with `push`.
    fn push(&mut self, account: &str, push: impl FnOnce(&mut B)) -> Result<(), CostError> {
        let (columns, spill) = &mut self.parts[part_of(account)];
        push(columns);
        self.rows += 1;
        if columns.len() >= PART_ROWS {
            let batch = columns.finish();
            spill
                .write(&batch)
                .map_err(|e| spill_error(self.dataset, self.held, e))?;
        }
        Ok(())
    }

    /// Gives every row to `write`, partition by partition, each sorted by the columns `keys`,
    /// in batches of at most [`BATCH_ROWS`].
    fn drain_sorted(
        self,
        keys: &[&str],
        mut write: impl FnMut(RecordBatch) -> Result<(), CostError>,
    ) -> Result<(), CostError> {
        let parquet = |e| spill_error(self.dataset, self.held, e);
        let arrow = |e: arrow::error::ArrowError| parquet(e.into());
        for (mut columns, mut spill) in self.parts {
            if columns.len() > 0 {
                spill.write(&columns.finish()).map_err(parquet)?;
            }
            let batches = unspill(spill)
                .map_err(parquet)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(arrow)?;
            let rows = arrow::compute::concat_batches(&self.schema, &batches).map_err(arrow)?;
            drop(batches);
            let sort: Vec<arrow::compute::SortColumn> = keys
                .iter()
                .map(|name| arrow::compute::SortColumn {
                    values: rows
                        .column_by_name(name)
                        .expect("a sort column of the schema")
                        .clone(),
                    options: None,
                })
                .collect();
            let order = arrow::compute::lexsort_to_indices(&sort, None).map_err(arrow)?;
            drop(sort);
            let sorted = arrow::compute::take_record_batch(&rows, &order).map_err(arrow)?;
            drop(rows);
            let mut offset = 0;
            while offset < sorted.num_rows() {
                let len = BATCH_ROWS.min(sorted.num_rows() - offset);
                write(sorted.slice(offset, len))?;
                offset += len;
            }
        }
        Ok(())
    }
}

/// Stores the usage-type rows in `usage_types/month=.../`, each naming `costs_version`,
/// replacing the month's earlier object.
async fn store_usages(
    usages: Parts<UsageColumns>,
    lake: &Lake,
    month: &str,
    costs_version: &str,
) -> Result<(), CostError> {
    let mut writer = lake.writer(Dataset::UsageTypes, month, "usage_types")?;
    usages.drain_sorted(&["account_id", "usage_type", "day"], |batch| {
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(StringArray::from(vec![
            costs_version;
            batch.num_rows()
        ])));
        let batch = RecordBatch::try_new(Dataset::UsageTypes.schema(), columns)
            .expect("columns follow the usage_types schema");
        Ok(writer.write(&batch)?)
    })?;
    if writer.rows() == 0 {
        writer.write(&RecordBatch::new_empty(Dataset::UsageTypes.schema()))?;
    }
    writer.finish().await?;
    Ok(())
}

/// A compressed in-memory spill of batches of `schema` (zstd Parquet, no statistics). The
/// writer holds a row group's pages and every column's dictionary until the row group is
/// complete, for each of the [`PARTS`] spills at once: row groups of [`SPILL_ROW_GROUP`] rows,
/// pages and dictionaries of at most 64 KiB, and no dictionary for the amounts, whose values
/// rarely repeat.
fn spill_writer(schema: SchemaRef) -> ArrowWriter<Vec<u8>> {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
        .set_max_row_group_row_count(Some(SPILL_ROW_GROUP))
        .set_data_page_size_limit(64 << 10)
        .set_dictionary_page_size_limit(64 << 10);
    for amount in ["unblended", "amortized"] {
        props = props.set_column_dictionary_enabled(amount.into(), false);
    }
    let props = props.build();
    ArrowWriter::try_new(Vec::new(), schema, Some(props)).expect("a valid spill schema")
}

/// The batches of a spill, in the order written.
fn unspill(
    spill: ArrowWriter<Vec<u8>>,
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, parquet::errors::ParquetError> {
    let spilled = Bytes::from(spill.into_inner()?);
    ParquetRecordBatchReaderBuilder::try_new(spilled)?
        .with_batch_size(BATCH_ROWS)
        .build()
}

/// An error of an in-memory spill, named as the object it is on its way to.
fn spill_error(dataset: Dataset, held: &str, source: parquet::errors::ParquetError) -> CostError {
    CostError::Lake(spa_core::lake::LakeError::Parquet {
        key: format!("{}/ ({held})", dataset.name()),
        source,
    })
}

/// The month's sums per account, service, record type and currency, in the money scale, added
/// while the rows pass: `monthly_costs/` as they are, `cost_totals/` as the spend per account and
/// service (credits and refunds left out) in the currency of the account's first spend row.
#[derive(Default)]
struct Totals {
    accounts: Values,
    services: Values,
    record_types: Values,
    currencies: Values,
    /// Per account (by its number), its (service, record type, currency, unblended sum): a few
    /// dozen each, searched in place, so that a row touches one account's memory only.
    lines: Vec<Vec<(u32, u32, u32, i128)>>,
    /// Per account, the currency of its first spend row (`None`: credits or refunds only).
    spend_currency: Vec<Option<u32>>,
    through: Option<NaiveDate>,
}

/// A `monthly_costs` or `cost_totals` row as text: its key columns, amount and currency.
type SumRow<'t, const KEYS: usize> = ([&'t str; KEYS], i128, &'t str);

impl Totals {
    fn add(
        &mut self,
        day: NaiveDate,
        [account, service, record_type, currency]: [&str; 4],
        unblended: i128,
    ) {
        self.through = self.through.max(Some(day));
        let spend = !NOT_SPEND.contains(&record_type);
        let account = self.accounts.id(account) as usize;
        let key = (
            self.services.id(service),
            self.record_types.id(record_type),
            self.currencies.id(currency),
        );
        if self.lines.len() <= account {
            self.lines.resize_with(account + 1, Vec::new);
            self.spend_currency.resize(account + 1, None);
        }
        let lines = &mut self.lines[account];
        match lines.iter_mut().find(|l| (l.0, l.1, l.2) == key) {
            Some(line) => line.3 = line.3.saturating_add(unblended),
            None => lines.push((key.0, key.1, key.2, unblended)),
        }
        if spend && self.spend_currency[account].is_none() {
            self.spend_currency[account] = Some(key.2);
        }
    }

    /// Every sum as (account, service, record type, currency, unblended), sorted by the texts
    /// of the four (compared through their ranks).
    fn sorted(&self) -> Vec<(u32, u32, u32, u32, i128)> {
        let ranks = [
            self.accounts.ranks(),
            self.services.ranks(),
            self.record_types.ranks(),
            self.currencies.ranks(),
        ];
        let mut sums: Vec<(u32, u32, u32, u32, i128)> = self
            .lines
            .iter()
            .enumerate()
            .flat_map(|(account, lines)| {
                lines
                    .iter()
                    .map(move |&(s, k, c, sum)| (account as u32, s, k, c, sum))
            })
            .collect();
        sums.sort_unstable_by_key(|&(a, s, k, c, _)| {
            (
                ranks[0][a as usize],
                ranks[1][s as usize],
                ranks[2][k as usize],
                ranks[3][c as usize],
            )
        });
        sums
    }

    /// The `monthly_costs` rows: every sum, in `sorted` order.
    fn monthly_rows<'t>(&'t self, sorted: &[(u32, u32, u32, u32, i128)]) -> Vec<SumRow<'t, 3>> {
        sorted
            .iter()
            .map(|&(a, s, k, c, sum)| {
                let keys = [
                    self.accounts.get(a),
                    self.services.get(s),
                    self.record_types.get(k),
                ];
                (keys, sum, self.currencies.get(c))
            })
            .collect()
    }

    /// The `cost_totals` rows: the spend per account and service (services with spend rows
    /// only) in the account's spend currency, folded from the `sorted` sums.
    fn spend_rows<'t>(&'t self, sorted: &[(u32, u32, u32, u32, i128)]) -> Vec<SumRow<'t, 2>> {
        let mut rows: Vec<SumRow<'t, 2>> = Vec::new();
        let mut last = None;
        for &(a, s, k, _, sum) in sorted {
            if NOT_SPEND.contains(&self.record_types.get(k)) {
                continue;
            }
            match rows.last_mut() {
                Some(row) if last == Some((a, s)) => row.1 = row.1.saturating_add(sum),
                _ => {
                    let currency = self.spend_currency[a as usize]
                        .expect("an account with a spend row has its currency");
                    let keys = [self.accounts.get(a), self.services.get(s)];
                    rows.push((keys, sum, self.currencies.get(currency)));
                    last = Some((a, s));
                }
            }
        }
        rows
    }

    /// A sums dataset's batch: the rows' key columns, amount and currency, then the last day
    /// summed and the version of the costs object summed on every row.
    fn batch<const KEYS: usize>(
        &self,
        dataset: Dataset,
        rows: &[SumRow<'_, KEYS>],
        costs_version: &str,
    ) -> RecordBatch {
        let n = rows.len();
        let through = self.through.map_or(0, |d| (d - EPOCH).num_days() as i32);
        let mut amounts = money_builder(n);
        for r in rows {
            amounts.append_value(r.1);
        }
        let mut columns: Vec<ArrayRef> = (0..KEYS)
            .map(|k| Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0[k]))) as _)
            .collect();
        columns.push(Arc::new(amounts.finish()));
        columns.push(Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.2),
        )));
        columns.push(Arc::new(Date32Array::from(vec![through; n])));
        columns.push(Arc::new(StringArray::from(vec![costs_version; n])));
        RecordBatch::try_new(dataset.schema(), columns)
            .expect("columns follow the sums dataset's schema")
    }
}

const BATCH_ROWS: usize = 65_536;
const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");

/// The rows of one month on their way into `costs/month=YYYY-MM/`: built column by column into
/// [`PARTS`] partitions by account, each compressed batch by batch, then written partition after
/// partition, each sorted by account, service, record type, usage type and day, into the month's
/// one object, which replaces what an earlier run wrote for that month when
/// [`MonthWriter::finish`] stores it. The sources give the month day by day; stored so, every
/// 100,000 rows a reader takes in hold 100,000 different (account, service) sums, and a
/// streaming group-by holds them all; grouped by account, they hold a few thousand. Rows of other months are counted
/// and left out. After the costs come Cost Explorer's usage-type rows
/// ([`CostRef::by_usage_type`], spilled compressed until then) into `usage_types/` (every month
/// gets that object, empty for sources whose costs rows carry their usage type), the month's sums
/// per account, service, record type and currency into `monthly_costs/`, and last its spend per
/// account and service into `cost_totals/`. Each names the version of the costs object it was
/// written with: the exceptions trust the totals only while that version is the one stored, so a
/// crash between the writes or a later rewrite of the costs leaves totals that are ignored, never
/// wrong ones.
pub struct MonthWriter<'l> {
    lake: &'l Lake,
    totals: Totals,
    usages: Parts<UsageColumns>,
    month: Month,
    source: String,
    costs: Parts<Columns>,
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
            usages: Parts::new(
                Dataset::UsageTypes,
                "usage types held until the costs are stored",
                usages_spilled(),
                || UsageColumns::with_capacity(PART_ROWS),
            ),
            month,
            source: source.to_string(),
            costs: Parts::new(
                Dataset::Costs,
                "rows held until the month is complete",
                Dataset::Costs.schema(),
                || Columns::with_capacity(PART_ROWS),
            ),
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
            return self.usages.push(row.account, |u| u.push(&row, unblended));
        }
        let source = &self.source;
        self.costs
            .push(row.account, |c| c.push(&row, unblended, source))?;
        self.totals.add(
            row.day,
            [row.account, row.service, row.record_type, row.currency],
            unblended,
        );
        self.rows += 1;
        self.total += row.unblended;
        Ok(())
    }

    /// Stores the month's object, then its totals; nothing of either is visible before.
    pub async fn finish(mut self) -> Result<MonthSummary, CostError> {
        let writer = &mut self.writer;
        self.costs.drain_sorted(
            &["account_id", "service", "record_type", "usage_type", "day"],
            |batch| Ok(writer.write(&batch)?),
        )?;
        if self.rows == 0 {
            self.writer
                .write(&RecordBatch::new_empty(Dataset::Costs.schema()))?;
        }
        let (key, version) = self.writer.finish_versioned().await?;
        let month = self.month.to_string();
        let usage_rows = self.usages.rows;
        store_usages(self.usages, self.lake, &month, &version).await?;
        store_sums(self.lake, &month, &self.totals, &version).await?;
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

/// Stores a month's sums, `monthly_costs` then `cost_totals`, naming the costs object they sum;
/// returns how many rows each got.
async fn store_sums(
    lake: &Lake,
    month: &str,
    totals: &Totals,
    version: &str,
) -> Result<(usize, usize), CostError> {
    let sorted = totals.sorted();
    let monthly = totals.monthly_rows(&sorted);
    let batch = totals.batch(Dataset::MonthlyCosts, &monthly, version);
    lake.write(Dataset::MonthlyCosts, month, "monthly_costs", &[batch])
        .await?;
    let spend = totals.spend_rows(&sorted);
    let batch = totals.batch(Dataset::CostTotals, &spend, version);
    lake.write(Dataset::CostTotals, month, "cost_totals", &[batch])
        .await?;
    Ok((monthly.len(), spend.len()))
}

/// What [`sum_stored_month`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumsSummary {
    /// Rows of the costs object read.
    pub rows: u64,
    /// Rows written to `monthly_costs/`.
    pub monthly_rows: usize,
    /// Rows written to `cost_totals/`.
    pub total_rows: usize,
    /// The costs object summed.
    pub key: String,
}

/// Writes a month's `monthly_costs` and `cost_totals` again from the costs object already in
/// the lake, batch by batch, without asking any source: for months stored before
/// `monthly_costs` existed. The sums are the ones [`MonthWriter`] adds while the rows pass, and
/// name the version of the object read. A month without exactly one costs object is an error
/// that says how to fetch it.
pub async fn sum_stored_month(lake: &Lake, month: Month) -> Result<SumsSummary, CostError> {
    use arrow::array::AsArray;
    use arrow::datatypes::{Date32Type, Decimal128Type};
    use spa_core::lake::{RowsWhere, columns};
    let partition = month.to_string();
    let objects = lake.objects_versioned(Dataset::Costs, &partition).await?;
    let [costs] = objects.as_slice() else {
        return Err(super::bad(
            &format!("costs/month={partition}/"),
            format!(
                "{} costs objects stored, one expected: fetch the month with `ingest costs --month {partition}`",
                objects.len()
            ),
        ));
    };
    const READ: &[&str] = &[
        columns::DAY,
        columns::ACCOUNT_ID,
        columns::SERVICE,
        columns::RECORD_TYPE,
        columns::UNBLENDED,
        columns::CURRENCY,
    ];
    let every_row = RowsWhere::every(READ);
    let mut totals = Totals::default();
    let bytes = lake.get_bytes(&costs.key).await?;
    let rows = spa_core::lake::decode_each(&costs.key, bytes, &every_row, &mut |batch| {
        let text = |name| {
            batch
                .column_by_name(name)
                .expect("the costs schema")
                .as_string::<i32>()
        };
        let (accounts, services, record_types, currencies) = (
            text(columns::ACCOUNT_ID),
            text(columns::SERVICE),
            text(columns::RECORD_TYPE),
            text(columns::CURRENCY),
        );
        let days = batch
            .column_by_name(columns::DAY)
            .expect("the costs schema")
            .as_primitive::<Date32Type>();
        let amounts = batch
            .column_by_name(columns::UNBLENDED)
            .expect("the costs schema")
            .as_primitive::<Decimal128Type>();
        for i in 0..batch.num_rows() {
            totals.add(
                days.value_as_date(i).unwrap_or(EPOCH),
                [
                    accounts.value(i),
                    services.value(i),
                    record_types.value(i),
                    currencies.value(i),
                ],
                amounts.value(i),
            );
        }
    })?;
    let (monthly_rows, total_rows) = store_sums(lake, &partition, &totals, &costs.version).await?;
    Ok(SumsSummary {
        rows,
        monthly_rows,
        total_rows,
        key: costs.key.clone(),
    })
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
