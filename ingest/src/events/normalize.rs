//! One event row from a CloudTrail record, an EventBridge envelope or a CloudWatch alarm
//! notification: the lake's normalized columns plus the original JSON.
//!
//! Parsing borrows from the input text: a field is copied only when it holds JSON escapes.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use spa_core::events::{Activity, LIFECYCLE_SOURCE, LifecycleEvent};

type Text<'a> = Option<Cow<'a, str>>;

/// CloudTrail's name of a console sign-in (and the key of its outcome), which the activity
/// label copies.
const CONSOLE_LOGIN: &str = Activity::ConsoleLogin.as_str();

/// A normalized event, borrowing from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    /// CloudTrail `eventID`, else the EventBridge `id` (or a digest for alarm notifications).
    pub event_id: Cow<'a, str>,
    /// Microseconds since the epoch, UTC.
    pub event_time: i64,
    /// `eventSource` of CloudTrail records, `source` of other events.
    pub source: Cow<'a, str>,
    /// EventBridge detail type (derived from `eventType` for CloudTrail records).
    pub detail_type: Text<'a>,
    /// `eventName`, or the state of builds and alarms.
    pub event_name: Text<'a>,
    /// The account the event is about (the target account of Organizations calls).
    pub account_id: Text<'a>,
    /// The account where the event was recorded.
    pub recipient_account_id: Text<'a>,
    /// Region.
    pub region: Text<'a>,
    /// `userIdentity.type`.
    pub actor_type: Text<'a>,
    /// User name, role session name, `root`, or the invoking service.
    pub actor_name: Text<'a>,
    /// `sourceIPAddress`.
    pub source_ip: Text<'a>,
    /// `userAgent`.
    pub user_agent: Text<'a>,
    /// `errorCode`, or `Failure` for a failed console sign-in.
    pub error_code: Text<'a>,
    /// Activity label, when one applies.
    pub activity: Option<Activity>,
    /// The original JSON.
    pub raw: &'a str,
}

#[derive(Deserialize)]
struct Identity<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Text<'a>,
    #[serde(rename = "principalId", borrow, default)]
    principal_id: Text<'a>,
    #[serde(borrow, default)]
    arn: Text<'a>,
    #[serde(rename = "accountId", borrow, default)]
    account_id: Text<'a>,
    #[serde(rename = "userName", borrow, default)]
    user_name: Text<'a>,
    #[serde(rename = "invokedBy", borrow, default)]
    invoked_by: Text<'a>,
}

#[derive(Default)]
struct Record<'a> {
    event_id: Text<'a>,
    event_time: Text<'a>,
    event_source: Text<'a>,
    event_name: Text<'a>,
    event_type: Text<'a>,
    region: Text<'a>,
    source_ip: Text<'a>,
    user_agent: Text<'a>,
    error_code: Text<'a>,
    recipient: Text<'a>,
    identity: Option<Identity<'a>>,
    request: Option<&'a RawValue>,
    response: Option<&'a RawValue>,
    service_details: Option<&'a RawValue>,
    insight_details: Option<&'a RawValue>,
}

/// A string that borrows from the input unless it holds escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Hand-written so that a key written twice (it happens in real samples) keeps the last value
/// instead of failing the record, and so that unused keys are skipped without building values.
impl<'de> Deserialize<'de> for Record<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Record<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a CloudTrail record (a JSON object)")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Record<'de>, A::Error> {
                let mut r = Record::default();
                while let Some(Str(key)) = map.next_key::<Str<'de>>()? {
                    let text = |v: Option<Str<'de>>| v.map(|s| s.0);
                    match key.as_ref() {
                        "eventID" => r.event_id = text(map.next_value()?),
                        "eventTime" => r.event_time = text(map.next_value()?),
                        "eventSource" => r.event_source = text(map.next_value()?),
                        "eventName" => r.event_name = text(map.next_value()?),
                        "eventType" => r.event_type = text(map.next_value()?),
                        "awsRegion" => r.region = text(map.next_value()?),
                        "sourceIPAddress" => r.source_ip = text(map.next_value()?),
                        "userAgent" => r.user_agent = text(map.next_value()?),
                        "errorCode" => r.error_code = text(map.next_value()?),
                        "recipientAccountId" => r.recipient = text(map.next_value()?),
                        "userIdentity" => r.identity = map.next_value()?,
                        "requestParameters" => r.request = map.next_value()?,
                        "responseElements" => r.response = map.next_value()?,
                        "serviceEventDetails" => r.service_details = map.next_value()?,
                        "insightDetails" => r.insight_details = map.next_value()?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(rename = "detail-type", borrow, default)]
    detail_type: Text<'a>,
    #[serde(borrow, default)]
    source: Text<'a>,
    #[serde(borrow, default)]
    account: Text<'a>,
    #[serde(borrow, default)]
    time: Text<'a>,
    #[serde(borrow, default)]
    region: Text<'a>,
    #[serde(borrow, default)]
    resources: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
}

