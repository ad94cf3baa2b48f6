//! Legacy Cost and Usage Report exports (Parquet, `line_item_*` / `product_*` columns) into the
//! rows of the `costs` dataset: one row per day, account, service, record type and usage type,
//! amounts summed exactly. Columns vary from month to month: only the ones below are read, the
//! others are ignored; a missing required column is refused with the column and file named.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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

use super::values::Values;
use super::{CostError, CostRef};

const ACCOUNT: &str = "line_item_usage_account_id";
const COST: &str = "line_item_unblended_cost";
const TYPE: &str = "line_item_line_item_type";
const START: &str = "line_item_usage_start_date";
const PRODUCT_NAME: &str = "product_product_name";
const PRODUCT_CODE: &str = "line_item_product_code";
const CURRENCY: &str = "line_item_currency_code";
const USAGE_TYPE: &str = "line_item_usage_type";

/// Columns without which a CUR file cannot be read.
pub(crate) const REQUIRED: [&str; 4] = [ACCOUNT, COST, TYPE, START];

fn bad(path: &Path, message: String) -> CostError {
    CostError::Response {
        origin: path.display().to_string(),
        message,
    }
}

/// A cost written as a double in the export, as the exact decimal of its shortest text (the
/// digits the export's writer printed), in units of 10^-12 (the lake's money scale), rounded half
/// to even beyond that; `None` when it does not fit (over about 10^26).
fn scaled(value: f64, text: &mut zmij::Buffer) -> Option<i128> {
    if !value.is_finite() {
        return None;
    }
    // `1.25`, `-0.0004`, `1e-7`, `2.5e21`: digits, a point, an exponent.
    let printed = text.format_finite(value).as_bytes();
    let (negative, printed) = match printed.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, printed),
    };
    let (digits, exponent) = match printed.iter().position(|b| *b == b'e') {
        Some(e) => (
            &printed[..e],
            std::str::from_utf8(&printed[e + 1..])
                .ok()?
                .parse::<i32>()
                .ok()?,
        ),
        None => (printed, 0),
    };
    let mut mantissa: i128 = 0;
    let mut shift = exponent + MONEY_SCALE as i32;
    let mut after_point = false;
    for b in digits {
        match b {
            b'.' => after_point = true,
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + i128::from(b - b'0');
                if after_point {
                    shift -= 1;
                }
            }
            _ => return None,
        }
    }
    let scaled = if shift >= 0 {
        mantissa.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?
    } else {
        // More than twelve decimals: round half to even.
        let divisor = 10i128
            .checked_pow(u32::try_from(-shift).ok()?)
            .unwrap_or(i128::MAX);
        let (quotient, remainder) = (mantissa / divisor, mantissa % divisor);
        let twice = remainder.saturating_mul(2);
        if twice > divisor || (twice == divisor && quotient % 2 == 1) {
            quotient + 1
        } else {
            quotient
        }
    };
    Some(if negative { -scaled } else { scaled })
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
            let total = self.totals.entry(key).or_default();
            *total = total.saturating_add(value);
        }
    }

    /// Both sums in one, the smaller renumbered into the larger's values.
    fn merge(mut self, mut other: Sums) -> Sums {
        if other.totals.len() > self.totals.len() {
            std::mem::swap(&mut self, &mut other);
        }
        self.flush();
        other.flush();
        let (accounts, services, types, usages, currencies) = (
            self.accounts.numbers_of(&other.accounts),
            self.services.numbers_of(&other.services),
            self.types.numbers_of(&other.types),
            self.usages.numbers_of(&other.usages),
            self.currencies.numbers_of(&other.currencies),
        );
        let to = |ids: &[u32], id: u32| if id == NONE { NONE } else { ids[id as usize] };
        for ((day, a, s, t, u, c), value) in other.totals {
            let key = (
                day,
                to(&accounts, a),
                to(&services, s),
                to(&types, t),
                to(&usages, u),
                to(&currencies, c),
            );
            let total = self.totals.entry(key).or_default();
            *total = total.saturating_add(value);
        }
        self.rows += other.rows;
        self
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

/// A CUR Parquet file ready to read: its metadata, with text columns read as dictionaries (as
/// they are stored, so each distinct value of a batch is looked up once rather than once per
/// row), and the columns used.
struct Export {
    path: PathBuf,
    metadata: ArrowReaderMetadata,
    wanted: Vec<usize>,
}

impl Export {
    /// Reads the file's metadata; refuses a file without a required column.
    fn open(path: &Path) -> Result<Self, CostError> {
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
        let hinted: Vec<_> = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8 => Arc::new(f.as_ref().clone().with_data_type(
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                )),
                _ => f.clone(),
            })
            .collect();
        let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(hinted)));
        let metadata = ArrowReaderMetadata::try_new(plain.metadata().clone(), options)
            .map_err(|e| bad(path, e.to_string()))?;
        let wanted = [
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
        Ok(Export {
            path: path.to_path_buf(),
            metadata,
            wanted,
        })
    }

    fn row_groups(&self) -> usize {
        self.metadata.metadata().num_row_groups()
    }

    /// Adds the sums of one row group into `sums`.
    fn read(&self, row_group: usize, sums: &mut Sums) -> Result<(), CostError> {
        let path = self.path.as_path();
        let file = File::open(path).map_err(|source| CostError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone());
        let mask = ProjectionMask::roots(builder.parquet_schema(), self.wanted.iter().copied());
        let reader = builder
            .with_projection(mask)
            .with_row_groups(vec![row_group])
            .with_batch_size(65_536)
            .build()
            .map_err(|e| bad(path, e.to_string()))?;
        let mut text = zmij::Buffer::new();
        for batch in reader {
            let batch = batch.map_err(|e| bad(path, e.to_string()))?;
            let ids = |name: &str, values: &mut Values, empty_is_none: bool| {
                batch
                    .column_by_name(name)
                    .map(|c| {
                        ids_of(c, values, empty_is_none)
                            .map_err(|e| bad(path, format!("{name}: {e}")))
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
                let value = cost.value(i);
                let cost = scaled(value, &mut text).ok_or_else(|| {
                    bad(path, format!("{COST}: {value} is not an amount of money"))
                })?;
                let total = sums.recent.entry(key).or_default();
                *total = total.saturating_add(cost);
                if sums.recent.len() >= RECENT {
                    sums.flush();
                }
                sums.rows += 1;
            }
        }
        Ok(())
    }
}

/// Reads a CUR export (a file or a folder of Parquet files) into `sink`: one row per day,
/// account, service, record type, usage type and currency, in that order. Returns the number of
/// export rows read.
pub fn load(
    path: &Path,
    sink: &mut dyn FnMut(CostRef<'_>) -> Result<(), CostError>,
) -> Result<u64, CostError> {
    let files = super::files_with(path, &["parquet"])?;
    if files.is_empty() {
        return Err(CostError::Response {
            origin: path.display().to_string(),
            message: "no Parquet files".into(),
        });
    }
    let exports = files
        .iter()
        .map(|f| Export::open(f))
        .collect::<Result<Vec<_>, _>>()?;
    // Row groups are read on every core, each thread summing into its own tables; the tables
    // are merged at the end (sums are integers, so the result does not depend on the split).
    let units: Vec<(usize, usize)> = exports
        .iter()
        .enumerate()
        .flat_map(|(f, e)| (0..e.row_groups()).map(move |g| (f, g)))
        .collect();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(units.len())
        .max(1);
    let parts: Vec<Result<Sums, CostError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut sums = Sums::default();
                    while let Some(&(f, g)) = units.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if let Err(e) = exports[f].read(g, &mut sums) {
                            // Stop the other threads too.
                            next.store(units.len(), Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                    sums.flush();
                    Ok(sums)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a CUR reader thread panicked"))
            .collect()
    });
    let mut sums = Sums::default();
    for part in parts {
        sums = sums.merge(part?);
    }
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
    // Sums saturate instead of wrapping; one out of range is refused with what it sums.
    let limit = 10i128.pow(super::MONEY_DIGITS + MONEY_SCALE as u32);
    for ((day, account, service, kind, usage_type, currency), unblended) in totals {
        if unblended.unsigned_abs() >= limit.unsigned_abs() {
            return Err(bad(
                path,
                format!(
                    "the cost of account {} for {} on day {day} since 1970 is out of range: a sum must be below 10^{} in absolute value",
                    sums.accounts.get(account),
                    sums.services.get(service),
                    super::MONEY_DIGITS
                ),
            ));
        }
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
            by_usage_type: false,
        })?;
    }
    Ok(sums.rows)
}

