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

/// Like [`neutralize`], but a plain number (`-12.5`, `+3`) stays as it is: a spreadsheet reads
/// it as the number it is, and query results keep their negative amounts readable.
pub(crate) fn neutralize_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.parse::<f64>().is_ok_and(f64::is_finite) && !text.contains(char::is_whitespace) {
        text.into()
    } else {
        neutralize(text)
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
    // Headers too: a record type or a currency from the data names a column.
    out.write_record(
        table
            .columns
            .iter()
            .map(|c| neutralize(&c.name).into_owned()),
    )?;
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

/// A CSV text read back with the csv crate: its header and its rows.
#[cfg(test)]
pub(crate) fn read_back(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
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
        let (_, rows) = read_back(&text);
        assert_eq!(rows[0], ["'=HYPERLINK(\"x\")", "-1.2345"]);
        assert_eq!(rows[1], ["a, \"quoted\" name", "0.2"]);
        // -1.2345 + 0.2, by hand.
        assert_eq!(rows[2], ["Total", "-1.0345"]);
        assert!(text.ends_with("\r\n"));
    }

    /// Every formula start, in a header and in a text cell; plain numbers stay numbers.
    #[test]
    fn headers_and_cells_of_every_formula_start_are_neutralized() {
        for start in FORMULA_STARTS {
            let name = format!("{start}cmd|' /C calc'!A0");
            let mut t = Table::new("T", vec![Column::text(&name), Column::text("Plain")]);
            t.totals = false;
            t.rows
                .push(Row::new(vec![name.clone().into(), "ok".into()]));
            let text = String::from_utf8(write(&t).unwrap()).unwrap();
            let (header, rows) = read_back(&text);
            assert_eq!(
                header,
                [format!("'{name}"), "Plain".to_string()],
                "{start:?}"
            );
            assert_eq!(rows[0][0], format!("'{name}"), "{start:?}");
            assert_eq!(neutralize_text(&name), format!("'{name}"), "{start:?}");
        }
        for number in ["-12.5", "+3", "-0", "1e3"] {
            assert_eq!(neutralize_text(number), number);
        }
        for text in ["-1+1", "- 5", "-inf", "+NaN", "@SUM(A1)"] {
            assert_eq!(neutralize_text(text), format!("'{text}"), "{text}");
        }
    }
}
