//! Decodes one input (a file, an S3 object, a message body) into rows: CloudTrail log files
//! (`{"Records": [...]}`, gzip or not), single CloudTrail records, EventBridge envelopes (one,
//! an array, or one per line), SNS notifications carrying either, and CloudWatch alarm
//! payloads. Digest files and empty files are counted and skipped; anything else is quarantined
//! with its reason and bytes.

use std::borrow::Cow;
use std::io::Read;
use std::time::Instant;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::normalize;
use super::policy::QUARANTINE_SAMPLE;
use super::rows::Rows;

/// Whether a key or path names a CloudTrail digest file.
pub(crate) fn is_digest_path(origin: &str) -> bool {
    origin.contains("/CloudTrail-Digest/") || origin.ends_with("-Digest.json.gz")
}

/// What a JSON object is, told by its keys (values are skipped, not built).
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Option<Vec<&'a RawValue>>,
    #[serde(rename = "detail-type", default)]
    detail_type: Option<IgnoredAny>,
    #[serde(rename = "eventID", default)]
    event_id: Option<IgnoredAny>,
    #[serde(rename = "eventVersion", default)]
    event_version: Option<IgnoredAny>,
    #[serde(rename = "alarmData", default)]
    alarm_data: Option<IgnoredAny>,
    #[serde(rename = "digestStartTime", default)]
    digest: Option<IgnoredAny>,
    #[serde(rename = "Sns", borrow, default)]
    sns: Option<&'a RawValue>,
    #[serde(rename = "Type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "Message", borrow, default)]
    message: Option<Cow<'a, str>>,
    #[serde(rename = "MessageId", borrow, default)]
    message_id: Option<Cow<'a, str>>,
    #[serde(rename = "Timestamp", borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "TopicArn", borrow, default)]
    topic_arn: Option<Cow<'a, str>>,
    #[serde(rename = "AlarmName", default)]
    alarm_name: Option<IgnoredAny>,
}

/// Decodes `bytes` read from `origin` into `rows`.
pub fn decode(origin: &str, bytes: &[u8], rows: &mut Rows) {
    rows.stats.inputs += 1;
    rows.stats.bytes += bytes.len() as u64;
    if is_digest_path(origin) {
        rows.stats.digests += 1;
        return;
    }
    let started = Instant::now();
    let columns_before = rows.stats.stages.columns;
    let limit = rows.policy.max_input_bytes;
    // Inflated into the rows' buffer, reused from one input to the next.
    let mut inflated = std::mem::take(&mut rows.inflated);
    inflated.clear();
    let data: &[u8] = if bytes.starts_with(&[0x1f, 0x8b]) {
        // The size gzip records in its trailer (of the last member) sizes the buffer, within
        // the limit. Inflated up to one byte past the limit, never further: a bomb costs
        // `limit` bytes.
        let recorded = bytes
            .last_chunk::<4>()
            .map_or(0, |size| u64::from(u32::from_le_bytes(*size)));
        inflated.reserve(recorded.min(limit) as usize + 1);
        match flate2::read::MultiGzDecoder::new(bytes)
            .take(limit.saturating_add(1))
            .read_to_end(&mut inflated)
        {
            Ok(_) => &inflated,
            Err(e) => {
                rows.inflated = inflated;
                return rows.quarantine(origin, &format!("bad gzip: {e}"), bytes);
            }
        }
    } else {
        bytes
    };
    let gunzip = started.elapsed();
    rows.stats.stages.gunzip += gunzip;
    if data.len() as u64 > limit {
        too_large(origin, bytes, limit, rows);
    } else {
        rows.stats.json_bytes += data.len() as u64;
        if data.iter().all(u8::is_ascii_whitespace) {
            rows.stats.empty += 1;
        } else if !trail_into(origin, data, rows) {
            values(origin, data, false, rows);
        }
    }
    rows.inflated = inflated;
    let columns = rows.stats.stages.columns - columns_before;
    rows.stats.stages.parse += started.elapsed().saturating_sub(gunzip + columns);
}

