//! A report as files: its workbook, HTML page and CSV files under
//! `<family prefix>/<cost center>/<YYYY>/<period>-<cost center>-<label>.<xlsx|html|csv>`, the layout
//! users of the reference system know, in the lake or in a folder.

use bytes::Bytes;
use sha2::Digest;
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
    /// The month's exceptions (CSV).
    Exceptions,
    /// A day's spend (the daily spend run).
    Spend,
}

impl Family {
    /// The prefix from settings.
    pub fn prefix(self, settings: &Settings) -> &str {
        match self {
            Family::Costs => &settings.reporting.costs_prefix,
            Family::Activities => &settings.reporting.activities_prefix,
            Family::Inventory => &settings.reporting.inventories_prefix,
            Family::Exceptions => &settings.reporting.exceptions_prefix,
            Family::Spend => &settings.reporting.spend_prefix,
        }
    }
}

/// One report: a workbook of tables, some of them also CSV files.
#[derive(Debug, Clone)]
pub struct Report {
    /// Family.
    pub family: Family,
    /// Cost center, or [`ALL`] for the organization's report.
    pub cost_center: String,
    /// Whether it is the organization's report (whose folder is [`ALL`]; a cost center that
    /// happens to be named `all` gets a key of its own).
    pub organization: bool,
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
    /// Whether the workbook is written (else only the CSV files).
    pub workbook: bool,
    /// The HTML page written beside them, if any.
    pub page: Option<Box<crate::html::Page>>,
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

/// Longest readable part of a cost center key.
const KEY_TEXT: usize = 48;

/// The folder and file name segment of a cost center: the name itself when it is safe (ASCII
/// letters, digits, `.`, `_`, `-`, at most 48 characters, not starting with `.`, not `all` in
/// any case), else its safe characters (others as `_`) then `~` and 16 hex digits of the
/// name's SHA-256. Distinct names get distinct keys (a safe name has no `~`; two hashed keys
/// differ unless SHA-256 collides), and a name always gets the same key.
pub fn cost_center_key(name: &str) -> String {
    let safe = !name.is_empty()
        && name.len() <= KEY_TEXT
        && !name.starts_with('.')
        && !name.eq_ignore_ascii_case(ALL)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if safe {
        return name.to_string();
    }
    let readable: String = segment(name)
        .trim_start_matches('.')
        .chars()
        .take(KEY_TEXT)
        .collect();
    let digest = sha2::Sha256::digest(name.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{readable}~{hex}")
}

/// A file written: its key and bytes.
#[derive(Debug, Clone)]
pub struct Written {
    /// Key under the output (lake or folder).
    pub key: String,
    /// Bytes.
    pub bytes: Bytes,
}

/// A file stored: its key and size, all a run keeps of a file once it is out of memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Key under the output (lake or folder).
    pub key: String,
    /// Bytes.
    pub size: usize,
}

impl From<&Written> for Stored {
    fn from(file: &Written) -> Self {
        Stored {
            key: file.key.clone(),
            size: file.bytes.len(),
        }
    }
}

impl Report {
    /// Its folder and file name segment: [`ALL`] for the organization, else the cost center's
    /// [`cost_center_key`].
    pub fn key(&self) -> String {
        if self.organization {
            ALL.to_string()
        } else {
            cost_center_key(&self.cost_center)
        }
    }

    fn folder(&self, settings: &Settings) -> String {
        let cc = self.key();
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
        format!("{}-{}", self.period, self.key())
    }

    /// Renders the workbook and CSV files (keys and bytes), nothing stored yet.
    pub fn render(&self, settings: &Settings) -> Result<Vec<Written>, WriteError> {
        let folder = self.folder(settings);
        let mut files = Vec::new();
        if self.workbook {
            let key = format!("{folder}/{}-{}.xlsx", self.stem(), self.label);
            let tables: Vec<&Table> = self.tables.iter().collect();
            let title = format!("{} {} {}", self.label, self.cost_center, self.period);
            let book =
                excel::write(&tables, &self.charts, &title, self.date()).map_err(|source| {
                    WriteError::Excel {
                        key: key.clone(),
                        source,
                    }
                })?;
            files.push(Written {
                key,
                bytes: Bytes::from(book),
            });
        }
        if let Some(page) = &self.page {
            files.push(Written {
                key: format!("{folder}/{}-{}.html", self.stem(), self.label),
                bytes: Bytes::from(crate::html::render(page)),
            });
        }
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
pub async fn store(out: Store, files: Vec<Written>) -> Result<(), WriteError> {
    // All at once: each put is atomic by itself, and a local one spends most of its time
    // waiting for the disk to flush.
    let mut puts = tokio::task::JoinSet::new();
    for file in files {
        let out = out.clone();
        puts.spawn(async move { out.put(&file.key, file.bytes).await });
    }
    while let Some(put) = puts.join_next().await {
        put.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_safe(key: &str) -> bool {
        !key.is_empty()
            && !key.starts_with('.')
            && !key.eq_ignore_ascii_case(ALL)
            && key.len() <= KEY_TEXT + 17
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '~'))
    }

    #[test]
    fn names_that_collided_get_keys_of_their_own() {
        let names = [
            "Eng/EU",
            "Eng EU",
            "Eng_EU",
            "Eng:EU",
            "Ingénierie",
            "Ingenierie",
            "工程",
            "研究",
            "all",
            "ALL",
            "All",
            "..",
            ".",
            "../etc",
            "",
            " ",
            "Eng/EU~0000000000000000",
        ];
        let keys: std::collections::BTreeSet<String> =
            names.iter().map(|n| cost_center_key(n)).collect();
        assert_eq!(keys.len(), names.len(), "{keys:?}");
        for name in names {
            let key = cost_center_key(name);
            assert!(is_safe(&key), "{name:?} -> {key:?}");
            assert_eq!(key, cost_center_key(name), "stable");
        }
        // Safe names read as they are; the fixtures' names keep their folders.
        for name in ["Analytics", "NoCostTag", "cc-42", "Team_7.b"] {
            assert_eq!(cost_center_key(name), name);
        }
        assert!(cost_center_key("Eng/EU").starts_with("Eng_EU~"));
    }

    proptest::proptest! {
        /// Any two different names, any characters: different safe keys.
        #[test]
        fn distinct_names_distinct_safe_keys(a in ".{0,60}", b in ".{0,60}") {
            let (ka, kb) = (cost_center_key(&a), cost_center_key(&b));
            proptest::prop_assert!(is_safe(&ka), "{:?} -> {:?}", a, ka);
            proptest::prop_assert_eq!(a == b, ka == kb, "{:?} {:?}", a, b);
        }

        /// Names made of safe characters stay readable as they are.
        #[test]
        fn safe_names_are_kept(name in "[A-Za-z0-9_-][A-Za-z0-9._-]{0,40}") {
            proptest::prop_assume!(!name.eq_ignore_ascii_case(ALL));
            proptest::prop_assert_eq!(cost_center_key(&name), name);
        }
    }
}
