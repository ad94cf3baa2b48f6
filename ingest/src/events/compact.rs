//! Compaction: merges a day's small files into one, one row per event id, each source's rows
//! sorted by time.
//!
//! The merged object is written (atomically) before any source is deleted, and its name derives
//! from the names of its sources; a source is deleted only if its bytes are still the ones
//! merged (a source rewritten meanwhile is kept, so its new rows are never lost). If compaction
//! stops half-way, the day holds the merged object plus some sources: readers dedupe on event
//! id, and the next compaction merges them again. Nothing is lost at any point.

use std::collections::HashSet;

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::{SortOptions, filter_record_batch, sort_to_indices, take_record_batch};
use sha2::{Digest, Sha256};
use spa_core::lake::columns::{EVENT_ID, EVENT_TIME};
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
    /// Sources rewritten while they were merged: kept, for the next compaction.
    pub changed: Vec<String>,
}

fn arrow_error(day: &str, source: arrow::error::ArrowError) -> LakeError {
    LakeError::Arrow {
        context: format!("compacting events/dt={day}"),
        source,
    }
}

/// The rows of `batch` whose event id is new to `seen`, sorted by time.
fn new_rows(
    batch: &RecordBatch,
    seen: &mut HashSet<String>,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let ids = batch
        .column_by_name(EVENT_ID)
        .expect("events have event_id")
        .as_string::<i32>();
    let keep: BooleanArray = ids
        .iter()
        .map(|id| Some(seen.insert(id.unwrap_or_default().to_string())))
        .collect();
    let kept = filter_record_batch(batch, &keep)?;
    let order = sort_to_indices(
        kept.column_by_name(EVENT_TIME)
            .expect("events have event_time"),
        Some(SortOptions::default()),
        None,
    )?;
    take_record_batch(&kept, &order)
}

/// Compacts one day of `events/`. A day with one object or none is left as it is. Sources are
/// read one at a time and the merged object is written as it grows, so memory holds one source,
/// the set of event ids and the compressed output, not the day.
pub async fn day(lake: &Lake, day: &str) -> Result<Compaction, LakeError> {
    day_checked(lake, day, || async {}).await
}

/// [`day`], with `before_deleting` run between the merged object's write and the sources'
/// deletion (tests rewrite a source there). A source whose bytes changed since they were merged
/// is kept: it holds rows the merged object may lack, and the next compaction merges it.
pub async fn day_checked<F: std::future::Future<Output = ()>>(
    lake: &Lake,
    day: &str,
    before_deleting: impl FnOnce() -> F,
) -> Result<Compaction, LakeError> {
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
    let mut writer = lake.writer(Dataset::Events, day, &format!("compact:{}", keys.join(",")))?;
    let mut seen = HashSet::new();
    let mut digests = Vec::with_capacity(keys.len());
    for key in &keys {
        let bytes = lake.get_bytes(key).await?;
        digests.push(Sha256::digest(&bytes));
        for batch in spa_core::lake::decode(key, bytes)? {
            report.rows_before += batch.num_rows();
            let rows = new_rows(&batch, &mut seen).map_err(|e| arrow_error(day, e))?;
            writer.write(&rows)?;
        }
    }
    report.rows_after = writer.rows();
    let merged = writer.finish().await?;
    before_deleting().await;
    for (key, digest) in keys.iter().zip(&digests) {
        if *key == merged {
            continue;
        }
        match lake.get_bytes(key).await {
            Ok(now) if Sha256::digest(&now) == *digest => lake.delete(key).await?,
            Ok(_) => report.changed.push(key.clone()),
            Err(LakeError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    report.merged = Some(merged);
    Ok(report)
}
