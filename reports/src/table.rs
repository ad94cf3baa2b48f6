//! The shape every report takes before it is written: tables of typed cells, the rows of an
//! outline (cost center > OU > account) marked with their level, exact totals.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::sync::Arc;

/// What a column holds; writers format by it.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Text.
    Text,
    /// An amount in a currency (`USD`, `EUR`, ...).
    Money(String),
    /// A whole number (counts, days).
    Count,
    /// A decimal that is not money (hours, percentages).
    Number,
    /// A UTC time.
    Time,
}

/// A column: its header and kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Header text.
    pub name: String,
    /// What the cells hold.
    pub kind: Kind,
}

impl Column {
    /// A text column.
    pub fn text(name: &str) -> Self {
        Column {
            name: name.into(),
            kind: Kind::Text,
        }
    }

    /// A money column in `currency`.
    pub fn money(name: &str, currency: &str) -> Self {
        Column {
            name: name.into(),
            kind: Kind::Money(currency.into()),
        }
    }

    /// A column of `kind`.
    pub fn of(name: &str, kind: Kind) -> Self {
        Column {
            name: name.into(),
            kind,
        }
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing.
    Empty,
    /// Text, shared with the other cells that show it (a report's sums repeat their cost
    /// center, OU, account and name on many rows).
    Text(Arc<str>),
    /// An exact amount or number.
    Decimal(Decimal),
    /// A whole number.
    Count(i64),
    /// A time.
    Time(DateTime<Utc>),
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.into())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s.into())
    }
}

impl From<Arc<str>> for Cell {
    fn from(s: Arc<str>) -> Self {
        Cell::Text(s)
    }
}

impl From<&Arc<str>> for Cell {
    fn from(s: &Arc<str>) -> Self {
        Cell::Text(s.clone())
    }
}

impl From<Decimal> for Cell {
    fn from(d: Decimal) -> Self {
        Cell::Decimal(d)
    }
}

impl Cell {
    /// The decimal in the cell, if any.
    pub fn decimal(&self) -> Option<Decimal> {
        match self {
            Cell::Decimal(d) => Some(*d),
            Cell::Count(n) => Some(Decimal::from(*n)),
            _ => None,
        }
    }
}

/// A row: its cells, and where it sits in an outline.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// One cell per column.
    pub cells: Vec<Cell>,
    /// Outline level (0: top). Rows below a subtotal with a higher level are its detail.
    pub level: u8,
    /// A subtotal of the detail rows that follow it (its money cells are their sums). CSV
    /// files leave subtotals out, so that their columns add up.
    pub subtotal: bool,
}

impl Row {
    /// A detail row at level 0.
    pub fn new(cells: Vec<Cell>) -> Self {
        Row {
            cells,
            level: 0,
            subtotal: false,
        }
    }
}

/// A table: one CSV file, one sheet of a workbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Sheet name and file label (`Services`, `Summary`, ...).
    pub name: String,
    /// Columns.
    pub columns: Vec<Column>,
    /// Rows, subtotals before their detail.
    pub rows: Vec<Row>,
    /// Whether a totals row closes the table (sums of the money, count and number columns over
    /// the detail rows).
    pub totals: bool,
}

impl Table {
    /// An empty table with a totals row.
    pub fn new(name: &str, columns: Vec<Column>) -> Self {
        Table {
            name: name.into(),
            columns,
            rows: Vec::new(),
            totals: true,
        }
    }

    /// Whether column `i` is summed in the totals row.
    pub fn summed(&self, i: usize) -> bool {
        matches!(self.columns[i].kind, Kind::Money(_) | Kind::Count)
    }

    /// The totals of the detail rows, per column (`None` for columns not summed or empty).
    pub fn total(&self) -> Vec<Option<Decimal>> {
        (0..self.columns.len())
            .map(|i| {
                let mut values = self
                    .rows
                    .iter()
                    .filter(|r| !r.subtotal)
                    .filter_map(|r| r.cells[i].decimal())
                    .peekable();
                (self.summed(i) && values.peek().is_some()).then(|| values.sum())
            })
            .collect()
    }

    /// The index of a column by header.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_detail_rows_only() {
        let mut t = Table::new(
            "T",
            vec![Column::text("Name"), Column::money("Amount", "USD")],
        );
        t.rows.push(Row {
            cells: vec!["all".into(), Decimal::new(300, 2).into()],
            level: 0,
            subtotal: true,
        });
        for cents in [100, 200] {
            t.rows.push(Row {
                cells: vec!["x".into(), Decimal::new(cents, 2).into()],
                level: 1,
                subtotal: false,
            });
        }
        assert_eq!(t.total(), vec![None, Some(Decimal::new(300, 2))]);
    }
}
