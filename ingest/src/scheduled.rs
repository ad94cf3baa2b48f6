//! What the ingest function does on a schedule rather than for delivered events: Cost Explorer's
//! month to date (`{"costs": {}}`, several times a day; in the first days of a month the month
//! before too, which Cost Explorer still revises), and the organization's snapshot
//! (`{"accounts": {}}`, daily). `{"costs": {"day": "YYYY-MM-DD"}}` fetches another day's month.

use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};
use spa_core::Settings;
use spa_core::lake::Lake;
use spa_core::period::{Day, Month};

/// Days into a month during which the month before is fetched again.
const REVISED_DAYS: u32 = 5;

/// What a scheduled run could not do.
#[derive(Debug, thiserror::Error)]
pub enum ScheduledError {
    /// A bad input.
    #[error("bad scheduled input: {0}")]
    Input(String),
    /// Fetching costs.
    #[error(transparent)]
    Costs(#[from] crate::costs::source::SourceError),
    /// Taking the snapshot.
    #[error(transparent)]
    Accounts(#[from] crate::accounts::SnapshotError),
}

/// Whether `payload` is a scheduled input of the ingest function.
pub fn is_scheduled(payload: &Value) -> bool {
    payload
        .as_object()
        .is_some_and(|o| o.len() == 1 && (o.contains_key("costs") || o.contains_key("accounts")))
}

/// Runs a scheduled input on `today`; answers with what was written.
pub async fn run(
    lake: &Lake,
    settings: &Settings,
    payload: &Value,
    today: NaiveDate,
) -> Result<Value, ScheduledError> {
    if let Some(costs) = payload.get("costs") {
        let day = match costs.get("day").and_then(Value::as_str) {
            Some(text) => text.parse::<Day>().map_err(ScheduledError::Input)?.date(),
            None => today,
        };
        let mut months = Vec::new();
        if day.day() <= REVISED_DAYS {
            let previous = Month::of(day).previous();
            let done =
                crate::costs::source::month(lake, settings, previous, None, None, None).await?;
            months.push(
                json!({"month": previous.to_string(), "rows": done.summary.rows,
                "total": done.summary.total.to_string()}),
            );
        }
        let month = Month::of(day);
        let done =
            crate::costs::source::month(lake, settings, month, Some(day), None, None).await?;
        months.push(
            json!({"month": month.to_string(), "through": day.to_string(),
            "rows": done.summary.rows, "total": done.summary.total.to_string()}),
        );
        return Ok(json!({"costs": months}));
    }
    if payload.get("accounts").is_some() {
        let snapshot = crate::accounts::snapshot(lake, settings, Day::of(today), 8).await?;
        return Ok(json!({"accounts": snapshot.accounts, "snapshot": today.to_string()}));
    }
    Err(ScheduledError::Input(format!(
        "expected {{\"costs\": {{}}}} or {{\"accounts\": {{}}}}, got {payload}"
    )))
}
