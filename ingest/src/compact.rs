//! Compaction: merges a day's small files into one, sorted by time, one row per event id.
//!
//! The merged object is written (atomically) before any source is deleted, and its name derives
//! from the names of its sources. If compaction stops half-way, the day holds the merged object
//! plus some sources: readers dedupe on event id, and the next compaction merges them again.
//! Nothing is lost at any point.

use std::collections::HashSet;

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::{
    SortOptions, concat_batches, filter_record_batch, sort_to_indices, take_record_batch,
};
use spa_core::lake::{Dataset, Lake, LakeError};

/// What compacting one day did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compaction {
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// Objects before.
    pub objects: usize,
    /// Rows before.
    pub rows_before: usize,
    /// Rows after (distinct event ids).
    pub rows_after: usize,
    /// The merged object, when one was written.
    pub merged: Option<String>,
}

/// Keeps the first row of each event id, in the order of `batches`.
fn dedupe(batches: &[RecordBatch]) -> Result<Vec<RecordBatch>, arrow::error::ArrowError> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let ids = batch
            .column_by_name("event_id")
            .expect("events have event_id")
            .as_string::<i32>();
        let keep: BooleanArray = ids
            .iter()
            .map(|id| Some(seen.insert(id.unwrap_or_default())))
            .collect();
        out.push(filter_record_batch(batch, &keep)?);
    }
    Ok(out)
}

fn arrow_error(day: &str, source: arrow::error::ArrowError) -> LakeError {
    LakeError::Arrow {
        context: format!("compacting events/dt={day}"),
        source,
    }
}

/// Compacts one day of `events/`. A day with one object or none is left as it is.
pub async fn day(lake: &Lake, day: &str) -> Result<Compaction, LakeError> {
    let keys = lake.objects(Dataset::Events, day).await?;
    let mut report = Compaction {
        day: day.to_string(),
        objects: keys.len(),
        ..Compaction::default()
    };
    if keys.len() <= 1 {
        for key in &keys {
            report.rows_before += lake
                .read(key)
                .await?
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>();
        }
        report.rows_after = report.rows_before;
        return Ok(report);
    }
    let mut batches = Vec::new();
    for key in &keys {
        batches.extend(lake.read(key).await?);
    }
    report.rows_before = batches.iter().map(RecordBatch::num_rows).sum();
    let unique = dedupe(&batches).map_err(|e| arrow_error(day, e))?;
    drop(batches);
    let all =
        concat_batches(&Dataset::Events.schema(), &unique).map_err(|e| arrow_error(day, e))?;
    drop(unique);
    let order = sort_to_indices(
        all.column_by_name("event_time")
            .expect("events have event_time"),
        Some(SortOptions::default()),
        None,
    )
    .map_err(|e| arrow_error(day, e))?;
    let sorted = take_record_batch(&all, &order).map_err(|e| arrow_error(day, e))?;
    drop(all);
    report.rows_after = sorted.num_rows();
    let merged = lake
        .write(
            Dataset::Events,
            day,
            &format!("compact:{}", keys.join(",")),
            &[sorted],
        )
        .await?;
    for key in keys.iter().filter(|k| **k != merged) {
        lake.delete(key).await?;
    }
    report.merged = Some(merged);
    Ok(report)
}