/// The fast path for a CloudTrail log file as CloudTrail writes it (`{"Records":[{...},...]}`):
/// the records are found by a scan that follows only strings and brackets, and each is parsed
/// once, by the record parser (which checks its JSON). Returns false, having stored nothing,
/// for any other input, and for a file with a record that does not parse as a CloudTrail
/// record: the general path then reads it (and quarantines what it must).
fn trail_into(origin: &str, data: &[u8], rows: &mut Rows) -> bool {
    let Some(records) = std::str::from_utf8(data).ok().and_then(trail_records) else {
        return false;
    };
    let events: Result<Vec<_>, _> = records
        .into_iter()
        .map(normalize::cloudtrail_record)
        .collect();
    match events {
        Ok(events) => {
            rows.push_all(&events, origin);
            true
        }
        Err(_) => false,
    }
}

/// The records of a trail file, `{"Records":[...]}` with objects in the array and nothing else
/// around (whitespace aside); `None` when `text` is not that, or holds no record. The record
/// texts are not checked here, only delimited: strings are skipped (escapes included) and
/// brackets counted.
fn trail_records(text: &str) -> Option<Vec<&str>> {
    let b = text.as_bytes();
    let mut at = expect(b, 0, b"{")?;
    at = expect(b, at, b"\"Records\"")?;
    at = expect(b, at, b":")?;
    at = expect(b, at, b"[")?;
    let mut records = Vec::new();
    loop {
        at = skip_whitespace(b, at);
        if b.get(at) != Some(&b'{') {
            return None;
        }
        let end = object_end(b, at)?;
        records.push(text.get(at..end)?);
        at = skip_whitespace(b, end);
        match b.get(at) {
            Some(b',') => at += 1,
            Some(b']') => break,
            _ => return None,
        }
    }
    at = expect(b, at + 1, b"}")?;
    (skip_whitespace(b, at) == b.len()).then_some(records)
}

/// The position after `token`, which must come next after whitespace.
fn expect(b: &[u8], at: usize, token: &[u8]) -> Option<usize> {
    let at = skip_whitespace(b, at);
    b.get(at..)?.starts_with(token).then_some(at + token.len())
}

fn skip_whitespace(b: &[u8], at: usize) -> usize {
    at + b.get(at..).map_or(0, |rest| {
        rest.iter().take_while(|c| c.is_ascii_whitespace()).count()
    })
}

