//! Which events raise which exceptions: a pure function over rows of the `events` dataset (a
//! day read back from the lake, or a batch just written), so the sweep and the live path raise
//! the same exceptions with the same ids.

use std::collections::BTreeSet;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::TimestampMicrosecondType;
use serde_json::Value;
use sha2::{Digest, Sha256};
use spa_core::Settings;

use crate::events::normalize::line_value;
use spa_core::events::{Activity, BUILD_PROJECTS, ExceptionLabel, LifecycleEvent};
use spa_core::lake::columns;
use spa_core::period::Day;

/// An exception found in an event, before its account's context is added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Derived from the source event id and the label (see [`exception_id`]).
    pub id: String,
    /// What it is.
    pub label: ExceptionLabel,
    /// When the source event happened, microseconds since the epoch (UTC).
    pub event_time: i64,
    /// The account it is about, when the event names one.
    pub account_id: Option<String>,
    /// Region of the event.
    pub region: Option<String>,
    /// Who acted, when known.
    pub actor: Option<String>,
    /// From where, when known.
    pub source_ip: Option<String>,
    /// What happened, for a human.
    pub message: String,
    /// The event that raised it.
    pub source_event_id: String,
    /// The raw text, for an unreadable message.
    pub raw: Option<String>,
}

impl Candidate {
    /// The day (partition) of its source event.
    pub fn day(&self) -> Day {
        Day::of_micros(self.event_time).expect("event times are partitionable")
    }
}

/// The id of the exception `label` raised by the event `source_event_id`: a replayed event
/// raises the same id, so nothing new.
pub fn exception_id(source_event_id: &str, label: ExceptionLabel) -> String {
    let digest = Sha256::digest(format!("{source_event_id}/{label}"));
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// What the rules need from the settings.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The automation account: its own Organizations calls are the lifecycle's.
    pub automation_account: String,
    /// The role the automation assumes in the management account, if any.
    pub organization_role: Option<String>,
    /// The lifecycle's CodeBuild project names.
    pub projects: BTreeSet<String>,
    /// The managed OUs (a move out of one leaves the lifecycle).
    pub managed_ous: BTreeSet<String>,
    /// The alert queue's name, if any.
    pub alert_queue: Option<String>,
}

impl Rules {
    /// The rules of `settings`.
    pub fn of(settings: &Settings) -> Self {
        let env = settings.environment_identifier.as_str();
        Rules {
            automation_account: settings.automation.account_id.to_string(),
            organization_role: settings
                .automation
                .organization_role
                .as_ref()
                .map(ToString::to_string),
            projects: BUILD_PROJECTS
                .iter()
                .map(|p| format!("{env}-{p}"))
                .collect(),
            managed_ous: settings
                .organizational_units
                .keys()
                .map(ToString::to_string)
                .collect(),
            alert_queue: settings.exceptions.alert_queue.clone(),
        }
    }
}

/// Organizations calls that take an account in or out of the organization, or move it.
const OUTSIDE_CALLS: [&str; 5] = [
    "CreateAccount",
    "CloseAccount",
    "RemoveAccountFromOrganization",
    "LeaveOrganization",
    "MoveAccount",
];

/// One row's columns, as read.
struct Row<'a> {
    event_id: &'a str,
    event_time: i64,
    source: &'a str,
    event_name: Option<&'a str>,
    account_id: Option<&'a str>,
    region: Option<&'a str>,
    actor_type: Option<&'a str>,
    actor_name: Option<&'a str>,
    source_ip: Option<&'a str>,
    error_code: Option<&'a str>,
    activity: Option<Activity>,
    raw: &'a str,
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a StringArray {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("the events schema has `{name}`"))
        .as_string::<i32>()
}

fn get(array: &StringArray, i: usize) -> Option<&str> {
    array.is_valid(i).then(|| array.value(i))
}

/// The rows of the `events` dataset [`classify`] looks at: labelled ones and Organizations calls
/// (a filter for [`Lake::read_partition_where`](spa_core::lake::Lake::read_partition_where)).
pub fn candidates() -> spa_core::lake::RowsWhere {
    spa_core::lake::RowsWhere {
        columns: &[columns::ACTIVITY, columns::SOURCE],
        keep: std::sync::Arc::new(candidate_rows),
        read: None,
    }
}

