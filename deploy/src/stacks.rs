//! `plan` and `apply`: a CloudFormation change set per stack, created from the rendered
//! template, described resource by resource, then discarded (plan) or executed and awaited
//! (apply). A stack that does not exist yet is planned as a creation; a template that changes
//! nothing plans as "no change" and applies as nothing.

use std::fmt;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter, Stack as SdkStack, StackStatus,
};
use sha2::{Digest, Sha256};
use spa_core::aws::ApiError;

use crate::Template;

/// The largest template CloudFormation takes inline; larger ones are uploaded to S3 first.
pub const INLINE_TEMPLATE_BYTES: usize = 51_200;

/// What planning or applying could not do.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A request failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// CloudFormation refused the change set.
    #[error("stack {stack}: the change set failed: {reason}")]
    ChangeSet {
        /// The stack.
        stack: String,
        /// CloudFormation's reason.
        reason: String,
    },
    /// The stack is in a state no change set can start from.
    #[error("stack {stack} is {status}: {hint}")]
    Busy {
        /// The stack.
        stack: String,
        /// Its status.
        status: String,
        /// What to do.
        hint: &'static str,
    },
    /// Executing the change set failed; the stack rolled back.
    #[error("stack {stack} ended {status}:\n{}", events.join("\n"))]
    Failed {
        /// The stack.
        stack: String,
        /// Its final status.
        status: String,
        /// The failed resources' events, oldest first (`LogicalId (Type): reason`).
        events: Vec<String>,
    },
    /// The stack was still changing when the time allowed ran out.
    #[error("stack {stack} still {status} after {waited:?}; it goes on in CloudFormation")]
    Timeout {
        /// The stack.
        stack: String,
        /// Its last status.
        status: String,
        /// How long we waited.
        waited: Duration,
    },
}

/// Where a template too large to send inline goes: `s3://bucket/<prefix>templates/…`.
#[derive(Debug, Clone)]
pub struct Upload {
    /// An S3 client of the stack's account.
    pub s3: aws_sdk_s3::Client,
    /// The artifact bucket.
    pub bucket: String,
    /// Key prefix (`<env>/`).
    pub prefix: String,
    /// The bucket's region (for the template URL).
    pub region: String,
}

/// One stack to plan or apply.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The stack's name (`<env>-automation`).
    pub name: String,
    /// Its template.
    pub template: Template,
    /// Its parameters, by name.
    pub parameters: Vec<(String, String)>,
    /// Where the template goes when it is too large to send inline.
    pub upload: Option<Upload>,
}

/// One resource a change set changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `Add`, `Modify`, `Remove`, `Import`, `Dynamic`.
    pub action: String,
    /// The template's logical id.
    pub logical_id: String,
    /// The resource type.
    pub resource_type: String,
    /// For a modification: whether the resource is replaced (`True`, `False`, `Conditional`).
    pub replacement: Option<String>,
    /// For a modification: the properties that change.
    pub properties: Vec<String>,
}

/// A stack's change set, described.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The stack.
    pub stack: String,
    /// The change set's id (none when nothing changes).
    pub change_set: Option<String>,
    /// Whether the stack is created.
    pub creating: bool,
    /// What changes, resource by resource.
    pub changes: Vec<Change>,
}

