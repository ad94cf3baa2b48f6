//! What ingest trusts and accepts, from the settings: whose lifecycle events count, how large
//! an input may grow once decompressed, and which buckets' notifications are followed.

use std::collections::BTreeSet;

use spa_core::Settings;

/// The limits and trust every decoder and handler applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The automation account: lifecycle events count as such only when it sent them.
    pub automation_account: String,
    /// Largest input accepted, in bytes once decompressed (`ingest.max_input_bytes`).
    pub max_input_bytes: u64,
    /// Buckets whose S3 notifications are followed (`ingest.trail_buckets` and the
    /// organization trail's).
    pub trail_buckets: BTreeSet<String>,
    /// JSON bytes after which a backfill group is written in parts (not a setting: it bounds
    /// memory and keeps every Arrow column far below its 2 GiB offset limit).
    pub part_json_bytes: u64,
}

/// The default of [`Policy::part_json_bytes`].
const PART_JSON_BYTES: u64 = 256 << 20;

/// Bytes of an over-limit input kept in its quarantine row (the input stays at its origin).
pub(crate) const QUARANTINE_SAMPLE: usize = 1 << 20;

impl Policy {
    /// The policy `settings` describe.
    pub fn of(settings: &Settings) -> Self {
        Policy {
            automation_account: settings.automation.account_id.to_string(),
            max_input_bytes: settings.ingest.max_input_bytes,
            trail_buckets: settings.trail_buckets(),
            part_json_bytes: PART_JSON_BYTES,
        }
    }

    /// Whether a notification naming `bucket` may be followed.
    pub fn follows(&self, bucket: &str) -> bool {
        self.trail_buckets.contains(bucket)
    }
}