/// Parses a timestamp as AWS writes them: RFC 3339 (`2026-10-03T18:00:05Z`) or with a
/// colon-less offset (`2023-08-04T12:36:15.490+0000`). Returns microseconds since the epoch.
pub(crate) fn parse_time(text: &str) -> Result<i64, String> {
    let bad = || format!("bad timestamp `{text}` (expected e.g. 2026-10-03T18:00:05Z)");
    if text.contains(char::is_whitespace) {
        return Err(bad());
    }
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.timestamp_micros())
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| t.and_utc().timestamp_micros())
        })
        .map_err(|_| bad())
}

/// The first and the last microsecond the lake can partition by day: from the Unix epoch (no
/// real trail is older) to the end of year 9999 (a partition is written `YYYY-MM-DD`).
const EARLIEST: i64 = 0;
const LATEST: i64 = 253_402_300_800_000_000 - 1;

/// The time of an event: a timestamp [`parse_time`] reads and the lake can partition, else the
/// reason it is refused (the event is quarantined with it, before anything is written).
fn event_time(text: &str) -> Result<i64, String> {
    let micros = parse_time(text)?;
    if (EARLIEST..=LATEST).contains(&micros) {
        Ok(micros)
    } else {
        Err(format!(
            "time `{text}` is outside the days the lake partitions by (1970-01-01 to 9999-12-31)"
        ))
    }
}

fn required<'a>(value: Text<'a>, field: &str) -> Result<Cow<'a, str>, String> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(format!("missing field `{field}`")),
    }
}

/// Extracts a string at a path of keys inside a raw JSON object, if present. Only the objects
/// on the path are read, as maps of raw values: a value elsewhere that serde_json cannot hold
/// (a number such as `1e400`) does not hide the one asked for.
fn pointer(raw: Option<&RawValue>, path: &[&str]) -> Option<String> {
    let mut at = raw?;
    for key in path {
        let object: std::collections::HashMap<Cow<'_, str>, &RawValue> =
            serde_json::from_str(at.get()).ok()?;
        at = object.get(*key).copied()?;
    }
    serde_json::from_str(at.get()).ok()
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The account an Organizations call is about: the created, moved, closed, invited or tagged
/// account, never the management account that made the call. `None` when the record does not
/// say (e.g. `CreateAccount` still in progress).
fn organizations_target(record: &Record<'_>) -> Option<Option<String>> {
    let name = record.event_name.as_deref()?;
    let target = match name {
        "CreateAccount" | "CreateGovCloudAccount" => {
            pointer(record.response, &["createAccountStatus", "accountId"])
        }
        "CreateAccountResult" => pointer(
            record.service_details,
            &["createAccountStatus", "accountId"],
        ),
        "CloseAccountResult" => {
            pointer(record.service_details, &["closeAccountStatus", "accountId"])
        }
        "MoveAccount" | "CloseAccount" | "RemoveAccountFromOrganization" | "DescribeAccount" => {
            pointer(record.request, &["accountId"])
        }
        "InviteAccountToOrganization" => pointer(record.request, &["target", "id"]),
        "TagResource" | "UntagResource" => {
            pointer(record.request, &["resourceId"]).filter(|id| is_account_id(id))
        }
        _ => return None,
    };
    Some(target)
}

fn actor_name<'a>(identity: &Identity<'a>) -> Text<'a> {
    let last_segment = |arn: &Text<'a>| -> Text<'a> {
        arn.as_ref()
            .and_then(|a| a.rsplit_once('/'))
            .map(|(_, s)| Cow::Owned(s.to_string()))
    };
    match identity.kind.as_deref() {
        Some("Root") => Some(Cow::Borrowed("root")),
        Some("IAMUser") => identity
            .user_name
            .clone()
            .or_else(|| last_segment(&identity.arn)),
        Some("AssumedRole") | Some("FederatedUser") => {
            last_segment(&identity.arn).or_else(|| identity.principal_id.clone())
        }
        Some("AWSService") => identity.invoked_by.clone(),
        _ => identity
            .user_name
            .clone()
            .or_else(|| identity.principal_id.clone()),
    }
}

