//! The ingest Lambda function: every payload kind of `ingest::events::lambda`, and the scheduled
//! inputs of `ingest::scheduled` (costs, snapshots); JSON logs, settings from `$SPA_SETTINGS`
//! (default `settings.yaml` beside the code).

use std::sync::Arc;

use ingest::events::lambda::Handler;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use spa_core::lake::Lake;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    spa_core::process::init_lambda_logging();
    let settings = spa_core::process::lambda_settings().await?;
    // Metrics as Embedded Metric Format lines on stdout, written after each invocation.
    let metrics = spa_core::metrics::install(&settings)
        .map_err(|e| tracing::warn!(error = %e, "no metrics"))
        .ok();
    let config = spa_core::aws::sdk_config(&settings).await;
    let handler = Handler::new(
        Lake::open(&settings).await,
        spa_core::aws::s3_client(&settings, &config),
        ingest::events::Policy::of(&settings),
    );
    // The live path, unless the settings turn it off (the sweep raises exceptions either way).
    let handler = Arc::new(if settings.exceptions.live() {
        handler.with_exceptions(settings.clone())
    } else {
        handler
    });
    let (settings, lake) = (
        Arc::new(settings.clone()),
        Arc::new(Lake::open(&settings).await),
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (handler, settings, lake) = (handler.clone(), settings.clone(), lake.clone());
        async move {
            // A schedule's input (costs, snapshot), else delivered events.
            let answer = if ingest::scheduled::is_scheduled(&event.payload) {
                let today = chrono::Utc::now().date_naive();
                ingest::scheduled::run(&lake, &settings, &event.payload, today)
                    .await
                    .map_err(lambda_runtime::Error::from)
            } else {
                handler
                    .handle(event.payload)
                    .await
                    .map_err(lambda_runtime::Error::from)
            };
            if let Some(metrics) = metrics {
                spa_core::metrics::flush(metrics);
            }
            answer
        }
    }))
    .await
}