/// The position after the bracket that closes the one at `start`, skipping strings.
fn object_end(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = start;
    while let Some(&c) = b.get(at) {
        match c {
            b'"' => {
                at += 1;
                loop {
                    let found = at + memchr::memchr2(b'"', b'\\', b.get(at..)?)?;
                    if b[found] == b'"' {
                        at = found;
                        break;
                    }
                    at = found + 2;
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            _ => {}
        }
        at += 1;
    }
    None
}

/// Quarantines an input that is larger than `limit` once decompressed, with its stored bytes
/// when they are few enough, else their first [`QUARANTINE_SAMPLE`] bytes (the input itself
/// stays at its origin, named by the row).
fn too_large(origin: &str, stored: &[u8], limit: u64, rows: &mut Rows) {
    let kept = if stored.len() <= QUARANTINE_SAMPLE || (stored.len() as u64) < limit / 8 {
        stored
    } else {
        &stored[..QUARANTINE_SAMPLE]
    };
    let reason = format!(
        "larger than ingest.max_input_bytes ({limit} bytes) once decompressed{}",
        if kept.len() < stored.len() {
            format!(
                "; first {} of {} stored bytes kept",
                kept.len(),
                stored.len()
            )
        } else {
            String::new()
        }
    );
    rows.quarantine(origin, &reason, kept);
}

/// Every top-level JSON value of `data` (one for a trail file, one per line for JSON lines). A
/// value that does not parse is quarantined up to the next line that starts a value (`{` or
/// `[`), and reading goes on from there: one bad line loses nothing else. When that part holds
/// bytes that are not UTF-8, it is read again with them as U+FFFD, so that the records around
/// them are kept and only those that held them are quarantined (see `accept`); valid input pays
/// for no UTF-8 pass of its own.
fn values(origin: &str, data: &[u8], lossy: bool, rows: &mut Rows) {
    let mut offset = 0;
    while offset < data.len() {
        let mut stream =
            serde_json::Deserializer::from_slice(&data[offset..]).into_iter::<&RawValue>();
        loop {
            let start = offset + stream.byte_offset();
            match stream.next() {
                None => return,
                Some(Ok(value)) => value_into(origin, value, lossy, rows),
                Some(Err(e)) => {
                    let start = start
                        + data[start..]
                            .iter()
                            .take_while(|b| b.is_ascii_whitespace())
                            .count();
                    let end = next_value_line(data, start);
                    let part = &data[start..end];
                    if !lossy && std::str::from_utf8(part).is_err() {
                        values(origin, String::from_utf8_lossy(part).as_bytes(), true, rows);
                        offset = end;
                        break;
                    }
                    let reason = if start == 0 {
                        format!("not JSON: {e}")
                    } else {
                        format!("not JSON after byte {start}: {e}")
                    };
                    rows.quarantine(origin, &reason, part);
                    offset = end;
                    break;
                }
            }
        }
    }
}

/// The start of the first line after `from` that begins with `{` or `[`, else the end.
fn next_value_line(data: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(newline) = data[at..].iter().position(|b| *b == b'\n') {
        at += newline + 1;
        if matches!(data.get(at), Some(b'{' | b'[')) {
            return at;
        }
    }
    data.len()
}

fn quarantine_value(origin: &str, reason: &str, raw: &str, rows: &mut Rows) {
    rows.quarantine(origin, reason, raw.as_bytes());
}

fn push(
    origin: &str,
    result: Result<normalize::Event<'_>, String>,
    raw: &str,
    lossy: bool,
    rows: &mut Rows,
) {
    match result {
        Ok(event) => accept(origin, &event, raw, lossy, rows),
        Err(reason) => quarantine_value(origin, &reason, raw, rows),
    }
}

/// Stores an event, unless it held bytes that were not UTF-8 (replaced by U+FFFD in a `lossy`
/// input): those are quarantined, with the replaced text.
fn accept(origin: &str, event: &normalize::Event<'_>, raw: &str, lossy: bool, rows: &mut Rows) {
    if lossy && raw.contains('\u{FFFD}') {
        quarantine_value(origin, "invalid UTF-8 (shown as U+FFFD)", raw, rows);
    } else {
        rows.push_all(std::slice::from_ref(event), origin);
    }
}

/// One JSON value of an input.
fn value_into(origin: &str, value: &RawValue, lossy: bool, rows: &mut Rows) {
    let text = value.get();
    if text.starts_with('[') {
        match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(items) => items
                .into_iter()
                .for_each(|item| value_into(origin, item, lossy, rows)),
            Err(e) => quarantine_value(origin, &format!("bad array: {e}"), text, rows),
        }
        return;
    }
    if !text.starts_with('{') {
        return quarantine_value(
            origin,
            "not an EventBridge event, CloudTrail record or log file",
            text,
            rows,
        );
    }
    let probe: Probe = match serde_json::from_str(text) {
        Ok(p) => p,
        Err(e) => return quarantine_value(origin, &format!("bad JSON object: {e}"), text, rows),
    };
    if let Some(records) = probe.records {
        if records.is_empty() {
            rows.stats.empty += 1;
        }
        for record in records {
            record_into(origin, record, lossy, rows);
        }
    } else if probe.digest.is_some() {
        rows.stats.digests += 1;
    } else if probe.detail_type.is_some() {
        let event = normalize::envelope(text, &rows.policy.automation_account);
        push(origin, event, text, lossy, rows);
    } else if probe.event_id.is_some() || probe.event_version.is_some() {
        push(
            origin,
            normalize::cloudtrail_record(text),
            text,
            lossy,
            rows,
        );
    } else if probe.alarm_data.is_some() {
        push(origin, normalize::alarm_action(text), text, lossy, rows);
    } else if let Some(sns) = probe.sns {
        value_into(origin, sns, lossy, rows);
    } else if let (Some("Notification"), Some(message)) =
        (probe.kind.as_deref(), probe.message.as_deref())
    {
        let sns = Sns {
            message_id: probe.message_id.as_deref(),
            timestamp: probe.timestamp.as_deref(),
            topic_arn: probe.topic_arn.as_deref(),
        };
        notification_into(origin, message, &sns, lossy, rows);
    } else if probe.alarm_name.is_some() {
        push(
            origin,
            Err("a CloudWatch alarm notification outside SNS has no message id".into()),
            text,
            lossy,
            rows,
        );
    } else {
        quarantine_value(
            origin,
            "not an EventBridge event, CloudTrail record or log file",
            text,
            rows,
        );
    }
}

/// An entry of a `Records` array: a CloudTrail record (the fast path) or a Lambda record.
fn record_into(origin: &str, record: &RawValue, lossy: bool, rows: &mut Rows) {
    match normalize::cloudtrail_record(record.get()) {
        Ok(event) => accept(origin, &event, record.get(), lossy, rows),
        Err(reason) => {
            // Not a CloudTrail record: an SNS record of a Lambda payload, or a bad record.
            match serde_json::from_str::<Probe>(record.get()) {
                Ok(Probe { sns: Some(sns), .. }) => value_into(origin, sns, lossy, rows),
                _ => quarantine_value(origin, &reason, record.get(), rows),
            }
        }
    }
}

/// The envelope fields of an SNS notification.
pub(crate) struct Sns<'a> {
    /// `MessageId`.
    pub message_id: Option<&'a str>,
    /// `Timestamp`.
    pub timestamp: Option<&'a str>,
    /// `TopicArn`.
    pub topic_arn: Option<&'a str>,
}

