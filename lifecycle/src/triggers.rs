//! EventBridge events and schedules as lifecycle triggers (the Lambda function's input).
//!
//! - Organizations (`aws.organizations`, through CloudTrail): `CreateAccountResult` that
//!   succeeded and `MoveAccount` give [`Trigger::Joined`]; `TagResource` that writes the state
//!   tag gives [`Trigger::Tagged`].
//! - CodeBuild `Build State Change` of a lifecycle project under the `aws.codebuild` source
//!   (forwarded from the member account by the preparation): a finished build gives
//!   [`Trigger::BuildEnded`].
//! - A call that failed (`errorCode` set, e.g. a denied `TagResource`) changed nothing and is
//!   ignored.
//! - Schedules: `{"action": "maintenance"}` for the maintenance window, `{"action": "check"}`
//!   (or a plain `Scheduled Event`) for the periodic check; with `"via_queue": true` they put one
//!   message per account due on the lifecycle queue instead of acting themselves.
//! - A batch of messages from the lifecycle queue (`Records` from `aws:sqs`): each account's step.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use spa_core::Settings;
use spa_core::settings::AccountId;

use spa_core::organization::TagKeys;

use crate::decide::{BuildKind, BuildOutcome, Trigger};

/// What an input asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A trigger for one account.
    Account(AccountId, Trigger),
    /// The maintenance window: every managed account.
    Maintenance,
    /// The periodic check: every managed account.
    Check,
    /// Not for the lifecycle (a build still running, another API call): why.
    Ignored(String),
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn account_id(text: Option<&str>, field: &str) -> Result<AccountId, String> {
    text.ok_or_else(|| format!("no {field}"))?
        .parse()
        .map_err(|e: String| format!("{field}: {e}"))
}

/// Reads one input. `Err` for an input that claims to be a trigger but is malformed.
pub fn parse(settings: &Settings, input: &Value) -> Result<Input, String> {
    if let Some(action) = input.get("action") {
        return match action.as_str() {
            Some("maintenance") => Ok(Input::Maintenance),
            Some("check") => Ok(Input::Check),
            _ => Err(format!(
                "unknown action {action} (expected \"maintenance\" or \"check\")"
            )),
        };
    }
    let source = text(input, "/source").unwrap_or_default();
    let kind = text(input, "/detail-type").unwrap_or_default();
    let at: Option<DateTime<Utc>> = text(input, "/time")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc());
    match (source, kind) {
        ("aws.events", "Scheduled Event") => Ok(Input::Check),
        ("aws.organizations", _) => {
            let detail = input.get("detail").ok_or("no detail")?;
            let name = text(detail, "/eventName").unwrap_or_default();
            // A call that failed (a denied tag write by a sandbox user) changed nothing.
            if let Some(code) = text(detail, "/errorCode").filter(|c| !c.is_empty()) {
                return Ok(Input::Ignored(format!(
                    "Organizations {name} failed: {code}"
                )));
            }
            match name {
                "CreateAccountResult" => {
                    let status = detail
                        .pointer("/serviceEventDetails/createAccountStatus")
                        .ok_or("CreateAccountResult without createAccountStatus")?;
                    match text(status, "/state") {
                        Some("SUCCEEDED") => Ok(Input::Account(
                            account_id(text(status, "/accountId"), "accountId")?,
                            Trigger::Joined,
                        )),
                        other => Ok(Input::Ignored(format!(
                            "account creation {}",
                            other.unwrap_or("without state")
                        ))),
                    }
                }
                "MoveAccount" => Ok(Input::Account(
                    account_id(
                        text(detail, "/requestParameters/accountId"),
                        "requestParameters.accountId",
                    )?,
                    Trigger::Joined,
                )),
                "TagResource" => {
                    let keys = TagKeys::of(settings);
                    let resource = text(detail, "/requestParameters/resourceId");
                    let tags = detail
                        .pointer("/requestParameters/tags")
                        .and_then(Value::as_array)
                        .ok_or("TagResource without requestParameters.tags")?;
                    let value_of = |key: &str| {
                        tags.iter()
                            .find(|t| text(t, "/key") == Some(key))
                            .and_then(|t| text(t, "/value"))
                    };
                    let Some(value) = value_of(&keys.state) else {
                        return Ok(Input::Ignored(format!("no {} tag written", keys.state)));
                    };
                    if resource.is_some_and(|r| r.starts_with("ou-") || r.starts_with("r-")) {
                        return Ok(Input::Ignored("a unit or root was tagged".into()));
                    }
                    Ok(Input::Account(
                        account_id(resource, "requestParameters.resourceId")?,
                        Trigger::Tagged {
                            value: value.to_string(),
                            at: at.ok_or("no time")?,
                            ours: value_of(&keys.since).is_some(),
                        },
                    ))
                }
                other => Ok(Input::Ignored(format!("Organizations {other}"))),
            }
        }
        // Only CodeBuild itself says how a build ended (EventBridge keeps `aws.` sources to AWS).
        ("aws.codebuild", "CodeBuild Build State Change") => {
            let detail = input.get("detail").ok_or("no detail")?;
            let project = text(detail, "/project-name").ok_or("no project-name")?;
            let Some(kind) = BuildKind::of_project(settings, project) else {
                return Ok(Input::Ignored(format!("project {project}")));
            };
            let status = text(detail, "/build-status").ok_or("no build-status")?;
            let outcome = match status {
                "SUCCEEDED" => BuildOutcome::Succeeded,
                "FAILED" | "STOPPED" | "FAULT" | "TIMED_OUT" => {
                    BuildOutcome::Failed(status.to_string())
                }
                _ => return Ok(Input::Ignored(format!("build {status}"))),
            };
            Ok(Input::Account(
                account_id(text(input, "/account"), "account")?,
                Trigger::BuildEnded {
                    kind,
                    build: text(detail, "/build-id")
                        .ok_or("no build-id")?
                        // The event names the build by ARN; the tag holds `project:uuid`.
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                    outcome,
                },
            ))
        }
        _ => Ok(Input::Ignored(format!(
            "source {source:?}, detail-type {kind:?}"
        ))),
    }
}

