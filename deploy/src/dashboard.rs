//! The automation stack's dashboard and alarms: the system's technical and functional health on
//! one page (daily costs, lifecycle transactions, events and exceptions by label, the functions,
//! the queues), and alarms that publish to the exceptions topic when something needs a human:
//! a function failing, a dead-letter queue holding messages, quarantine growing, notifications
//! failing, and silence (no event ingested for `ingest.silence_hours`).
//!
//! Every metric of ours the page or an alarm names comes from `spa_core::metrics::EMITTED`, the
//! table of what the code emits (a test holds the code, the table and this page together).

use serde_json::{Value, json};
use spa_core::Settings;
use spa_core::metrics::{self, EMITTED, Metric};

use crate::cfn::reference;
use crate::names::Names;

/// CloudWatch's dashboard grid is 24 units wide.
pub const GRID_WIDTH: u32 = 24;
const WIDTH: u32 = GRID_WIDTH / 2;
const HEIGHT: u32 = 6;

/// The queues the page and the alarms watch: (what, queue name, whether it is a dead-letter
/// queue).
fn queues(settings: &Settings, names: &Names) -> Vec<(&'static str, String, bool)> {
    let lifecycle = settings.lifecycle_queue();
    vec![
        ("ingest", names.of_what("ingest"), false),
        ("lifecycle", lifecycle.clone(), false),
        ("ingest dead letters", names.of_what("ingest-dlq"), true),
        ("lifecycle dead letters", format!("{lifecycle}-dlq"), true),
        ("failed invocations", names.of_what("functions-dlq"), true),
    ]
}

const FUNCTIONS: [&str; 3] = ["ingest", "lifecycle", "reports"];

/// One of our metrics, every value of `dimension` (a CloudWatch search), as a graph's line.
fn search(namespace: &str, m: &Metric, dimension: &str, period: u32, id: &str) -> Value {
    json!({
        "expression": format!(
            "SEARCH('{{{namespace},{dimension}}} MetricName=\"{}\"', '{}', {period})",
            m.name, m.statistic
        ),
        "id": id,
    })
}

fn metric(name: &str) -> &'static Metric {
    EMITTED
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{name} is not in spa_core::metrics::EMITTED"))
}

/// A graph widget.
fn graph(title: &str, metrics: Vec<Value>, period: u32, stat: &str) -> Value {
    json!({
        "type": "metric",
        "properties": {
            "title": title,
            "view": "timeSeries",
            "stacked": false,
            "region": "${AWS::Region}",
            "period": period,
            "stat": stat,
            "metrics": metrics,
        }
    })
}

/// The dashboard's widgets, laid out two per row.
pub fn widgets(settings: &Settings) -> Vec<Value> {
    let names = Names::of(settings);
    let ns = metrics::namespace(settings);
    let ns = ns.as_str();
    let day = 86_400;
    let hour = 3_600;
    // Our metrics, every value of one dimension each.
    let mut out: Vec<Value> = [
        (
            "Daily cost per cost center (USD)",
            metrics::DAILY_COST,
            "CostCenter",
            day,
        ),
        (
            "Lifecycle transactions per cost center",
            metrics::LIFECYCLE_TRANSACTIONS,
            "CostCenter",
            day,
        ),
        (
            "Lifecycle transactions per label",
            metrics::LIFECYCLE_TRANSACTIONS,
            "Label",
            day,
        ),
        (
            "Events ingested per label",
            metrics::EVENTS_INGESTED,
            "Label",
            hour,
        ),
        ("Exceptions per label", metrics::EXCEPTIONS, "Label", hour),
        (
            "Notification failures per channel",
            metrics::NOTIFICATION_FAILURES,
            "Channel",
            hour,
        ),
    ]
    .into_iter()
    .map(|(title, name, dimension, period)| {
        let lines = vec![json!([search(ns, metric(name), dimension, period, "e1")])];
        graph(title, lines, period, metric(name).statistic)
    })
    .collect();
    out.push(graph(
        "Records ingested and quarantined",
        [
            metrics::EVENTS_INGESTED,
            metrics::RECORDS_INGESTED,
            metrics::RECORDS_QUARANTINED,
        ]
        .iter()
        .map(|name| json!([ns, name, {"label": name}]))
        .collect(),
        hour,
        "Sum",
    ));
    out.push(graph(
        "Lifecycle queue: messages by outcome",
        [
            metrics::LIFECYCLE_ENQUEUED,
            metrics::LIFECYCLE_DONE,
            metrics::LIFECYCLE_SKIPPED,
            metrics::LIFECYCLE_FAILED,
        ]
        .iter()
        .enumerate()
        .map(|(i, name)| json!([search(ns, metric(name), "Action", hour, &format!("e{i}"))]))
        .collect(),
        hour,
        "Sum",
    ));
    for (title, metric_name, stat) in [
        ("Function invocations", "Invocations", "Sum"),
        ("Function duration (ms, p95)", "Duration", "p95"),
        ("Function errors", "Errors", "Sum"),
        ("Function throttles", "Throttles", "Sum"),
    ] {
        let lines = FUNCTIONS
            .iter()
            .map(|f| json!(["AWS/Lambda", metric_name, "FunctionName", names.function(f), {"label": f}]))
            .collect();
        out.push(graph(title, lines, 300, stat));
    }
    let queues = queues(settings, &names);
    for (title, metric_name, dead) in [
        (
            "Queue depth (messages waiting)",
            "ApproximateNumberOfMessagesVisible",
            false,
        ),
        (
            "Age of the oldest message (s)",
            "ApproximateAgeOfOldestMessage",
            false,
        ),
        (
            "Dead-letter queues (messages)",
            "ApproximateNumberOfMessagesVisible",
            true,
        ),
    ] {
        let lines = queues
            .iter()
            .filter(|(_, _, d)| *d == dead)
            .map(|(what, q, _)| json!(["AWS/SQS", metric_name, "QueueName", q, {"label": what}]))
            .collect();
        out.push(graph(title, lines, 300, "Maximum"));
    }
    out.push(json!({
        "type": "alarm",
        "properties": {
            "title": "Alarms (to the exceptions topic)",
            "alarms": alarms(settings)
                .iter()
                .map(|(_, a)| a["Properties"]["AlarmName"].as_str().expect("alarms are named").to_string())
                .chain([names.of_what("lifecycle-dead-letters")])
                .map(|name| format!(
                    "arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{name}"
                ))
                .collect::<Vec<_>>(),
        }
    }));
    // Two per row, in order.
    for (i, w) in out.iter_mut().enumerate() {
        let i = i as u32;
        w["x"] = json!((i % 2) * WIDTH);
        w["y"] = json!((i / 2) * HEIGHT);
        w["width"] = json!(WIDTH);
        w["height"] = json!(HEIGHT);
    }
    out
}

