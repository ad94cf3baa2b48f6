//! Events into `events/dt=YYYY-MM-DD/` and what cannot be read into `quarantine/`: inputs
//! recognised ([`input`]), normalized into rows ([`normalize`], [`rows`]), from files and
//! prefixes in parallel groups ([`backfill`]) or Lambda payloads ([`lambda`]), and compacted per
//! day ([`compact`]).

pub mod backfill;
pub mod compact;
pub mod input;
pub mod lambda;
pub mod normalize;
pub mod policy;
pub mod rows;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use chrono::Utc;
use spa_core::lake::{Dataset, Lake, LakeError};

pub use policy::Policy;
pub use rows::{Batches, Rows, Stages, Stats};

/// A unit's objects encoded as Parquet, ready to store: events into their days, quarantine rows
/// into the day they arrived.
pub struct Encoded {
    /// `(key, bytes, rows)` of each object.
    objects: Vec<(String, Bytes, usize)>,
    /// Events per activity label.
    labels: BTreeMap<String, u64>,
    written: u64,
    quarantined: u64,
    /// The time spent encoding.
    pub encode: Duration,
}

/// Encodes a unit's batches (CPU work, for a blocking thread).
pub fn encode(
    idempotency_key: &str,
    batches: &Batches,
    received_at: i64,
) -> Result<Encoded, LakeError> {
    let started = Instant::now();
    let quarantine_day = Rows::day_of(received_at);
    let objects = batches
        .events
        .iter()
        .map(|(day, batch)| (Dataset::Events, day, batch))
        .chain(
            batches
                .quarantine
                .iter()
                .map(|batch| (Dataset::Quarantine, &quarantine_day, batch)),
        )
        .map(|(dataset, day, batch)| {
            Lake::encode(dataset, day, idempotency_key, std::slice::from_ref(batch))
                .map(|(key, bytes)| (key, bytes, batch.num_rows()))
        })
        .collect::<Result<_, _>>()?;
    let mut labels = BTreeMap::new();
    for (_, batch) in &batches.events {
        let activity = batch
            .column_by_name(spa_core::lake::columns::ACTIVITY)
            .and_then(|c| c.as_any().downcast_ref::<arrow::array::StringArray>());
        for label in activity.into_iter().flatten().flatten() {
            *labels.entry(label.to_string()).or_default() += 1;
        }
    }
    Ok(Encoded {
        objects,
        labels,
        written: batches.stats.written,
        quarantined: batches.stats.quarantined,
        encode: started.elapsed(),
    })
}

/// Stores encoded objects, then counts them (metrics `EventsIngested`, by `Label` too,
/// `RecordsIngested`, `RecordsQuarantined`). Returns the time spent storing.
pub async fn store(lake: &Lake, encoded: Encoded) -> Result<Duration, LakeError> {
    let started = Instant::now();
    for (key, bytes, rows) in encoded.objects {
        lake.put_bytes(&key, bytes).await?;
        tracing::debug!(%key, rows, "wrote");
    }
    if encoded.written > 0 {
        metrics::counter!(spa_core::metrics::EVENTS_INGESTED).increment(encoded.written);
        metrics::counter!(spa_core::metrics::RECORDS_INGESTED).increment(encoded.written);
    }
    for (label, n) in encoded.labels {
        metrics::counter!(spa_core::metrics::EVENTS_INGESTED, "Label" => label).increment(n);
    }
    if encoded.quarantined > 0 {
        metrics::counter!(spa_core::metrics::RECORDS_QUARANTINED).increment(encoded.quarantined);
    }
    Ok(started.elapsed())
}

/// Writes a unit's batches: [`encode`], then [`store`].
pub async fn write(
    lake: &Lake,
    idempotency_key: &str,
    batches: &Batches,
    received_at: i64,
) -> Result<(), LakeError> {
    store(lake, encode(idempotency_key, batches, received_at)?).await?;
    Ok(())
}

/// Microseconds since the epoch, now.
pub(crate) fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// Appends EventBridge envelopes to the lake, as the lifecycle does when it runs locally.
/// The idempotency key is the sorted list of the events' ids: appending the same events again
/// changes nothing.
pub async fn append_events(
    lake: &Lake,
    policy: &Policy,
    envelopes: &[serde_json::Value],
) -> Result<Stats, LakeError> {
    let received_at = now_micros();
    let mut rows = Rows::new(received_at, policy);
    let mut ids = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        let text = envelope.to_string();
        ids.push(
            envelope
                .get("id")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
        );
        input::decode("append_events", text.as_bytes(), &mut rows);
    }
    ids.sort_unstable();
    let batches = rows.finish();
    write(
        lake,
        &format!("events:{}", ids.join(",")),
        &batches,
        received_at,
    )
    .await?;
    Ok(batches.stats)
}
