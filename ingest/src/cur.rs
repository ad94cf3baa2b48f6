//! Legacy Cost and Usage Report exports (Parquet, `line_item_*` / `product_*` columns) into the
//! rows of the `costs` dataset: one row per day, account, service, record type and usage type,
//! amounts summed exactly. Columns vary from month to month: only the ones below are read, the
//! others are ignored; a missing required column is refused with the column and file named.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampSecondType};
use chrono::DateTime;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rust_decimal::Decimal;

use crate::costs::{CostError, CostRow, SumKey, rows_from_sums};

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
fn exact(value: f64) -> Decimal {
    let text = format!("{value}");
    Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_scientific(&format!("{value:e}")))
        .map(|d| d.round_dp(12))
        .unwrap_or(Decimal::ZERO)
}

/// Reads one CUR Parquet file, adding its sums into `totals`.
fn read_file(path: &Path, totals: &mut BTreeMap<SumKey, Decimal>) -> Result<(), CostError> {
    let file = File::open(path).map_err(|source| CostError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| bad(path, format!("not a Parquet file: {e}")))?;
    let schema = builder.schema().clone();
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
    for batch in reader {
        let batch = batch.map_err(|e| bad(path, e.to_string()))?;
        let text = |name: &str| -> Result<Option<Arc<dyn Array>>, CostError> {
            batch
                .column_by_name(name)
                .map(|c| cast(c, &DataType::Utf8).map_err(|e| bad(path, format!("{name}: {e}"))))
                .transpose()
        };
        let account = text(ACCOUNT)?.expect("required");
        let kind = text(TYPE)?.expect("required");
        let name = text(PRODUCT_NAME)?;
        let code = text(PRODUCT_CODE)?;
        let currency = text(CURRENCY)?;
        let usage = text(USAGE_TYPE)?;
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
        let (account, kind) = (account.as_string::<i32>(), kind.as_string::<i32>());
        let (cost, start) = (
            cost.as_primitive::<Float64Type>(),
            start.as_primitive::<TimestampSecondType>(),
        );
        let value = |a: &Option<Arc<dyn Array>>, i: usize| {
            a.as_ref()
                .map(|a| a.as_string::<i32>())
                .filter(|a| a.is_valid(i))
                .map(|a| a.value(i).to_string())
        };
        for i in 0..batch.num_rows() {
            if cost.is_null(i) || start.is_null(i) || account.is_null(i) {
                continue;
            }
            let day = DateTime::from_timestamp(start.value(i), 0)
                .map(|t| t.date_naive())
                .ok_or_else(|| bad(path, format!("{START}: out of range")))?;
            let service = value(&name, i)
                .filter(|s| !s.is_empty())
                .or_else(|| value(&code, i))
                .unwrap_or_default();
            let key = (
                day,
                account.value(i).to_string(),
                service,
                kind.value(i).to_string(),
                value(&usage, i),
                value(&currency, i).unwrap_or_else(|| "USD".into()),
            );
            *totals.entry(key).or_default() += exact(cost.value(i));
        }
    }
    Ok(())
}

/// The cost rows of a CUR export (a file or a folder of Parquet files).
pub fn load(path: &Path) -> Result<Vec<CostRow>, CostError> {
    let files = crate::costs::files_with(path, &["parquet"])?;
    if files.is_empty() {
        return Err(CostError::Response {
            origin: path.display().to_string(),
            message: "no Parquet files".into(),
        });
    }
    let mut totals = BTreeMap::new();
    for file in &files {
        read_file(file, &mut totals)?;
    }
    Ok(rows_from_sums(totals))
}
