//! CSV files (RFC 4180, UTF-8, header row, totals row) for charge-back software: detail rows
//! only, amounts as exact decimals, text that a spreadsheet would run as a formula neutralized.

use crate::table::{Cell, Table};

/// Text starting with one of these is a formula to a spreadsheet (OWASP CSV injection).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Text as it is safe to open in a spreadsheet: a leading formula character is escaped with `'`.
pub(crate) fn neutralize(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

fn field(cell: &Cell) -> String {
    match cell {
        Cell::Empty => String::new(),
        Cell::Text(t) => neutralize(t).into_owned(),
        Cell::Decimal(d) => d.normalize().to_string(),
        Cell::Count(n) => n.to_string(),
        Cell::Time(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// The table as CSV bytes.
pub fn write(table: &Table) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    out.write_record(table.columns.iter().map(|c| c.name.as_str()))?;
    for row in table.rows.iter().filter(|r| !r.subtotal) {
        out.write_record(row.cells.iter().map(field))?;
    }
    if table.totals {
        let total = table.total();
        out.write_record(total.iter().enumerate().map(|(i, t)| match t {
            Some(sum) => sum.normalize().to_string(),
            None if i == 0 => "Total".to_string(),
            None => String::new(),
        }))?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Column, Row};
    use rust_decimal::Decimal;

    #[test]
    fn formulas_are_neutralized_and_amounts_stay_exact() {
        let mut t = Table::new(
            "T",
            vec![Column::text("Name"), Column::money("Amount", "USD")],
        );
        t.rows.push(Row::new(vec![
            "=HYPERLINK(\"x\")".into(),
            Decimal::new(-12345, 4).into(),
        ]));
        t.rows.push(Row::new(vec![
            "a, \"quoted\" name".into(),
            Decimal::new(2, 1).into(),
        ]));
        let text = String::from_utf8(write(&t).unwrap()).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        assert_eq!(rows[0], ["'=HYPERLINK(\"x\")", "-1.2345"]);
        assert_eq!(rows[1], ["a, \"quoted\" name", "0.2"]);
        // -1.2345 + 0.2, by hand.
        assert_eq!(rows[2], ["Total", "-1.0345"]);
        assert!(text.ends_with("\r\n"));
    }
}