#[cfg(test)]
mod tests {
    use super::{NONE, Sums, Values, scaled};
    use rust_decimal::Decimal;

    /// The same conversion through the standard library's shortest text and rust_decimal.
    fn by_decimal(value: f64) -> i128 {
        let mut d = Decimal::from_str_exact(&value.to_string())
            .unwrap()
            .round_dp(12);
        d.rescale(12);
        d.mantissa()
    }

    #[test]
    fn costs_convert_to_the_decimal_of_their_shortest_text() {
        let mut buffer = zmij::Buffer::new();
        assert_eq!(scaled(1.25, &mut buffer), Some(1_250_000_000_000));
        assert_eq!(scaled(-0.0004, &mut buffer), Some(-400_000_000));
        assert_eq!(scaled(1e-7, &mut buffer), Some(100_000));
        assert_eq!(scaled(0.1 + 0.2, &mut buffer), Some(300_000_000_000)); // 0.30000000000000004
        assert_eq!(scaled(2.5e-12, &mut buffer), Some(2)); // half to even
        assert_eq!(scaled(3.5e-12, &mut buffer), Some(4));
        assert_eq!(scaled(1e-30, &mut buffer), Some(0));
        assert_eq!(scaled(0.0, &mut buffer), Some(0));
        assert_eq!(scaled(1e30, &mut buffer), None);
        assert_eq!(scaled(f64::NAN, &mut buffer), None);
        // Values as exports hold them, across magnitudes, against rust_decimal.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let digits = (state % 10_000_000_000) as f64;
            let value = digits / 10f64.powi((state >> 40) as i32 % 16) - 1e5;
            assert_eq!(
                scaled(value, &mut buffer),
                Some(by_decimal(value)),
                "{value}"
            );
        }
    }

    #[test]
    fn merged_sums_equal_one_reader_summing_everything() {
        let rows = [
            ("a", "EC2", 1_i128),
            ("b", "S3", 2),
            ("a", "S3", 3),
            ("c", "EC2", 4),
            ("a", "EC2", 5),
        ];
        let add = |sums: &mut Sums, (account, service, amount): (&str, &str, i128)| {
            let key = (
                0,
                sums.accounts.id(account),
                sums.services.id(service),
                sums.types.id("Usage"),
                NONE,
                sums.currencies.id("USD"),
            );
            *sums.recent.entry(key).or_default() += amount;
            sums.rows += 1;
        };
        let readable = |mut sums: Sums| {
            sums.flush();
            let name = |values: &Values, id| values.get(id).to_string();
            let mut out: Vec<(String, String, i128)> = sums
                .totals
                .iter()
                .map(|((_, a, s, ..), v)| (name(&sums.accounts, *a), name(&sums.services, *s), *v))
                .collect();
            out.sort();
            (out, sums.rows)
        };
        let mut one = Sums::default();
        rows.iter().for_each(|r| add(&mut one, *r));
        // Split so that each side numbers the values in another order.
        let (mut first, mut second) = (Sums::default(), Sums::default());
        rows[..2].iter().for_each(|r| add(&mut first, *r));
        rows[2..].iter().rev().for_each(|r| add(&mut second, *r));
        let merged = readable(first.merge(second));
        assert_eq!(merged, readable(one));
        assert_eq!(
            merged.0,
            vec![
                ("a".into(), "EC2".into(), 6),
                ("a".into(), "S3".into(), 3),
                ("b".into(), "S3".into(), 2),
                ("c".into(), "EC2".into(), 4),
            ]
        );
    }
}
