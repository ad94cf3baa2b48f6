//! Poison inputs are quarantined one by one and never cost the rest of their input, group or
//! batch: times the lake cannot partition, bad lines of JSON lines, bytes that are not UTF-8,
//! numbers serde_json cannot hold next to the field that names the account.

use arrow::array::RecordBatch;
use ingest::events::Rows;
use ingest::events::input::decode;
use serde_json::{Value, json};
use spa_core::lake::{Dataset, Lake};
use spa_core::testing::{self, strings};

/// The shipped settings' policy.
fn policy() -> ingest::events::Policy {
    ingest::events::Policy::of(&spa_core::testing::shipped_settings())
}

fn record(id: &str, time: &str) -> Value {
    json!({"eventVersion": "1.09", "eventID": id, "eventTime": time, "eventSource": "ec2.amazonaws.com",
           "eventName": "DescribeInstances", "awsRegion": "eu-west-1", "recipientAccountId": "300001010101",
           "userIdentity": {"type": "IAMUser", "userName": "alice", "accountId": "300001010101"}})
}

fn envelope(id: &str, time: &str) -> String {
    json!({"version": "0", "id": id, "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2",
           "account": "300001010101", "time": time, "region": "eu-west-1", "resources": [],
           "detail": {"eventVersion": "1.09", "eventID": id, "eventTime": time,
                      "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances"}})
    .to_string()
}

/// Events written and quarantine rows (with their reasons and bytes) of one input.
fn decoded(bytes: &[u8]) -> (Vec<String>, Vec<(String, Vec<u8>)>) {
    decoded_with(&policy(), &[("input.json", bytes)])
}

/// Event ids written, sorted, and quarantine rows (reasons and bytes) of `inputs` (name,
/// bytes) decoded together under `policy`.
fn decoded_with(
    policy: &ingest::events::Policy,
    inputs: &[(&str, &[u8])],
) -> (Vec<String>, Vec<(String, Vec<u8>)>) {
    let mut rows = Rows::new(0, policy);
    for (name, bytes) in inputs {
        decode(name, bytes, &mut rows);
    }
    let batches = rows.finish();
    let events: Vec<RecordBatch> = batches.events.iter().map(|(_, b)| b.clone()).collect();
    let mut ids = strings(&events, "event_id");
    ids.sort();
    let quarantined: Vec<(String, Vec<u8>)> = batches
        .quarantine
        .map(|q| {
            let reasons = strings(std::slice::from_ref(&q), "reason");
            let raw = q
                .column_by_name("raw")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::BinaryArray>()
                .unwrap()
                .iter()
                .map(|v| v.unwrap().to_vec())
                .collect::<Vec<_>>();
            reasons.into_iter().zip(raw).collect()
        })
        .unwrap_or_default();
    assert_eq!(
        batches.stats.quarantined as usize,
        quarantined.len(),
        "counted"
    );
    (ids, quarantined)
}

#[test]
fn times_the_lake_cannot_partition_are_quarantined_and_the_rest_kept() {
    for bad in [
        "+10000-01-01T00:00:00+0000",
        "+10000-01-01T00:00:00",
        "1969-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "-0001-06-15T00:00:00+0000",
        "2026-13-01T00:00:00Z",
        "yesterday",
    ] {
        let file = json!({"Records": [record("a", "2026-10-03T10:00:00Z"), record("b", bad),
                                      record("c", "9999-12-31T23:59:59Z")]});
        let (ids, quarantined) = decoded(file.to_string().as_bytes());
        assert_eq!(ids, ["a", "c"], "{bad}");
        assert_eq!(quarantined.len(), 1, "{bad}");
        assert!(
            quarantined[0].0.contains("time") || quarantined[0].0.contains("timestamp"),
            "{bad}: {}",
            quarantined[0].0
        );
        // The same in an EventBridge envelope.
        let lines = [envelope("e1", "2026-10-03T10:00:00Z"), envelope("e2", bad)].join("\n");
        let (ids, quarantined) = decoded(lines.as_bytes());
        assert_eq!(ids, ["e1"], "{bad}");
        assert_eq!(quarantined.len(), 1, "{bad}");
    }
}

