//! The Lambda handler: EventBridge events delivered directly, SQS batches (bodies holding
//! events, SNS notifications, or S3 ObjectCreated notifications of CloudTrail files), direct
//! S3 notifications, and SNS deliveries (an S3 notification inside fetches its object).
//!
//! Only transient failures (S3 or the lake unavailable, throttling) fail an SQS message, and
//! only that message: the response lists it in `batchItemFailures`, so SQS retries it alone.
//! Everything else that cannot be read is quarantined and the message succeeds: among them a
//! notification for a bucket the policy does not follow (never read) and an object larger than
//! the policy's input limit (never fetched when the notification gives its size).

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};
use spa_core::lake::{Lake, LakeError, Store};

use super::input;
use super::policy::Policy;
use super::rows::{Rows, Stats};

/// A failure that fails the whole invocation (Lambda retries it).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The lake or S3 could not be reached.
    #[error(transparent)]
    Lake(#[from] LakeError),
}

#[derive(Deserialize)]
struct SqsMessage {
    #[serde(rename = "messageId")]
    message_id: String,
    body: String,
}

/// The `origin` of an SQS message: `sqs:<queue>/<message id>` (the queue from the record's
/// `eventSourceARN`), so that what came from the alert queue is known as such.
fn sqs_origin(record: &Value, id: &str) -> String {
    match record
        .get("eventSourceARN")
        .and_then(Value::as_str)
        .and_then(|arn| arn.rsplit(':').next())
        .filter(|q| !q.is_empty())
    {
        Some(queue) => format!("sqs:{queue}/{id}"),
        None => format!("sqs:{id}"),
    }
}

#[derive(Deserialize)]
struct S3Record {
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Deserialize)]
struct S3Object {
    key: String,
    #[serde(default)]
    size: Option<u64>,
}

/// An object named by an S3 notification.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ObjectRef {
    bucket: String,
    key: String,
    size: Option<u64>,
}

impl ObjectRef {
    fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// Objects of an S3 notification (`Records[].s3`), keys URL-decoded as S3 encodes them.
fn s3_objects(value: &Value) -> Option<Vec<ObjectRef>> {
    let records = value.get("Records")?.as_array()?;
    if records.is_empty() || !records.iter().all(|r| r.get("s3").is_some()) {
        return None;
    }
    let records: Vec<S3Record> = serde_json::from_value(Value::Array(records.clone())).ok()?;
    Some(
        records
            .into_iter()
            .map(|r| ObjectRef {
                bucket: r.s3.bucket.name,
                size: r.s3.object.size,
                key: percent_encoding::percent_decode_str(&r.s3.object.key.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned(),
            })
            .collect(),
    )
}

fn is_s3_test_event(value: &Value) -> bool {
    value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent")
}

/// What one message holds.
enum Content {
    /// Events or records to decode (the text of the message or of its SNS message).
    Direct(String),
    /// Objects to fetch and decode.
    Objects(Vec<ObjectRef>),
    /// Nothing to do (an S3 test event).
    Nothing,
}

fn classify(body: &str) -> Content {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return Content::Direct(body.to_string());
    };
    if is_s3_test_event(&value) {
        return Content::Nothing;
    }
    if let Some(objects) = s3_objects(&value) {
        return Content::Objects(objects);
    }
    if value.get("Type").and_then(Value::as_str) == Some("Notification")
        && let Some(message) = value.get("Message").and_then(Value::as_str)
        && let Ok(inner) = serde_json::from_str::<Value>(message)
    {
        if is_s3_test_event(&inner) {
            return Content::Nothing;
        }
        if let Some(objects) = s3_objects(&inner) {
            return Content::Objects(objects);
        }
    }
    Content::Direct(body.to_string())
}

/// The handler, with the lake it writes, the S3 client it reads notified objects with and
/// the policy it decodes under.
#[derive(Debug, Clone)]
pub struct Handler {
    lake: Lake,
    s3: aws_sdk_s3::Client,
    policy: Policy,
    exceptions: Option<std::sync::Arc<spa_core::Settings>>,
}

impl Handler {
    /// A handler over `lake`, reading notified objects with `s3`, under `policy`.
    pub fn new(lake: Lake, s3: aws_sdk_s3::Client, policy: Policy) -> Self {
        Self {
            lake,
            s3,
            policy,
            exceptions: None,
        }
    }

