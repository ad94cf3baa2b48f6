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

/// Every metric the code emits, with its dimensions: what the dashboard and alarms may name.
pub const EMITTED: [(&str, &[&str]); 4] = [
    (LIFECYCLE_ENQUEUED, &["Action"]),
    (LIFECYCLE_DONE, &["Action"]),
    (LIFECYCLE_SKIPPED, &["Action"]),
    (LIFECYCLE_FAILED, &["Action"]),
];

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
