//! FOCUS 1.0 exports (CSV or Parquet) into the rows of the `costs` dataset: `BilledCost` per
//! day (`ChargePeriodStart`), account (`SubAccountId`), service (`ServiceName`) and charge
//! category (`ChargeCategory` as the record type). Rows of other providers than AWS are counted
//! and left out; `NULL` cells are empty.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rust_decimal::Decimal;
use spa_core::period::Day;

use super::{CostError, CostRow, SumKey, amount, rows_from_sums};

/// Columns without which a FOCUS file cannot be read.
pub(crate) const REQUIRED: [&str; 5] = [
    "BilledCost",
    "ChargePeriodStart",
    "SubAccountId",
    "ServiceName",
    "ChargeCategory",
];

/// What a FOCUS import read.
#[derive(Debug, Default)]
pub struct Focus {
    /// Rows of the costs dataset.
    pub rows: Vec<CostRow>,
    /// Rows of other providers, left out.
    pub other_providers: usize,
    /// AWS rows without a `BilledCost`, left out (counted, so that none is lost unseen).
    pub empty_costs: usize,
}

fn bad(path: &Path, message: String) -> CostError {
    CostError::Response {
        origin: path.display().to_string(),
        message,
    }
}

struct Sums {
    totals: BTreeMap<SumKey, Decimal>,
    other_providers: usize,
    empty_costs: usize,
}

impl Sums {
    /// Adds one line given its cells by column name.
    fn add(
        &mut self,
        path: &Path,
        line: u64,
        cell: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), CostError> {
        let at = |m: String| bad(path, format!("line {line}: {m}"));
        if cell("ProviderName").is_some_and(|p| p != "AWS") {
            self.other_providers += 1;
            return Ok(());
        }
        let Some(cost) = cell("BilledCost") else {
            self.empty_costs += 1;
            return Ok(());
        };
        let cost = amount(&cost).map_err(|e| at(format!("BilledCost: {e}")))?;
        let start =
            cell("ChargePeriodStart").ok_or_else(|| at("ChargePeriodStart is empty".into()))?;
        let day = start
            .get(..10)
            .unwrap_or(&start)
            .parse::<Day>()
            .map(Day::date)
            .map_err(|_| at(format!("ChargePeriodStart `{start}` is not a date")))?;
        let key = (
            day,
            cell("SubAccountId").unwrap_or_default(),
            cell("ServiceName").unwrap_or_default(),
            cell("ChargeCategory").unwrap_or_default(),
            None,
            cell("BillingCurrency").unwrap_or_else(|| "USD".into()),
        );
        let total = self.totals.entry(key).or_default();
        *total = total
            .checked_add(cost)
            .filter(|t| t.abs() < super::money_limit())
            .ok_or_else(|| at("the sum of its day, account and service is out of range".into()))?;
        Ok(())
    }
}

fn clean(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty() && v != "NULL").then(|| v.to_string())
}

fn read_csv(path: &Path, sums: &mut Sums) -> Result<(), CostError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(path, e.to_string()))?;
    let headers = reader
        .headers()
        .map_err(|e| bad(path, e.to_string()))?
        .clone();
    if let Some(missing) = REQUIRED.iter().find(|c| !headers.iter().any(|h| h == **c)) {
        return Err(bad(
            path,
            format!(
                "missing column `{missing}` (a FOCUS export needs {})",
                REQUIRED.join(", ")
            ),
        ));
    }
    let index = |name: &str| headers.iter().position(|h| h == name);
    for record in reader.records() {
        let record = record.map_err(|e| bad(path, e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        sums.add(path, line, &|name| {
            index(name).and_then(|i| record.get(i)).and_then(clean)
        })?;
    }
    Ok(())
}

fn read_parquet(path: &Path, sums: &mut Sums) -> Result<(), CostError> {
    let file = std::fs::File::open(path).map_err(|source| CostError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| bad(path, format!("not a Parquet file: {e}")))?;
    if let Some(missing) = REQUIRED
        .iter()
        .find(|c| builder.schema().index_of(c).is_err())
    {
        return Err(bad(
            path,
            format!(
                "missing column `{missing}` (a FOCUS export needs {})",
                REQUIRED.join(", ")
            ),
        ));
    }
    let mut line = 0;
    for batch in builder.build().map_err(|e| bad(path, e.to_string()))? {
        let batch = batch.map_err(|e| bad(path, e.to_string()))?;
        let mut columns = BTreeMap::new();
        for name in [
            "BilledCost",
            "ChargePeriodStart",
            "SubAccountId",
            "ServiceName",
            "ChargeCategory",
            "BillingCurrency",
            "ProviderName",
        ] {
            if let Some(c) = batch.column_by_name(name) {
                columns.insert(
                    name,
                    cast(c, &DataType::Utf8).map_err(|e| bad(path, format!("{name}: {e}")))?,
                );
            }
        }
        for i in 0..batch.num_rows() {
            line += 1;
            let cell = |name: &str| {
                columns
                    .get(name)
                    .map(|a| a.as_string::<i32>())
                    .filter(|a| a.is_valid(i))
                    .and_then(|a| clean(a.value(i)))
            };
            sums.add(path, line, &cell)?;
        }
    }
    Ok(())
}

/// The cost rows of a FOCUS export: a CSV or Parquet file, or a folder of them.
pub fn load(path: &Path) -> Result<Focus, CostError> {
    let list = super::files_with(path, &["csv", "parquet"])?;
    if list.is_empty() {
        return Err(bad(path, "no .csv or .parquet files".into()));
    }
    let mut sums = Sums {
        totals: BTreeMap::new(),
        other_providers: 0,
        empty_costs: 0,
    };
    for file in &list {
        if file.extension().is_some_and(|e| e == "parquet") {
            read_parquet(file, &mut sums)?;
        } else {
            read_csv(file, &mut sums)?;
        }
    }
    let rows = rows_from_sums(sums.totals);
    Ok(Focus {
        rows,
        other_providers: sums.other_providers,
        empty_costs: sums.empty_costs,
    })
}
