//! How `reports query` prints a result: aligned columns, RFC 4180 CSV or a JSON array.

use polars::prelude::*;

use crate::csv_file::{neutralize, neutralize_text};
use crate::frames::text_columns;

/// How `query` prints a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!("format `{other}`: expected table, csv or json")),
        }
    }
}

/// Writes a result in `format`.
pub fn render(df: &DataFrame, format: Format) -> Result<String, PolarsError> {
    let columns = text_columns(df)?;
    let rows = df.height();
    let cell = |c: usize, r: usize| columns[c].1[r].as_deref();
    Ok(match format {
        Format::Table => {
            let widths: Vec<usize> = columns
                .iter()
                .map(|(name, values)| {
                    values
                        .iter()
                        .map(|v| v.as_deref().map_or(0, |s| s.chars().count()))
                        .chain([name.chars().count()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let mut out = String::new();
            let line = |cells: Vec<&str>| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            out.push_str(&line(columns.iter().map(|(n, _)| n.as_str()).collect()));
            out.push('\n');
            for r in 0..rows {
                out.push_str(&line(
                    (0..columns.len())
                        .map(|c| cell(c, r).unwrap_or(""))
                        .collect(),
                ));
                out.push('\n');
            }
            out.push_str(&format!("({rows} rows)\n"));
            out
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let csv_error = |e: csv::Error| polars_err!(ComputeError: "{e}");
            // Names and text from the lake reach a spreadsheet: formulas are neutralized.
            w.write_record(columns.iter().map(|(n, _)| neutralize(n).into_owned()))
                .map_err(csv_error)?;
            for r in 0..rows {
                w.write_record(
                    (0..columns.len())
                        .map(|c| neutralize_text(cell(c, r).unwrap_or("")).into_owned()),
                )
                .map_err(csv_error)?;
            }
            String::from_utf8(
                w.into_inner()
                    .map_err(|e| polars_err!(ComputeError: "{e}"))?,
            )
            .map_err(|e| polars_err!(ComputeError: "{e}"))?
        }
        Format::Json => {
            let numeric: Vec<bool> = df
                .columns()
                .iter()
                .map(|c| c.dtype().is_primitive_numeric())
                .collect();
            let objects: Vec<serde_json::Value> = (0..rows)
                .map(|r| {
                    let map: serde_json::Map<String, serde_json::Value> = columns
                        .iter()
                        .enumerate()
                        .map(|(c, (name, _))| {
                            let value = match cell(c, r) {
                                None => serde_json::Value::Null,
                                Some(v) if numeric[c] => serde_json::from_str(v)
                                    .unwrap_or_else(|_| serde_json::Value::String(v.into())),
                                Some(v) => serde_json::Value::String(v.into()),
                            };
                            (name.clone(), value)
                        })
                        .collect();
                    serde_json::Value::Object(map)
                })
                .collect();
            let mut text = serde_json::to_string_pretty(&objects)
                .map_err(|e| polars_err!(ComputeError: "{e}"))?;
            text.push('\n');
            text
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Query results reach spreadsheets too: text and names that start a formula are
    /// neutralized, numbers (negative ones included) stay numbers.
    #[test]
    fn csv_of_a_query_neutralizes_formulas_not_numbers() {
        let df = df!(
            "=name" => ["=HYPERLINK(\"x\")", "@SUM(A1)", "-1+1", "plain"],
            "amount" => [-5.25f64, 1.0, -0.5, 2.0],
            "text_amount" => ["-39.11", "+3", "1e3", "-"],
        )
        .unwrap();
        let text = render(&df, Format::Csv).unwrap();
        let (header, rows) = crate::csv_file::read_back(&text);
        assert_eq!(header, ["'=name", "amount", "text_amount"]);
        assert_eq!(
            rows,
            [
                ["'=HYPERLINK(\"x\")", "-5.25", "-39.11"],
                ["'@SUM(A1)", "1.0", "+3"],
                ["'-1+1", "-0.5", "1e3"],
                ["plain", "2.0", "'-"],
            ]
        );
    }
}
