//! Metrics in CloudWatch's Embedded Metric Format: a Lambda function writes one JSON document
//! per set of dimensions to standard output after each invocation, and CloudWatch Logs turns
//! them into metrics (no `PutMetricData` request, no permission to hold). Code counts with the
//! `metrics` crate's macros under the names below, wherever it runs; without the recorder (the
//! command-line tools) counting costs next to nothing and goes nowhere.

use metrics_cloudwatch_embedded::Collector;

use crate::Settings;

/// Messages a lifecycle run put on the queue (dimension `Action`).
pub const LIFECYCLE_ENQUEUED: &str = "LifecycleEnqueued";
/// Queue messages whose account step was carried out (dimension `Action`).
pub const LIFECYCLE_DONE: &str = "LifecycleDone";
/// Queue messages with nothing due any more (dimension `Action`).
pub const LIFECYCLE_SKIPPED: &str = "LifecycleSkipped";
/// Queue messages whose step failed; they come back, then go to the dead-letter queue
/// (dimension `Action`).
pub const LIFECYCLE_FAILED: &str = "LifecycleFailed";
/// Lifecycle events emitted, one per transaction step (by `CostCenter`, and by `Label`: the
/// event's name).
pub const LIFECYCLE_TRANSACTIONS: &str = "LifecycleTransactions";
/// Events written to the lake (in total, and by `Label`: their activity, when they have one).
pub const EVENTS_INGESTED: &str = "EventsIngested";
/// Rows written to the lake's datasets by the event path (events and lifecycle records).
pub const RECORDS_INGESTED: &str = "RecordsIngested";
/// Inputs ingest could not read, written to `quarantine/` with their reason.
pub const RECORDS_QUARANTINED: &str = "RecordsQuarantined";
/// Exceptions raised, the first time each is stored (by `Label`).
pub const EXCEPTIONS: &str = "Exceptions";
/// Notifications that could not be delivered (in total, and by `Channel`).
pub const NOTIFICATION_FAILURES: &str = "NotificationFailures";
/// A day's cost of a cost center in USD, from the daily spend run (by `CostCenter`).
pub const DAILY_COST: &str = "DailyCost";

/// A metric the code emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// Its name.
    pub name: &'static str,
    /// The sets of dimensions it is emitted with (an empty set: the total).
    pub dimensions: &'static [&'static [&'static str]],
    /// The statistic that adds it up (`Sum` for counts, `Maximum` for a level).
    pub statistic: &'static str,
}

const fn metric(
    name: &'static str,
    dimensions: &'static [&'static [&'static str]],
    statistic: &'static str,
) -> Metric {
    Metric {
        name,
        dimensions,
        statistic,
    }
}

/// Every metric the code emits, with its dimensions: what the dashboard and alarms may name.
pub const EMITTED: &[Metric] = &[
    metric(LIFECYCLE_ENQUEUED, &[&["Action"]], "Sum"),
    metric(LIFECYCLE_DONE, &[&["Action"]], "Sum"),
    metric(LIFECYCLE_SKIPPED, &[&["Action"]], "Sum"),
    metric(LIFECYCLE_FAILED, &[&["Action"]], "Sum"),
    metric(
        LIFECYCLE_TRANSACTIONS,
        &[&["CostCenter"], &["Label"]],
        "Sum",
    ),
    metric(EVENTS_INGESTED, &[&[], &["Label"]], "Sum"),
    metric(RECORDS_INGESTED, &[&[]], "Sum"),
    metric(RECORDS_QUARANTINED, &[&[]], "Sum"),
    metric(EXCEPTIONS, &[&["Label"]], "Sum"),
    metric(NOTIFICATION_FAILURES, &[&[], &["Channel"]], "Sum"),
    metric(DAILY_COST, &[&["CostCenter"]], "Maximum"),
];

/// A dimension's value from data (a tag's cost center): control characters dropped, at most
/// 250 characters, never empty (CloudWatch refuses those).
pub fn dimension_value(value: &str) -> String {
    let kept: String = value
        .chars()
        .filter(|c| !c.is_control())
        .take(250)
        .collect();
    let kept = kept.trim().to_string();
    if kept.is_empty() { "None".into() } else { kept }
}

/// The namespace of a deployment's metrics: `SandboxAccounts/<environment_identifier>`.
pub fn namespace(settings: &Settings) -> String {
    format!(
        "SandboxAccounts/{}",
        settings.environment_identifier.as_str()
    )
}

/// Installs the Embedded Metric Format recorder for this process (once; a second call fails).
pub fn install(settings: &Settings) -> Result<&'static Collector, String> {
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace(settings))
        .init()
        .map_err(|e| e.to_string())
}

/// Writes what was counted since the last flush to standard output, one line per set of
/// dimensions (nothing when nothing was counted). A failed write is logged: metrics never fail
/// an invocation.
pub fn flush(collector: &Collector) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = collector
        .flush(&mut out)
        .and_then(|()| std::io::Write::flush(&mut out))
    {
        tracing::warn!(error = %e, "metrics could not be written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_values_from_data_are_made_safe() {
        assert_eq!(dimension_value("Platform"), "Platform");
        assert_eq!(dimension_value("  "), "None");
        assert_eq!(dimension_value("a\u{0}b\nc"), "abc");
        assert_eq!(dimension_value(&"x".repeat(300)).len(), 250);
    }

    #[test]
    fn every_metric_is_listed_once() {
        let mut names: Vec<&str> = EMITTED.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EMITTED.len());
    }
}
