//! The Lambda handler called directly (SQS batches of every body kind, partial failures, direct
//! S3 and EventBridge payloads) against moto's S3, and the binary driven through the Lambda
//! runtime API served on 127.0.0.1.

use std::io::Read;

use arrow::array::RecordBatch;
use ingest::events::Policy;
use ingest::events::lambda::Handler;
use serde_json::{Value, json};
use spa_core::lake::{Dataset, Lake};
use spa_core::testing::{self, strings};

const TRAIL: &str = "umccr_flaws_slice/test_input/AWSLogs/o-abcd/811596193553/CloudTrail/us-east-1/2020/10/01/811596193553_CloudTrail_us-east-1-20201001T0000.json.gz";

async fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    testing::s3_client(&testing::settings_with_endpoint(endpoint, |y| y)).await
}

/// A bucket on moto holding the sample trail file under a key with a space; returns the bucket,
/// the key as S3 notifications encode it, and the file's record count.
async fn bucket_with_trail_file(s3: &aws_sdk_s3::Client, name: &str) -> (String, String, usize) {
    let bucket = testing::create_bucket(s3, name).await;
    let bytes = std::fs::read(testing::shared_data().join(TRAIL)).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    let records = serde_json::from_str::<Value>(&text).unwrap()["Records"]
        .as_array()
        .unwrap()
        .len();
    let key = "AWSLogs/o-abcd/811596193553/CloudTrail/us-east-1/2020/10/01/late file.json.gz";
    s3.put_object()
        .bucket(&bucket)
        .key(key)
        .body(bytes.into())
        .send()
        .await
        .unwrap();
    (bucket, key.replace(' ', "+"), records)
}

/// The shipped policy, following notifications of `buckets`.
fn policy(buckets: &[&str]) -> Policy {
    let mut policy = Policy::of(&testing::shipped_settings());
    policy.trail_buckets = buckets.iter().map(|b| b.to_string()).collect();
    policy
}

fn envelope(id: &str, detail_type: &str, source: &str, detail: Value) -> Value {
    json!({"version": "0", "id": id, "detail-type": detail_type, "source": source, "account": "222222222222",
           "time": "2026-10-05T09:00:00Z", "region": "eu-west-1", "resources": [], "detail": detail})
}

fn s3_notification(bucket: &str, key: &str) -> Value {
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
            "eventTime": "2026-10-05T09:00:00.000Z", "eventName": "ObjectCreated:Put",
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                   "object": {"key": key, "size": 1}}}]})
}

fn sns(message: &Value) -> Value {
    json!({"Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:eu-west-1:222222222222:events",
           "Message": message.to_string(), "Timestamp": "2026-10-05T09:00:00.000Z"})
}

fn sqs(bodies: &[(&str, String)]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .map(|(id, body)| json!({"messageId": id, "receiptHandle": "r", "body": body, "attributes": {},
                                 "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                                 "eventSourceARN": "arn:aws:sqs:eu-west-1:222222222222:ingest", "awsRegion": "eu-west-1"}))
        .collect();
    json!({ "Records": records })
}

/// How many rows a dataset holds.
async fn rows_in(lake: &Lake, dataset: Dataset) -> usize {
    all_rows(lake, dataset)
        .await
        .iter()
        .map(RecordBatch::num_rows)
        .sum()
}

async fn all_rows(lake: &Lake, dataset: Dataset) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for p in lake.partitions(dataset).await.unwrap() {
        out.extend(lake.read_partition(dataset, &p).await.unwrap());
    }
    out
}

#[tokio::test]
async fn sqs_batch_with_every_kind_of_body() {
    let s3 = s3_client(&testing::moto_endpoint()).await;
    let (bucket, key, records) = bucket_with_trail_file(&s3, "notified").await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let handler = Handler::new(lake.clone(), s3, policy(&[&bucket]));
    let lifecycle = envelope(
        "ev-1",
        "ExpiredAccount",
        "spa.lifecycle",
        json!({"Account": "300001010101"}),
    );
    let build = envelope(
        "ev-2",
        "CodeBuild Build State Change",
        "aws.codebuild",
        json!({"build-status": "FAILED"}),
    );
    let payload = sqs(&[
        ("m1", lifecycle.to_string()),
        ("m2", sns(&build).to_string()),
        ("m3", s3_notification(&bucket, &key).to_string()),
        ("m4", sns(&s3_notification(&bucket, &key)).to_string()),
        ("m5", "this is not JSON".to_string()),
        (
            "m6",
            json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": bucket}).to_string(),
        ),
        (
            "m7",
            s3_notification(&bucket, "AWSLogs/missing.json.gz").to_string(),
        ),
    ]);
    let response = handler.handle(payload.clone()).await.unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));

    let events = all_rows(&lake, Dataset::Events).await;
    let ids = strings(&events, "event_id");
    assert_eq!(
        ids.len(),
        2 + records,
        "two events and the notified file's records, the file once"
    );
    let labels = strings(&events, "activity");
    assert!(
        labels.contains(&"ExpiredAccount".to_string())
            && labels.contains(&"FailedBuild".to_string())
    );
    let origins = strings(&events, "origin");
    assert!(origins.contains(&format!("s3://{bucket}/AWSLogs/o-abcd/811596193553/CloudTrail/us-east-1/2020/10/01/late file.json.gz")));

    let quarantine = all_rows(&lake, Dataset::Quarantine).await;
    let mut reasons = strings(&quarantine, "reason");
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].starts_with("not JSON"), "{reasons:?}");
    assert!(reasons[1].starts_with("object not found"), "{reasons:?}");

    // A redelivery of the same batch changes nothing.
    handler.handle(payload).await.unwrap();
    assert_eq!(
        strings(&all_rows(&lake, Dataset::Events).await, "event_id").len(),
        2 + records
    );
    assert_eq!(rows_in(&lake, Dataset::Quarantine).await, 2);
}

