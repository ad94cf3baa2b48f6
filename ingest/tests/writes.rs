//! Idempotent writes, duplicates across files, compaction (also interrupted), and inputs read
//! from S3 on moto server.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use serde_json::{Value, json};
use spa_core::lake::{Dataset, Lake};

use spa_core::testing::{self, shipped_settings as settings, strings};

/// The shipped settings' policy.
fn policy() -> ingest::events::Policy {
    ingest::events::Policy::of(&spa_core::testing::shipped_settings())
}

fn record(id: &str, time: &str) -> Value {
    json!({"eventVersion": "1.09", "eventID": id, "eventTime": time, "eventSource": "ec2.amazonaws.com",
           "eventName": "DescribeInstances", "awsRegion": "eu-west-1", "recipientAccountId": "300001010101",
           "userIdentity": {"type": "IAMUser", "userName": "alice", "accountId": "300001010101"}})
}

fn trail_file(dir: &Path, name: &str, records: &[Value]) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        serde_json::to_vec(&json!({ "Records": records })).unwrap(),
    )
    .unwrap();
    path
}

async fn backfill(lake: &Lake, inputs: &[String]) -> ingest::events::Stats {
    let walk = ingest::events::backfill::Walk::new(inputs, &settings())
        .await
        .unwrap();
    ingest::events::backfill::run(lake, &policy(), walk, 2, |_, _| {})
        .await
        .unwrap()
}

/// (objects, rows, distinct ids) of one day.
async fn day(lake: &Lake, day: &str) -> (usize, usize, usize) {
    let objects = lake.objects(Dataset::Events, day).await.unwrap().len();
    let batches = lake.read_partition(Dataset::Events, day).await.unwrap();
    let ids: HashSet<String> = strings(&batches, "event_id").into_iter().collect();
    (
        objects,
        batches.iter().map(RecordBatch::num_rows).sum(),
        ids.len(),
    )
}

#[tokio::test]
async fn ingesting_twice_changes_nothing_and_a_grown_folder_adds_only_new_rows() {
    let input = tempfile::tempdir().unwrap();
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(lake_dir.path());
    for i in 0..40 {
        let records: Vec<Value> = (0..3)
            .map(|k| record(&format!("e{i}-{k}"), "2026-10-03T10:00:00Z"))
            .collect();
        trail_file(
            input.path(),
            &format!("AWSLogs/111111111111/CloudTrail/eu-west-1/2026/10/03/f{i:03}.json"),
            &records,
        );
    }
    let inputs = vec![input.path().to_string_lossy().to_string()];
    let first = backfill(&lake, &inputs).await;
    assert_eq!((first.records, first.written), (120, 120));
    let before = day(&lake, "2026-10-03").await;
    assert_eq!(before.1, 120);
    let keys = lake.objects(Dataset::Events, "2026-10-03").await.unwrap();

    backfill(&lake, &inputs).await;
    assert_eq!(
        day(&lake, "2026-10-03").await,
        before,
        "a rerun replaces, never adds"
    );
    assert_eq!(
        lake.objects(Dataset::Events, "2026-10-03").await.unwrap(),
        keys
    );

    // New files join groups without moving the others: still one row per event.
    for i in 40..60 {
        trail_file(
            input.path(),
            &format!("AWSLogs/111111111111/CloudTrail/eu-west-1/2026/10/03/f{i:03}.json"),
            &[record(&format!("e{i}"), "2026-10-03T11:00:00Z")],
        );
    }
    backfill(&lake, &inputs).await;
    let (_, rows, ids) = day(&lake, "2026-10-03").await;
    assert_eq!((rows, ids), (140, 140));
}

#[tokio::test]
async fn a_record_in_two_files_is_written_once_and_late_records_go_to_their_day() {
    let input = tempfile::tempdir().unwrap();
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(lake_dir.path());
    trail_file(
        input.path(),
        "a.json",
        &[
            record("same", "2026-10-03T23:59:59Z"),
            record("a", "2026-10-03T23:00:00Z"),
        ],
    );
    trail_file(
        input.path(),
        "b.json",
        &[
            record("same", "2026-10-03T23:59:59Z"),
            record("late", "2026-10-02T08:00:00Z"),
        ],
    );
    let stats = backfill(&lake, &[input.path().to_string_lossy().to_string()]).await;
    assert_eq!((stats.records, stats.written, stats.duplicates), (4, 3, 1));
    assert_eq!(day(&lake, "2026-10-03").await.1, 2);
    assert_eq!(day(&lake, "2026-10-02").await.1, 1);
}