#[test]
fn a_bad_line_of_json_lines_costs_only_itself() {
    let good = |n: usize| envelope(&format!("e{n}"), "2026-10-03T10:00:00Z");
    for (case, bad) in [
        ("truncated object", r#"{"version": "0", "id": "x""#),
        ("not JSON", "hello"),
        ("a stray bracket", "}"),
        ("a number out of range", r#"{"id": 1e400}"#),
    ] {
        for position in 0..=3 {
            let mut lines: Vec<String> = (0..3).map(good).collect();
            lines.insert(position, bad.to_string());
            let (ids, quarantined) = decoded(lines.join("\n").as_bytes());
            assert_eq!(ids, ["e0", "e1", "e2"], "{case} at line {position}");
            assert_eq!(quarantined.len(), 1, "{case} at line {position}");
            assert_eq!(
                String::from_utf8_lossy(&quarantined[0].1).trim_end(),
                bad,
                "{case} at line {position}: only the bad line is quarantined"
            );
        }
    }
}

#[test]
fn bytes_that_are_not_utf8_cost_only_their_record() {
    let file = json!({"Records": [record("a", "2026-10-03T10:00:00Z"), record("b", "2026-10-03T10:00:01Z"),
                                  record("c", "2026-10-03T10:00:02Z")]})
    .to_string()
    .replace("\"b\"", "\"b\u{1}\"");
    for bad in [
        &[0xffu8][..],
        &[0xc3, 0x28],
        &[0xed, 0xa0, 0x80],
        &[0xf8, 0x88, 0x80, 0x80],
    ] {
        // Record b's id holds the invalid bytes.
        let mut bytes = Vec::new();
        let (before, after) = file.split_once('\u{1}').unwrap();
        bytes.extend_from_slice(before.as_bytes());
        bytes.extend_from_slice(bad);
        bytes.extend_from_slice(after.as_bytes());
        let (ids, quarantined) = decoded(&bytes);
        assert_eq!(ids, ["a", "c"], "{bad:?}");
        assert_eq!(quarantined.len(), 1, "{bad:?}");
        assert!(quarantined[0].0.contains("UTF-8"), "{}", quarantined[0].0);
        // JSON lines too.
        let lines = [
            envelope("e1", "2026-10-03T10:00:00Z").into_bytes(),
            [b"{\"id\": \"".as_slice(), bad, b"\"}"].concat(),
            envelope("e3", "2026-10-03T10:00:00Z").into_bytes(),
        ]
        .join(&b'\n');
        let (ids, quarantined) = decoded(&lines);
        assert_eq!(ids, ["e1", "e3"], "{bad:?}");
        assert_eq!(quarantined.len(), 1, "{bad:?}");
    }
}

#[test]
fn numbers_serde_json_cannot_hold_do_not_hide_the_target_account() {
    for noise in ["1e400", "-1e400", "123456789012345678901234567890e300"] {
        let record = format!(
            r#"{{"eventVersion":"1.09","eventID":"m1","eventTime":"2026-10-03T10:00:00Z",
                "eventSource":"organizations.amazonaws.com","eventName":"MoveAccount","awsRegion":"us-east-1",
                "recipientAccountId":"111111111111",
                "requestParameters":{{"weight":{noise},"accountId":"300002020202","sourceParentId":"r-ab12"}},
                "userIdentity":{{"type":"Root","accountId":"111111111111"}}}}"#
        );
        let mut rows = Rows::new(0, &policy());
        decode(
            "r.json",
            format!(r#"{{"Records":[{record}]}}"#).as_bytes(),
            &mut rows,
        );
        let batches = rows.finish();
        let events: Vec<RecordBatch> = batches.events.iter().map(|(_, b)| b.clone()).collect();
        assert_eq!(strings(&events, "account_id"), ["300002020202"], "{noise}");
    }
}

/// A backfill group holding a record the lake cannot partition writes the rest once and the
/// record to quarantine (before, the whole group failed and the command exited 1).
#[tokio::test]
async fn a_backfill_group_with_a_poison_time_is_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in/trail.json");
    std::fs::create_dir_all(input.parent().unwrap()).unwrap();
    std::fs::write(
        &input,
        json!({"Records": [record("a", "2026-10-03T10:00:00Z"), record("b", "+10000-01-01T00:00:00+0000")]})
            .to_string(),
    )
    .unwrap();
    let lake = Lake::local(dir.path().join("lake"));
    let inputs = [input.display().to_string()];
    for _ in 0..2 {
        let files = ingest::events::backfill::collect(&inputs, &testing::shipped_settings())
            .await
            .unwrap();
        let stats = ingest::events::backfill::run(
            &lake,
            &policy(),
            ingest::events::backfill::groups(files),
            1,
            |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!((stats.written, stats.quarantined), (1, 1));
    }
    let events = lake
        .read_partition(Dataset::Events, "2026-10-03")
        .await
        .unwrap();
    assert_eq!(strings(&events, "event_id"), ["a"]);
    let days = lake.partitions(Dataset::Quarantine).await.unwrap();
    let mut quarantined = 0;
    for day in days {
        quarantined += lake
            .read_partition(Dataset::Quarantine, &day)
            .await
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>();
    }
    assert_eq!(quarantined, 1, "a rerun replaces, it does not add");
}

/// An event is what its AWS source says only under that source: a member account's custom
/// event shaped like a root console sign-in, a failed build or a billing alarm is stored as the
/// custom event it is (no label, the sender's account), not as what it imitates.
#[test]
fn aws_shaped_events_under_other_sources_are_not_believed() {
    let signin = json!({"eventVersion": "1.08", "eventID": "s-1", "eventTime": "2026-10-03T10:00:00Z",
        "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn",
        "recipientAccountId": "300009999999", "userIdentity": {"type": "Root", "accountId": "300009999999"},
        "responseElements": {"ConsoleLogin": "Success"}});
    let cases = [
        (
            "aws.signin",
            "AWS Console Sign In via CloudTrail",
            signin,
            "ConsoleLogin",
        ),
        (
            "aws.codebuild",
            "CodeBuild Build State Change",
            json!({"build-status": "FAILED"}),
            "FailedBuild",
        ),
        (
            "aws.cloudwatch",
            "CloudWatch Alarm State Change",
            json!({"alarmName": "budget", "state": {"value": "ALARM"}}),
            "BudgetAlarm",
        ),
    ];
    for (source, detail_type, detail, label) in cases {
        for sender_source in [
            source,
            "custom.signin",
            "spa.lifecycle",
            "aws",
            "awsx.codebuild",
            "my.aws.signin",
        ] {
            let id = format!("{sender_source}-{label}");
            let event = json!({"version": "0", "id": id, "detail-type": detail_type, "source": sender_source,
                               "account": "300001010101", "time": "2026-10-03T10:00:00Z", "region": "eu-west-1",
                               "resources": [], "detail": detail});
            let mut rows = Rows::new(0, &policy());
            decode("bus.json", event.to_string().as_bytes(), &mut rows);
            let batches = rows.finish();
            let events: Vec<RecordBatch> = batches.events.iter().map(|(_, b)| b.clone()).collect();
            let labels = strings(&events, "activity");
            if sender_source == source {
                assert_eq!(labels, [label], "{sender_source} {detail_type}");
            } else {
                assert_eq!(labels, [""], "{sender_source} {detail_type}: {labels:?}");
                assert_eq!(
                    strings(&events, "account_id"),
                    ["300001010101"],
                    "{sender_source}"
                );
            }
        }
    }
}

fn gzip(members: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for member in members {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, member).unwrap();
        out.extend(gz.finish().unwrap());
    }
    out
}

