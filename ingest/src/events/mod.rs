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

use chrono::Utc;
use spa_core::lake::{Dataset, Lake, LakeError};

pub use policy::Policy;
pub use rows::{Batches, Rows, Stats};

/// Writes a unit's batches: events into their days, quarantine rows into the day they arrived;
/// then counts them (metrics `EventsIngested`, by `Label` too, `RecordsIngested`,
/// `RecordsQuarantined`).
pub async fn write(
    lake: &Lake,
    idempotency_key: &str,
    batches: &Batches,
    received_at: i64,
) -> Result<(), LakeError> {
    for (day, batch) in &batches.events {
        lake.write(
            Dataset::Events,
            day,
            idempotency_key,
            std::slice::from_ref(batch),
        )
        .await?;
    }
    if let Some(quarantine) = &batches.quarantine {
        let day = Rows::day_of(received_at);
        lake.write(
            Dataset::Quarantine,
            &day,
            idempotency_key,
            std::slice::from_ref(quarantine),
        )
        .await?;
    }
    count(batches);
    Ok(())
}

/// The metrics of batches written.
fn count(batches: &Batches) {
    let mut labels: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for (_, batch) in &batches.events {
        let activity = batch
            .column_by_name(spa_core::lake::columns::ACTIVITY)
            .and_then(|c| c.as_any().downcast_ref::<arrow::array::StringArray>());
        for label in activity.into_iter().flatten().flatten() {
            *labels.entry(label).or_default() += 1;
        }
    }
    let rows = batches.stats.written;
    if rows > 0 {
        metrics::counter!(spa_core::metrics::EVENTS_INGESTED).increment(rows);
        metrics::counter!(spa_core::metrics::RECORDS_INGESTED).increment(rows);
    }
    for (label, n) in labels {
        metrics::counter!(spa_core::metrics::EVENTS_INGESTED, "Label" => label.to_string())
            .increment(n);
    }
    if batches.stats.quarantined > 0 {
        metrics::counter!(spa_core::metrics::RECORDS_QUARANTINED)
            .increment(batches.stats.quarantined);
    }
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