    /// The same handler raising, storing and delivering the exceptions of every unit it writes
    /// (the live path), as `settings` say.
    pub fn with_exceptions(mut self, settings: spa_core::Settings) -> Self {
        self.exceptions = Some(std::sync::Arc::new(settings));
        self
    }

    /// Writes a unit's batches, then (live path) their exceptions. A failure of the live path
    /// fails nothing: the events are stored, and the sweep raises what it missed.
    async fn write(
        &self,
        key: &str,
        batches: &super::Batches,
        received_at: i64,
    ) -> Result<(), LakeError> {
        super::write(&self.lake, key, batches, received_at).await?;
        if let Some(settings) = &self.exceptions {
            let events: Vec<arrow::array::RecordBatch> =
                batches.events.iter().map(|(_, b)| b.clone()).collect();
            let quarantine = batches.quarantine.as_ref();
            match crate::exceptions::live::raise(
                &self.lake,
                settings,
                &events,
                quarantine,
                received_at,
            )
            .await
            {
                Ok(live) if !live.raised.is_empty() => tracing::info!(
                    raised = live.raised.len(),
                    messages = live.delivered.messages,
                    failed = live.delivered.failed().count(),
                    "exceptions raised live"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "live exceptions failed; the sweep will raise them")
                }
            }
        }
        Ok(())
    }

    /// Fetches and writes one object as its own unit (key: its URL). An object that cannot be
    /// read for good (gone, access denied), of a bucket the policy does not follow, or larger
    /// than its input limit is quarantined with the reason; transient errors are returned so
    /// the message is retried.
    async fn object(&self, object: &ObjectRef) -> Result<Stats, LakeError> {
        let url = object.url();
        let received_at = super::now_micros();
        let mut rows = Rows::new(received_at, &self.policy);
        let limit = self.policy.max_input_bytes;
        if !self.policy.follows(&object.bucket) {
            rows.stats.inputs += 1;
            rows.quarantine(
                &url,
                &format!(
                    "bucket {} is not in ingest.trail_buckets: not read",
                    object.bucket
                ),
                url.as_bytes(),
            );
        } else if let Some(size) = object.size.filter(|s| *s > limit) {
            rows.stats.inputs += 1;
            rows.quarantine(
                &url,
                &format!(
                    "{size} bytes stored, more than ingest.max_input_bytes ({limit}): not read"
                ),
                url.as_bytes(),
            );
        } else {
            self.fetch(object, &url, &mut rows).await?;
        }
        let batches = tokio::task::spawn_blocking(move || rows.finish())
            .await
            .expect("finishing rows does not panic");
        self.write(&url, &batches, received_at).await?;
        Ok(batches.stats)
    }

    /// Reads a followed object into `rows`, or quarantines why it cannot be read for good.
    async fn fetch(&self, object: &ObjectRef, url: &str, rows: &mut Rows) -> Result<(), LakeError> {
        match Store::s3(self.s3.clone(), &object.bucket, "")
            .get(&object.key)
            .await
        {
            Ok(bytes) => input::decode(url, &bytes, rows),
            Err(LakeError::NotFound { .. }) => rows.quarantine(
                url,
                "object not found (deleted before it was read?)",
                url.as_bytes(),
            ),
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => rows.quarantine(url, &e.to_string(), url.as_bytes()),
        }
        Ok(())
    }

