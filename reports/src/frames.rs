//! Polars frames to Rust values and back: the exact decimals, UTC times and text of a result's
//! columns (as Polars computes them locally, or as text cells from Athena), and the one way a
//! query runs locally ([`collect`]).

use polars::prelude::*;

/// A column of a result as text: its name and cells (`None` for null).
pub type TextColumn = (String, Vec<Option<String>>);

/// The cells of a result as text, column by column.
pub fn text_columns(df: &DataFrame) -> Result<Vec<TextColumn>, PolarsError> {
    df.columns()
        .iter()
        .map(|c| {
            let text = match c.dtype() {
                DataType::List(_) | DataType::Struct(_) => c
                    .as_materialized_series()
                    .iter()
                    .map(|v| (!v.is_null()).then(|| v.to_string()))
                    .collect(),
                _ => c
                    .cast(&DataType::String)?
                    .str()?
                    .iter()
                    .map(|v| v.map(str::to_string))
                    .collect(),
            };
            Ok((c.name().to_string(), text))
        })
        .collect()
}

/// Text columns as a frame of strings (Athena's results, for the same renderer).
pub fn from_text(columns: &[TextColumn]) -> Result<DataFrame, PolarsError> {
    let height = columns.first().map_or(0, |c| c.1.len());
    DataFrame::new(
        height,
        columns
            .iter()
            .map(|(name, cells)| Column::new(name.as_str().into(), cells.clone()))
            .collect(),
    )
}

/// Times of a timestamp column as UTC times.
pub fn times(
    df: &DataFrame,
    name: &str,
) -> Result<Vec<Option<chrono::DateTime<chrono::Utc>>>, PolarsError> {
    if df.column(name)?.dtype() == &DataType::String {
        // Athena's text: `2026-10-03 18:00:01.000` (UTC).
        return Ok(df
            .column(name)?
            .str()?
            .iter()
            .map(|v| v.and_then(spa_core::period::parse_clock))
            .collect());
    }
    let column = df
        .column(name)?
        .cast(&DataType::Datetime(TimeUnit::Microseconds, None))?
        .cast(&DataType::Int64)?;
    Ok(column
        .i64()?
        .iter()
        .map(|v| v.and_then(chrono::DateTime::from_timestamp_micros))
        .collect())
}

/// The text cells of a column.
pub fn strings(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>, PolarsError> {
    let column = df.column(name)?.cast(&DataType::String)?;
    Ok(column
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

/// The cells of a text column, borrowed from the frame (no copy: for long texts such as
/// `raw`, or many rows read once).
pub fn borrowed<'a>(df: &'a DataFrame, name: &str) -> Result<Vec<Option<&'a str>>, PolarsError> {
    Ok(df.column(name)?.str()?.iter().collect())
}

/// The text cells of a column, a null as the empty text.
pub fn texts(df: &DataFrame, name: &str) -> Result<Vec<String>, PolarsError> {
    Ok(strings(df, name)?
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

/// The exact decimals of a decimal column.
pub fn decimals(
    df: &DataFrame,
    name: &str,
) -> Result<Vec<Option<rust_decimal::Decimal>>, PolarsError> {
    if df.column(name)?.dtype() == &DataType::String {
        return df
            .column(name)?
            .str()?
            .iter()
            .map(|v| {
                v.map(|t| {
                    t.parse::<rust_decimal::Decimal>()
                        .map(|d| d.normalize())
                        .map_err(|e| polars_err!(ComputeError: "`{t}` in {name}: {e}"))
                })
                .transpose()
            })
            .collect();
    }
    let column = df.column(name)?.decimal()?;
    let scale = column.scale() as u32;
    Ok(column
        .physical()
        .iter()
        .map(|v| v.map(|v| rust_decimal::Decimal::from_i128_with_scale(v, scale).normalize()))
        .collect())
}

/// A one-column frame of account ids, to keep a query's rows to those accounts (an inner join).
pub(crate) fn account_ids(ids: Vec<String>) -> Result<DataFrame, PolarsError> {
    DataFrame::new(
        ids.len(),
        vec![Column::new(spa_core::lake::columns::ACCOUNT_ID.into(), ids)],
    )
}

/// Runs a query on Polars' streaming engine: the lake's files are read in morsels, so a month
/// of costs or events is summed without holding every row in memory at once. The query runs on
/// a thread of its own: the engine blocks on Tokio when it finds itself inside a runtime, which
/// only a multi-threaded runtime allows. A panic inside Polars (a bug of the engine, which an
/// analyst's query can meet) comes back as an error with its message.
pub fn collect(frame: LazyFrame) -> Result<DataFrame, PolarsError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| frame.collect_with_engine(Engine::Streaming))
            .join()
            .unwrap_or_else(|panic| {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("no message");
                Err(polars_err!(ComputeError: "the Polars engine failed: {message}"))
            })
    })
    // One sink (the lazy frame itself), so one frame comes back.
    .map(|result| result.unwrap_single())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_polars_is_an_error() {
        let frame = df!("a" => [1i64, 2]).unwrap().lazy().select([col("a").map(
            |_| -> PolarsResult<Column> { panic!("boom") },
            |_, field| Ok(field.clone()),
        )]);
        let err = collect(frame).unwrap_err().to_string();
        assert!(
            err.contains("the Polars engine failed: ") && err.contains("boom"),
            "{err}"
        );
        // And a query that works still does.
        let sum = collect(
            df!("a" => [1i64, 2])
                .unwrap()
                .lazy()
                .select([col("a").sum()]),
        )
        .unwrap();
        assert_eq!(sum.column("a").unwrap().i64().unwrap().get(0), Some(3));
    }
}
