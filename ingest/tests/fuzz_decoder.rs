//! The event decoder never panics, whatever the bytes: a property test over arbitrary byte
//! strings and over real-shaped inputs (trail files, envelopes, JSON lines, SNS wrappers, gzip)
//! with bytes flipped, cut, inserted or repeated, run for a fixed time (`SPA_FUZZ_SECONDS`,
//! 60 s by default; `.ci/run` runs it), not a fixed number of cases.

use std::io::Write;
use std::time::{Duration, Instant};

use ingest::events::Rows;
use ingest::events::input::decode;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// The shipped settings' policy.
fn policy() -> ingest::events::Policy {
    ingest::events::Policy::of(&spa_core::testing::shipped_settings())
}

/// Inputs of every shape the decoder reads, valid.
fn seeds() -> Vec<Vec<u8>> {
    let record = r#"{"eventVersion":"1.09","eventID":"id-1","eventTime":"2026-10-03T10:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","eventType":"AwsConsoleSignIn","awsRegion":"us-east-1","recipientAccountId":"300001010101","userIdentity":{"type":"Root","accountId":"300001010101"},"responseElements":{"ConsoleLogin":"Success"},"requestParameters":{"accountId":"300002020202","n":1e5}}"#;
    let envelope = r#"{"version":"0","id":"ev-1","detail-type":"ExpiredAccount","source":"spa.lifecycle","account":"222222222222","time":"2026-10-05T09:00:00Z","region":"eu-west-1","resources":[],"detail":{"Account":"300001010101"}}"#;
    let alarm = r#"{"source":"aws.cloudwatch","alarmArn":"arn:aws:cloudwatch:us-east-1:1:alarm:a","accountId":"300001010101","time":"2026-10-05T09:00:00.000+0000","region":"us-east-1","alarmData":{"alarmName":"a","state":{"value":"ALARM"},"configuration":{"metrics":[{"metricStat":{"metric":{"namespace":"AWS/Billing","name":"EstimatedCharges"}}}]}}}"#;
    let trail = format!(r#"{{"Records":[{record},{record}]}}"#);
    let sns = serde_json::json!({"Type": "Notification", "MessageId": "m-1", "Message": envelope,
                                 "Timestamp": "2026-10-05T09:00:00.000Z"})
    .to_string();
    let lines = format!("{envelope}\n{envelope}\n{record}\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(trail.as_bytes()).unwrap();
    vec![
        trail.into_bytes(),
        envelope.as_bytes().to_vec(),
        alarm.as_bytes().to_vec(),
        sns.into_bytes(),
        lines.into_bytes(),
        format!("[{envelope},{record}]").into_bytes(),
        gz.finish().unwrap(),
    ]
}

/// A seed with a few edits: a byte replaced, a range cut out, bytes inserted, a range repeated.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds();
    (
        0..seeds.len(),
        prop::collection::vec((0..4u8, any::<usize>(), any::<usize>(), any::<u8>()), 1..6),
    )
        .prop_map(move |(i, edits)| {
            let mut bytes = seeds[i].clone();
            for (kind, at, len, byte) in edits {
                if bytes.is_empty() {
                    break;
                }
                let at = at % bytes.len();
                let len = 1 + len % 16;
                let end = (at + len).min(bytes.len());
                match kind {
                    0 => bytes[at] = byte,
                    1 => {
                        bytes.drain(at..end);
                    }
                    2 => bytes
                        .splice(at..at, std::iter::repeat_n(byte, len))
                        .for_each(drop),
                    _ => {
                        let copy = bytes[at..end].to_vec();
                        bytes.splice(at..at, copy).for_each(drop);
                    }
                }
            }
            bytes
        })
}

#[test]
fn the_decoder_never_panics() {
    let seconds = std::env::var("SPA_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let until = Instant::now() + Duration::from_secs(seconds);
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        mutated(),
        "[\\[\\]{}\":,0-9a-zA-Z\\\\ \n.eE+-]{0,256}".prop_map(String::into_bytes),
    ];
    let decoded = std::cell::Cell::new(0u64);
    while decoded.get() == 0 || Instant::now() < until {
        // A new runner each round: a new random seed, 1,000 more cases.
        let mut runner = TestRunner::new(Config {
            cases: 1_000,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |bytes| {
                let mut rows = Rows::new(0, &policy());
                decode("fuzz.json", &bytes, &mut rows);
                let batches = rows.finish();
                decoded.set(decoded.get() + 1);
                prop_assert_eq!(batches.stats.inputs, 1);
                Ok(())
            })
            .unwrap();
    }
    eprintln!("{} inputs decoded without a panic", decoded.get());
}
