//! Legacy Cost and Usage Report exports (Parquet, `line_item_*` / `product_*` columns) into the
//! rows of the `costs` dataset: one row per day, account, service, record type and usage type,
//! amounts summed exactly. Columns vary from month to month: only the ones below are read, the
//! others are ignored; a missing required column is refused with the column and file named.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int32Type, Schema, TimeUnit, TimestampSecondType};
use chrono::NaiveDate;
use foldhash::fast::FixedState;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use rust_decimal::Decimal;
use spa_core::lake::MONEY_SCALE;

use crate::costs::{CostError, CostRef};

const ACCOUNT: &str = "line_item_usage_account_id";
const COST: &str = "line_item_unblended_cost";
const TYPE: &str = "line_item_line_item_type";
const START: &str = "line_item_usage_start_date";
const PRODUCT_NAME: &str = "product_product_name";
const PRODUCT_CODE: &str = "line_item_product_code";
const CURRENCY: &str = "line_item_currency_code";
const USAGE_TYPE: &str = "line_item_usage_type";

/// Columns without which a CUR file cannot be read.
pub const REQUIRED: [&str; 4] = [ACCOUNT, COST, TYPE, START];

fn bad(path: &Path, message: String) -> CostError {
    CostError::Response {
        origin: path.display().to_string(),
        message,
    }
}

/// A cost written as a double in the export, as the exact decimal of its shortest text (the
/// digits the export's writer printed), limited to twelve decimals.
fn exact(value: f64, text: &mut String) -> Decimal {
    use std::fmt::Write;
    text.clear();
    let _ = write!(text, "{value}");
    Decimal::from_str_exact(text)
        .or_else(|_| Decimal::from_scientific(&format!("{value:e}")))
        .map(|d| d.round_dp(12))
        .unwrap_or(Decimal::ZERO)
}

/// The distinct values of one column, each with a number; the previous lookup is remembered,
/// since exports repeat a value over many consecutive rows.
#[derive(Default)]
struct Values {
    ids: HashMap<Box<str>, u32, FixedState>,
    values: Vec<Box<str>>,
    last: Option<u32>,
}

impl Values {
    fn id(&mut self, value: &str) -> u32 {
        if let Some(last) = self.last
            && *self.values[last as usize] == *value
        {
            return last;
        }
        let id = match self.ids.get(value) {
            Some(id) => *id,
            None => {
                let id = self.values.len() as u32;
                self.values.push(value.into());
                self.ids.insert(value.into(), id);
                id
            }
        };
        self.last = Some(id);
        id
    }

    fn get(&self, id: u32) -> &str {
        &self.values[id as usize]
    }

    /// Each id's position in the values' sorted order.
    fn ranks(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.values.len() as u32).collect();
        order.sort_unstable_by(|a, b| self.get(*a).cmp(self.get(*b)));
        let mut ranks = vec![0; order.len()];
        for (rank, id) in order.into_iter().enumerate() {
            ranks[id as usize] = rank as u32;
        }
        ranks
    }
}

/// No value (a missing usage type).
const NONE: u32 = u32::MAX;

/// Day (since 1970), account, service, record type, usage type, currency.
type Key = (i32, u32, u32, u32, u32, u32);

/// The sums of an export, keyed by numbered values.
#[derive(Default)]
struct Sums {
    accounts: Values,
    services: Values,
    types: Values,
    usages: Values,
    currencies: Values,
    /// Sums as integers of 10^-12 (the lake's money scale).
    totals: HashMap<Key, i128, FixedState>,
    /// Sums of the latest rows: a small table that stays in the processor's cache, moved into
    /// `totals` when full, so the rows of one key that an export keeps close together (the hours
    /// of a day) cost one access to the large table instead of one each.
    recent: HashMap<Key, i128, FixedState>,
    rows: u64,
}

/// Keys in [`Sums::recent`] before it is moved into the totals.
const RECENT: usize = 1 << 15;

impl Sums {
    fn flush(&mut self) {
        for (key, value) in self.recent.drain() {
            *self.totals.entry(key).or_default() += value;
        }
    }
}

/// The value ids of a column's rows ([`NONE`] for nulls, and for empty texts if
/// `empty_is_none`).
fn ids_of(
    column: &ArrayRef,
    values: &mut Values,
    empty_is_none: bool,
) -> Result<Vec<u32>, arrow::error::ArrowError> {
    let mut id = |v: &str| {
        if empty_is_none && v.is_empty() {
            NONE
        } else {
            values.id(v)
        }
    };
    if let Some(dictionary) = column.as_dictionary_opt::<Int32Type>() {
        let words = cast(dictionary.values(), &DataType::Utf8)?;
        let words = words.as_string::<i32>();
        let map: Vec<u32> = (0..words.len())
            .map(|k| {
                if words.is_valid(k) {
                    id(words.value(k))
                } else {
                    NONE
                }
            })
            .collect();
        return Ok(dictionary
            .keys()
            .iter()
            .map(|k| k.map_or(NONE, |k| map[k as usize]))
            .collect());
    }
    let text = cast(column, &DataType::Utf8)?;
    Ok(text
        .as_string::<i32>()
        .iter()
        .map(|v| v.map_or(NONE, &mut id))
        .collect())
}