fn candidate_rows(batch: &RecordBatch) -> arrow::array::BooleanArray {
    let activity = column(batch, columns::ACTIVITY);
    let source = column(batch, columns::SOURCE);
    (0..batch.num_rows())
        .map(|i| Some(activity.is_valid(i) || source.value(i) == ORGANIZATIONS))
        .collect()
}

/// The `eventSource` of Organizations calls.
const ORGANIZATIONS: &str = "organizations.amazonaws.com";

/// The exceptions the events of `batch` (the `events` schema) raise, in row order.
pub fn classify(rules: &Rules, batch: &RecordBatch) -> Vec<Candidate> {
    let ids = column(batch, columns::EVENT_ID);
    let times = batch
        .column_by_name(columns::EVENT_TIME)
        .expect("the events schema has event_time")
        .as_primitive::<TimestampMicrosecondType>();
    let sources = column(batch, columns::SOURCE);
    let names = column(batch, columns::EVENT_NAME);
    let accounts = column(batch, columns::ACCOUNT_ID);
    let regions = column(batch, columns::REGION);
    let actor_types = column(batch, columns::ACTOR_TYPE);
    let actor_names = column(batch, columns::ACTOR_NAME);
    let ips = column(batch, columns::SOURCE_IP);
    let errors = column(batch, columns::ERROR_CODE);
    let activities = column(batch, columns::ACTIVITY);
    let raws = column(batch, columns::RAW);
    let mut out = Vec::new();
    for i in 0..batch.num_rows() {
        let activity = get(activities, i).and_then(|a| a.parse::<Activity>().ok());
        let source = sources.value(i);
        // Most events raise nothing: only labelled ones and Organizations calls are looked at.
        if activity.is_none() && source != ORGANIZATIONS {
            continue;
        }
        let row = Row {
            event_id: ids.value(i),
            event_time: times.value(i),
            source,
            event_name: get(names, i),
            account_id: get(accounts, i),
            region: get(regions, i),
            actor_type: get(actor_types, i),
            actor_name: get(actor_names, i),
            source_ip: get(ips, i),
            error_code: get(errors, i),
            activity,
            raw: raws.value(i),
        };
        if let Some(c) = candidate(rules, &row) {
            out.push(c);
        }
    }
    out
}

/// Bytes of an unreadable message's text kept in its exception.
const RAW_TEXT: usize = 64 << 10;

/// The `Unreadable` exceptions of rows of the `quarantine` dataset: every input quarantined from
/// the alert queue (origin `sqs:<alert queue>/<message id>`), with its raw text.
pub fn unreadable(rules: &Rules, batch: &RecordBatch) -> Vec<Candidate> {
    let Some(queue) = &rules.alert_queue else {
        return Vec::new();
    };
    let prefix = format!("sqs:{queue}/");
    let origins = column(batch, columns::ORIGIN);
    let reasons = column(batch, columns::REASON);
    let received = batch
        .column_by_name(columns::RECEIVED_AT)
        .expect("the quarantine schema has received_at")
        .as_primitive::<TimestampMicrosecondType>();
    let raws = batch
        .column_by_name(columns::RAW)
        .expect("the quarantine schema has raw")
        .as_binary::<i32>();
    (0..batch.num_rows())
        .filter(|&i| origins.value(i).starts_with(&prefix))
        .map(|i| {
            let origin = origins.value(i);
            let bytes = raws.value(i);
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(RAW_TEXT)]).into_owned();
            Candidate {
                id: exception_id(origin, ExceptionLabel::Unreadable),
                label: ExceptionLabel::Unreadable,
                event_time: received.value(i),
                account_id: None,
                region: None,
                actor: None,
                source_ip: None,
                message: format!(
                    "A message on the alert queue {queue} could not be read ({}); its text is attached.",
                    reasons.value(i)
                ),
                source_event_id: origin.to_string(),
                raw: Some(text),
            }
        })
        .collect()
}

