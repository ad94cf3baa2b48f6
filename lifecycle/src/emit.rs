//! Where lifecycle events go: EventBridge `PutEvents` on the configured bus (ingest stores them
//! from there), or straight into the local lake through the ingest library.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use spa_core::Settings;
use spa_core::events::{LIFECYCLE_SOURCE, LifecycleEvent};
use spa_core::lake::Lake;
use spa_core::settings::Adapter;

use crate::Error;

/// One event about one account.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    /// Which event.
    pub event: LifecycleEvent,
    /// The account it is about.
    pub account: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The detail's other fields (`State`, `Since`, `Build`, `Holder`, `Reason`, ...).
    pub detail: serde_json::Map<String, Value>,
}

impl Emitted {
    /// The event's id, derived from the account, the event and its time (to the second): the
    /// same event sent again (a retry after a failed `PutEvents`) has the same id, and ingest
    /// stores it once.
    pub fn id(&self) -> String {
        let time = self.at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let digest = Sha256::digest(format!("{}/{}/{time}", self.account, self.event));
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// The event's `detail`: `Account`, `EventId` (see [`Emitted::id`]; EventBridge gives
    /// every event an id of its own), `Environment`, `Message` and the other fields.
    pub fn detail(&self, settings: &Settings) -> Value {
        let mut detail = serde_json::Map::new();
        detail.insert("Account".into(), json!(self.account));
        detail.insert("EventId".into(), json!(self.id()));
        detail.insert(
            "Environment".into(),
            json!(settings.environment_identifier.as_str()),
        );
        detail.insert(
            "Message".into(),
            json!(format!("{} {}", self.event, self.account)),
        );
        detail.extend(self.detail.clone());
        Value::Object(detail)
    }

    /// The whole EventBridge envelope, as ingest stores it, with [`Emitted::id`] as its id.
    pub fn envelope(&self, settings: &Settings) -> Value {
        let time = self.at.to_rfc3339_opts(SecondsFormat::Secs, true);
        json!({
            "version": "0",
            "id": self.id(),
            "detail-type": self.event.as_str(),
            "source": LIFECYCLE_SOURCE,
            "account": settings.automation.account_id.as_str(),
            "time": time,
            "region": settings.automation.region.as_str(),
            "resources": [],
            "detail": self.detail(settings),
        })
    }
}

/// Emits events.
pub enum Emitter {
    /// Into the local lake.
    Lake(Lake),
    /// EventBridge.
    Aws {
        /// Client.
        client: aws_sdk_eventbridge::Client,
        /// Bus name or ARN.
        bus: String,
        /// Requests made.
        requests: AtomicU64,
    },
}

/// Entries per `PutEvents` request (the API's maximum).
const BATCH: usize = 10;

impl Emitter {
    /// The emitter `settings.events` names.
    pub(crate) async fn from_settings(settings: &Settings) -> Result<Self, Error> {
        Ok(match settings.events.adapter {
            Adapter::Local => Emitter::Lake(Lake::open(settings).await),
            Adapter::Aws => {
                let config = spa_core::aws::sdk_config(settings).await;
                Emitter::Aws {
                    client: aws_sdk_eventbridge::Client::new(&config),
                    bus: settings.events.bus.clone(),
                    requests: AtomicU64::new(0),
                }
            }
        })
    }

    /// Emits `events` in order.
    pub(crate) async fn emit(&self, settings: &Settings, events: &[Emitted]) -> Result<(), Error> {
        if events.is_empty() {
            return Ok(());
        }
        match self {
            Emitter::Lake(lake) => {
                let envelopes: Vec<Value> = events.iter().map(|e| e.envelope(settings)).collect();
                let policy = ingest::events::Policy::of(settings);
                let stats = ingest::events::append_events(lake, &policy, &envelopes)
                    .await
                    .map_err(Error::Lake)?;
                if stats.quarantined > 0 {
                    return Err(Error::Emit(format!(
                        "{} of {} events were quarantined by ingest",
                        stats.quarantined,
                        envelopes.len()
                    )));
                }
                Ok(())
            }
            Emitter::Aws {
                client,
                bus,
                requests,
            } => {
                for chunk in events.chunks(BATCH) {
                    let entries = chunk
                        .iter()
                        .map(|e| {
                            PutEventsRequestEntry::builder()
                                .source(LIFECYCLE_SOURCE)
                                .detail_type(e.event.as_str())
                                .detail(e.detail(settings).to_string())
                                .event_bus_name(bus)
                                .time(aws_sdk_eventbridge::primitives::DateTime::from_secs(
                                    e.at.timestamp(),
                                ))
                                .build()
                        })
                        .collect();
                    requests.fetch_add(1, Ordering::Relaxed);
                    let out = client
                        .put_events()
                        .set_entries(Some(entries))
                        .send()
                        .await
                        .map_err(|e| {
                            Error::Emit(format!(
                                "EventBridge {}",
                                spa_core::aws::ApiError::new("PutEvents", &e)
                            ))
                        })?;
                    if out.failed_entry_count() > 0 {
                        let why: Vec<String> = out
                            .entries()
                            .iter()
                            .filter_map(|e| e.error_message())
                            .map(str::to_string)
                            .collect();
                        return Err(Error::Emit(format!(
                            "EventBridge PutEvents refused {} events: {}",
                            out.failed_entry_count(),
                            why.join("; ")
                        )));
                    }
                }
                Ok(())
            }
        }
    }

    /// EventBridge requests made so far.
    pub fn requests(&self) -> u64 {
        match self {
            Emitter::Lake(_) => 0,
            Emitter::Aws { requests, .. } => requests.load(Ordering::Relaxed),
        }
    }
}
