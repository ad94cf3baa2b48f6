//! Every file of ../shared/data with CloudTrail records or EventBridge events, ingested and
//! counted against an independent parse of the same files.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, RecordBatch};
use ingest::events::Rows;
use serde_json::Value;
use spa_core::lake::{Dataset, Lake};

/// The shipped settings' policy.
fn policy() -> ingest::events::Policy {
    ingest::events::Policy::of(&spa_core::testing::shipped_settings())
}

fn data() -> PathBuf {
    spa_core::testing::shared_data()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    let mut text = String::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
    } else {
        text = String::from_utf8(bytes).unwrap();
    }
    serde_json::from_str(&text).unwrap()
}

/// Files holding CloudTrail records, EventBridge events or alarm notifications (not Cost
/// Explorer responses, not the AWS Config rule payload, not licences or CSV).
fn event_files() -> Vec<PathBuf> {
    files_under(&data())
        .into_iter()
        .filter(|p| {
            let name = p.to_string_lossy();
            (name.ends_with(".json") || name.ends_with(".json.gz"))
                && !name.contains("cost_explorer")
                && !name.ends_with("example-config-event.json")
        })
        .collect()
}

/// The number of events in a file, by a plain JSON parse: records of a trail file, SNS records
/// of a Lambda payload, or one event.
fn independent_count(v: &Value) -> usize {
    match v.get("Records").and_then(Value::as_array) {
        Some(records) => records.len(),
        None => 1,
    }
}

fn decode(path: &Path) -> ingest::events::Batches {
    let mut rows = Rows::new(0, &policy());
    ingest::events::input::decode(
        &path.to_string_lossy(),
        &std::fs::read(path).unwrap(),
        &mut rows,
    );
    rows.finish()
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Vec<Option<&'a str>> {
    batch
        .column_by_name(name)
        .unwrap()
        .as_string::<i32>()
        .iter()
        .collect()
}

#[test]
fn every_event_file_ingests_with_independent_counts() {
    let files = event_files();
    assert!(files.len() > 150, "{} files", files.len());
    let mut quarantined = Vec::new();
    for path in &files {
        let v = read_json(path);
        let expected = independent_count(&v);
        let b = decode(path);
        let s = b.stats;
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if s.quarantined > 0 {
            let q = b.quarantine.as_ref().unwrap();
            for reason in column(q, "reason") {
                quarantined.push((name.clone(), reason.unwrap().to_string()));
            }
        }
        assert_eq!(
            s.records + s.quarantined,
            expected as u64,
            "{name}: every event is a row or quarantined"
        );
        let rows: usize = b.events.iter().map(|(_, batch)| batch.num_rows()).sum();
        assert_eq!(rows as u64, s.written, "{name}");
    }
    // Only the truly malformed inputs are quarantined: a documentation snippet without the
    // envelope's id/source/time, and two alarm payloads whose timestamps contain spaces.
    quarantined.sort();
    assert_eq!(
        quarantined,
        vec![
            (
                "example-cloudwatch-alarm-composite.json".to_string(),
                "bad timestamp `2023-08-04T12: 56: 46.138+0000` (expected e.g. 2026-10-03T18:00:05Z)".to_string()
            ),
            (
                "example-cloudwatch-alarm-metric.json".to_string(),
                "bad timestamp `2023-08-04T12: 36: 15.490+0000` (expected e.g. 2026-10-03T18:00:05Z)".to_string()
            ),
            ("orgs_tag_change_01.json".to_string(), "missing field `id`".to_string()),
        ]
    );
}

#[test]
fn empty_trail_file_is_counted_as_empty() {
    let path = data().join(
        "umccr_flaws_slice/test_input/AWSLogs/o-abcd/811596193553/CloudTrail/ap-southeast-1/2020/09/30/811596193553_CloudTrail_ap-southeast-1-20200930T2358.json",
    );
    let s = decode(&path).stats;
    assert_eq!((s.records, s.empty, s.quarantined), (0, 1, 0));
}

#[test]
fn gzip_trail_file_in_organization_layout() {
    let path = data().join(
        "umccr_flaws_slice/test_input/AWSLogs/o-abcd/811596193553/CloudTrail/us-east-1/2020/10/01/811596193553_CloudTrail_us-east-1-20201001T0000.json.gz",
    );
    let v = read_json(&path);
    let mut days: Vec<String> = v["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["eventTime"].as_str().unwrap()[..10].to_string())
        .collect();
    days.sort();
    days.dedup();
    let b = decode(&path);
    assert_eq!(b.stats.written, independent_count(&v) as u64);
    // The file of 00:00 holds late records of the day before: each goes to its own day.
    assert_eq!(
        b.events
            .iter()
            .map(|(day, _)| day.clone())
            .collect::<Vec<_>>(),
        days
    );
    assert_eq!(days, ["2020-09-30", "2020-10-01"]);
}

#[test]
fn console_sign_ins_are_labelled() {
    let mut expected_ok = 0;
    let mut expected_failed = 0;
    let (mut ok, mut failed) = (0, 0);
    for path in files_under(&data().join("awsdocs_samples")) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.starts_with("ct_console_signin") || name == "cwe_eventtypes_51.json") {
            continue;
        }
        let v = read_json(&path);
        let records: Vec<Value> = match v.get("Records") {
            Some(r) => r.as_array().unwrap().clone(),
            None => vec![v.get("detail").cloned().unwrap_or(v.clone())],
        };
        for r in &records {
            if r["eventName"] == "ConsoleLogin" {
                if r["responseElements"]["ConsoleLogin"] == "Success"
                    && r.get("errorCode").is_none()
                {
                    expected_ok += 1;
                } else {
                    expected_failed += 1;
                }
            }
        }
        for (_, batch) in decode(&path).events {
            for label in column(&batch, "activity").into_iter().flatten() {
                match label {
                    "ConsoleLogin" => ok += 1,
                    "FailedConsoleLogin" => failed += 1,
                    other => panic!("{name}: unexpected label {other}"),
                }
            }
        }
    }
    assert!(
        expected_ok >= 4 && expected_failed >= 1,
        "{expected_ok} {expected_failed}"
    );
    assert_eq!((ok, failed), (expected_ok, expected_failed));

    // The root sign-in through EventBridge keeps its actor.
    let b = decode(&data().join("awsdocs_samples/cwe_eventtypes_51.json"));
    let batch = &b.events[0].1;
    assert_eq!(column(batch, "actor_type"), [Some("Root")]);
    assert_eq!(column(batch, "actor_name"), [Some("root")]);
    assert_eq!(
        column(batch, "detail_type"),
        [Some("AWS Console Sign In via CloudTrail")]
    );
    assert_eq!(
        column(batch, "event_id"),
        [Some("324731c0-64b3-4421-b552-dfc3c27df4f6")],
        "the CloudTrail eventID, as in trail files"
    );
}