fn candidate(rules: &Rules, row: &Row<'_>) -> Option<Candidate> {
    let account = row.account_id.unwrap_or("an unknown account");
    let (label, message, account_id) = match row.activity {
        Some(a @ (Activity::ConsoleLogin | Activity::FailedConsoleLogin)) => {
            let (label, who) = match row.actor_type? {
                "Root" => (
                    ExceptionLabel::ConsoleLoginWithRoot,
                    "the root user".to_string(),
                ),
                "IAMUser" => (
                    ExceptionLabel::ConsoleLoginWithIamUser,
                    format!("IAM user {}", row.actor_name.unwrap_or("?")),
                ),
                _ => return None,
            };
            let from = row
                .source_ip
                .map(|ip| format!(" from {ip}"))
                .unwrap_or_default();
            let message = if a == Activity::ConsoleLogin {
                format!("Console sign-in by {who} to account {account}{from} succeeded.")
            } else if label == ExceptionLabel::ConsoleLoginWithRoot {
                format!(
                    "Console sign-in by {who} to account {account}{from} FAILED (repeated failures are a brute-force signal)."
                )
            } else {
                format!("Console sign-in by {who} to account {account}{from} FAILED.")
            };
            (label, message, row.account_id.map(str::to_string))
        }
        Some(Activity::FailedBuild) => {
            let raw: Value = serde_json::from_str(row.raw).ok()?;
            let project = raw.pointer("/detail/project-name")?.as_str()?;
            if !rules.projects.contains(project) {
                return None;
            }
            let build = raw
                .pointer("/detail/build-id")
                .and_then(Value::as_str)
                .and_then(|b| b.rsplit('/').next())
                .unwrap_or("?");
            let status = row.event_name.unwrap_or("FAILED");
            let kind = if project.ends_with(BUILD_PROJECTS[0]) {
                "preparation"
            } else {
                "purge"
            };
            (
                ExceptionLabel::FailedBuild,
                format!("The {kind} build of account {account} ended {status} (build {build})."),
                row.account_id.map(str::to_string),
            )
        }
        Some(Activity::Lifecycle(
            e @ (LifecycleEvent::FailedOnBoarding | LifecycleEvent::FailedMaintenance),
        )) => {
            let raw: Value = serde_json::from_str(row.raw).unwrap_or(Value::Null);
            let action = raw
                .pointer("/detail/Action")
                .and_then(Value::as_str)
                .map(|a| format!(" ({a})"))
                .unwrap_or_default();
            let (label, what) = if e == LifecycleEvent::FailedOnBoarding {
                (ExceptionLabel::FailedOnBoarding, "on-boarding")
            } else {
                (ExceptionLabel::FailedMaintenance, "maintenance")
            };
            (
                label,
                format!(
                    "The {what} of account {account} failed{action}: it needs a look before it can be used."
                ),
                row.account_id.map(str::to_string),
            )
        }
        Some(Activity::BudgetAlarm) => {
            let (account_id, what) = budget_alert(row);
            let shown = account_id
                .as_deref()
                .unwrap_or("an unknown account")
                .to_string();
            (
                ExceptionLabel::BudgetAlert,
                format!("{what} for account {shown}."),
                account_id,
            )
        }
        Some(_) => return None,
        None => {
            let (account_id, message) = outside_lifecycle(rules, row)?;
            (ExceptionLabel::AccountOutsideLifecycle, message, account_id)
        }
    };
    Some(Candidate {
        id: exception_id(row.event_id, label),
        label,
        event_time: row.event_time,
        account_id,
        region: row.region.map(str::to_string),
        actor: row.actor_name.map(str::to_string),
        source_ip: row.source_ip.map(str::to_string),
        message,
        source_event_id: row.event_id.to_string(),
        raw: None,
    })
}

