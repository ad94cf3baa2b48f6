//! The lifecycle Lambda function: Organizations and CodeBuild events from EventBridge, the
//! maintenance window schedule (`{"action": "maintenance"}`) and the periodic check
//! (`{"action": "check"}`). JSON logs; settings from `$SPA_SETTINGS`.
//!
//! An event the lifecycle cannot use (malformed, unknown account, stale state) is logged with
//! its reason and answered, never retried; only a failure to read or write (AWS, the lake)
//! fails the invocation, so EventBridge retries it, and replays change nothing.

use chrono::{DateTime, Utc};
use lambda_runtime::{LambdaEvent, service_fn};
use lifecycle::Engine;
use lifecycle::decide::{Outcome, Trigger};
use lifecycle::triggers::{Input, parse};
use serde_json::{Value, json};
use spa_core::Settings;

async fn handle(
    engine: &Engine,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, lifecycle::Error> {
    let input = match parse(&engine.settings, payload) {
        Ok(i) => i,
        Err(reason) => {
            tracing::warn!(%reason, "malformed event skipped");
            return Ok(json!({"skipped": reason}));
        }
    };
    let (trigger, only) = match input {
        Input::Ignored(reason) => return Ok(json!({"ignored": reason})),
        Input::Maintenance => (Trigger::Maintenance, None),
        Input::Check => (Trigger::Reconcile, None),
        Input::Account(id, trigger) => (trigger, Some(id)),
    };
    let accounts = match &only {
        Some(id) => match engine.directory.account(id).await? {
            Some(a) => vec![a],
            None => {
                tracing::warn!(account = %id, "event about an account the organization does not have");
                return Ok(json!({"skipped": format!("unknown account {id}")}));
            }
        },
        None => engine.directory.organization().await?.accounts,
    };
    let (mut changed, mut skipped, mut failed) = (Vec::new(), 0, Vec::new());
    for mut account in accounts {
        // Whole-organization runs only visit accounts with something due.
        if only.is_none()
            && !matches!(
                lifecycle::decide::decide(&engine.settings, &account, &trigger, now),
                Outcome::Act(_)
            )
        {
            continue;
        }
        match engine.run(&mut account, trigger.clone(), now).await {
            Ok(Ok(done)) => changed.push(json!({
                "account": account.id.as_str(),
                "actions": done.steps.iter().map(|d| d.action.clone()).collect::<Vec<_>>(),
                "builds": done.builds,
            })),
            Ok(Err(reason)) => {
                skipped += 1;
                tracing::info!(account = %account.id, %reason, "skipped");
            }
            Err(e) => {
                tracing::error!(account = %account.id, error = %e, "failed");
                failed.push(account.id.to_string());
            }
        }
    }
    if let (Some(id), false) = (&only, failed.is_empty()) {
        return Err(lifecycle::Error::Emit(format!(
            "account {id} failed; see the log"
        )));
    }
    Ok(json!({"changed": changed, "skipped": skipped, "failed": failed}))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    spa_core::cli::init_lambda_logging();
    let settings = Settings::load(spa_core::cli::lambda_settings_path())?;
    let engine = Engine::new(settings, 8).await?;
    let engine = &engine;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let answer = handle(engine, &event.payload, Utc::now()).await?;
        Ok::<Value, lambda_runtime::Error>(answer)
    }))
    .await
}