fn detail_type_of(event_type: Option<&str>) -> Option<&'static str> {
    match event_type? {
        "AwsApiCall" => Some("AWS API Call via CloudTrail"),
        "AwsConsoleSignIn" => Some("AWS Console Sign In via CloudTrail"),
        "AwsServiceEvent" => Some("AWS Service Event via CloudTrail"),
        "AwsConsoleAction" => Some("AWS Console Action via CloudTrail"),
        "AwsCloudTrailInsight" => Some("AWS Insight via CloudTrail"),
        _ => None,
    }
}

fn from_record<'a>(mut record: Record<'a>, raw: &'a str) -> Result<Event<'a>, String> {
    // Records of the first CloudTrail versions have no eventID: their content names them.
    let event_id = match record.event_id.take() {
        Some(id) if !id.is_empty() => id,
        _ => Cow::Owned(digest_id("record", &[raw])),
    };
    let event_time = event_time(&required(record.event_time.clone(), "eventTime")?)?;
    // Insights events name the API they are about in insightDetails.
    if record.event_source.is_none() && record.insight_details.is_some() {
        record.event_source = pointer(record.insight_details, &["eventSource"]).map(Cow::Owned);
        record.event_name = pointer(record.insight_details, &["eventName"]).map(Cow::Owned);
    }
    let source = required(record.event_source.clone(), "eventSource")?;
    let identity = record.identity.as_ref();
    let mut error_code = record.error_code.clone();
    let mut activity = None;
    if record.event_name.as_deref() == Some(CONSOLE_LOGIN) {
        let outcome = pointer(record.response, &[CONSOLE_LOGIN]);
        if outcome.as_deref() == Some("Success") && error_code.is_none() {
            activity = Some(Activity::ConsoleLogin);
        } else {
            activity = Some(Activity::FailedConsoleLogin);
            error_code = error_code.or(Some(Cow::Borrowed("Failure")));
        }
    }
    let account_id = match (source.as_ref(), organizations_target(&record)) {
        ("organizations.amazonaws.com", Some(target)) => target.map(Cow::Owned),
        _ => record
            .recipient
            .clone()
            .or_else(|| identity.and_then(|i| i.account_id.clone())),
    };
    Ok(Event {
        event_id,
        event_time,
        source,
        detail_type: detail_type_of(record.event_type.as_deref()).map(Cow::Borrowed),
        event_name: record.event_name,
        account_id,
        recipient_account_id: record.recipient,
        region: record.region,
        actor_type: identity.and_then(|i| i.kind.clone()),
        actor_name: identity.and_then(actor_name),
        source_ip: record.source_ip,
        user_agent: record.user_agent,
        error_code,
        activity,
        raw,
    })
}

/// Normalizes one CloudTrail record (`raw` is its JSON object).
pub(crate) fn cloudtrail_record(raw: &str) -> Result<Event<'_>, String> {
    let record: Record =
        serde_json::from_str(raw).map_err(|e| format!("not a CloudTrail record: {e}"))?;
    from_record(record, raw)
}