/// The `Message` of an SNS notification: an EventBridge event, a CloudWatch alarm, an AWS
/// Budgets notification (plain text), or JSON of any other kind this module reads.
pub(crate) fn notification_into(
    origin: &str,
    message: &str,
    sns: &Sns<'_>,
    lossy: bool,
    rows: &mut Rows,
) {
    let (message_id, timestamp) = (sns.message_id, sns.timestamp);
    let probe: Option<Probe> = serde_json::from_str(message).ok();
    match probe {
        None if normalize::is_budget_notification(message) => match message_id {
            Some(id) => push(
                origin,
                normalize::budget_notification(message, id, timestamp, sns.topic_arn),
                message,
                lossy,
                rows,
            ),
            None => quarantine_value(origin, "SNS notification without MessageId", message, rows),
        },
        Some(p) if p.alarm_name.is_some() => match message_id {
            Some(id) => push(
                origin,
                normalize::alarm_notification(message, id, timestamp),
                message,
                lossy,
                rows,
            ),
            None => quarantine_value(origin, "SNS notification without MessageId", message, rows),
        },
        Some(_) => match RawValue::from_string(message.to_string()) {
            Ok(raw) => value_into(origin, &raw, lossy, rows),
            Err(e) => quarantine_value(origin, &format!("bad SNS message: {e}"), message, rows),
        },
        None => quarantine_value(origin, "SNS message is not JSON", message, rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Policy;
    use arrow::array::RecordBatch;
    use proptest::prelude::*;

    fn rows() -> Rows {
        let policy = Policy {
            automation_account: "222222222222".into(),
            max_input_bytes: 1 << 20,
            trail_buckets: Default::default(),
            part_json_bytes: 1 << 30,
        };
        Rows::new(0, &policy)
    }

    /// What a decoder made of an input: the events per day, the quarantine rows and the counts
    /// of records, rows written, duplicates, quarantined and empty inputs.
    type Made = (Vec<(String, RecordBatch)>, Option<RecordBatch>, [u64; 5]);

    fn made(rows: Rows) -> Made {
        let b = rows.finish();
        let s = b.stats;
        let counts = [s.records, s.written, s.duplicates, s.quarantined, s.empty];
        (b.events, b.quarantine, counts)
    }

    #[test]
    fn trail_records_are_delimited_by_strings_and_brackets() {
        let text = r#"{"Records":[{"a":"}{\"]","b":[1,{"c":"\\"}],"d":"\u005d"},{"e":null}]}"#;
        assert_eq!(
            trail_records(text),
            Some(vec![
                r#"{"a":"}{\"]","b":[1,{"c":"\\"}],"d":"\u005d"}"#,
                r#"{"e":null}"#
            ])
        );
        assert_eq!(
            trail_records(" {\n \"Records\" : [ {} ,\t{\"x\":[]} ] }\n"),
            Some(vec!["{}", "{\"x\":[]}"])
        );
        for other in [
            r#"{"Records":[]}"#,
            r#"{"Records":[1]}"#,
            r#"{"Records":[{}],"x":1}"#,
            r#"{"Records":[{}]}x"#,
            r#"{"records":[{}]}"#,
            r#"{"Records":[{"a":"open}]}"#,
            r#"{"Records":[{}}]}"#,
            r#"{"Records":[{},]}"#,
            r#"{"Records":[{}"#,
            r#"["Records"]"#,
            "",
        ] {
            assert_eq!(trail_records(other), None, "{other}");
        }
    }

    /// A file with one record that is no CloudTrail record goes the general way: the others are
    /// kept, that one is quarantined with its reason.
    #[test]
    fn a_bad_record_sends_the_file_the_general_way() {
        let good = r#"{"eventID":"a","eventTime":"2026-10-03T10:00:00Z","eventSource":"s3.amazonaws.com"}"#;
        let bad = r#"{"eventID":"b","eventSource":"s3.amazonaws.com"}"#;
        let file = format!(r#"{{"Records":[{good},{bad},{good}]}}"#);
        let mut fast = rows();
        assert!(!trail_into("f", file.as_bytes(), &mut fast));
        assert_eq!(made(fast).2, [0; 5], "nothing stored by the fast path");
        let mut all = rows();
        decode("f", file.as_bytes(), &mut all);
        let (events, quarantine, counts) = made(all);
        assert_eq!(counts, [2, 1, 1, 1, 0]);
        assert_eq!(events.len(), 1);
        let q = quarantine.expect("a quarantine row");
        let reason = q
            .column(2)
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap()
            .value(0);
        assert!(reason.contains("eventTime"), "{reason}");
    }

    /// A trail file made of records with arbitrary text in their fields (JSON escapes
    /// included), then (unless the flag is false) edited at random.
    fn trail() -> impl Strategy<Value = (Vec<u8>, bool)> {
        let text = "\\PC{0,12}|[\"\\\\{}\\[\\]:,]{0,6}";
        let record = (text, text, text, 0..3u8).prop_map(|(id, agent, param, dup)| {
            serde_json::json!({
                "eventID": if dup == 0 { "same".to_string() } else { id },
                "eventTime": "2026-10-03T10:00:00Z",
                "eventSource": "ec2.amazonaws.com",
                "eventName": "ConsoleLogin",
                "userAgent": agent,
                "requestParameters": {"k": [param, {"x": [1, null, true]}]},
                "responseElements": {"ConsoleLogin": "Success"},
            })
            .to_string()
        });
        let edits = prop::collection::vec((0..3u8, any::<usize>(), any::<u8>()), 0..3);
        (prop::collection::vec(record, 1..5), edits).prop_map(|(records, edits)| {
            let edited = !edits.is_empty();
            let mut bytes = format!(r#"{{"Records":[{}]}}"#, records.join(",")).into_bytes();
            for (kind, at, byte) in edits {
                let at = at % bytes.len();
                match kind {
                    0 => bytes[at] = byte,
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, byte),
                }
                if bytes.is_empty() {
                    bytes.push(b'{');
                }
            }
            (bytes, edited)
        })
    }

    proptest! {
        /// The fast path takes every unedited file, and whenever it takes a file, the general
        /// path makes exactly the same rows of it.
        #[test]
        fn the_fast_path_makes_the_rows_the_general_path_makes((bytes, edited) in trail()) {
            let mut fast = rows();
            let taken = trail_into("f", &bytes, &mut fast);
            prop_assert!(taken || edited, "{}", String::from_utf8_lossy(&bytes));
            if taken {
                let mut general = rows();
                values("f", &bytes, false, &mut general);
                prop_assert_eq!(made(fast), made(general));
            }
        }
    }
}