#[tokio::test]
async fn an_unreachable_s3_fails_only_its_message() {
    // Nothing listens on port 9 of the loopback: every S3 call fails to connect (transient).
    let handler_s3 = s3_client("http://127.0.0.1:9").await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let handler = Handler::new(lake.clone(), handler_s3, policy(&["some-bucket"]));
    let payload = sqs(&[
        (
            "ok",
            envelope("ev-9", "Scheduled Event", "aws.events", json!({})).to_string(),
        ),
        (
            "retry-me",
            s3_notification("some-bucket", "AWSLogs/x.json.gz").to_string(),
        ),
    ]);
    let response = handler.handle(payload).await.unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "retry-me"}]})
    );
    assert_eq!(
        strings(&all_rows(&lake, Dataset::Events).await, "event_id"),
        ["ev-9"]
    );
    assert!(
        all_rows(&lake, Dataset::Quarantine).await.is_empty(),
        "a transient failure is retried, not quarantined"
    );
}

#[tokio::test]
async fn direct_s3_notification_and_direct_event() {
    let s3 = s3_client(&testing::moto_endpoint()).await;
    let (bucket, key, records) = bucket_with_trail_file(&s3, "direct").await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let handler = Handler::new(lake.clone(), s3, policy(&[&bucket]));
    let response = handler
        .handle(s3_notification(&bucket, &key))
        .await
        .unwrap();
    assert_eq!(response["written"], json!(records));
    let event = envelope(
        "ev-direct",
        "AWS Console Sign In via CloudTrail",
        "aws.signin",
        json!({}),
    );
    handler.handle(event.clone()).await.unwrap();
    handler.handle(event).await.unwrap();
    let ids = strings(&all_rows(&lake, Dataset::Events).await, "event_id");
    assert_eq!(ids.iter().filter(|i| *i == "ev-direct").count(), 1);
    assert_eq!(ids.len(), records + 1);
}

