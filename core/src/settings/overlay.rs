//! CSV overlays: columns `Account`, `Note`, `Tag: <key>`, `Preparation: <VAR>`, `Purge: <VAR>`.
//!
//! Each row updates the entry of its account (created if missing); empty cells change nothing.
//! Files apply in the order of `features.csv_files`, so later files win.

use std::collections::BTreeMap;
use std::path::Path;

use super::{AccountId, Entry, SettingsError, TagKey, VariableName};

enum Column {
    Account,
    Note,
    Tag(TagKey),
    Preparation(VariableName),
    Purge(VariableName),
}

fn parse_header(name: &str) -> Result<Column, String> {
    let trimmed = name.trim();
    let (kind, rest) = match trimmed.split_once(':') {
        Some((kind, rest)) => (kind.trim(), Some(rest.trim())),
        None => (trimmed, None),
    };
    match (kind, rest) {
        ("Account", None) => Ok(Column::Account),
        ("Note", None) => Ok(Column::Note),
        ("Tag", Some(key)) => key.parse().map(Column::Tag),
        ("Preparation", Some(var)) => var.parse().map(Column::Preparation),
        ("Purge", Some(var)) => var.parse().map(Column::Purge),
        _ => Err(
            "unknown column (expected `Account`, `Note`, `Tag: <key>`, `Preparation: <VAR>` or `Purge: <VAR>`)"
                .to_string(),
        ),
    }
}

pub(super) fn apply(
    accounts: &mut BTreeMap<AccountId, Entry>,
    file: &Path,
) -> Result<(), SettingsError> {
    let err = |line: u64, column: &str, message: String| SettingsError::Csv {
        file: file.to_path_buf(),
        line,
        column: column.to_string(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|e| err(1, "", format!("cannot read: {e}")))?;
    let headers = reader
        .headers()
        .map_err(|e| err(1, "", e.to_string()))?
        .clone();
    let columns = headers
        .iter()
        .map(|h| parse_header(h).map_err(|m| err(1, h, m)))
        .collect::<Result<Vec<_>, _>>()?;
    let account_col = columns
        .iter()
        .position(|c| matches!(c, Column::Account))
        .ok_or_else(|| {
            err(
                1,
                "Account",
                "missing (every overlay needs an `Account` column)".into(),
            )
        })?;

    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            err(line, "", e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let account: AccountId = record[account_col]
            .parse()
            .map_err(|m| err(line, &headers[account_col], m))?;
        let entry = accounts.entry(account).or_default();
        for (column, cell) in columns.iter().zip(record.iter()) {
            if cell.is_empty() {
                continue;
            }
            let value = cell.to_string();
            match column {
                Column::Account => {}
                Column::Note => entry.note = Some(value),
                Column::Tag(key) => {
                    entry.account_tags.insert(key.clone(), value);
                }
                Column::Preparation(var) => {
                    entry.preparation.variables.insert(var.clone(), value);
                }
                Column::Purge(var) => {
                    entry.purge.variables.insert(var.clone(), value);
                }
            }
        }
    }
    Ok(())
}