/// No input inflates past `ingest.max_input_bytes`: a gzip bomb (one member or several), or a
/// plain input that large, is quarantined with its reason and (a bounded part of) its stored
/// bytes, and the inputs beside it are kept; an input of exactly the limit is read.
#[test]
fn inputs_past_the_decompressed_limit_are_quarantined_and_the_rest_kept() {
    const LIMIT: usize = 1 << 20;
    let mut policy = policy();
    policy.max_input_bytes = LIMIT as u64;
    let trail = json!({"Records": [record("ok-1", "2026-10-03T10:00:00Z")]}).to_string();
    let mut exact = trail.clone().into_bytes();
    exact.resize(LIMIT, b' ');
    let spaces = vec![b' '; 8 * LIMIT];
    let half = vec![b' '; LIMIT / 2 + 1];
    let plain = {
        let mut p = trail.clone().into_bytes();
        p.resize(2 * LIMIT, b' ');
        p
    };
    // (name, stored bytes, quarantined, stored bytes kept in quarantine)
    let cases: Vec<(&str, Vec<u8>, bool, Option<usize>)> = vec![
        ("bomb", gzip(&[&spaces]), true, None),
        (
            "bomb of members",
            gzip(&[&half, &half, trail.as_bytes()]),
            true,
            None,
        ),
        ("plain, twice the limit", plain.clone(), true, Some(LIMIT)),
        ("exactly the limit, gzip", gzip(&[&exact]), false, None),
        ("exactly the limit, plain", exact.clone(), false, None),
    ];
    for (name, bytes, refused, kept) in cases {
        let beside = envelope("beside", "2026-10-03T11:00:00Z");
        let (ids, quarantined) = decoded_with(
            &policy,
            &[(name, &bytes), ("beside.json", beside.as_bytes())],
        );
        if refused {
            assert_eq!(ids, ["beside"], "{name}");
            let (reason, raw) = quarantined.first().expect(name);
            assert!(
                reason.starts_with(
                    "larger than ingest.max_input_bytes (1048576 bytes) once decompressed"
                ),
                "{name}: {reason}"
            );
            match kept {
                None => assert_eq!(*raw, bytes, "{name}: the stored bytes are kept"),
                Some(n) => assert_eq!(*raw, bytes[..n], "{name}: the first bytes are kept"),
            }
        } else {
            assert_eq!(ids, ["beside", "ok-1"], "{name}");
            assert!(quarantined.is_empty(), "{name}");
        }
    }
}