#[test]
fn the_binary_serves_invocations_from_the_runtime_api() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("settings.yaml");
    std::fs::write(
        &settings,
        "environment_identifier: test\nautomation:\n  account_id: \"222222222222\"\n  management_account_id: \"111111111111\"\n  \
         region: eu-west-1\n  maintenance_window: \"rate(7 days)\"\norganization: { adapter: aws }\ncosts: { source: aws }\nlake: lake\n\
         exceptions: { email: { to: [sre@example.com] }, teams: { url_env: SPA_TEST_UNSET_WEBHOOK } }\n",
    )
    .unwrap();
    // A root sign-in beside it: the live path e-mails it (into the outbox beside the settings).
    let root = json!({"eventVersion": "1.08", "eventID": "bin-root-1", "eventTime": "2026-10-05T09:00:00Z",
        "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn",
        "recipientAccountId": "300001010101", "responseElements": {"ConsoleLogin": "Success"},
        "userIdentity": {"type": "Root", "principalId": "300001010101", "arn": "arn:aws:iam::300001010101:root", "accountId": "300001010101"}});
    let payload = sqs(&[
        (
            "m1",
            envelope(
                "ev-bin",
                "ReleasedAccount",
                "spa.lifecycle",
                json!({"Account": "300001010101"}),
            )
            .to_string(),
        ),
        (
            "m2",
            envelope(
                "ev-bin-root",
                "AWS Console Sign In via CloudTrail",
                "aws.signin",
                root,
            )
            .to_string(),
        ),
        ("m3", "{not json".to_string()),
    ]);
    let (url, body, output) = testing::invoke_lambda_output(
        std::path::Path::new(env!("CARGO_BIN_EXE_ingest-lambda")),
        &settings,
        &payload,
    );
    assert_eq!(
        url, "/2018-06-01/runtime/invocation/req-1/response",
        "{body}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"batchItemFailures": []})
    );
    let written = dir.path().join("lake/events/dt=2026-10-05");
    assert_eq!(std::fs::read_dir(written).unwrap().count(), 1);
    let mails: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .collect();
    assert_eq!(
        mails.len(),
        1,
        "the root sign-in, e-mailed by the live path"
    );
    assert!(dir.path().join("lake/exceptions/dt=2026-10-05").is_dir());

    // Its metrics, as Embedded Metric Format lines after the invocation: the events by their
    // activity as the lake holds it, the unreadable body, the exception, the webhook that
    // could not be called (its variable is not set).
    let metrics = testing::emf(&output, "SandboxAccounts/test");
    let sum = |name: &str, dims: &[(&str, &str)]| testing::emf_sum(&metrics, name, dims);
    assert_eq!(sum("EventsIngested", &[]), 2.0, "{metrics:?}");
    assert_eq!(sum("RecordsIngested", &[]), 2.0, "{metrics:?}");
    assert_eq!(sum("RecordsQuarantined", &[]), 1.0, "{metrics:?}");
    let lake = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let settings = spa_core::Settings::load(&settings).unwrap();
        all_rows(&Lake::open(&settings).await, Dataset::Events).await
    });
    let mut activities: std::collections::BTreeMap<String, f64> = Default::default();
    for batch in &lake {
        for a in testing::strings(std::slice::from_ref(batch), "activity") {
            if !a.is_empty() {
                *activities.entry(a).or_default() += 1.0;
            }
        }
    }
    assert!(!activities.is_empty());
    for (label, n) in &activities {
        assert_eq!(
            sum("EventsIngested", &[("Label", label)]),
            *n,
            "{label}: {metrics:?}"
        );
    }
    assert_eq!(
        sum("Exceptions", &[("Label", "ConsoleLoginWithRoot")]),
        1.0,
        "{metrics:?}"
    );
    assert_eq!(sum("NotificationFailures", &[]), 1.0, "{metrics:?}");
    assert_eq!(
        sum("NotificationFailures", &[("Channel", "teams")]),
        1.0,
        "{metrics:?}"
    );
}

/// A handler on a fresh local lake whose S3 is unreachable (these batches need none), and a
/// lifecycle envelope that is fine.
async fn offline() -> (tempfile::TempDir, Lake, Handler, Value) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let handler = Handler::new(
        lake.clone(),
        s3_client("http://127.0.0.1:9").await,
        policy(&[]),
    );
    let good = envelope(
        "ev-1",
        "ExpiredAccount",
        "spa.lifecycle",
        json!({"Account": "300001010101"}),
    );
    (dir, lake, handler, good)
}

/// A message whose event the lake cannot partition is quarantined; the rest of the batch is
/// written once and no message is reported failed (before, the whole batch failed after one
/// object was written, and its retry duplicated).
#[tokio::test]
async fn a_poison_time_in_a_batch_is_quarantined_and_nothing_else_fails() {
    let (_dir, lake, handler, good) = offline().await;
    let mut poison = envelope(
        "ev-2",
        "ExpiredAccount",
        "spa.lifecycle",
        json!({"Account": "300001010101"}),
    );
    poison["time"] = json!("+10000-01-01T00:00:00+0000");
    let payload = sqs(&[("m1", good.to_string()), ("m2", poison.to_string())]);
    for _ in 0..2 {
        let response = handler.handle(payload.clone()).await.unwrap();
        assert_eq!(response, json!({"batchItemFailures": []}));
        assert_eq!(
            strings(&all_rows(&lake, Dataset::Events).await, "event_id"),
            ["ev-1"]
        );
        let reasons = strings(&all_rows(&lake, Dataset::Quarantine).await, "reason");
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(
            reasons[0].contains("outside the days the lake partitions by"),
            "{reasons:?}"
        );
    }
}

