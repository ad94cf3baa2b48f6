//! Work over many accounts through a queue. A run over the organization (the maintenance
//! window, the periodic check, an operator's release, reset or apply) puts one message per
//! account with something due on the lifecycle queue; worker invocations take the messages a
//! batch at a time and carry each account's step out with the same decision code as the direct
//! path. That keeps each invocation short whatever the organization's size, and a throttled or
//! failed account is retried alone (then dead-lettered) without holding the others.
//!
//! A message delivered twice, or retried after a crash, changes nothing the second time: the
//! account's tags already say the step was taken, and [`decide`](crate::decide) finds nothing
//! due.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use spa_core::aws::ApiError;
use spa_core::settings::AccountId;

use spa_core::lake::Lake;

use crate::decide::{Outcome, Trigger, decide};
use crate::{Engine, Error};

/// What a message asks of its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The maintenance window opened.
    Maintenance,
    /// What is due without an outside event (the periodic check, `apply`).
    Reconcile,
    /// Operator: hand the account to its holder now.
    Release,
    /// Operator: back to vanilla.
    Reset,
}

impl Action {
    /// The trigger the decision code takes.
    pub fn trigger(self) -> Trigger {
        match self {
            Action::Maintenance => Trigger::Maintenance,
            Action::Reconcile => Trigger::Reconcile,
            Action::Release => Trigger::Release,
            Action::Reset => Trigger::Reset,
        }
    }

    /// The action's name, as in messages.
    pub fn name(self) -> &'static str {
        match self {
            Action::Maintenance => "maintenance",
            Action::Reconcile => "reconcile",
            Action::Release => "release",
            Action::Reset => "reset",
        }
    }

    /// The action of `trigger`, if it is one a run over many accounts takes.
    pub fn of(trigger: &Trigger) -> Option<Self> {
        match trigger {
            Trigger::Maintenance => Some(Action::Maintenance),
            Trigger::Reconcile => Some(Action::Reconcile),
            Trigger::Release => Some(Action::Release),
            Trigger::Reset => Some(Action::Reset),
            _ => None,
        }
    }
}

/// One message: an account's step in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The run that enqueued it (`<action>-<time>`), for the logs.
    pub run: String,
    /// The account.
    pub account: AccountId,
    /// What to do.
    pub action: Action,
    /// When the run was started.
    pub at: DateTime<Utc>,
}

/// The lifecycle queue.
#[derive(Debug, Clone)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    /// The queue named by the settings (`automation.lifecycle_queue`), looked up once.
    pub async fn open(settings: &spa_core::Settings) -> Result<Self, Error> {
        let config = spa_core::aws::sdk_config(settings).await;
        let client = aws_sdk_sqs::Client::new(&config);
        let name = settings.lifecycle_queue();
        let out = client
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await
            .map_err(api("GetQueueUrl"))?;
        let url = out
            .queue_url()
            .ok_or_else(|| Error::Emit(format!("no URL for queue {name}")))?
            .to_string();
        Ok(Queue { client, url })
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// What is on the lifecycle queue and its dead-letter queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Messages waiting for a worker (approximate, as SQS counts).
    pub waiting: u64,
    /// Messages a worker holds now (approximate).
    pub in_flight: u64,
    /// The dead-letter queue's name, when the queue has one.
    pub dead_letter_queue: Option<String>,
    /// Messages that failed every attempt (approximate).
    pub dead: u64,
    /// Up to ten of them, left in place: the message id, and the job or the text that is not
    /// one.
    pub dead_samples: Vec<(String, Result<Job, String>)>,
}

/// The error of a failed SQS request to `op`.
fn api<E: std::error::Error + 'static>(op: &'static str) -> impl FnOnce(E) -> Error {
    move |e| Error::Queue(ApiError::new(op, &e))
}

