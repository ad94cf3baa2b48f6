//! The live path: the exceptions a batch of events just written implies, raised, stored and
//! delivered in the same invocation, seconds after the events reach the bus. The sweep raises
//! the same ids later, so whatever the live path misses (a lake or channel outage) is caught
//! there; what it did is never done twice.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use spa_core::Settings;
use spa_core::lake::Lake;
use spa_core::period::Day;

use super::classify::{Candidate, Rules, classify, unreadable};
use super::deliver::{DeliverError, Deliverer, Deliveries};
use super::store::{self, Exception};
use super::sweep::with_context;

/// What the live path did for one batch.
#[derive(Debug, Default)]
pub struct Live {
    /// Exceptions stored now.
    pub raised: Vec<Exception>,
    /// Their deliveries.
    pub delivered: Deliveries,
}

/// Raises, stores and delivers the exceptions of `batches` (rows of the `events` schema) and of
/// `quarantine` (rows quarantined from the alert queue) that are not stored yet.
pub async fn raise(
    lake: &Lake,
    settings: &Settings,
    batches: &[RecordBatch],
    quarantine: Option<&RecordBatch>,
    now: i64,
) -> Result<Live, DeliverError> {
    let rules = Rules::of(settings);
    let mut candidates: Vec<Candidate> = batches.iter().flat_map(|b| classify(&rules, b)).collect();
    if let Some(q) = quarantine {
        candidates.extend(unreadable(&rules, q));
    }
    if candidates.is_empty() {
        return Ok(Live::default());
    }
    let mut by_day: BTreeMap<Day, Vec<Candidate>> = BTreeMap::new();
    for c in candidates {
        by_day.entry(c.day()).or_default().push(c);
    }
    let mut new = Vec::new();
    for (day, list) in by_day {
        new.extend(store::unstored(lake, day, list).await?);
    }
    if new.is_empty() {
        return Ok(Live::default());
    }
    let started = std::time::Instant::now();
    let raised = with_context(lake, new, now).await?;
    let context = started.elapsed();
    store::write(lake, &raised).await?;
    let stored = started.elapsed();
    let deliverer = Deliverer::new(settings, lake);
    let delivered = deliverer.deliver(&raised, now).await?;
    tracing::info!(
        raised = raised.len(),
        context_ms = context.as_millis() as u64,
        store_ms = (stored - context).as_millis() as u64,
        deliver_ms = (started.elapsed() - stored).as_millis() as u64,
        "live exceptions"
    );
    Ok(Live { raised, delivered })
}
