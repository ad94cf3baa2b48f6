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
use spa_core::organization::Account;
use spa_core::settings::AccountId;

use crate::decide::{Outcome, Trigger, decide};
use crate::runs::Outcome as Recorded;
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The run that enqueued it (`<action>-<time>`), for the logs.
    pub run: String,
    /// The account.
    pub account: AccountId,
    /// What to do.
    pub action: Action,
    /// When the run was started.
    pub at: DateTime<Utc>,
    /// The account as the run found it, without its tags (name, e-mail, status, parent): the
    /// worker then reads only the tags, which say where the account stands now. Absent: the
    /// worker reads the whole account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed: Option<Account>,
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
#[derive(Debug, Clone, Default, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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
    /// of `due` (as read just now: each message carries the account without its tags).
    pub fn of<'a>(
        action: Action,
        due: impl IntoIterator<Item = &'a Account>,
        visited: usize,
        now: DateTime<Utc>,
    ) -> Self {
        let run = format!("{}-{}", action.name(), now.format("%Y%m%dT%H%M%SZ"));
        let jobs = due
            .into_iter()
            .map(|account| Job {
                run: run.clone(),
                account: account.id.clone(),
                action,
                at: now,
                listed: Some(Account {
                    tags: Default::default(),
                    ..account.clone()
                }),
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
///
/// The maintenance window expires every managed account that is released or untagged, which in
/// a sandbox organization is nearly all of them: its run lists the accounts without their tags
/// and enqueues every managed active one (decided on as untagged), leaving the tags to the
/// worker, which reads them anyway; an account with nothing due is then a skipped message. That
/// saves one request per account. The other runs read the tags first and enqueue only what is
/// due (the hourly check finds little).
pub async fn jobs(engine: &Engine, action: Action, now: DateTime<Utc>) -> Result<Batch, Error> {
    let organization = match action {
        Action::Maintenance => engine.directory.listing().await?,
        _ => engine.directory.organization().await?,
    };
    let trigger = action.trigger();
    let due = organization
        .accounts
        .iter()
        .filter(|a| matches!(decide(&engine.settings, a, &trigger, now), Outcome::Act(_)));
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

/// Starts a run: puts `batch` on the lifecycle queue, records the run in the lake
/// ([`crate::runs`]) and counts the messages (metric `LifecycleEnqueued` by `Action`).
pub async fn start_run(engine: &Engine, batch: &Batch) -> Result<Enqueued, Error> {
    let sent = enqueue(engine.queue().await?, batch).await?;
    if let Some(job) = batch.jobs.first() {
        let run = crate::runs::Run {
            run: batch.run.clone(),
            action: job.action.name().into(),
            at: job.at,
            accounts: sent.accounts,
            enqueued: sent.enqueued,
        };
        crate::runs::record_run(engine.lake().await, &run).await;
        metrics::counter!(spa_core::metrics::LIFECYCLE_ENQUEUED, "Action" => job.action.name())
            .increment(sent.enqueued as u64);
    }
    tracing::info!(run = %sent.run, accounts = sent.accounts, enqueued = sent.enqueued, requests = sent.requests, "enqueued");
    Ok(sent)
}

/// What [`drain`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drained {
    /// Messages received.
    pub received: usize,
    /// Accounts whose step was carried out.
    pub done: usize,
    /// Messages with nothing due any more.
    pub skipped: usize,
    /// Messages that failed (left on the queue: they come back after the visibility timeout,
    /// then go to the dead-letter queue).
    pub failed: usize,
}

/// Works the lifecycle queue from here, as the worker function does: receives ten messages at
/// a time, carries them out with [`work`], deletes those that did not fail, until the queue
/// answers nothing for one long poll or `max` messages were received. `progress` is called
/// after each batch.
pub async fn drain(
    engine: &Engine,
    max: Option<usize>,
    mut progress: impl FnMut(&Drained),
) -> Result<Drained, Error> {
    let queue = engine.queue().await?;
    let mut total = Drained::default();
    while max.is_none_or(|m| total.received < m) {
        let want = max.map_or(10, |m| (m - total.received).min(10)) as i32;
        let out = queue
            .client
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(want)
            .wait_time_seconds(1)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send()
            .await
            .map_err(api("ReceiveMessage"))?;
        let messages = out.messages();
        if messages.is_empty() {
            break;
        }
        // The batch as the SQS event source hands it to the function.
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let count = m
                    .attributes()
                    .and_then(|a| {
                        a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                    })
                    .cloned()
                    .unwrap_or_else(|| "1".into());
                json!({"messageId": m.message_id(), "body": m.body(), "eventSource": "aws:sqs",
                    "attributes": {"ApproximateReceiveCount": count}})
            })
            .collect();
        let answer = work(engine, &json!({"Records": records}), Utc::now()).await;
        let failed: Vec<&str> = answer["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["itemIdentifier"].as_str())
            .collect();
        let entries = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !failed.contains(&m.message_id().unwrap_or_default()))
            .map(|(i, m)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect::<Vec<_>>();
        if !entries.is_empty() {
            let out = queue
                .client
                .delete_message_batch()
                .queue_url(&queue.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(api("DeleteMessageBatch"))?;
            for f in out.failed() {
                // Worked already: it comes back, and finds nothing due.
                tracing::warn!(code = f.code(), "a message worked could not be deleted");
            }
        }
        total.received += messages.len();
        total.done += answer["done"].as_u64().unwrap_or(0) as usize;
        total.skipped += answer["skipped"].as_u64().unwrap_or(0) as usize;
        total.failed += failed.len();
        progress(&total);
    }
    Ok(total)
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

/// Carries out one message's job.
pub async fn work_one(engine: &Engine, job: &Job, now: DateTime<Utc>) -> Worked {
    let found = match &job.listed {
        // The run read the account minutes ago: only its tags can have moved since.
        Some(listed) if listed.id == job.account => {
            engine.directory.tags(&job.account).await.map(|tags| {
                tags.map(|tags| Account {
                    tags,
                    ..listed.clone()
                })
            })
        }
        _ => engine.directory.account(&job.account).await,
    };
    let mut account = match found {
        Ok(Some(a)) => a,
        Ok(None) => {
            return Worked::Skipped(format!(
                "account {} is not in the organization",
                job.account
            ));
        }
        Err(e) => return Worked::Failed(e.to_string()),
    };
    match engine
        .run_in(&mut account, job.action.trigger(), now, Some(&job.run))
        .await
    {
        Ok(Ok(done)) if done.steps.is_empty() => Worked::Skipped("nothing due".into()),
        Ok(Ok(done)) => Worked::Done(done.steps.iter().map(|d| d.action.clone()).collect()),
        Ok(Err(reason)) => Worked::Skipped(reason),
        Err(e) => Worked::Failed(e.to_string()),
    }
}

/// Carries out a batch of SQS messages (the worker's Lambda payload); answers with the
/// messages that failed (`batchItemFailures`: only those come back) and a summary. Each
/// message's outcome is recorded in the lake under its run ([`crate::runs`]; `lifecycle queue`
/// shows a run's progress and a dead letter's reason from there) and counted (metrics
/// `LifecycleDone`, `LifecycleSkipped`, `LifecycleFailed` by `Action`). A message that is not a
/// job fails, so that it ends in the dead-letter queue for a human.
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
        let (worked, job) = match serde_json::from_str::<Job>(body) {
            Ok(job) => (work_one(engine, &job, now).await, Some(job)),
            Err(e) => (Worked::Failed(format!("not a lifecycle job: {e}")), None),
        };
        let (outcome, detail) = match worked {
            Worked::Done(actions) => {
                done += 1;
                tracing::info!(message = id, ?actions, "account step carried out");
                (Recorded::Done, json!(actions))
            }
            Worked::Skipped(reason) => {
                skipped += 1;
                tracing::info!(message = id, %reason, "nothing due");
                (Recorded::Skipped, json!(reason))
            }
            Worked::Failed(reason) => {
                tracing::error!(message = id, %reason, "account step failed: the message comes back");
                failures.push(json!({"itemIdentifier": id}));
                (Recorded::Failed, json!(reason))
            }
        };
        let action = job.as_ref().map_or("unknown", |j| j.action.name());
        metrics::counter!(outcome.metric(), "Action" => action).increment(1);
        if let Some(job) = &job {
            let ended = crate::runs::Ended {
                run: &job.run,
                account: &job.account,
                message: id,
                attempt,
                outcome,
                detail,
                at: now,
            };
            crate::runs::record_outcome(lake, &ended).await;
        }
    }
    let requests = engine.requests().await;
    tracing::info!(done, skipped, failed = failures.len(), %requests, "batch worked");
    json!({"batchItemFailures": failures, "done": done, "skipped": skipped, "requests": requests})
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
            listed: None,
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