fn is_billing_alarm(detail: &serde_json::Value) -> bool {
    let named_budget = ["alarmName", "AlarmName"]
        .iter()
        .filter_map(|k| detail.get(*k).and_then(|v| v.as_str()))
        .any(|n| n.to_ascii_lowercase().contains("budget"));
    let metrics = detail
        .pointer("/configuration/metrics")
        .and_then(|m| m.as_array());
    let billing_metric = metrics.is_some_and(|ms| {
        ms.iter().any(|m| {
            m.pointer("/metricStat/metric/namespace")
                .and_then(|n| n.as_str())
                == Some("AWS/Billing")
        })
    });
    let billing_trigger = detail
        .pointer("/Trigger/Namespace")
        .and_then(|n| n.as_str())
        == Some("AWS/Billing");
    named_budget || billing_metric || billing_trigger
}

/// Normalizes one EventBridge envelope (`raw` is its JSON object). CloudTrail-based detail
/// types take their columns from the CloudTrail record in `detail`, so the same event delivered
/// by EventBridge and by a trail file gives the same row. `recipient_account_id` is the
/// envelope's `account`: the sender, which EventBridge sets and a sender cannot choose.
/// Lifecycle events count as such only when `automation_account` sent them; their id is the
/// detail's `EventId` when present (the lifecycle derives it from the account, the event and
/// its time, so an event sent again after a failure is stored once).
pub fn envelope<'a>(raw: &'a str, automation_account: &str) -> Result<Event<'a>, String> {
    let env: Envelope =
        serde_json::from_str(raw).map_err(|e| format!("not an EventBridge event: {e}"))?;
    let detail_type = required(env.detail_type, "detail-type")?;
    // Only AWS emits `aws.` sources (EventBridge refuses them in PutEvents): a CloudTrail-shaped
    // detail under any other source is somebody's custom event, read as one (no sign-in label,
    // the sender's account), never as the record it imitates.
    let from_aws = env.source.as_deref().is_some_and(|s| s.starts_with("aws."));
    if from_aws
        && detail_type.ends_with("via CloudTrail")
        && let Some(detail) = env.detail
    {
        let record: Record = serde_json::from_str(detail.get())
            .map_err(|e| format!("bad CloudTrail detail: {e}"))?;
        if record.event_id.is_some() {
            let mut event = from_record(record, raw)?;
            event.detail_type = Some(detail_type);
            event.region = event.region.or(env.region);
            event.account_id = event.account_id.or(env.account.clone());
            event.recipient_account_id = env.account.or(event.recipient_account_id);
            return Ok(event);
        }
    }
    let mut id = required(env.id, "id")?;
    let source = required(env.source, "source")?;
    let event_time = event_time(&required(env.time, "time")?)?;
    let account = required(env.account, "account")?;
    let detail: serde_json::Value = match env.detail {
        Some(d) => serde_json::from_str(d.get()).map_err(|e| format!("bad detail: {e}"))?,
        None => serde_json::Value::Null,
    };
    let text = |pointer: &str| {
        detail
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .map(|s| Cow::Owned(s.to_string()))
    };
    let mut account_id = Some(account.clone());
    let mut event_name = None;
    let mut activity = None;
    match (source.as_ref(), detail_type.as_ref()) {
        // From anyone else, the same shape is that sender's custom event, about the sender.
        (LIFECYCLE_SOURCE, label) if account == automation_account => {
            account_id = text("/Account").or(account_id);
            activity = label.parse::<LifecycleEvent>().ok().map(Activity::from);
            if let Some(own) = text("/EventId").filter(|i| !i.is_empty()) {
                id = own;
            }
        }
        ("aws.codebuild", "CodeBuild Build State Change") => {
            event_name = text("/build-status");
            if matches!(
                event_name.as_deref(),
                Some("FAILED" | "STOPPED" | "FAULT" | "TIMED_OUT")
            ) {
                activity = Some(Activity::FailedBuild);
            }
        }
        ("aws.cloudwatch", "CloudWatch Alarm State Change") => {
            event_name = text("/state/value");
            if event_name.as_deref() == Some("ALARM") && is_billing_alarm(&detail) {
                activity = Some(Activity::BudgetAlarm);
            }
        }
        ("aws.tag", "Tag Change on Resource")
            if text("/service").as_deref() == Some("organizations") =>
        {
            account_id = env
                .resources
                .iter()
                .filter_map(|arn| arn.rsplit('/').next())
                .find(|id| is_account_id(id))
                .map(|id| Cow::Owned(id.to_string()));
        }
        _ => {}
    }
    Ok(Event {
        detail_type: Some(detail_type),
        event_name,
        account_id,
        recipient_account_id: Some(account),
        region: env.region,
        activity,
        ..without_actor(id, event_time, source, raw)
    })
}