#[tokio::test]
async fn compaction_merges_dedupes_and_survives_interruption() {
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(lake_dir.path());
    // Three writes of overlapping events, as three Lambda invocations would leave them.
    let mut written = Vec::new();
    for (n, ids) in [vec!["a", "b"], vec!["b", "c"], vec!["d"]]
        .into_iter()
        .enumerate()
    {
        let mut rows = ingest::events::Rows::new(0, &policy());
        let records: Vec<Value> = ids
            .iter()
            .map(|id| record(id, &format!("2026-10-03T1{n}:00:00Z")))
            .collect();
        ingest::events::input::decode(
            "test",
            &serde_json::to_vec(&json!({ "Records": records })).unwrap(),
            &mut rows,
        );
        let batches = rows.finish();
        ingest::events::write(&lake, &format!("unit-{n}"), &batches, 0)
            .await
            .unwrap();
        written.push(Lake::object_key(
            Dataset::Events,
            "2026-10-03",
            &format!("unit-{n}"),
        ));
    }
    assert_eq!(day(&lake, "2026-10-03").await, (3, 5, 4));
    let kept_copy = lake.get_bytes(&written[0]).await.unwrap();

    let report = ingest::events::compact::day(&lake, "2026-10-03")
        .await
        .unwrap();
    assert_eq!(
        (report.objects, report.rows_before, report.rows_after),
        (3, 5, 4)
    );
    assert_eq!(day(&lake, "2026-10-03").await, (1, 4, 4));
    // Each source's rows stay sorted by time; every id is there once.
    let merged = lake
        .read_partition(Dataset::Events, "2026-10-03")
        .await
        .unwrap();
    let mut ids = strings(&merged, "event_id");
    ids.sort();
    assert_eq!(ids, ["a", "b", "c", "d"]);

    // Interrupted after the merged object was written but before a source was removed: the
    // source is still there. A rerun merges again and nothing is lost or doubled.
    spa_core::lake::Store::local(lake_dir.path())
        .put(&written[0], kept_copy)
        .await
        .unwrap();
    assert_eq!(day(&lake, "2026-10-03").await, (2, 6, 4));
    ingest::events::compact::day(&lake, "2026-10-03")
        .await
        .unwrap();
    assert_eq!(day(&lake, "2026-10-03").await, (1, 4, 4));

    // A day with one object is left alone.
    let again = ingest::events::compact::day(&lake, "2026-10-03")
        .await
        .unwrap();
    assert_eq!((again.objects, again.merged), (1, None));
}

#[tokio::test]
async fn append_events_is_idempotent() {
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(lake_dir.path());
    let events: Vec<Value> = ["CreatedAccount", "AssignedAccount"]
        .iter()
        .enumerate()
        .map(|(i, label)| {
            json!({"version": "0", "id": format!("id-{i}"), "detail-type": label, "source": "spa.lifecycle",
                   "account": "222222222222", "time": "2026-10-05T09:00:00Z", "region": "eu-west-1", "resources": [],
                   "detail": {"Account": "300001010101"}})
        })
        .collect();
    let stats = ingest::events::append_events(&lake, &policy(), &events)
        .await
        .unwrap();
    assert_eq!(stats.written, 2);
    ingest::events::append_events(&lake, &policy(), &events)
        .await
        .unwrap();
    assert_eq!(day(&lake, "2026-10-05").await, (1, 2, 2));
    let batches = lake
        .read_partition(Dataset::Events, "2026-10-05")
        .await
        .unwrap();
    assert_eq!(
        strings(&batches, "activity"),
        ["CreatedAccount", "AssignedAccount"]
    );
}

