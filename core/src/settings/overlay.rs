//! CSV overlays: columns `Account`, `Note`, `Tag: <key>`, `Preparation: <VAR>`, `Purge: <VAR>`,
//! `Spend: <key>` (`daily_limit`, `monthly_budget`, `steps`, `jump.factor`, `jump.min_amount`).
//!
//! Each row updates the entry of its account (created if missing); empty cells change nothing.
//! Files apply in the order of `features.csv_files`, so later files win.

use std::collections::BTreeMap;
use std::path::Path;

use super::{AccountId, Amount, Currency, Entry, Rate, SettingsError, TagKey, VariableName};

/// A `Spend: <key>` column.
#[derive(Clone, Copy)]
enum SpendKey {
    DailyLimit,
    MonthlyBudget,
    Steps,
    JumpFactor,
    JumpMinAmount,
}

enum Column {
    Account,
    Note,
    Tag(TagKey),
    Preparation(VariableName),
    Purge(VariableName),
    Spend(SpendKey),
}

fn spend_key(key: &str) -> Result<SpendKey, String> {
    Ok(match key {
        "daily_limit" => SpendKey::DailyLimit,
        "monthly_budget" => SpendKey::MonthlyBudget,
        "steps" => SpendKey::Steps,
        "jump.factor" => SpendKey::JumpFactor,
        "jump.min_amount" => SpendKey::JumpMinAmount,
        other => {
            return Err(format!(
                "unknown spend key `{other}` (expected daily_limit, monthly_budget, steps, jump.factor or jump.min_amount)"
            ));
        }
    })
}

/// Sets one spend key of `entry` from a cell; amounts must be in USD or a known currency.
fn set_spend(
    entry: &mut Entry,
    key: SpendKey,
    cell: &str,
    currencies: &BTreeMap<Currency, Rate>,
) -> Result<(), String> {
    let known = |a: &Amount| match &a.currency {
        Some(c) if !currencies.contains_key(c) => Err(format!(
            "{c} is not in features.extra_currencies (add its rate there, or give the amount in USD)"
        )),
        _ => Ok(()),
    };
    let spend = &mut entry.spend;
    match key {
        SpendKey::DailyLimit | SpendKey::MonthlyBudget => {
            let threshold: super::Threshold = cell.parse()?;
            if let super::Threshold::At(a) = &threshold {
                known(a)?;
            }
            if matches!(key, SpendKey::DailyLimit) {
                spend.daily_limit = Some(threshold);
            } else {
                spend.monthly_budget = Some(threshold);
            }
        }
        SpendKey::Steps => spend.steps = Some(cell.parse()?),
        SpendKey::JumpFactor => spend.jump.get_or_insert_default().factor = Some(cell.parse()?),
        SpendKey::JumpMinAmount => {
            let amount: Amount = cell.parse()?;
            known(&amount)?;
            spend.jump.get_or_insert_default().min_amount = Some(amount);
        }
    }
    Ok(())
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
        ("Spend", Some(key)) => spend_key(key).map(Column::Spend),
        _ => Err(
            "unknown column (expected `Account`, `Note`, `Tag: <key>`, `Preparation: <VAR>`, `Purge: <VAR>` or `Spend: <key>`)"
                .to_string(),
        ),
    }
}

pub(super) fn apply(
    accounts: &mut BTreeMap<AccountId, Entry>,
    file: &Path,
    currencies: &BTreeMap<Currency, Rate>,
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
        for ((column, cell), header) in columns.iter().zip(record.iter()).zip(headers.iter()) {
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
                Column::Spend(key) => {
                    set_spend(entry, *key, &value, currencies).map_err(|m| err(line, header, m))?;
                }
            }
        }
    }
    Ok(())
}