/// An event that is no CloudTrail call: no actor, source IP, user agent or error code; the
/// callers fill in the rest.
fn without_actor<'a>(
    event_id: Cow<'a, str>,
    event_time: i64,
    source: Cow<'a, str>,
    raw: &'a str,
) -> Event<'a> {
    Event {
        event_id,
        event_time,
        source,
        detail_type: None,
        event_name: None,
        account_id: None,
        recipient_account_id: None,
        region: None,
        actor_type: None,
        actor_name: None,
        source_ip: None,
        user_agent: None,
        error_code: None,
        activity: None,
        raw,
    }
}

fn digest_id(prefix: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for p in parts {
        hash.update(p.as_bytes());
        hash.update([0]);
    }
    let hex: String = hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{prefix}-{hex}")
}

/// Normalizes the payload a CloudWatch alarm sends to a Lambda action
/// (`source`, `alarmArn`, `accountId`, `time`, `region`, `alarmData`). It has no id: the id is a
/// digest of the alarm and the time of its state, so a redelivery gives the same row.
pub(crate) fn alarm_action(raw: &str) -> Result<Event<'_>, String> {
    let v: serde_json::Value = serde_json::from_str(raw).map_err(|e| format!("not JSON: {e}"))?;
    let s = |p: &str| v.pointer(p).and_then(|x| x.as_str());
    let arn = s("/alarmArn").ok_or("missing field `alarmArn`")?;
    let time = s("/time").ok_or("missing field `time`")?;
    let event_time = event_time(time)?;
    let state = s("/alarmData/state/value");
    let billing = v.get("alarmData").is_some_and(is_billing_alarm);
    Ok(Event {
        detail_type: Some(Cow::Borrowed("CloudWatch Alarm State Change")),
        event_name: state.map(|x| Cow::Owned(x.to_string())),
        account_id: s("/accountId").map(|x| Cow::Owned(x.to_string())),
        recipient_account_id: s("/accountId").map(|x| Cow::Owned(x.to_string())),
        region: s("/region").map(|x| Cow::Owned(x.to_string())),
        activity: (state == Some("ALARM") && billing).then_some(Activity::BudgetAlarm),
        ..without_actor(
            Cow::Owned(digest_id("alarm", &[arn, time])),
            event_time,
            Cow::Owned(s("/source").unwrap_or("aws.cloudwatch").to_string()),
            raw,
        )
    })
}

/// Normalizes a CloudWatch alarm notification delivered by SNS (`message` is the SNS
/// `Message`, `message_id` the SNS `MessageId`, `timestamp` the SNS `Timestamp`).
pub(crate) fn alarm_notification<'a>(
    message: &'a str,
    message_id: &str,
    timestamp: Option<&str>,
) -> Result<Event<'a>, String> {
    let v: serde_json::Value =
        serde_json::from_str(message).map_err(|e| format!("not JSON: {e}"))?;
    let s = |p: &str| {
        v.get(p)
            .and_then(|x| x.as_str())
            .map(|x| Cow::<str>::Owned(x.to_string()))
    };
    let time = s("StateChangeTime")
        .map(|t| t.into_owned())
        .or(timestamp.map(str::to_string));
    let event_time = event_time(&time.ok_or("missing field `StateChangeTime`")?)?;
    let state = s("NewStateValue");
    let activity = (state.as_deref() == Some("ALARM") && is_billing_alarm(&v))
        .then_some(Activity::BudgetAlarm);
    Ok(Event {
        detail_type: Some(Cow::Borrowed("CloudWatch Alarm State Change")),
        event_name: state,
        account_id: s("AWSAccountId"),
        recipient_account_id: s("AWSAccountId"),
        region: s("Region"),
        activity,
        ..without_actor(
            Cow::Owned(message_id.to_string()),
            event_time,
            Cow::Borrowed("aws.cloudwatch"),
            message,
        )
    })
}