    /// Handles one invocation payload and returns the Lambda response.
    pub async fn handle(&self, payload: Value) -> Result<Value, HandlerError> {
        let records = payload.get("Records").and_then(Value::as_array);
        let source = records
            .and_then(|r| r.first())
            .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
            .and_then(Value::as_str);
        match source {
            Some("aws:sqs") => {
                let failures = self.sqs(records.map_or(&[][..], Vec::as_slice)).await;
                let items: Vec<Value> = failures
                    .iter()
                    .map(|id| json!({ "itemIdentifier": id }))
                    .collect();
                Ok(json!({ "batchItemFailures": items }))
            }
            // SNS delivering to the function: S3 notifications inside are fetched like direct
            // ones (before, they were stored as events), anything else decoded as an event.
            Some("aws:sns") => {
                let mut stats = Stats::default();
                for record in records.map_or(&[][..], Vec::as_slice) {
                    let message = record
                        .pointer("/Sns/Message")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    match classify(message) {
                        Content::Nothing => {}
                        Content::Objects(objects) => {
                            for object in &objects {
                                stats += self.object(object).await?;
                            }
                        }
                        Content::Direct(_) => {
                            let id = record
                                .pointer("/Sns/MessageId")
                                .and_then(Value::as_str)
                                .map_or_else(|| record.to_string(), str::to_string);
                            let received_at = super::now_micros();
                            let mut rows = Rows::new(received_at, &self.policy);
                            let text = record.to_string();
                            input::decode("sns", text.as_bytes(), &mut rows);
                            let batches = rows.finish();
                            self.write(&format!("sns:{id}"), &batches, received_at)
                                .await?;
                            stats += batches.stats;
                        }
                    }
                }
                Ok(json!({ "written": stats.written, "quarantined": stats.quarantined }))
            }
            Some("aws:s3") => {
                let objects = s3_objects(&payload).unwrap_or_default();
                let mut stats = Stats::default();
                for object in &objects {
                    stats += self.object(object).await?;
                }
                Ok(json!({ "written": stats.written, "quarantined": stats.quarantined }))
            }
            _ => {
                let text = payload.to_string();
                let key = match payload.get("id").and_then(Value::as_str) {
                    Some(id) => format!("event:{id}"),
                    None => format!("payload:{text}"),
                };
                let received_at = super::now_micros();
                let mut rows = Rows::new(received_at, &self.policy);
                input::decode("lambda", text.as_bytes(), &mut rows);
                let batches = rows.finish();
                self.write(&key, &batches, received_at).await?;
                Ok(
                    json!({ "written": batches.stats.written, "quarantined": batches.stats.quarantined }),
                )
            }
        }
    }

    /// Processes an SQS batch; returns the ids of the messages to retry. A record that is not
    /// an SQS message with a body (a null or empty body, no id) is quarantined with its JSON,
    /// never acknowledged unseen, and costs the other records nothing.
    async fn sqs(&self, records: &[Value]) -> BTreeSet<String> {
        let mut failed = BTreeSet::new();
        let received_at = super::now_micros();
        let mut rows = Rows::new(received_at, &self.policy);
        let mut direct = Vec::new();
        let mut messages = Vec::with_capacity(records.len());
        for (n, record) in records.iter().enumerate() {
            let id = record
                .get("messageId")
                .and_then(Value::as_str)
                .map_or_else(|| format!("record-{n}"), str::to_string);
            let reason = match serde_json::from_value::<SqsMessage>(record.clone()) {
                Ok(message) if !message.body.trim().is_empty() => {
                    messages.push((sqs_origin(record, &message.message_id), message));
                    continue;
                }
                Ok(_) => "SQS message with an empty body".to_string(),
                Err(e) => format!("not an SQS message with a body: {e}"),
            };
            rows.stats.inputs += 1;
            rows.quarantine(
                &sqs_origin(record, &id),
                &reason,
                record.to_string().as_bytes(),
            );
            direct.push(id);
        }
        for (origin, message) in &messages {
            match classify(&message.body) {
                Content::Nothing => {}
                Content::Direct(text) => {
                    input::decode(origin, text.as_bytes(), &mut rows);
                    direct.push(message.message_id.clone());
                }
                Content::Objects(objects) => {
                    for object in &objects {
                        if let Err(e) = self.object(object).await {
                            tracing::warn!(message = %message.message_id, object = %object.url(), error = %e, "will retry");
                            failed.insert(message.message_id.clone());
                        }
                    }
                }
            }
        }
        if !direct.is_empty() {
            direct.sort();
            let batches = rows.finish();
            if let Err(e) = self
                .write(&format!("sqs:{}", direct.join(",")), &batches, received_at)
                .await
            {
                tracing::warn!(error = %e, "lake write failed; the batch's events will be retried");
                failed.extend(direct);
            }
        }
        failed
    }
}