#[tokio::test]
async fn backfill_reads_s3_prefixes_on_moto() {
    let settings = testing::settings_with_endpoint(&testing::moto_endpoint(), |y| y);
    let s3 = testing::s3_client(&settings).await;
    let bucket = testing::create_bucket(&s3, "trail").await;
    let shared = testing::shared_data().join("umccr_flaws_slice/test_input");
    let mut expected = 0;
    let mut stored = Vec::new();
    for sub in [
        "AWSLogs/o-abcd/811596193553/CloudTrail/us-east-1/2020/10/01/811596193553_CloudTrail_us-east-1-20201001T0000.json.gz",
        "AWSLogs/o-abcd/811596193553/CloudTrail/us-east-1/2020/09/30/811596193553_CloudTrail_us-east-1-20200930T2200.json",
    ] {
        let bytes = std::fs::read(shared.join(sub)).unwrap();
        let text = if sub.ends_with(".gz") {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut s)
                .unwrap();
            s
        } else {
            String::from_utf8(bytes.clone()).unwrap()
        };
        expected += serde_json::from_str::<Value>(&text).unwrap()["Records"]
            .as_array()
            .unwrap()
            .len() as u64;
        stored.push(bytes.len() as u64);
        s3.put_object()
            .bucket(&bucket)
            .key(sub)
            .body(bytes.into())
            .send()
            .await
            .unwrap();
    }
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(lake_dir.path());
    let files = ingest::events::backfill::collect(&[format!("s3://{bucket}/AWSLogs/")], &settings)
        .await
        .unwrap();
    assert_eq!(files.len(), 2);
    assert!(
        files[0]
            .name
            .starts_with(&format!("s3://{bucket}/AWSLogs/o-abcd/"))
    );
    // Sizes come from the listing, so groups are bounded for S3 inputs too (files sort day
    // first: 09/30 before 10/01).
    stored.reverse();
    assert_eq!(files.iter().map(|f| f.size).collect::<Vec<_>>(), stored);
    let stats = ingest::events::backfill::run(
        &lake,
        &policy(),
        ingest::events::backfill::groups(files),
        2,
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(stats.records, expected);
    let origins = strings(
        &lake
            .read_partition(Dataset::Events, "2020-09-30")
            .await
            .unwrap(),
        "origin",
    );
    assert!(
        origins
            .iter()
            .all(|o| o.starts_with(&format!("s3://{bucket}/"))),
        "{origins:?}"
    );
}

/// A trail on moto, listed a day at a time: the files of every account and region of a day
/// together, days in order, as sorting the whole listing day first would give them; a prefix
/// that ends inside a day gives only its files.
#[tokio::test]
async fn s3_trails_are_walked_a_day_at_a_time_on_moto() {
    let settings = testing::settings_with_endpoint(&testing::moto_endpoint(), |y| y);
    let s3 = testing::s3_client(&settings).await;
    let bucket = testing::create_bucket(&s3, "walk").await;
    let mut keys = Vec::new();
    for account in ["111111111111", "222222222222"] {
        for region in ["eu-west-1", "us-east-1"] {
            for day in ["2026/10/02", "2026/10/03"] {
                for n in 0..2 {
                    keys.push(format!(
                        "AWSLogs/o-1/{account}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{}_{n}.json.gz",
                        day.replace('/', "")
                    ));
                }
            }
        }
    }
    keys.push("AWSLogs/o-1/2026/10/03/stray.json".into());
    keys.push("AWSLogs/o-1/notes.txt".into());
    for key in &keys {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(b"{}".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let names = |prefix: &str| {
        let settings = settings.clone();
        let (input, bucket) = (format!("s3://{bucket}/{prefix}"), bucket.clone());
        async move {
            let mut walk = ingest::events::backfill::Walk::new(&[input], &settings)
                .await
                .unwrap();
            let mut batches = Vec::new();
            while let Some(batch) = walk.next_batch().await.unwrap() {
                batches.push(
                    batch
                        .iter()
                        .map(|f| {
                            f.name
                                .strip_prefix(&format!("s3://{bucket}/"))
                                .unwrap()
                                .to_string()
                        })
                        .collect::<Vec<_>>(),
                );
            }
            batches
        }
    };
    let batches = names("AWSLogs/").await;
    // Day first, then account, region and file; the stray file's name sorts within 10/03.
    let day_first = |k: &String| {
        let p: Vec<&str> = k.split('/').collect();
        if p.len() == 9 {
            format!("{}/{}/{}/{}", p[5..8].join("/"), p[2], p[4], p[8])
        } else {
            p[2..].join("/")
        }
    };
    let mut want: Vec<String> = keys
        .iter()
        .filter(|k| !k.ends_with(".txt"))
        .cloned()
        .collect();
    want.sort_by_key(day_first);
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [8, 9]);
    assert_eq!(batches.concat(), want);
    assert!(batches[0].iter().all(|k| k.contains("/2026/10/02/")));
    // A prefix that ends inside a day folder: that day's matching files only.
    let partial = "AWSLogs/o-1/111111111111/CloudTrail/eu-west-1/2026/10/03/111111111111_CloudTrail_eu-west-1_20261003_1";
    assert_eq!(
        names(partial).await.concat(),
        [format!("{partial}.json.gz")]
    );
}

#[test]
fn digest_files_are_counted_and_skipped() {
    let digest = serde_json::to_vec(&json!({
        "awsAccountId": "111111111111", "digestStartTime": "2026-10-03T00:00:00Z",
        "digestEndTime": "2026-10-03T01:00:00Z", "digestS3Bucket": "trail", "logFiles": []
    }))
    .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &digest).unwrap();
    let gz = gz.finish().unwrap();
    let mut rows = ingest::events::Rows::new(0, &policy());
    let by_path = "AWSLogs/o-abc/111111111111/CloudTrail-Digest/eu-west-1/2026/10/03/111111111111_CloudTrail-Digest_eu-west-1_trail_eu-west-1_20261003T010000Z.json.gz";
    ingest::events::input::decode(by_path, &gz, &mut rows);
    ingest::events::input::decode("copied/elsewhere.json", &digest, &mut rows);
    ingest::events::input::decode("empty.json", b"", &mut rows);
    let s = rows.finish().stats;
    assert_eq!(
        (s.inputs, s.digests, s.empty, s.records, s.quarantined),
        (3, 2, 1, 0, 0)
    );
}

