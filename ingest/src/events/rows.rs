//! Collects normalized events into Arrow batches, one per UTC day, dropping repeated event ids;
//! and unusable inputs into quarantine rows.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, BinaryBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use chrono::{DateTime, NaiveDate};
use spa_core::events::Activity;
use spa_core::lake::Dataset;
use spa_core::period::Day;

use super::normalize::Event;
use super::policy::Policy;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Counts of one ingestion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Input files or messages read.
    pub inputs: u64,
    /// Bytes read (as stored, before decompression).
    pub bytes: u64,
    /// Bytes of JSON decoded (after decompression).
    pub json_bytes: u64,
    /// Events found, repeats included.
    pub records: u64,
    /// Rows written to `events/`.
    pub written: u64,
    /// Events dropped because their id was already in the same write.
    pub duplicates: u64,
    /// Rows written to `quarantine/`.
    pub quarantined: u64,
    /// CloudTrail digest files, skipped.
    pub digests: u64,
    /// Empty inputs (no bytes, or a trail file with no records).
    pub empty: u64,
    /// Where the time went.
    pub stages: Stages,
}

/// Time spent in each stage of an ingestion, summed over its inputs and writes (with several
/// groups in flight, over all of them: CPU time rather than wall time, I/O waits included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stages {
    /// Reading the inputs (files, S3 objects).
    pub read: Duration,
    /// Inflating gzip inputs.
    pub gunzip: Duration,
    /// Parsing the JSON and normalizing records into events.
    pub parse: Duration,
    /// Dropping repeated ids and appending events to the Arrow columns.
    pub columns: Duration,
    /// Encoding the Parquet objects (zstd included).
    pub encode: Duration,
    /// Storing the objects.
    pub store: Duration,
}

impl Stages {
    /// The stages in order, named.
    pub fn named(&self) -> [(&'static str, Duration); 6] {
        [
            ("read", self.read),
            ("gunzip", self.gunzip),
            ("parse", self.parse),
            ("columns", self.columns),
            ("encode", self.encode),
            ("store", self.store),
        ]
    }
}

impl std::ops::AddAssign for Stages {
    fn add_assign(&mut self, o: Stages) {
        self.read += o.read;
        self.gunzip += o.gunzip;
        self.parse += o.parse;
        self.columns += o.columns;
        self.encode += o.encode;
        self.store += o.store;
    }
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.inputs += o.inputs;
        self.bytes += o.bytes;
        self.json_bytes += o.json_bytes;
        self.records += o.records;
        self.written += o.written;
        self.duplicates += o.duplicates;
        self.quarantined += o.quarantined;
        self.digests += o.digests;
        self.empty += o.empty;
        self.stages += o.stages;
    }
}

#[derive(Default)]
struct Columns {
    event_id: StringBuilder,
    event_time: TimestampMicrosecondBuilder,
    source: StringBuilder,
    detail_type: StringBuilder,
    event_name: StringBuilder,
    account_id: StringBuilder,
    recipient_account_id: StringBuilder,
    region: StringBuilder,
    actor_type: StringBuilder,
    actor_name: StringBuilder,
    source_ip: StringBuilder,
    user_agent: StringBuilder,
    error_code: StringBuilder,
    activity: StringBuilder,
    origin: StringBuilder,
    raw: StringBuilder,
}

impl Columns {
    fn push(&mut self, e: &Event<'_>, origin: &str) {
        self.event_id.append_value(&e.event_id);
        self.event_time.append_value(e.event_time);
        self.source.append_value(&e.source);
        self.detail_type.append_option(e.detail_type.as_deref());
        self.event_name.append_option(e.event_name.as_deref());
        self.account_id.append_option(e.account_id.as_deref());
        self.recipient_account_id
            .append_option(e.recipient_account_id.as_deref());
        self.region.append_option(e.region.as_deref());
        self.actor_type.append_option(e.actor_type.as_deref());
        self.actor_name.append_option(e.actor_name.as_deref());
        self.source_ip.append_option(e.source_ip.as_deref());
        self.user_agent.append_option(e.user_agent.as_deref());
        self.error_code.append_option(e.error_code.as_deref());
        self.activity
            .append_option(e.activity.map(Activity::as_str));
        self.origin.append_value(origin);
        self.raw.append_value(e.raw);
    }

    fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.event_id.finish()),
            Arc::new(self.event_time.finish().with_timezone("UTC")),
            Arc::new(self.source.finish()),
            Arc::new(self.detail_type.finish()),
            Arc::new(self.event_name.finish()),
            Arc::new(self.account_id.finish()),
            Arc::new(self.recipient_account_id.finish()),
            Arc::new(self.region.finish()),
            Arc::new(self.actor_type.finish()),
            Arc::new(self.actor_name.finish()),
            Arc::new(self.source_ip.finish()),
            Arc::new(self.user_agent.finish()),
            Arc::new(self.error_code.finish()),
            Arc::new(self.activity.finish()),
            Arc::new(self.origin.finish()),
            Arc::new(self.raw.finish()),
        ];
        RecordBatch::try_new(Dataset::Events.schema(), columns)
            .expect("columns follow the events schema")
    }
}

#[derive(Default)]
struct Quarantine {
    received_at: TimestampMicrosecondBuilder,
    origin: StringBuilder,
    reason: StringBuilder,
    raw: BinaryBuilder,
}

/// Rows of one write unit (a file, a group of files, a message batch), ready for the lake.
pub struct Rows {
    days: BTreeMap<i64, Columns>,
    /// Ids so far (foldhash, seeded per process: the ids come from the inputs).
    seen: HashSet<Box<str>, foldhash::fast::RandomState>,
    quarantine: Quarantine,
    received_at: i64,
    /// The decoders' buffer for inflated inputs, reused from one input to the next.
    pub(super) inflated: Vec<u8>,
    /// The limits and trust the decoders apply.
    pub policy: Policy,
    /// Counts so far.
    pub stats: Stats,
}

/// The batches of a unit: events per day (`YYYY-MM-DD`) and quarantine rows.
pub struct Batches {
    /// `(day, batch)` in day order.
    pub events: Vec<(String, RecordBatch)>,
    /// Quarantine rows, if any.
    pub quarantine: Option<RecordBatch>,
    /// Counts.
    pub stats: Stats,
}

impl Rows {
    /// Empty rows decoded under `policy`; quarantine rows are stamped with `received_at`
    /// (microseconds, UTC).
    pub fn new(received_at: i64, policy: &Policy) -> Self {
        Self {
            days: BTreeMap::new(),
            seen: HashSet::default(),
            quarantine: Quarantine::default(),
            received_at,
            inflated: Vec::new(),
            policy: policy.clone(),
            stats: Stats::default(),
        }
    }

    /// Adds events, each unless its id is already in this unit; timed as the `columns` stage.
    pub fn push_all(&mut self, events: &[Event<'_>], origin: &str) {
        let started = Instant::now();
        for event in events {
            self.push(event, origin);
        }
        self.stats.stages.columns += started.elapsed();
    }

    fn push(&mut self, event: &Event<'_>, origin: &str) {
        self.stats.records += 1;
        if self.seen.insert(Box::from(event.event_id.as_ref())) {
            self.stats.written += 1;
            self.days
                .entry(event.event_time.div_euclid(MICROS_PER_DAY))
                .or_default()
                .push(event, origin);
        } else {
            self.stats.duplicates += 1;
        }
    }

    /// Keeps an unusable input with the reason, so nothing is lost.
    pub fn quarantine(&mut self, origin: &str, reason: &str, raw: &[u8]) {
        tracing::warn!(origin, reason, "quarantined");
        self.stats.quarantined += 1;
        self.quarantine.received_at.append_value(self.received_at);
        self.quarantine.origin.append_value(origin);
        self.quarantine.reason.append_value(reason);
        self.quarantine.raw.append_value(raw);
    }

    /// The day (`YYYY-MM-DD`) of a time in microseconds.
    pub fn day_of(micros: i64) -> String {
        let day = micros.div_euclid(MICROS_PER_DAY);
        DateTime::from_timestamp(day * 86_400, 0).map_or_else(
            || NaiveDate::MIN.to_string(),
            |t| Day::of(t.date_naive()).to_string(),
        )
    }

    /// Finishes the Arrow batches.
    pub fn finish(mut self) -> Batches {
        let started = Instant::now();
        let events = std::mem::take(&mut self.days)
            .into_iter()
            .map(|(day, columns)| (Self::day_of(day * MICROS_PER_DAY), columns.finish()))
            .collect();
        let quarantine = (self.stats.quarantined > 0).then(|| {
            let mut q = self.quarantine;
            RecordBatch::try_new(
                Dataset::Quarantine.schema(),
                vec![
                    Arc::new(q.received_at.finish().with_timezone("UTC")),
                    Arc::new(q.origin.finish()),
                    Arc::new(q.reason.finish()),
                    Arc::new(q.raw.finish()),
                ],
            )
            .expect("columns follow the quarantine schema")
        });
        self.stats.stages.columns += started.elapsed();
        Batches {
            events,
            quarantine,
            stats: self.stats,
        }
    }
}
