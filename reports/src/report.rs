//! A report as files: its workbook and CSV files under
//! `<family prefix>/<cost center>/<YYYY>/<period>-<cost center>-<label>.<xlsx|csv>`, the layout
//! users of the reference system know, in the lake or in a folder.

use bytes::Bytes;
use spa_core::Settings;
use spa_core::lake::{LakeError, Store};

use crate::excel::{self, ChartSpec};
use crate::table::Table;

/// The cost center segment of organization-wide reports.
pub const ALL: &str = "all";

/// Which family a report belongs to (and so its prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Monthly costs.
    Costs,
    /// Monthly activities.
    Activities,
    /// Weekly inventories.
    Inventory,
}

impl Family {
    /// The prefix from settings.
    pub fn prefix(self, settings: &Settings) -> &str {
        match self {
            Family::Costs => &settings.reporting.costs_prefix,
            Family::Activities => &settings.reporting.activities_prefix,
            Family::Inventory => &settings.reporting.inventories_prefix,
        }
    }
}

/// One report: a workbook of tables, some of them also CSV files.
#[derive(Debug, Clone)]
pub struct Report {
    /// Family.
    pub family: Family,
    /// Cost center, or [`ALL`].
    pub cost_center: String,
    /// `YYYY-MM` or `YYYY-Www`.
    pub period: String,
    /// Year folder.
    pub year: i32,
    /// Workbook label (`costs`, `activities`, `inventory`).
    pub label: String,
    /// Sheets in order.
    pub tables: Vec<Table>,
    /// Indexes of the tables also written as CSV.
    pub csv: Vec<usize>,
    /// Charts of the workbook.
    pub charts: Vec<ChartSpec>,
}

/// What writing a report could not do.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Excel.
    #[error("{key}: {source}")]
    Excel {
        /// The file.
        key: String,
        /// Why.
        source: rust_xlsxwriter::XlsxError,
    },
    /// CSV.
    #[error("{key}: {source}")]
    Csv {
        /// The file.
        key: String,
        /// Why.
        source: csv::Error,
    },
    /// Storing.
    #[error(transparent)]
    Lake(#[from] LakeError),
}

/// A file name segment: characters other than letters, digits, `.`, `_` and `-` become `_`.
pub fn segment(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "_".into() } else { s }
}

/// A file written: its key and size.
#[derive(Debug, Clone)]
pub struct Written {
    /// Key under the output (lake or folder).
    pub key: String,
    /// Bytes.
    pub bytes: Bytes,
}

impl Report {
    fn folder(&self, settings: &Settings) -> String {
        let cc = segment(&self.cost_center);
        format!(
            "{}/{cc}/{}",
            self.family.prefix(settings).trim_matches('/'),
            self.year
        )
    }

    /// The last day of its period (the workbooks' date).
    fn date(&self) -> chrono::NaiveDate {
        if let Ok(month) = self.period.parse::<spa_core::period::Month>() {
            month.last()
        } else if let Ok(week) = self.period.parse::<spa_core::period::Week>() {
            week.last()
        } else {
            chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
        }
    }

    /// The stem of its files: `<period>-<cost center>`.
    fn stem(&self) -> String {
        format!("{}-{}", self.period, segment(&self.cost_center))
    }

    /// Renders the workbook and CSV files (keys and bytes), nothing stored yet.
    pub fn render(&self, settings: &Settings) -> Result<Vec<Written>, WriteError> {
        let folder = self.folder(settings);
        let mut files = Vec::new();
        let key = format!("{folder}/{}-{}.xlsx", self.stem(), self.label);
        let tables: Vec<&Table> = self.tables.iter().collect();
        let title = format!("{} {} {}", self.label, self.cost_center, self.period);
        let book = excel::write(&tables, &self.charts, &title, self.date()).map_err(|source| {
            WriteError::Excel {
                key: key.clone(),
                source,
            }
        })?;
        files.push(Written {
            key,
            bytes: Bytes::from(book),
        });
        for &i in &self.csv {
            let table = &self.tables[i];
            let label = segment(&table.name.to_lowercase().replace(' ', "-"));
            let key = format!("{folder}/{}-{label}.csv", self.stem());
            let bytes = crate::csv_file::write(table).map_err(|source| WriteError::Csv {
                key: key.clone(),
                source,
            })?;
            files.push(Written {
                key,
                bytes: Bytes::from(bytes),
            });
        }
        Ok(files)
    }
}

/// Stores files atomically (a rerun replaces them).
pub async fn store(out: &Store, files: &[Written]) -> Result<(), WriteError> {
    for file in files {
        out.put(&file.key, file.bytes.clone()).await?;
    }
    Ok(())
}