impl Plan {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return writeln!(f, "stack {}: no change", self.stack);
        }
        let n = self.changes.len();
        let what = if self.creating {
            "created with"
        } else {
            "changes"
        };
        writeln!(
            f,
            "stack {}: {what} {n} resource{}",
            self.stack,
            if n == 1 { "" } else { "s" }
        )?;
        let width = self
            .changes
            .iter()
            .map(|c| c.logical_id.len())
            .max()
            .unwrap_or(0);
        for c in &self.changes {
            let sign = match c.action.as_str() {
                "Add" => '+',
                "Remove" => '-',
                _ => '~',
            };
            write!(
                f,
                "  {sign} {:<7} {:<width$}  {}",
                c.action, c.logical_id, c.resource_type
            )?;
            if !c.properties.is_empty() {
                write!(f, "  [{}]", c.properties.join(", "))?;
            }
            match c.replacement.as_deref() {
                Some("True") => write!(f, "  REPLACED")?,
                Some("Conditional") => write!(f, "  may be replaced")?,
                _ => {}
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// How a stack ended after `apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The stack.
    pub stack: String,
    /// Its final status (`CREATE_COMPLETE`, `UPDATE_COMPLETE`), or `UNCHANGED`.
    pub status: String,
    /// The stack's outputs, by key.
    pub outputs: Vec<(String, String)>,
}

/// The stack as CloudFormation describes it, or `None` when it does not exist (a deleted stack
/// is no stack: CloudFormation may still list it by name a while).
async fn describe(client: &Client, stack: &str) -> Result<Option<SdkStack>, ApiError> {
    match client.describe_stacks().stack_name(stack).send().await {
        Ok(out) => Ok(out
            .stacks()
            .first()
            .filter(|s| s.stack_status() != Some(&StackStatus::DeleteComplete))
            .cloned()),
        Err(e) => {
            let missing = e
                .as_service_error()
                .and_then(|s| s.meta().message())
                .is_some_and(|m| m.contains("does not exist"));
            if missing {
                Ok(None)
            } else {
                Err(ApiError::new("DescribeStacks", &e))
            }
        }
    }
}

/// The stack's status, or `None` when it does not exist.
pub async fn status(client: &Client, stack: &str) -> Result<Option<StackStatus>, ApiError> {
    Ok(describe(client, stack)
        .await?
        .and_then(|s| s.stack_status().cloned()))
}

/// A described stack's outputs, sorted by key.
fn outputs(stack: Option<&SdkStack>) -> Vec<(String, String)> {
    let mut outputs: Vec<(String, String)> = stack
        .into_iter()
        .flat_map(|s| s.outputs())
        .map(|o| {
            (
                o.output_key().unwrap_or_default().to_string(),
                o.output_value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    outputs.sort();
    outputs
}

/// Whether CloudFormation's reason for a failed change set means "nothing to change".
fn means_no_change(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// Creates the change set of `stack` and describes it; a change set without changes is deleted
/// at once and planned as "no change".
pub async fn plan(client: &Client, stack: &Stack, poll: Duration) -> Result<Plan, StackError> {
    let current = status(client, &stack.name).await?;
    let creating = match &current {
        None | Some(StackStatus::ReviewInProgress) => true,
        Some(StackStatus::RollbackComplete) => {
            return Err(StackError::Busy {
                stack: stack.name.clone(),
                status: "ROLLBACK_COMPLETE".into(),
                hint: "its creation failed and nothing can update it: delete the stack, then apply again",
            });
        }
        Some(s) if s.as_str().ends_with("_IN_PROGRESS") => {
            return Err(StackError::Busy {
                stack: stack.name.clone(),
                status: s.as_str().into(),
                hint: "another change is under way: wait for it to end",
            });
        }
        Some(_) => false,
    };
    let name = format!("spa-{}", moment_stamp());
    let mut request = client
        .create_change_set()
        .stack_name(&stack.name)
        .change_set_name(&name)
        .capabilities(Capability::CapabilityNamedIam)
        .change_set_type(if creating {
            ChangeSetType::Create
        } else {
            ChangeSetType::Update
        })
        .description("deploy plan/apply (rendered from settings.yaml)");
    for (key, value) in &stack.parameters {
        request = request.parameters(
            Parameter::builder()
                .parameter_key(key)
                .parameter_value(value)
                .build(),
        );
    }
    let text = stack.template.text();
    request = match &stack.upload {
        Some(upload) if text.len() > INLINE_TEMPLATE_BYTES => {
            request.template_url(upload_template(upload, &stack.template, &text).await?)
        }
        _ => request.template_body(text),
    };
    let created = request
        .send()
        .await
        .map_err(|e| ApiError::new("CreateChangeSet", &e))?;
    let id = created.id().unwrap_or(&name).to_string();

    // Wait for the change set to be computed, then read every page of it.
    let mut changes = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .describe_change_set()
            .change_set_name(&id)
            .stack_name(&stack.name)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| ApiError::new("DescribeChangeSet", &e))?;
        match out.status() {
            Some(ChangeSetStatus::CreateComplete) => {}
            Some(ChangeSetStatus::Failed) => {
                let reason = out.status_reason().unwrap_or("no reason given").to_string();
                discard_change_set(client, &stack.name, &id, creating).await?;
                if means_no_change(&reason) {
                    return Ok(Plan {
                        stack: stack.name.clone(),
                        change_set: None,
                        creating,
                        changes: Vec::new(),
                    });
                }
                return Err(StackError::ChangeSet {
                    stack: stack.name.clone(),
                    reason,
                });
            }
            _ => {
                tokio::time::sleep(poll).await;
                continue;
            }
        }
        for change in out.changes() {
            let Some(rc) = change.resource_change() else {
                continue;
            };
            let mut properties: Vec<String> = rc
                .details()
                .iter()
                .filter_map(|d| d.target().and_then(|t| t.name()).map(str::to_string))
                .collect();
            properties.sort();
            properties.dedup();
            changes.push(Change {
                action: rc
                    .action()
                    .map(|a| a.as_str().to_string())
                    .unwrap_or_default(),
                logical_id: rc.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: rc.resource_type().unwrap_or_default().to_string(),
                replacement: rc.replacement().map(|r| r.as_str().to_string()),
                properties,
            });
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    changes.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    Ok(Plan {
        stack: stack.name.clone(),
        change_set: Some(id),
        creating,
        changes,
    })
}

/// Deletes a plan's change set (and the empty stack a creation's change set made).
pub async fn discard(client: &Client, plan: &Plan) -> Result<(), ApiError> {
    match &plan.change_set {
        Some(id) => discard_change_set(client, &plan.stack, id, plan.creating).await,
        None => Ok(()),
    }
}

async fn discard_change_set(
    client: &Client,
    stack: &str,
    id: &str,
    creating: bool,
) -> Result<(), ApiError> {
    client
        .delete_change_set()
        .change_set_name(id)
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| ApiError::new("DeleteChangeSet", &e))?;
    if creating && status(client, stack).await? == Some(StackStatus::ReviewInProgress) {
        client
            .delete_stack()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| ApiError::new("DeleteStack", &e))?;
    }
    Ok(())
}

/// Executes `plan`'s change set and waits (polling every `poll`, at most `timeout`) for the
/// stack to settle; each stack event is logged as it comes. A failure names the resources
/// that failed and why.
pub async fn apply(
    client: &Client,
    plan: &Plan,
    poll: Duration,
    timeout: Duration,
) -> Result<Outcome, StackError> {
    let Some(id) = &plan.change_set else {
        return Ok(Outcome {
            stack: plan.stack.clone(),
            status: "UNCHANGED".into(),
            outputs: outputs(describe(client, &plan.stack).await?.as_ref()),
        });
    };
    // Events already there before the execution are not this run's.
    let mut seen: std::collections::HashSet<String> = stack_events(client, &plan.stack)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    client
        .execute_change_set()
        .change_set_name(id)
        .stack_name(&plan.stack)
        .send()
        .await
        .map_err(|e| ApiError::new("ExecuteChangeSet", &e))?;
    let started = Instant::now();
    let mut failures = Vec::new();
    loop {
        let now = describe(client, &plan.stack).await?;
        let mut fresh: Vec<Event> = stack_events(client, &plan.stack)
            .await?
            .into_iter()
            .filter(|e| seen.insert(e.id.clone()))
            .collect();
        fresh.reverse(); // CloudFormation lists the newest first.
        for e in fresh {
            tracing::info!(stack = %plan.stack, resource = %e.logical_id, status = %e.status, reason = %e.reason, "stack event");
            if e.status.ends_with("_FAILED") {
                failures.push(format!(
                    "{} ({}): {}",
                    e.logical_id, e.resource_type, e.reason
                ));
            }
        }
        let status = now
            .as_ref()
            .and_then(|s| s.stack_status())
            .map_or_else(|| "DELETED".into(), |s| s.as_str().to_string());
        if !status.ends_with("_IN_PROGRESS") {
            if status == "CREATE_COMPLETE" || status == "UPDATE_COMPLETE" {
                return Ok(Outcome {
                    stack: plan.stack.clone(),
                    status,
                    outputs: outputs(now.as_ref()),
                });
            }
            return Err(StackError::Failed {
                stack: plan.stack.clone(),
                status,
                events: failures,
            });
        }
        if started.elapsed() >= timeout {
            return Err(StackError::Timeout {
                stack: plan.stack.clone(),
                status,
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(poll).await;
    }
}

/// A stack event, as far as `apply` reports it.
struct Event {
    id: String,
    logical_id: String,
    resource_type: String,
    status: String,
    reason: String,
}

/// The stack's most recent events (the first page: newest first).
async fn stack_events(client: &Client, stack: &str) -> Result<Vec<Event>, ApiError> {
    let out = client
        .describe_stack_events()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| ApiError::new("DescribeStackEvents", &e))?;
    Ok(out
        .stack_events()
        .iter()
        .map(|e| Event {
            id: e.event_id().unwrap_or_default().to_string(),
            logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
            resource_type: e.resource_type().unwrap_or_default().to_string(),
            status: e
                .resource_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            reason: e.resource_status_reason().unwrap_or_default().to_string(),
        })
        .collect())
}

/// Uploads a template under a name that holds its content's digest; returns its URL.
async fn upload_template(
    upload: &Upload,
    template: &Template,
    text: &str,
) -> Result<String, ApiError> {
    let stem = template.file.trim_end_matches(".json");
    let key = format!(
        "{}templates/{stem}-{}.json",
        upload.prefix,
        digest(text.as_bytes())
    );
    upload
        .s3
        .put_object()
        .bucket(&upload.bucket)
        .key(&key)
        .content_type("application/json")
        .body(text.as_bytes().to_vec().into())
        .send()
        .await
        .map_err(|e| ApiError::new("PutObject", &e))?;
    Ok(format!(
        "https://s3.{}.amazonaws.com/{}/{key}",
        upload.region, upload.bucket
    ))
}

/// The first 12 hex digits of the SHA-256 of `bytes`: names artifacts by their content.
pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    hash.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// A change set name suffix unique to the moment: seconds and nanoseconds since the epoch.
fn moment_stamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}-{:09}", now.as_secs(), now.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_the_sha256_prefix() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(digest(b"abc"), "ba7816bf8f01");
    }

    #[test]
    fn no_change_reasons_are_recognized() {
        assert!(means_no_change(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
        assert!(means_no_change("No updates are to be performed."));
        assert!(!means_no_change(
            "Template format error: unresolved resource dependency"
        ));
    }

    #[test]
    fn a_plan_prints_one_line_per_resource() {
        let plan = Plan {
            stack: "spa-automation".into(),
            change_set: Some("id".into()),
            creating: false,
            changes: vec![Change {
                action: "Modify".into(),
                logical_id: "MaintenanceSchedule".into(),
                resource_type: "AWS::Events::Rule".into(),
                replacement: Some("False".into()),
                properties: vec!["ScheduleExpression".into()],
            }],
        };
        assert_eq!(
            plan.to_string(),
            "stack spa-automation: changes 1 resource\n  ~ Modify  MaintenanceSchedule  AWS::Events::Rule  [ScheduleExpression]\n"
        );
        let none = Plan {
            changes: vec![],
            change_set: None,
            ..plan
        };
        assert_eq!(none.to_string(), "stack spa-automation: no change\n");
    }
}