/// The dashboard resource: its body a `Fn::Sub` text (the region and account filled in).
pub fn dashboard(settings: &Settings) -> Value {
    let names = Names::of(settings);
    let body = json!({"widgets": widgets(settings)}).to_string();
    json!({
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {
            "DashboardName": names.of_what("health"),
            "DashboardBody": {"Fn::Sub": body}
        }
    })
}

fn alarm(name: String, description: &str, metric: Value, rule: Value) -> Value {
    let mut properties = json!({
        "AlarmName": name,
        "AlarmDescription": description,
        "AlarmActions": [reference("ExceptionsTopic")],
    });
    for (k, v) in metric
        .as_object()
        .into_iter()
        .flatten()
        .chain(rule.as_object().into_iter().flatten())
    {
        properties[k] = v.clone();
    }
    json!({"Type": "AWS::CloudWatch::Alarm", "Properties": properties})
}

/// The alarms, by logical id. Each publishes to the exceptions topic.
pub fn alarms(settings: &Settings) -> Vec<(String, Value)> {
    let names = Names::of(settings);
    let ns = metrics::namespace(settings);
    let at_least_one = |period: u32| {
        json!({"Statistic": "Sum", "Period": period, "EvaluationPeriods": 1, "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"})
    };
    let mut out = Vec::new();
    for f in FUNCTIONS {
        let id = format!("{}ErrorsAlarm", capitalized(f));
        out.push((
            id,
            alarm(
                names.of_what(&format!("{f}-errors")),
                &format!("The {f} function failed (its log says why)"),
                json!({"Namespace": "AWS/Lambda", "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": names.function(f)}]}),
                at_least_one(300),
            ),
        ));
    }
    for (id, what, queue) in [
        (
            "IngestDeadLetterAlarm",
            "ingest",
            names.of_what("ingest-dlq"),
        ),
        (
            "FunctionsDeadLetterAlarm",
            "functions",
            names.of_what("functions-dlq"),
        ),
    ] {
        out.push((
            id.to_string(),
            alarm(
                names.of_what(&format!("{what}-dead-letters")),
                &format!("Messages on {queue}: they failed every attempt"),
                json!({"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
                    "Dimensions": [{"Name": "QueueName", "Value": queue}]}),
                json!({"Statistic": "Maximum", "Period": 300, "EvaluationPeriods": 1, "Threshold": 1,
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"}),
            ),
        ));
    }
    out.push((
        "QuarantineAlarm".into(),
        alarm(
            names.of_what("quarantine"),
            "Inputs ingest could not read went to quarantine/ in the last hour (each with its reason)",
            json!({"Namespace": ns, "MetricName": metrics::RECORDS_QUARANTINED}),
            at_least_one(3_600),
        ),
    ));
    out.push((
        "NotificationFailuresAlarm".into(),
        alarm(
            names.of_what("notification-failures"),
            "A notification could not be delivered (e-mail, Teams, Slack or SNS)",
            json!({"Namespace": ns, "MetricName": metrics::NOTIFICATION_FAILURES}),
            at_least_one(300),
        ),
    ));
    let hours = settings.ingest.silence_hours;
    out.push((
        "SilenceAlarm".into(),
        alarm(
            names.of_what("silence"),
            &format!("No event ingested for {hours} hours: the event forwarding or ingest may be broken"),
            json!({"Namespace": ns, "MetricName": metrics::EVENTS_INGESTED}),
            json!({"Statistic": "Sum", "Period": hours * 3_600, "EvaluationPeriods": 1, "Threshold": 1,
                "ComparisonOperator": "LessThanThreshold", "TreatMissingData": "breaching"}),
        ),
    ));
    out
}

fn capitalized(word: &str) -> String {
    let mut c = word.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}