#[test]
fn organizations_events_are_about_the_target_account() {
    for (file, account, name) in [
        (
            "orgs_cloudtrail_01.json",
            Some("555555555555"),
            "CloseAccount",
        ),
        (
            "orgs_cloudtrail_02.json",
            Some("555555555555"),
            "CloseAccountResult",
        ),
        ("orgs_cloudtrail_03.json", None, "CreateAccount"),
        (
            "orgs_cloudtrail_04.json",
            Some("444455556666"),
            "CreateAccountResult",
        ),
        (
            "orgs_cloudtrail_06.json",
            Some("111111111111"),
            "InviteAccountToOrganization",
        ),
    ] {
        let b = decode(&data().join("awsdocs_samples").join(file));
        assert_eq!(b.stats.quarantined, 0, "{file}");
        let batch = &b.events[0].1;
        assert_eq!(column(batch, "event_name"), [Some(name)], "{file}");
        assert_eq!(
            column(batch, "account_id"),
            [account],
            "{file}: the target, not the caller"
        );
        assert_ne!(column(batch, "recipient_account_id")[0], None);
    }
}

#[test]
fn alarms_and_builds() {
    let fixtures = data().join("aws_lambda_events_fixtures");
    let b = decode(&fixtures.join("example-codebuild-state-change.json"));
    assert_eq!(column(&b.events[0].1, "event_name"), [Some("SUCCEEDED")]);
    assert_eq!(column(&b.events[0].1, "activity"), [None]);
    let b = decode(&fixtures.join("example-cloudwatch-alarm-sns-payload-single-metric.json"));
    assert_eq!(
        column(&b.events[0].1, "event_id"),
        [Some("95df01b4-ee98-5cb9-9903-4c221d41eb5e")]
    );
    assert_eq!(column(&b.events[0].1, "event_name"), [Some("ALARM")]);
    assert_eq!(
        column(&b.events[0].1, "activity"),
        [None],
        "an EC2 metric is not a billing alarm"
    );
}

#[test]
fn repeated_records_across_trail_files_are_dropped() {
    let dir = data().join("umccr_flaws_slice");
    let mut ids = HashSet::new();
    let mut total = 0;
    let mut rows = Rows::new(0, &policy());
    for path in files_under(&dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("CloudTrail_"))
    {
        let v = read_json(&path);
        for r in v["Records"].as_array().unwrap() {
            ids.insert(r["eventID"].as_str().unwrap().to_string());
            total += 1;
        }
        ingest::events::input::decode(
            &path.to_string_lossy(),
            &std::fs::read(&path).unwrap(),
            &mut rows,
        );
    }
    let b = rows.finish();
    assert!(ids.len() < total, "the sample has repeats");
    assert_eq!(b.stats.written as usize, ids.len());
    assert_eq!(b.stats.duplicates as usize, total - ids.len());
}

#[tokio::test]
async fn backfill_of_the_whole_folder_reads_back_from_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let settings =
        spa_core::Settings::load(spa_core::testing::repo_root().join("settings.yaml")).unwrap();
    let inputs: Vec<String> = event_files()
        .iter()
        .map(|p| p.to_string_lossy().to_string())
        .collect();
    let files = ingest::events::backfill::collect(&inputs, &settings)
        .await
        .unwrap();
    let stats = ingest::events::backfill::run(
        &lake,
        &policy(),
        ingest::events::backfill::groups(files),
        2,
        |_, _| {},
    )
    .await
    .unwrap();
    let mut rows = 0;
    let mut ids = HashSet::new();
    for day in lake.partitions(Dataset::Events).await.unwrap() {
        for batch in lake.read_partition(Dataset::Events, &day).await.unwrap() {
            rows += batch.num_rows();
            let times = batch
                .column_by_name("event_time")
                .unwrap()
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            for i in 0..batch.num_rows() {
                assert_eq!(
                    Rows::day_of(times.value(i)),
                    day,
                    "each event sits in its own day"
                );
            }
            ids.extend(
                column(&batch, "event_id")
                    .into_iter()
                    .map(|s| s.unwrap().to_string()),
            );
        }
    }
    assert_eq!(rows as u64, stats.written);
    assert!(ids.len() <= rows);
    assert_eq!(stats.quarantined, 3);
    let quarantine: usize = {
        let mut n = 0;
        for day in lake.partitions(Dataset::Quarantine).await.unwrap() {
            n += lake
                .read_partition(Dataset::Quarantine, &day)
                .await
                .unwrap()
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>();
        }
        n
    };
    assert_eq!(quarantine, 3);
}