#[tokio::test]
async fn inside_folders_only_event_files_are_read() {
    let input = tempfile::tempdir().unwrap();
    trail_file(
        input.path(),
        "AWSLogs/a.json",
        &[record("x", "2026-10-03T10:00:00Z")],
    );
    std::fs::write(input.path().join("AWSLogs/README.md"), "# not events").unwrap();
    std::fs::write(input.path().join("notes.txt"), "not events").unwrap();
    let folder = input.path().to_string_lossy().to_string();
    let files = ingest::events::backfill::collect(std::slice::from_ref(&folder), &settings())
        .await
        .unwrap();
    assert_eq!(files.len(), 1);
    // A file named explicitly is read whatever its name (and quarantined if it is not events).
    let named = input.path().join("notes.txt").to_string_lossy().to_string();
    let files = ingest::events::backfill::collect(&[named], &settings())
        .await
        .unwrap();
    assert_eq!(files.len(), 1);
    assert!(
        ingest::events::backfill::is_event_file("x/y.json.gz")
            && ingest::events::backfill::is_event_file("e.jsonl")
    );
    assert!(
        !ingest::events::backfill::is_event_file("LICENSE")
            && !ingest::events::backfill::is_event_file("data.csv")
    );
}

/// A source rewritten (by a retried Lambda write with new rows) while compaction merged it is
/// kept, and its new row survives; the sources that did not change are removed. Before, the
/// rewritten source was deleted with its new row.
#[tokio::test]
async fn compaction_keeps_a_source_rewritten_while_it_merged() {
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(lake_dir.path());
    let write = |n: usize, ids: Vec<&'static str>| {
        let lake = lake.clone();
        async move {
            let mut rows = ingest::events::Rows::new(0, &policy());
            let records: Vec<Value> = ids
                .iter()
                .map(|id| record(id, "2026-10-03T10:00:00Z"))
                .collect();
            ingest::events::input::decode(
                "test",
                &serde_json::to_vec(&json!({ "Records": records })).unwrap(),
                &mut rows,
            );
            ingest::events::write(&lake, &format!("unit-{n}"), &rows.finish(), 0)
                .await
                .unwrap();
        }
    };
    write(0, vec!["a"]).await;
    write(1, vec!["b"]).await;
    let report = ingest::events::compact::day_checked(&lake, "2026-10-03", || {
        // Unit 0 is written again, now with a row the merge did not see.
        write(0, vec!["a", "late"])
    })
    .await
    .unwrap();
    assert_eq!(report.changed.len(), 1, "{report:?}");
    let batches = lake
        .read_partition(Dataset::Events, "2026-10-03")
        .await
        .unwrap();
    let ids: HashSet<String> = strings(&batches, "event_id").into_iter().collect();
    assert_eq!(
        ids,
        ["a", "b", "late"].map(String::from).into_iter().collect(),
        "nothing lost"
    );
    // Merged object plus the rewritten source; the next compaction merges them.
    assert_eq!(day(&lake, "2026-10-03").await.0, 2);
    ingest::events::compact::day(&lake, "2026-10-03")
        .await
        .unwrap();
    assert_eq!(day(&lake, "2026-10-03").await, (1, 3, 3));
}