/// First line of the plain-text message AWS Budgets publishes to SNS.
const BUDGET_NOTIFICATION: &str = "AWS Budget Notification";

/// Whether an SNS message is an AWS Budgets notification (plain text, not JSON).
pub(crate) fn is_budget_notification(message: &str) -> bool {
    message.trim_start().starts_with(BUDGET_NOTIFICATION)
}

/// The value after `key` at the start of a line (`Budget Name: sandbox`), trimmed.
pub(crate) fn line_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Normalizes an AWS Budgets notification delivered by SNS: the account from its
/// `AWS Account <id>` line, the alert type (`ACTUAL`, `FORECASTED`) as the event name, the id
/// and time of the SNS message. It is a budget alarm only when the topic that published it
/// belongs to the account it names (a member's budget publishes from its own account); from
/// another topic it is stored unlabelled.
pub(crate) fn budget_notification<'a>(
    message: &'a str,
    message_id: &str,
    timestamp: Option<&str>,
    topic_arn: Option<&str>,
) -> Result<Event<'a>, String> {
    let event_time = event_time(timestamp.ok_or("SNS notification without Timestamp")?)?;
    let account = line_value(message, "AWS Account")
        .filter(|a| is_account_id(a))
        .ok_or("AWS Budgets notification without an `AWS Account <id>` line")?;
    let topic_account = topic_arn.and_then(|arn| arn.split(':').nth(4));
    let activity = (topic_account == Some(account)).then_some(Activity::BudgetAlarm);
    Ok(Event {
        detail_type: Some(Cow::Borrowed(BUDGET_NOTIFICATION)),
        event_name: line_value(message, "Alert Type:").map(|t| Cow::Owned(t.to_string())),
        account_id: Some(Cow::Owned(account.to_string())),
        recipient_account_id: topic_account.map(|a| Cow::Owned(a.to_string())),
        activity,
        ..without_actor(
            Cow::Owned(message_id.to_string()),
            event_time,
            Cow::Borrowed("aws.budgets"),
            message,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTOMATION: &str = "222222222222";

    /// A lifecycle event is one only when the automation account sent it: from any other
    /// account (a member, the management account, an empty or odd `account`), the same envelope
    /// is the sender's unlabelled event about the sender, whatever its detail names.
    #[test]
    fn lifecycle_events_are_trusted_only_from_the_automation_account() {
        for sender in [
            AUTOMATION,
            "300001010101",
            "111111111111",
            "22222222222",
            " 222222222222",
        ] {
            for label in [
                "ExpiredAccount",
                "PurgedAccount",
                "FailedMaintenance",
                "CreatedAccount",
            ] {
                let raw = format!(
                    r#"{{"version":"0","id":"eb-id","detail-type":"{label}","source":"spa.lifecycle","account":"{sender}",
                    "time":"2026-10-03T18:00:05Z","region":"eu-west-1","resources":[],
                    "detail":{{"Account":"300009999999","EventId":"own-id"}}}}"#
                );
                let e = envelope(&raw, AUTOMATION).unwrap();
                assert_eq!(
                    e.recipient_account_id.as_deref(),
                    Some(sender),
                    "the sender is kept"
                );
                if sender == AUTOMATION {
                    assert_eq!(e.activity.map(Activity::as_str), Some(label));
                    assert_eq!(e.account_id.as_deref(), Some("300009999999"));
                    assert_eq!(e.event_id, "own-id", "the lifecycle's own id");
                } else {
                    assert_eq!(e.activity, None, "{sender} {label}");
                    assert_eq!(e.account_id.as_deref(), Some(sender));
                    assert_eq!(e.event_id, "eb-id");
                }
            }
        }
    }

    proptest::proptest! {
        /// Every year chrono can write: accepted exactly when the lake can partition it.
        #[test]
        fn event_times_are_accepted_exactly_in_the_partitionable_years(year in -20_000i32..20_000) {
            let Some(day) = chrono::NaiveDate::from_ymd_opt(year, 6, 15) else { return Ok(()) };
            let text = day.and_hms_opt(12, 0, 0).unwrap().format("%Y-%m-%dT%H:%M:%S+0000").to_string();
            proptest::prop_assert_eq!(event_time(&text).is_ok(), (1970..=9999).contains(&year), "{}", text);
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Ok(1_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:01.5+0000"), Ok(1_500_000));
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00"), Ok(0));
        assert!(
            parse_time("2023-08-04T12: 36: 15.490+0000")
                .unwrap_err()
                .contains("bad timestamp")
        );
    }

    #[test]
    fn organizations_calls_are_about_the_target_account() {
        let raw = r#"{"eventID":"e1","eventTime":"2026-10-01T00:00:00Z","eventSource":"organizations.amazonaws.com",
            "eventName":"MoveAccount","recipientAccountId":"111111111111",
            "requestParameters":{"accountId":"333333333333","sourceParentId":"r-ab12","destinationParentId":"ou-ab12-cdefghij"}}"#;
        let e = cloudtrail_record(raw).unwrap();
        assert_eq!(e.account_id.as_deref(), Some("333333333333"));
        assert_eq!(e.recipient_account_id.as_deref(), Some("111111111111"));

        let raw = r#"{"eventID":"e2","eventTime":"2026-10-01T00:00:00Z","eventSource":"organizations.amazonaws.com",
            "eventName":"TagResource","recipientAccountId":"111111111111",
            "requestParameters":{"resourceId":"333333333333","tags":[{"key":"account-state","value":"vanilla"}]}}"#;
        assert_eq!(
            cloudtrail_record(raw).unwrap().account_id.as_deref(),
            Some("333333333333")
        );

        let raw = r#"{"eventID":"e3","eventTime":"2026-10-01T00:00:00Z","eventSource":"organizations.amazonaws.com",
            "eventName":"TagResource","recipientAccountId":"111111111111",
            "requestParameters":{"resourceId":"ou-ab12-cdefghij","tags":[]}}"#;
        assert_eq!(
            cloudtrail_record(raw).unwrap().account_id,
            None,
            "an OU is not an account"
        );
    }

    #[test]
    fn console_logins() {
        let ok = r#"{"eventID":"e","eventTime":"2026-10-01T00:00:00Z","eventSource":"signin.amazonaws.com",
            "eventName":"ConsoleLogin","eventType":"AwsConsoleSignIn","responseElements":{"ConsoleLogin":"Success"},
            "userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_1/alice@example.com"}}"#;
        let e = cloudtrail_record(ok).unwrap();
        assert_eq!(e.activity, Some(Activity::ConsoleLogin));
        assert_eq!(e.actor_name.as_deref(), Some("alice@example.com"));
        assert_eq!(
            e.detail_type.as_deref(),
            Some("AWS Console Sign In via CloudTrail")
        );
        let failed = ok.replace("\"Success\"", "\"Failure\"");
        let e = cloudtrail_record(&failed).unwrap();
        assert_eq!(e.activity, Some(Activity::FailedConsoleLogin));
        assert_eq!(e.error_code.as_deref(), Some("Failure"));
    }

    #[test]
    fn lifecycle_and_builds() {
        let raw = r#"{"version":"0","id":"x","detail-type":"ExpiredAccount","source":"spa.lifecycle","account":"222222222222",
            "time":"2026-10-03T18:00:05Z","region":"eu-west-1","resources":[],"detail":{"Account":"300001010101"}}"#;
        let e = envelope(raw, "222222222222").unwrap();
        assert_eq!(e.activity.map(Activity::as_str), Some("ExpiredAccount"));
        assert_eq!(e.account_id.as_deref(), Some("300001010101"));
        assert_eq!(e.recipient_account_id.as_deref(), Some("222222222222"));
        let raw = r#"{"version":"0","id":"y","detail-type":"CodeBuild Build State Change","source":"aws.codebuild","account":"300001010101",
            "time":"2026-10-03T18:00:05Z","region":"eu-west-1","detail":{"build-status":"FAILED"}}"#;
        assert_eq!(
            envelope(raw, "222222222222").unwrap().activity,
            Some(Activity::FailedBuild)
        );
        let missing =
            r#"{"detail-type":"Tag Change on Resource","region":"us-east-1","detail":{}}"#;
        assert_eq!(
            envelope(missing, "222222222222").unwrap_err(),
            "missing field `id`"
        );
    }
}