/// Handles one payload of the Lambda function: an event or a schedule's input becomes a
/// trigger, carried out for its account or for every account with something due. An input the
/// lifecycle cannot use is answered with the reason; only a failure to read or write is an error
/// (so EventBridge retries it; replays change nothing).
pub async fn handle(
    engine: &crate::Engine,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, crate::Error> {
    // A batch from the lifecycle queue: each message is one account's step.
    if crate::fanout::is_sqs_batch(payload) {
        return Ok(crate::fanout::work(engine, payload, now).await);
    }
    let via_queue = payload.get("via_queue").and_then(Value::as_bool) == Some(true);
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
    // A schedule over the organization, through the queue: one message per account due.
    if let (None, true, Some(action)) = (&only, via_queue, crate::fanout::Action::of(&trigger)) {
        let batch = crate::fanout::jobs(engine, action, now).await?;
        let sent = crate::fanout::start_run(engine, &batch).await?;
        return Ok(
            json!({"run": sent.run, "accounts": sent.accounts, "enqueued": sent.enqueued,
            "requests": engine.requests().await}),
        );
    }
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
                crate::decide::decide(&engine.settings, &account, &trigger, now),
                crate::decide::Outcome::Act(_)
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
        return Err(crate::Error::Emit(format!(
            "account {id} failed; see the log"
        )));
    }
    Ok(
        json!({"changed": changed, "skipped": skipped, "failed": failed, "requests": engine.requests().await}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> Settings {
        spa_core::testing::shipped_settings()
    }

    /// Every Organizations call that failed changes nothing, whatever it is and however it
    /// failed; a build state change is believed only from `aws.codebuild`.
    #[test]
    fn failed_calls_and_foreign_sources_are_ignored() {
        let calls = [
            json!({"eventName": "TagResource", "requestParameters": {"resourceId": "300002020202",
                   "tags": [{"key": "account-state", "value": "expired"}]}}),
            json!({"eventName": "MoveAccount", "requestParameters": {"accountId": "300002020202"}}),
            json!({"eventName": "CreateAccountResult", "serviceEventDetails": {"createAccountStatus":
                   {"state": "SUCCEEDED", "accountId": "300002020202"}}}),
        ];
        for call in &calls {
            let event = json!({"source": "aws.organizations", "detail-type": "AWS API Call via CloudTrail",
                               "time": "2026-10-05T10:00:00Z", "detail": call});
            assert!(
                matches!(parse(&settings(), &event).unwrap(), Input::Account(..)),
                "{call} succeeds"
            );
            for code in [
                "AccessDeniedException",
                "ConcurrentModificationException",
                "Client.Anything",
            ] {
                let mut failed = event.clone();
                failed["detail"]["errorCode"] = json!(code);
                failed["detail"]["errorMessage"] = json!("denied");
                let got = parse(&settings(), &failed).unwrap();
                assert!(
                    matches!(&got, Input::Ignored(why) if why.contains(code)),
                    "{call} with {code}: {got:?}"
                );
            }
        }
        let build = |source: &str| {
            json!({"source": source, "detail-type": "CodeBuild Build State Change", "account": "300002020202",
                   "time": "2026-10-05T10:00:00Z",
                   "detail": {"project-name": "spa-demo-purge-account", "build-status": "SUCCEEDED",
                              "build-id": "arn:aws:codebuild:eu-west-1:300002020202:build/spa-demo-purge-account:b-1"}})
        };
        assert!(matches!(
            parse(&settings(), &build("aws.codebuild")).unwrap(),
            Input::Account(_, Trigger::BuildEnded { .. })
        ));
        for source in [
            "custom.codebuild",
            "spa.lifecycle",
            "aws.codebuild.fake",
            "",
        ] {
            assert!(
                matches!(
                    parse(&settings(), &build(source)).unwrap(),
                    Input::Ignored(_)
                ),
                "{source}"
            );
        }
    }

    #[test]
    fn organizations_events() {
        let created = json!({"source": "aws.organizations", "detail-type": "AWS Service Event via CloudTrail",
            "time": "2026-10-05T10:00:00Z",
            "detail": {"eventName": "CreateAccountResult", "serviceEventDetails": {"createAccountStatus": {"state": "SUCCEEDED", "accountId": "300002020202"}}}});
        assert_eq!(
            parse(&settings(), &created).unwrap(),
            Input::Account("300002020202".parse().unwrap(), Trigger::Joined)
        );
        let failed = json!({"source": "aws.organizations", "detail": {"eventName": "CreateAccountResult", "serviceEventDetails": {"createAccountStatus": {"state": "FAILED"}}}});
        assert!(matches!(
            parse(&settings(), &failed).unwrap(),
            Input::Ignored(_)
        ));
        let tagged = json!({"source": "aws.organizations", "detail-type": "AWS API Call via CloudTrail",
            "time": "2026-10-05T10:00:00Z",
            "detail": {"eventName": "TagResource", "requestParameters": {"resourceId": "300002020202",
                "tags": [{"key": "account-state", "value": "vanilla"}]}}});
        let Input::Account(_, Trigger::Tagged { value, ours, .. }) =
            parse(&settings(), &tagged).unwrap()
        else {
            panic!("a state tag")
        };
        assert_eq!((value.as_str(), ours), ("vanilla", false));
        let ours = json!({"source": "aws.organizations", "time": "2026-10-05T10:00:00Z",
            "detail": {"eventName": "TagResource", "requestParameters": {"resourceId": "300002020202",
                "tags": [{"key": "account-state", "value": "assigned"}, {"key": "account-since", "value": "2026-10-05T10:00:00Z"}]}}});
        assert!(matches!(
            parse(&settings(), &ours).unwrap(),
            Input::Account(_, Trigger::Tagged { ours: true, .. })
        ));
        let malformed = json!({"source": "aws.organizations", "detail": {"eventName": "MoveAccount", "requestParameters": {"accountId": "12"}}});
        assert!(
            parse(&settings(), &malformed)
                .unwrap_err()
                .contains("accountId")
        );
    }

    #[test]
    fn builds_and_schedules() {
        let ended = json!({"source": "aws.codebuild", "detail-type": "CodeBuild Build State Change", "account": "300002020202",
            "detail": {"build-status": "FAILED", "project-name": "spa-demo-purge-account",
                "build-id": "arn:aws:codebuild:eu-west-1:300002020202:build/spa-demo-purge-account:0b1c"}});
        assert_eq!(
            parse(&settings(), &ended).unwrap(),
            Input::Account(
                "300002020202".parse().unwrap(),
                Trigger::BuildEnded {
                    kind: BuildKind::Purge,
                    build: "spa-demo-purge-account:0b1c".into(),
                    outcome: BuildOutcome::Failed("FAILED".into())
                }
            )
        );
        let running = json!({"source": "aws.codebuild", "detail-type": "CodeBuild Build State Change", "account": "300002020202",
            "detail": {"build-status": "IN_PROGRESS", "project-name": "spa-demo-prepare-account", "build-id": "x"}});
        assert!(matches!(
            parse(&settings(), &running).unwrap(),
            Input::Ignored(_)
        ));
        assert_eq!(
            parse(&settings(), &json!({"action": "maintenance"})).unwrap(),
            Input::Maintenance
        );
        assert_eq!(
            parse(
                &settings(),
                &json!({"source": "aws.events", "detail-type": "Scheduled Event"})
            )
            .unwrap(),
            Input::Check
        );
        assert!(parse(&settings(), &json!({"action": "purge-everything"})).is_err());
    }
}