/// SQS records that are not messages with a body (null, empty, missing, not a string) are
/// quarantined one by one with their JSON; the good messages of the batch are written, and no
/// message is failed. Before, one null body acknowledged the whole batch with nothing stored.
#[tokio::test]
async fn sqs_records_without_a_body_are_quarantined_not_acknowledged_unseen() {
    let (_dir, lake, handler, good) = offline().await;
    let mut payload = sqs(&[
        ("m1", good.to_string()),
        ("m2", String::new()),
        ("m3", "   ".to_string()),
        ("m4", "placeholder".to_string()),
        ("m5", "placeholder".to_string()),
        ("m6", "placeholder".to_string()),
    ]);
    payload["Records"][3]["body"] = Value::Null;
    payload["Records"][4]
        .as_object_mut()
        .unwrap()
        .remove("body");
    payload["Records"][5]["body"] = json!({"not": "a string"});
    let response = handler.handle(payload.clone()).await.unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));
    assert_eq!(
        strings(&all_rows(&lake, Dataset::Events).await, "event_id"),
        ["ev-1"]
    );
    let quarantine = all_rows(&lake, Dataset::Quarantine).await;
    let mut origins = strings(&quarantine, "origin");
    origins.sort();
    assert_eq!(
        origins,
        [
            "sqs:ingest/m2",
            "sqs:ingest/m3",
            "sqs:ingest/m4",
            "sqs:ingest/m5",
            "sqs:ingest/m6"
        ]
    );
    // A redelivery changes nothing.
    handler.handle(payload).await.unwrap();
    assert_eq!(rows_in(&lake, Dataset::Quarantine).await, 5);
}

/// SNS delivering straight to the function: an S3 notification inside is fetched and its
/// records stored (before, the notification itself was stored as an event), and an event
/// inside is stored as before.
#[tokio::test]
async fn sns_delivered_s3_notifications_fetch_the_object() {
    let s3 = s3_client(&testing::moto_endpoint()).await;
    let (bucket, key, records) = bucket_with_trail_file(&s3, "sns-direct").await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let handler = Handler::new(lake.clone(), s3, policy(&[&bucket]));
    let lambda_sns = |message: &Value, id: &str| {
        let mut wrapped = sns(message);
        wrapped["MessageId"] = json!(id);
        json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": wrapped}]})
    };
    handler
        .handle(lambda_sns(&s3_notification(&bucket, &key), "sns-s3"))
        .await
        .unwrap();
    let events = all_rows(&lake, Dataset::Events).await;
    assert_eq!(strings(&events, "event_id").len(), records);
    assert!(
        strings(&events, "origin")
            .iter()
            .all(|o| o.starts_with(&format!("s3://{bucket}/"))),
        "the object's records, not the notification"
    );
    let build = envelope(
        "ev-sns",
        "CodeBuild Build State Change",
        "aws.codebuild",
        json!({"build-status": "FAILED"}),
    );
    handler.handle(lambda_sns(&build, "sns-ev")).await.unwrap();
    let ids = strings(&all_rows(&lake, Dataset::Events).await, "event_id");
    assert_eq!(ids.len(), records + 1);
    assert!(ids.contains(&"ev-sns".to_string()));
    assert_eq!(rows_in(&lake, Dataset::Quarantine).await, 0);
}