fn count(
    attributes: Option<&std::collections::HashMap<aws_sdk_sqs::types::QueueAttributeName, String>>,
    name: aws_sdk_sqs::types::QueueAttributeName,
) -> u64 {
    attributes
        .and_then(|a| a.get(&name))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Queue {
    /// What is waiting, in flight and dead-lettered; dead letters are looked at, not removed.
    pub async fn status(&self) -> Result<Status, Error> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(A::All)
            .send()
            .await
            .map_err(api("GetQueueAttributes"))?;
        let attributes = out.attributes();
        let mut status = Status {
            waiting: count(attributes, A::ApproximateNumberOfMessages),
            in_flight: count(attributes, A::ApproximateNumberOfMessagesNotVisible),
            ..Status::default()
        };
        let dead_arn = attributes
            .and_then(|a| a.get(&A::RedrivePolicy))
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_string));
        let Some(name) = dead_arn.and_then(|arn| arn.rsplit(':').next().map(str::to_string)) else {
            return Ok(status);
        };
        let url = self
            .client
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await
            .map_err(api("GetQueueUrl"))?
            .queue_url()
            .unwrap_or_default()
            .to_string();
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(api("GetQueueAttributes"))?;
        status.dead = count(out.attributes(), A::ApproximateNumberOfMessages);
        status.dead_letter_queue = Some(name);
        if status.dead > 0 {
            // Visible again at once: looking takes nothing away.
            let out = self
                .client
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .send()
                .await
                .map_err(api("ReceiveMessage"))?;
            status.dead_samples = out
                .messages()
                .iter()
                .map(|m| {
                    let body = m.body().unwrap_or_default();
                    (
                        m.message_id().unwrap_or_default().to_string(),
                        serde_json::from_str::<Job>(body)
                            .map_err(|_| body.chars().take(200).collect()),
                    )
                })
                .collect();
        }
        Ok(status)
    }
}

/// What a run put on the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// The run's name.
    pub run: String,
    /// The accounts visited.
    pub accounts: usize,
    /// The messages sent: one per account with something due.
    pub enqueued: usize,
    /// SQS requests made (batches of 10, and retries of entries SQS refused).
    pub requests: usize,
}

/// A run's messages, before they are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The run's name.
    pub run: String,
    /// The accounts visited.
    pub accounts: usize,
    /// One message per account with something due.
    pub jobs: Vec<Job>,
}

impl Batch {
    /// The messages of a run of `action` started at `now` over `visited` accounts, one for each
    /// of `due`.
    pub fn of(
        action: Action,
        due: impl IntoIterator<Item = AccountId>,
        visited: usize,
        now: DateTime<Utc>,
    ) -> Self {
        let run = format!("{}-{}", action.name(), now.format("%Y%m%dT%H%M%SZ"));
        let jobs = due
            .into_iter()
            .map(|account| Job {
                run: run.clone(),
                account,
                action,
                at: now,
            })
            .collect();
        Batch {
            run,
            accounts: visited,
            jobs,
        }
    }
}

/// The organization's accounts with something due for `action` at `now`, a message for each.
pub async fn jobs(engine: &Engine, action: Action, now: DateTime<Utc>) -> Result<Batch, Error> {
    let organization = engine.directory.organization().await?;
    let trigger = action.trigger();
    let due = organization
        .accounts
        .iter()
        .filter(|a| matches!(decide(&engine.settings, a, &trigger, now), Outcome::Act(_)))
        .map(|a| a.id.clone());
    Ok(Batch::of(action, due, organization.accounts.len(), now))
}