/// A backfill group whose files inflate past the part bound is written in parts, each keyed by
/// its first file: every record once, and a rerun replaces the same objects.
#[tokio::test]
async fn a_group_past_its_json_bound_is_written_in_parts_once() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("in");
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..5 {
        std::fs::write(
            folder.join(format!("f{i}.json")),
            json!({"Records": [record(&format!("r{i}"), "2026-10-03T10:00:00Z")]}).to_string(),
        )
        .unwrap();
    }
    let mut policy = policy();
    policy.part_json_bytes = 1;
    let lake = Lake::local(dir.path().join("lake"));
    let inputs = [folder.display().to_string()];
    for _ in 0..2 {
        let files = ingest::events::backfill::collect(&inputs, &testing::shipped_settings())
            .await
            .unwrap();
        let groups = ingest::events::backfill::groups(files);
        assert_eq!(groups.len(), 1, "five files, one group");
        let stats = ingest::events::backfill::run(&lake, &policy, groups, 1, |_, _| {})
            .await
            .unwrap();
        assert_eq!(stats.written, 5);
        let objects = lake.objects(Dataset::Events, "2026-10-03").await.unwrap();
        assert_eq!(objects.len(), 5, "one part per file: {objects:?}");
    }
    let events = lake
        .read_partition(Dataset::Events, "2026-10-03")
        .await
        .unwrap();
    let mut ids = strings(&events, "event_id");
    ids.sort();
    assert_eq!(ids, ["r0", "r1", "r2", "r3", "r4"]);
}