/// The account and a description of a budget alert: an AWS Budgets notification (plain text)
/// or a billing alarm, whose `LinkedAccount` dimension names the account (the alarm itself lives
/// in the payer account).
fn budget_alert(row: &Row<'_>) -> (Option<String>, String) {
    if row.source == "aws.budgets" {
        let line = |key: &str| line_value(row.raw, key).unwrap_or("?").to_string();
        return (
            row.account_id.map(str::to_string),
            format!(
                "AWS Budgets: budget {} ({} {}, threshold {}, budgeted {})",
                line("Budget Name:"),
                line("Alert Type:"),
                [line("ACTUAL Amount:"), line("FORECASTED Amount:")]
                    .into_iter()
                    .find(|a| a != "?")
                    .unwrap_or_else(|| "?".into()),
                line("Alert Threshold:"),
                line("Budgeted Amount:"),
            ),
        );
    }
    let raw: Value = serde_json::from_str(row.raw).unwrap_or(Value::Null);
    let detail = raw.get("detail").unwrap_or(&raw);
    let linked = detail
        .pointer("/configuration/metrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|m| {
            m.pointer("/metricStat/metric/dimensions/LinkedAccount")
                .and_then(Value::as_str)
        })
        .or_else(|| {
            detail
                .pointer("/Trigger/Dimensions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|d| d.get("name").and_then(Value::as_str) == Some("LinkedAccount"))
                .and_then(|d| d.get("value").and_then(Value::as_str))
        });
    let name = detail
        .get("alarmName")
        .or_else(|| detail.get("AlarmName"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    // The reason is JSON inside a string; its threshold and value say how far past it is.
    let reason = detail
        .pointer("/state/reasonData")
        .and_then(Value::as_str)
        .and_then(|r| serde_json::from_str::<Value>(r).ok());
    let figures = reason
        .as_ref()
        .and_then(|r| {
            let value = r.pointer("/recentDatapoints/0")?;
            let threshold = r.get("threshold")?;
            Some(format!(
                ", estimated charges {value} past the threshold {threshold}"
            ))
        })
        .unwrap_or_default();
    (
        linked.or(row.account_id).map(str::to_string),
        format!("Billing alarm {name} went to ALARM{figures}"),
    )
}

/// An Organizations call that takes an account out of (or into) the organization, or out of a
/// managed OU, by anyone but the automation; `None` for anything else.
fn outside_lifecycle(rules: &Rules, row: &Row<'_>) -> Option<(Option<String>, String)> {
    let name = row.event_name?;
    if row.source != ORGANIZATIONS || row.error_code.is_some() || !OUTSIDE_CALLS.contains(&name) {
        return None;
    }
    let raw: Value = serde_json::from_str(row.raw).ok()?;
    let record = raw.get("detail").filter(|d| d.is_object()).unwrap_or(&raw);
    let identity = record.get("userIdentity");
    let caller_account = identity
        .and_then(|i| i.get("accountId"))
        .and_then(Value::as_str);
    let arn = identity
        .and_then(|i| i.get("arn"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let by_automation = caller_account == Some(rules.automation_account.as_str())
        || rules
            .organization_role
            .as_ref()
            .is_some_and(|role| arn.contains(&format!(":assumed-role/{role}/")));
    if by_automation {
        return None;
    }
    let request = record.get("requestParameters");
    let text = |key: &str| request.and_then(|r| r.get(key)).and_then(Value::as_str);
    if name == "MoveAccount" {
        let from = text("sourceParentId")?;
        let to = text("destinationParentId").unwrap_or("?");
        if !rules.managed_ous.contains(from) || rules.managed_ous.contains(to) {
            return None;
        }
    }
    let account = row.account_id.map(str::to_string);
    let who = if arn.is_empty() {
        row.actor_name.unwrap_or("someone").to_string()
    } else {
        arn.to_string()
    };
    let about = account.as_deref().unwrap_or("an account");
    let what = match name {
        "CreateAccount" => format!("{who} created {about} outside the lifecycle"),
        "CloseAccount" => format!("{who} closed {about}"),
        "RemoveAccountFromOrganization" => format!("{who} removed {about} from the organization"),
        "LeaveOrganization" => format!("{about} left the organization ({who})"),
        _ => format!(
            "{who} moved {about} out of managed OU {} to {}",
            text("sourceParentId").unwrap_or("?"),
            text("destinationParentId").unwrap_or("?")
        ),
    };
    Some((account, format!("{what}.")))
}
