//! The lifecycle Lambda function: Organizations and CodeBuild events from EventBridge, the
//! maintenance window schedule (`{"action": "maintenance"}`) and the periodic check
//! (`{"action": "check"}`), either acting or, with `"via_queue": true`, putting one message per
//! account due on the lifecycle queue; and the batches of that queue (`Records` from SQS), one
//! account's step per message. JSON logs; settings from `$SPA_SETTINGS`.
//!
//! An event the lifecycle cannot use (malformed, unknown account, stale state) is logged with
//! its reason and answered, never retried; only a failure to read or write (AWS, the lake)
//! fails the invocation, so EventBridge retries it, and replays change nothing.

use chrono::Utc;
use lambda_runtime::{LambdaEvent, service_fn};
use lifecycle::Engine;
use serde_json::Value;

// One thread: a function below 1,769 MB has less than one vCPU, and the work is waiting on
// AWS; more threads would only add wake-ups.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    spa_core::process::init_lambda_logging();
    let settings = spa_core::process::lambda_settings().await?;
    // Metrics as Embedded Metric Format lines on stdout, written after each invocation.
    let metrics = spa_core::metrics::install(&settings)
        .map_err(|e| tracing::warn!(error = %e, "no metrics"))
        .ok();
    let engine = Engine::new(settings, 8).await?;
    let engine = &engine;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let answer = lifecycle::triggers::handle(engine, &event.payload, Utc::now()).await;
        if let Some(metrics) = metrics {
            spa_core::metrics::flush(metrics);
        }
        Ok::<Value, lambda_runtime::Error>(answer?)
    }))
    .await
}