/// A notification is followed only for a bucket of `ingest.trail_buckets`, and an object whose
/// notified size is past `ingest.max_input_bytes` is not fetched: both are quarantined with the
/// reason, the message succeeds, and nothing of the object is read.
#[tokio::test]
async fn notifications_for_other_buckets_or_oversized_objects_are_refused() {
    let s3 = s3_client(&testing::moto_endpoint()).await;
    let (bucket, key, records) = bucket_with_trail_file(&s3, "unnamed").await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let handler = Handler::new(lake.clone(), s3.clone(), policy(&["the-trail-bucket"]));
    let response = handler
        .handle(sqs(&[("m1", s3_notification(&bucket, &key).to_string())]))
        .await
        .unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));
    assert_eq!(
        rows_in(&lake, Dataset::Events).await,
        0,
        "the object was read"
    );
    let quarantine = all_rows(&lake, Dataset::Quarantine).await;
    assert!(
        strings(&quarantine, "reason")[0].contains("not in ingest.trail_buckets"),
        "{:?}",
        strings(&quarantine, "reason")
    );

    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let mut small = policy(&[&bucket]);
    small.max_input_bytes = 100;
    let handler = Handler::new(lake.clone(), s3, small);
    let mut notification = s3_notification(&bucket, &key);
    notification["Records"][0]["s3"]["object"]["size"] = json!(101);
    handler.handle(notification.clone()).await.unwrap();
    assert_eq!(rows_in(&lake, Dataset::Events).await, 0);
    assert!(
        strings(&all_rows(&lake, Dataset::Quarantine).await, "reason")[0]
            .contains("more than ingest.max_input_bytes (100): not read")
    );
    // Without a size in the notification, the object is read and refused once inflated.
    notification["Records"][0]["s3"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("size");
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let mut small = policy(&[&bucket]);
    small.max_input_bytes = 100;
    Handler::new(
        lake.clone(),
        s3_client(&testing::moto_endpoint()).await,
        small,
    )
    .handle(notification)
    .await
    .unwrap();
    assert_eq!(rows_in(&lake, Dataset::Events).await, 0);
    let reasons = strings(&all_rows(&lake, Dataset::Quarantine).await, "reason");
    assert!(
        reasons[0].starts_with("larger than ingest.max_input_bytes (100 bytes) once decompressed"),
        "{reasons:?}"
    );
    assert!(records > 0);
}

/// The live path: a root sign-in in an SQS batch is stored as an event, raised as an exception
/// with its account's context, and e-mailed (to the exceptions' recipients and, as the shipped
/// settings route root sign-ins, to the holder) in the same invocation; the same batch again
/// raises and sends nothing.
#[tokio::test]
async fn a_root_sign_in_is_raised_and_delivered_in_the_same_invocation() {
    let dir = tempfile::tempdir().unwrap();
    let settings = spa_core::Settings::load(testing::settings_in(dir.path(), |y| y)).unwrap();
    let lake = Lake::open(&settings).await;
    let first = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
    let last = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    ingest::seed::fill(
        &settings,
        &lake,
        Some("2026-10".parse().unwrap()),
        first,
        last,
    )
    .await
    .unwrap();
    let handler = Handler::new(
        lake.clone(),
        s3_client("http://127.0.0.1:9").await,
        Policy::of(&settings),
    )
    .with_exceptions(settings.clone());
    let record: Value = serde_json::from_slice(
        &std::fs::read(testing::shared_data().join("awsdocs_samples/ct_console_signin_06.json"))
            .unwrap(),
    )
    .unwrap();
    let record = record
        .get("Records")
        .map_or(record.clone(), |r| r[0].clone());
    let mut record = record;
    record["eventID"] = json!("live-root-1");
    record["eventTime"] = json!("2026-10-20T10:00:00Z");
    record["recipientAccountId"] = json!("300001010101");
    record["userIdentity"]["accountId"] = json!("300001010101");
    let event = json!({"version": "0", "id": "eb-live-root-1", "detail-type": "AWS Console Sign In via CloudTrail",
        "source": "aws.signin", "account": "300001010101", "time": "2026-10-20T10:00:00Z", "region": "us-east-1",
        "resources": [], "detail": record});
    let payload = sqs(&[("m1", event.to_string())]);
    let outbox = settings.mail.outbox.clone();
    let mails = || std::fs::read_dir(&outbox).map_or(0, |d| d.count());
    assert_eq!(
        handler.handle(payload.clone()).await.unwrap(),
        json!({"batchItemFailures": []})
    );
    let stored = ingest::exceptions::store::read(&lake, "2026-10-20".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    let exception = &stored[0];
    assert_eq!(
        exception.label(),
        spa_core::events::ExceptionLabel::ConsoleLoginWithRoot
    );
    assert_eq!(
        exception.candidate.account_id.as_deref(),
        Some("300001010101")
    );
    assert!(exception.account.as_ref().unwrap().name.is_some());
    assert!(exception.cost.as_ref().unwrap().total > 0);
    assert_eq!(mails(), 2, "the exceptions' recipients and the holder");
    handler.handle(payload).await.unwrap();
    assert_eq!(
        ingest::exceptions::store::read(&lake, "2026-10-20".parse().unwrap())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(mails(), 2, "nothing sent twice");
}

/// A message on the alert queue that cannot be read is quarantined and raises an `Unreadable`
/// exception holding its text, e-mailed at once; the same text on another queue is only
/// quarantined.
#[tokio::test]
async fn an_unreadable_alert_is_stored_and_delivered_with_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let settings = spa_core::Settings::load(testing::settings_in(dir.path(), |y| {
        y.replace(
            "\nexceptions:\n",
            "\nexceptions:\n  alert_queue: spa-alerts\n",
        )
    }))
    .unwrap();
    let lake = Lake::open(&settings).await;
    let handler = Handler::new(
        lake.clone(),
        s3_client("http://127.0.0.1:9").await,
        Policy::of(&settings),
    )
    .with_exceptions(settings.clone());
    let text = "Budget alert for 300001010101: <b>over</b> \u{7} 80% (not JSON, not a known text)";
    let record = |queue: &str, id: &str| {
        json!({"messageId": id, "receiptHandle": "r", "body": text, "attributes": {}, "messageAttributes": {},
            "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": format!("arn:aws:sqs:eu-west-1:222222222222:{queue}"),
            "awsRegion": "eu-west-1"})
    };
    let response = handler
        .handle(json!({"Records": [record("spa-alerts", "a1"), record("ingest", "i1")]}))
        .await
        .unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));
    assert_eq!(rows_in(&lake, Dataset::Quarantine).await, 2, "both kept");
    let mut raised = Vec::new();
    for day in lake.partitions(Dataset::Exceptions).await.unwrap() {
        raised.extend(
            ingest::exceptions::store::read(&lake, day.parse().unwrap())
                .await
                .unwrap(),
        );
    }
    assert_eq!(raised.len(), 1, "only the alert queue's");
    let e = &raised[0];
    assert_eq!(e.label(), spa_core::events::ExceptionLabel::Unreadable);
    assert_eq!(e.candidate.source_event_id, "sqs:spa-alerts/a1");
    assert_eq!(e.candidate.raw.as_deref(), Some(text));
    let mails: Vec<_> = std::fs::read_dir(&settings.mail.outbox)
        .unwrap()
        .map(|m| std::fs::read_to_string(m.unwrap().path()).unwrap())
        .collect();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("Unreadable"), "{}", mails[0]);
    assert!(
        mails[0].contains("Budget alert for 300001010101"),
        "the text is in the e-mail"
    );
    let parsed = mail_parser::MessageParser::default()
        .parse(mails[0].as_bytes())
        .unwrap();
    let html = parsed.body_html(0).unwrap();
    assert!(
        html.contains("&lt;b&gt;over&lt;/b&gt;") && !html.contains("<b>over"),
        "HTML in the text is escaped in the HTML part: {html}"
    );
}

