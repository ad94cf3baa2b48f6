//! The maintenance window over three hundred accounts through the lifecycle queue, on moto:
//! the schedule puts one message per released account on the queue; worker invocations of the
//! Lambda function take them ten at a time, as the event source mapping would. One message is
//! delivered twice; the first invocation's answer is lost (as when a worker dies after its
//! work), so its ten messages all come back; a message that is not a lifecycle job fails every
//! time and ends in the dead-letter queue, where `lifecycle queue` reports it. Every account is
//! expired and its purge started exactly once.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};
use spa_core::Settings;
use spa_core::testing::{EmfValue, emf, emf_sum, invoke_lambda_output, moto_endpoint, run_binary};

const LAMBDA: &str = env!("CARGO_BIN_EXE_lifecycle-lambda");
const CLI: &str = env!("CARGO_BIN_EXE_lifecycle");
const ROLE: &str = "OrganizationAccountAccessRole";
const ACCOUNTS: usize = 300;

/// Invokes the function; returns its answer and the metrics it emitted (checked against the
/// Embedded Metric Format's rules).
fn invoke(settings: &Path, payload: Value) -> (Value, Vec<EmfValue>) {
    let (url, body, output) = invoke_lambda_output(Path::new(LAMBDA), settings, &payload);
    assert!(url.ends_with("/response"), "{url}: {body}");
    (
        serde_json::from_str(&body).unwrap(),
        emf(&output, "SandboxAccounts/spa-moto"),
    )
}