/// Puts `jobs` on `queue`, ten to a request; an entry SQS refuses is sent again (up to three
/// times) before the run fails.
pub async fn enqueue(queue: &Queue, batch: &Batch) -> Result<Enqueued, Error> {
    let mut requests = 0;
    for chunk in batch.jobs.chunks(10) {
        let mut pending: Vec<(usize, &Job)> = chunk.iter().enumerate().collect();
        for attempt in 0..3 {
            requests += 1;
            let entries = pending
                .iter()
                .map(|(i, job)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(serde_json::to_string(job).expect("jobs serialize"))
                        .build()
                        .expect("id and body are set")
                })
                .collect::<Vec<_>>();
            let out = queue
                .client
                .send_message_batch()
                .queue_url(&queue.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(api("SendMessageBatch"))?;
            let refused: Vec<String> = out.failed().iter().map(|f| f.id().to_string()).collect();
            pending.retain(|(i, _)| refused.contains(&i.to_string()));
            if pending.is_empty() {
                break;
            }
            tracing::warn!(
                refused = pending.len(),
                attempt,
                "SQS refused messages: sending them again"
            );
            if attempt == 2 {
                let reasons: Vec<String> = out
                    .failed()
                    .iter()
                    .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or_default()))
                    .collect();
                return Err(Error::Emit(format!(
                    "SQS refused {} messages three times: {}",
                    pending.len(),
                    reasons.join("; ")
                )));
            }
        }
    }
    Ok(Enqueued {
        run: batch.run.clone(),
        accounts: batch.accounts,
        enqueued: batch.jobs.len(),
        requests,
    })
}

/// Whether a Lambda payload is a batch of SQS messages.
pub fn is_sqs_batch(payload: &Value) -> bool {
    payload
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        == Some("aws:sqs")
}

/// How one message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Worked {
    /// The account's step was carried out: the actions taken.
    Done(Vec<String>),
    /// Nothing was due any more (a message delivered twice, a state changed since): why.
    Skipped(String),
    /// The step failed; the message comes back, then goes to the dead-letter queue: why.
    Failed(String),
}

/// Carries out one message.
pub async fn work_one(engine: &Engine, body: &str, now: DateTime<Utc>) -> Worked {
    let job: Job = match serde_json::from_str(body) {
        Ok(j) => j,
        // Kept: after its retries the dead-letter queue holds it for a human.
        Err(e) => return Worked::Failed(format!("not a lifecycle job: {e}")),
    };
    let mut account = match engine.directory.account(&job.account).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return Worked::Skipped(format!(
                "account {} is not in the organization",
                job.account
            ));
        }
        Err(e) => return Worked::Failed(e.to_string()),
    };
    match engine.run(&mut account, job.action.trigger(), now).await {
        Ok(Ok(done)) if done.steps.is_empty() => Worked::Skipped("nothing due".into()),
        Ok(Ok(done)) => Worked::Done(done.steps.iter().map(|d| d.action.clone()).collect()),
        Ok(Err(reason)) => Worked::Skipped(reason),
        Err(e) => Worked::Failed(e.to_string()),
    }
}

/// Where the reason a message failed is kept, under its message id (SQS keeps the id when it
/// moves the message to the dead-letter queue, and keeps no reason): `lifecycle/failures/`.
pub const FAILURES: &str = "lifecycle/failures/";

