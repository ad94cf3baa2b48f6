//! An account's last events in the lake (for `show`): what happened to it, read from the same
//! `events/` dataset the reports read, one line per event id.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;
use chrono::{DateTime, Days, Utc};
use spa_core::lake::columns::{
    ACCOUNT_ID, ACTIVITY, DETAIL_TYPE, EVENT_ID, EVENT_NAME, EVENT_TIME, SOURCE,
};
use spa_core::lake::{Dataset, Lake, LakeError};
use spa_core::period::{Day, clock};
use spa_core::settings::AccountId;

fn text(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    let array = batch.column_by_name(column)?.as_string_opt::<i32>()?;
    (!array.is_null(row)).then(|| array.value(row).to_string())
}

/// The events about `account` of the `days` days up to `now`, oldest first, as
/// `time  label  source/name` lines.
pub(crate) async fn last_events(
    lake: &Lake,
    account: &AccountId,
    now: DateTime<Utc>,
    days: u32,
) -> Result<Vec<String>, LakeError> {
    let from = Day::of(now.date_naive() - Days::new(u64::from(days))).to_string();
    let mut found: BTreeMap<(i64, String), String> = BTreeMap::new();
    for day in lake.partitions(Dataset::Events).await? {
        if day < from {
            continue;
        }
        for batch in lake.read_partition(Dataset::Events, &day).await? {
            let Some(times) = batch
                .column_by_name(EVENT_TIME)
                .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            else {
                continue;
            };
            for row in 0..batch.num_rows() {
                if text(&batch, ACCOUNT_ID, row).as_deref() != Some(account.as_str()) {
                    continue;
                }
                let id = text(&batch, EVENT_ID, row).unwrap_or_default();
                let time = DateTime::from_timestamp_micros(times.value(row)).unwrap_or_default();
                let label = text(&batch, ACTIVITY, row)
                    .or_else(|| text(&batch, DETAIL_TYPE, row))
                    .unwrap_or_default();
                let what = [text(&batch, SOURCE, row), text(&batch, EVENT_NAME, row)]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("/");
                found.insert(
                    (times.value(row), id),
                    format!("{}  {label:<20}  {}", clock(time), what),
                );
            }
        }
    }
    Ok(found.into_values().collect())
}