fn metric(values: &[EmfValue], name: &str, action: &str) -> f64 {
    emf_sum(values, name, &[("Action", action)])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_through_the_queue_transitions_each_account_once() {
    let endpoint = moto_endpoint();
    let moto = common::moto_organization(&endpoint).await;
    let (config, org) = (&moto.config, &moto.org);
    let accounts = moto.released_accounts("sandbox", ACCOUNTS).await;

    // The lifecycle queue, its dead-letter queue after 2 receives (5 in a deployment).
    let sqs = aws_sdk_sqs::Client::new(config);
    let create = |name: &'static str| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url()
                .unwrap()
                .to_string()
        }
    };
    let dead = create("spa-moto-lifecycle-dlq").await;
    let dead_arn = sqs
        .get_queue_attributes()
        .queue_url(&dead)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let queue = create("spa-moto-lifecycle").await;
    sqs.set_queue_attributes()
        .queue_url(&queue)
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 2}).to_string(),
        )
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let settings_path = moto.write_settings(dir.path(), &endpoint, ROLE);
    let settings = Settings::load(&settings_path).unwrap();
    for account in &accounts {
        common::deploy_projects(config, &settings, account, ROLE).await;
    }
    // The window: one message per released account, nothing done yet.
    let (answer, enqueued) = invoke(
        &settings_path,
        json!({"action": "maintenance", "via_queue": true}),
    );
    assert_eq!(answer["enqueued"], ACCOUNTS, "{answer}");
    assert_eq!(
        metric(&enqueued, "LifecycleEnqueued", "maintenance"),
        ACCOUNTS as f64
    );
    let run = answer["run"].as_str().unwrap().to_string();
    let state = |t: &BTreeMap<String, String>| t.get("account-state").cloned().unwrap_or_default();
    let tags = |id: String| {
        let org = org.clone();
        async move {
            org.list_tags_for_resource()
                .resource_id(id)
                .send()
                .await
                .unwrap()
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect::<BTreeMap<_, _>>()
        }
    };
    assert_eq!(state(&tags(accounts[0].clone()).await), "released");
    // Somebody else's message on the queue.
    sqs.send_message()
        .queue_url(&queue)
        .message_body(r#"{"account": "300002020202", "note": "not a job"}"#)
        .send()
        .await
        .unwrap();

    // The worker, as the event source mapping runs it: ten messages per invocation; the
    // messages of failed items come back, the others are deleted. One message is delivered
    // twice; the first invocation's answer is lost, so none of its messages is deleted.
    let mut duplicated = None;
    let mut replayed: Vec<String> = Vec::new();
    let (mut done, mut skipped, mut failed_items) = (0, 0, 0);
    let mut rounds = 0;
    let mut metrics = Vec::new();
    loop {
        rounds += 1;
        assert!(rounds < 200, "the queue never drains");
        let got = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            break;
        }
        let mut records: Vec<Value> = got
            .messages()
            .iter()
            .map(|m| {
                let received = m
                    .attributes()
                    .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
                    .cloned()
                    .unwrap_or_default();
                json!({"messageId": m.message_id().unwrap(), "receiptHandle": m.receipt_handle().unwrap(),
                    "body": m.body().unwrap(), "eventSource": "aws:sqs",
                    "attributes": {"ApproximateReceiveCount": received},
                    "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:spa-moto-lifecycle"})
            })
            .collect();
        if duplicated.is_none() {
            let mut again = records[0].clone();
            again["messageId"] = json!("delivered-twice");
            duplicated = Some(records[0]["body"].clone());
            records.push(again);
        }
        let (answer, emitted) = invoke(&settings_path, json!({"Records": records}));
        metrics.extend(emitted);
        done += answer["done"].as_u64().unwrap();
        skipped += answer["skipped"].as_u64().unwrap();
        let lost = rounds == 1;
        if lost {
            for m in got.messages() {
                let job: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                if let Some(account) = job["account"].as_str() {
                    replayed.push(account.to_string());
                }
            }
        }
        let failures: BTreeSet<String> = answer["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
            .collect();
        failed_items += failures.len();
        for m in got.messages() {
            let id = m.message_id().unwrap();
            if lost || failures.contains(id) {
                // Back on the queue at once (a deployment waits for the visibility timeout).
                sqs.change_message_visibility()
                    .queue_url(&queue)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
            } else {
                sqs.delete_message()
                    .queue_url(&queue)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
    assert!(duplicated.is_some());
    // Every account carried out once; the duplicate and the replayed messages found nothing
    // due; the stranger's message failed twice, then went to the dead-letter queue.
    assert_eq!(done as usize, ACCOUNTS, "done");
    assert_eq!(skipped as usize, 1 + replayed.len(), "skipped");
    assert_eq!(failed_items, 2, "failed");
    // The metrics say the same, message by message.
    assert_eq!(
        metric(&metrics, "LifecycleDone", "maintenance"),
        ACCOUNTS as f64
    );
    assert_eq!(
        metric(&metrics, "LifecycleSkipped", "maintenance"),
        (1 + replayed.len()) as f64
    );
    assert_eq!(metric(&metrics, "LifecycleFailed", "unknown"), 2.0);
    let outcomes: f64 = metrics
        .iter()
        .filter(|v| {
            ["LifecycleDone", "LifecycleSkipped", "LifecycleFailed"].contains(&v.metric.as_str())
        })
        .map(|v| v.value)
        .sum();
    assert_eq!(outcomes as u64, done + skipped + 2);
    // One transaction per account expired: by label, and by cost center (every one counted once).
    assert_eq!(
        emf_sum(
            &metrics,
            "LifecycleTransactions",
            &[("Label", "ExpiredAccount")]
        ),
        ACCOUNTS as f64
    );
    let by_center: f64 = metrics
        .iter()
        .filter(|v| v.metric == "LifecycleTransactions" && v.dimensions.contains_key("CostCenter"))
        .map(|v| v.value)
        .sum();
    assert_eq!(by_center, ACCOUNTS as f64);
    for id in &accounts {
        let t = tags(id.clone()).await;
        assert_eq!(state(&t), "expired", "{id}: {t:?}");
        assert!(
            t["account-build"].starts_with("spa-moto-purge-account:"),
            "{id}: {t:?}"
        );
    }

    // One purge build in each account whose message came twice.
    let job: Value = serde_json::from_str(duplicated.unwrap().as_str().unwrap()).unwrap();
    let twice = job["account"].as_str().unwrap().to_string();
    for account in replayed.iter().chain([&twice]) {
        let member = spa_core::aws::assume_role(
            config,
            &account.parse().unwrap(),
            &ROLE.parse().unwrap(),
            "test-read",
        )
        .await;
        let builds = aws_sdk_codebuild::Client::new(&member)
            .list_builds_for_project()
            .project_name("spa-moto-purge-account")
            .send()
            .await
            .unwrap();
        assert_eq!(builds.ids().len(), 1, "{account}: one purge, not two");
    }

    // The stranger's message is in the dead-letter queue, and the command says so.
    let (status, out, err) = run_binary(
        CLI,
        &["--settings", settings_path.to_str().unwrap(), "queue"],
    );
    assert_eq!(status, 1, "{out}{err}");
    assert!(
        out.contains("spa-moto-lifecycle: 0 waiting, 0 in flight"),
        "{out}"
    );
    assert!(
        out.contains("spa-moto-lifecycle-dlq: 1 failed every attempt"),
        "{out}"
    );
    assert!(out.contains("not a lifecycle job"), "{out}");
    // The run's progress, from its records in the lake: every account once, under its best
    // outcome (a replay that found nothing due does not hide that the step was done).
    assert!(
        out.contains(&format!(
            // The organization's accounts: the released ones and the management account.
            "run {run} ({} accounts visited ",
            ACCOUNTS + 1
        )) && out.contains(&format!(
            "): {ACCOUNTS} enqueued, {ACCOUNTS} done, 0 skipped, 0 failed, 0 pending"
        )),
        "{out}"
    );
    let outcomes = dir.path().join("lake/lifecycle/outcomes").join(&run);
    let count = |o: &str| std::fs::read_dir(outcomes.join(o)).map_or(0, |d| d.count());
    assert_eq!(count("done"), ACCOUNTS);
    // One record per account: the duplicate and the replays of one account share theirs.
    let skipped_accounts: BTreeSet<&String> = replayed.iter().chain([&twice]).collect();
    assert_eq!(count("skipped"), skipped_accounts.len());
    assert_eq!(count("failed"), 0);
    // The run as recorded when it was enqueued.
    let record: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join(format!("lake/lifecycle/runs/{run}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(record["enqueued"], ACCOUNTS, "{record}");
    assert_eq!(record["action"], "maintenance", "{record}");
}