/// The function's scheduled inputs, through the Lambda runtime API harness: Cost Explorer's
/// month to a day (here the saved responses of the shipped settings; on the 3rd the month before
/// is fetched again, and here it has no costs: an empty month), and the organization's snapshot.
#[test]
fn scheduled_costs_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let settings = testing::settings_in(dir.path(), |y| y);
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_ingest-lambda"));
    let (url, body) =
        testing::invoke_lambda(binary, &settings, &json!({"costs": {"day": "2026-10-20"}}));
    assert_eq!(
        url, "/2018-06-01/runtime/invocation/req-1/response",
        "{body}"
    );
    let answer: Value = serde_json::from_str(&body).unwrap();
    let months = answer["costs"].as_array().unwrap();
    assert_eq!(months.len(), 1, "{answer}");
    assert_eq!(months[0]["month"], "2026-10");
    assert_eq!(months[0]["through"], "2026-10-20");
    assert!(months[0]["rows"].as_u64().unwrap() > 0);
    assert!(dir.path().join("lake/costs/month=2026-10").exists());
    assert!(dir.path().join("lake/cost_totals/month=2026-10").exists());

    let (_, body) =
        testing::invoke_lambda(binary, &settings, &json!({"costs": {"day": "2026-11-03"}}));
    let answer: Value = serde_json::from_str(&body).unwrap();
    let months: Vec<&str> = answer["costs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["month"].as_str().unwrap())
        .collect();
    assert_eq!(
        months,
        ["2026-10", "2026-11"],
        "the month before is fetched again early on"
    );

    let (url, body) = testing::invoke_lambda(binary, &settings, &json!({"accounts": {}}));
    assert_eq!(
        url, "/2018-06-01/runtime/invocation/req-1/response",
        "{body}"
    );
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["accounts"], 32, "{answer}");

    let (url, body) =
        testing::invoke_lambda(binary, &settings, &json!({"costs": {"day": "20261020"}}));
    assert_eq!(url, "/2018-06-01/runtime/invocation/req-1/error", "{body}");
    assert!(body.contains("not a day"), "{body}");
}