/// The key of a message's failure record; `None` for an id that is not SQS's (letters, digits,
/// `-`), which never becomes a path.
pub fn failure_key(message_id: &str) -> Option<String> {
    (!message_id.is_empty()
        && message_id.len() <= 100
        && message_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-'))
    .then(|| format!("{FAILURES}{message_id}.json"))
}

/// Records why a message failed (the latest attempt's reason wins).
async fn record_failure(lake: &Lake, id: &str, attempt: u64, reason: &str, now: DateTime<Utc>) {
    let Some(key) = failure_key(id) else {
        return;
    };
    let record = json!({"message": id, "attempt": attempt, "reason": reason, "at": now});
    if let Err(e) = lake.put_bytes(&key, record.to_string().into()).await {
        tracing::warn!(message = id, error = %e, "the failure's reason could not be kept");
    }
}

/// The reason a message failed, as recorded.
pub async fn failure_reason(lake: &Lake, message_id: &str) -> Option<(u64, String)> {
    let bytes = lake.get_bytes(&failure_key(message_id)?).await.ok()?;
    let record: Value = serde_json::from_slice(&bytes).ok()?;
    Some((
        record["attempt"].as_u64().unwrap_or(0),
        record["reason"].as_str()?.to_string(),
    ))
}

/// Carries out a batch of SQS messages (the worker's Lambda payload); answers with the
/// messages that failed (`batchItemFailures`: only those come back) and a summary. Each
/// failure's reason is kept in the lake under the message's id (`lifecycle queue` shows it
/// beside a dead letter); a message that succeeds after failing has its record removed.
pub async fn work(engine: &Engine, payload: &Value, now: DateTime<Utc>) -> Value {
    let lake = engine.lake().await;
    let mut failures = Vec::new();
    let (mut done, mut skipped) = (0, 0);
    for record in payload["Records"].as_array().into_iter().flatten() {
        let id = record["messageId"].as_str().unwrap_or_default();
        let body = record["body"].as_str().unwrap_or_default();
        let attempt: u64 = record
            .pointer("/attributes/ApproximateReceiveCount")
            .and_then(Value::as_str)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let worked = work_one(engine, body, now).await;
        if let Worked::Failed(reason) = &worked {
            record_failure(lake, id, attempt, reason, now).await;
        } else if attempt > 1
            && let Some(key) = failure_key(id)
            && let Err(e) = lake.delete(&key).await
        {
            tracing::warn!(message = id, error = %e, "an old failure record stays");
        }
        match worked {
            Worked::Done(actions) => {
                done += 1;
                tracing::info!(message = id, ?actions, "account step carried out");
            }
            Worked::Skipped(reason) => {
                skipped += 1;
                tracing::info!(message = id, %reason, "nothing due");
            }
            Worked::Failed(reason) => {
                tracing::error!(message = id, %reason, "account step failed: the message comes back");
                failures.push(json!({"itemIdentifier": id}));
            }
        }
    }
    let attempts = engine.directory.attempts() + engine.builds.attempts();
    tracing::info!(
        done,
        skipped,
        failed = failures.len(),
        requests = attempts.operations,
        retried = attempts.retries,
        throttled = attempts.throttled,
        "batch worked"
    );
    json!({"batchItemFailures": failures, "done": done, "skipped": skipped,
        "requests": attempts.operations, "retried": attempts.retries, "throttled": attempts.throttled})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_reads_back_as_written() {
        let job = Job {
            run: "maintenance-20261003T180000Z".into(),
            account: "300002020202".parse().unwrap(),
            action: Action::Maintenance,
            at: "2026-10-03T18:00:00Z".parse().unwrap(),
        };
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(
            text,
            r#"{"run":"maintenance-20261003T180000Z","account":"300002020202","action":"maintenance","at":"2026-10-03T18:00:00Z"}"#
        );
        assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), job);
        for action in [
            Action::Maintenance,
            Action::Reconcile,
            Action::Release,
            Action::Reset,
        ] {
            assert_eq!(Action::of(&action.trigger()), Some(action));
        }
        assert_eq!(Action::of(&Trigger::Joined), None);
    }

    #[test]
    fn only_sqs_message_ids_become_keys() {
        assert_eq!(
            failure_key("059f36b4-87a3-44ab-83d2-661975830a7d").as_deref(),
            Some("lifecycle/failures/059f36b4-87a3-44ab-83d2-661975830a7d.json")
        );
        for id in [
            "",
            "../../events/x",
            "a/b",
            "id.json",
            "x y",
            &"a".repeat(101),
        ] {
            assert_eq!(failure_key(id), None, "{id}");
        }
    }

    #[test]
    fn only_sqs_batches_are_batches() {
        assert!(is_sqs_batch(
            &json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]})
        ));
        assert!(!is_sqs_batch(
            &json!({"Records": [{"eventSource": "aws:s3"}]})
        ));
        assert!(!is_sqs_batch(&json!({"action": "maintenance"})));
    }
}