/// Reads one CUR Parquet file, adding its sums into `sums`.
fn read_file(path: &Path, sums: &mut Sums) -> Result<(), CostError> {
    let file = File::open(path).map_err(|source| CostError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let plain = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| bad(path, format!("not a Parquet file: {e}")))?;
    let schema = plain.schema().clone();
    let index = |name: &str| schema.index_of(name).ok();
    if let Some(missing) = REQUIRED.iter().find(|c| index(c).is_none()) {
        return Err(bad(
            path,
            format!(
                "missing column `{missing}` (a Cost and Usage Report needs {})",
                REQUIRED.join(", ")
            ),
        ));
    }
    // Text columns are read as dictionaries (as they are stored), so each distinct value of a
    // batch is looked up once rather than once per row.
    let hinted: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => Arc::new(f.as_ref().clone().with_data_type(DataType::Dictionary(
                Box::new(DataType::Int32),
                Box::new(DataType::Utf8),
            ))),
            _ => f.clone(),
        })
        .collect();
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(hinted)));
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(
        file,
        ArrowReaderMetadata::try_new(plain.metadata().clone(), options)
            .map_err(|e| bad(path, e.to_string()))?,
    );
    let wanted: Vec<usize> = [
        ACCOUNT,
        COST,
        TYPE,
        START,
        PRODUCT_NAME,
        PRODUCT_CODE,
        CURRENCY,
        USAGE_TYPE,
    ]
    .iter()
    .filter_map(|c| index(c))
    .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(65_536)
        .build()
        .map_err(|e| bad(path, e.to_string()))?;
    let mut text = String::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(path, e.to_string()))?;
        let ids = |name: &str, values: &mut Values, empty_is_none: bool| {
            batch
                .column_by_name(name)
                .map(|c| {
                    ids_of(c, values, empty_is_none).map_err(|e| bad(path, format!("{name}: {e}")))
                })
                .transpose()
        };
        let account = ids(ACCOUNT, &mut sums.accounts, false)?.expect("required");
        let kind = ids(TYPE, &mut sums.types, false)?.expect("required");
        let name = ids(PRODUCT_NAME, &mut sums.services, true)?;
        let code = ids(PRODUCT_CODE, &mut sums.services, false)?;
        let currency = ids(CURRENCY, &mut sums.currencies, false)?;
        let usage = ids(USAGE_TYPE, &mut sums.usages, false)?;
        let usd = sums.currencies.id("USD");
        let empty = sums.services.id("");
        let cost = cast(
            batch.column_by_name(COST).expect("required"),
            &DataType::Float64,
        )
        .map_err(|e| bad(path, format!("{COST}: {e}")))?;
        let start = cast(
            batch.column_by_name(START).expect("required"),
            &DataType::Timestamp(TimeUnit::Second, None),
        )
        .map_err(|e| bad(path, format!("{START}: {e}")))?;
        let (cost, start) = (
            cost.as_primitive::<Float64Type>(),
            start.as_primitive::<TimestampSecondType>(),
        );
        let at = |ids: &Option<Vec<u32>>, i: usize| ids.as_ref().map_or(NONE, |v| v[i]);
        for i in 0..batch.num_rows() {
            if cost.is_null(i) || start.is_null(i) || account[i] == NONE {
                continue;
            }
            let day = i32::try_from(start.value(i).div_euclid(86_400))
                .map_err(|_| bad(path, format!("{START}: out of range")))?;
            let service = match (at(&name, i), at(&code, i)) {
                (NONE, NONE) => empty,
                (NONE, code) => code,
                (name, _) => name,
            };
            let key = (
                day,
                account[i],
                service,
                kind[i],
                at(&usage, i),
                match at(&currency, i) {
                    NONE => usd,
                    c => c,
                },
            );
            let mut cost = exact(cost.value(i), &mut text);
            cost.rescale(MONEY_SCALE as u32);
            *sums.recent.entry(key).or_default() += cost.mantissa();
            if sums.recent.len() >= RECENT {
                sums.flush();
            }
            sums.rows += 1;
        }
    }
    Ok(())
}

/// Reads a CUR export (a file or a folder of Parquet files) into `sink`: one row per day,
/// account, service, record type, usage type and currency, in that order. Returns the number of
/// export rows read.
pub fn load(
    path: &Path,
    sink: &mut dyn FnMut(CostRef<'_>) -> Result<(), CostError>,
) -> Result<u64, CostError> {
    let files = crate::costs::files_with(path, &["parquet"])?;
    if files.is_empty() {
        return Err(CostError::Response {
            origin: path.display().to_string(),
            message: "no Parquet files".into(),
        });
    }
    let mut sums = Sums::default();
    for file in &files {
        read_file(file, &mut sums)?;
    }
    sums.flush();
    let mut totals: Vec<(Key, i128)> = std::mem::take(&mut sums.totals).into_iter().collect();
    let (accounts, services, types, usages, currencies) = (
        sums.accounts.ranks(),
        sums.services.ranks(),
        sums.types.ranks(),
        sums.usages.ranks(),
        sums.currencies.ranks(),
    );
    totals.sort_unstable_by_key(|((day, a, s, t, u, c), _)| {
        let usage = if *u == NONE {
            0
        } else {
            usages[*u as usize] + 1
        };
        (
            *day,
            accounts[*a as usize],
            services[*s as usize],
            types[*t as usize],
            usage,
            currencies[*c as usize],
        )
    });
    let usage = |id: u32| (id != NONE).then(|| sums.usages.get(id));
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    for ((day, account, service, kind, usage_type, currency), unblended) in totals {
        sink(CostRef {
            day: epoch + chrono::Days::new(u64::try_from(day).unwrap_or(0)),
            account: sums.accounts.get(account),
            service: sums.services.get(service),
            record_type: sums.types.get(kind),
            usage_type: usage(usage_type),
            unblended: Decimal::from_i128_with_scale(unblended, MONEY_SCALE as u32).normalize(),
            amortized: None,
            currency: sums.currencies.get(currency),
            estimated: None,
        })?;
    }
    Ok(sums.rows)
}
