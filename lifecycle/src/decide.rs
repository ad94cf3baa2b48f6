//! The lifecycle's decisions as pure code: given the settings, one account (tags, OU, status)
//! and a trigger, which tags to set and remove, which build to start with which variables and
//! which events to emit. Nothing here performs I/O; [`crate::engine`] carries decisions out.
//!
//! Every transition writes the state tag together with `<prefix>since` (when the state was
//! entered) and clears `<prefix>build` and `<prefix>failed`, so that:
//! - a replayed trigger finds the account in another state, or already handled, and changes
//!   nothing;
//! - a `TagResource` event that carries `<prefix>since` is the lifecycle's own write and is
//!   ignored (the reaction to a state happens in the step that writes it);
//! - the periodic check knows how long an account has been on-boarding or in maintenance, and
//!   flags it only once (`<prefix>failed`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use spa_core::Settings;
use spa_core::events::{BUILD_PROJECTS, LifecycleEvent};
use spa_core::organization::{Account, AccountStatus, State, TagKeys};
use spa_core::settings::EffectiveSettings;

/// The two builds of the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildKind {
    /// Preparation (budget, event forwarding), when an account is assigned.
    Preparation,
    /// Purge (aws-nuke), when an account is expired.
    Purge,
}

impl BuildKind {
    /// `preparation` or `purge`.
    pub fn as_str(self) -> &'static str {
        match self {
            BuildKind::Preparation => "preparation",
            BuildKind::Purge => "purge",
        }
    }

    /// The CodeBuild project name in a member account.
    pub fn project(self, settings: &Settings) -> String {
        let name = match self {
            BuildKind::Preparation => BUILD_PROJECTS[0],
            BuildKind::Purge => BUILD_PROJECTS[1],
        };
        format!("{}-{name}", settings.environment_identifier.as_str())
    }

    /// The kind whose project is `project`, if any.
    pub(crate) fn of_project(settings: &Settings, project: &str) -> Option<Self> {
        [BuildKind::Preparation, BuildKind::Purge]
            .into_iter()
            .find(|k| k.project(settings) == project)
    }

    /// The state the account is in while the build runs.
    pub fn state(self) -> State {
        match self {
            BuildKind::Preparation => State::Assigned,
            BuildKind::Purge => State::Expired,
        }
    }
}

/// How a build ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildOutcome {
    /// `SUCCEEDED`.
    Succeeded,
    /// `FAILED`, `STOPPED`, `FAULT` or `TIMED_OUT`.
    Failed(String),
}

/// What happened to an account, or what an operator or schedule asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The account was created in, or moved into, the organization (Organizations'
    /// `CreateAccountResult` or `MoveAccount`).
    Joined,
    /// The state tag was set to `value` at `at` (Organizations' `TagResource`); `ours` when the
    /// same write set `<prefix>since`, i.e. the lifecycle wrote it.
    Tagged {
        /// The value written.
        value: String,
        /// When.
        at: DateTime<Utc>,
        /// Written by the lifecycle itself.
        ours: bool,
    },
    /// A build finished (CodeBuild `Build State Change`).
    BuildEnded {
        /// Which build.
        kind: BuildKind,
        /// Its id.
        build: String,
        /// How it ended.
        outcome: BuildOutcome,
    },
    /// The maintenance window opened.
    Maintenance,
    /// What is due without an outside event: on-board `vanilla` accounts, resume a transition
    /// whose build never started, flag accounts stuck too long (plan, apply, the periodic check).
    Reconcile,
    /// Operator: hand the account to its holder now.
    Release,
    /// Operator: back to `vanilla`, to be on-boarded again.
    Reset,
}

/// A build to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildRequest {
    /// Which build.
    pub kind: BuildKind,
    /// Its environment variables: the merged settings' variables and the lifecycle's own.
    pub variables: BTreeMap<String, String>,
    /// Idempotency token: the same for the same account, build and state entry.
    pub token: String,
}

/// What to do to one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Short description (`on-board`, `expire`, `prepared`, ...).
    pub action: String,
    /// State before.
    pub from: Option<State>,
    /// State after (`None`: unchanged).
    pub to: Option<State>,
    /// Tags to set.
    pub set: BTreeMap<String, String>,
    /// Tags to remove.
    pub unset: BTreeSet<String>,
    /// Build to start.
    pub build: Option<BuildRequest>,
    /// Events to emit, in order.
    pub events: Vec<LifecycleEvent>,
    /// When the events happened, if earlier than now: events sent again after a failure (their
    /// ids derive from this time, so the lake stores them once).
    pub resend_at: Option<DateTime<Utc>>,
}

/// The answer for one account and trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Act.
    Act(Decision),
    /// Nothing is due.
    Nothing,
    /// The trigger cannot be used for this account: why (logged, never fatal).
    Skip(String),
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The idempotency token of a build: a hash of the account, the build and when its state was
/// entered.
pub fn token(account: &str, kind: BuildKind, since: &str) -> String {
    let digest = Sha256::digest(format!("{account}/{}/{since}", kind.as_str()));
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

struct Step<'a> {
    settings: &'a Settings,
    account: &'a Account,
    effective: &'a EffectiveSettings,
    keys: TagKeys,
    now: DateTime<Utc>,
    decision: Decision,
}

impl Step<'_> {
    /// Enters `state` and reacts to it as the lifecycle rules say (the README's lifecycle table).
    fn enter(&mut self, state: State) {
        let since = timestamp(self.now);
        let d = &mut self.decision;
        d.to = Some(state);
        d.set.insert(self.keys.state.clone(), state.as_str().into());
        d.set.insert(self.keys.since.clone(), since);
        d.unset.insert(self.keys.build.clone());
        d.unset.insert(self.keys.failed.clone());
        match state {
            State::Vanilla => {
                d.unset.insert(self.keys.since.clone());
                d.set.remove(&self.keys.since);
            }
            State::Assigned => {
                d.events.push(LifecycleEvent::AssignedAccount);
                self.react(state);
            }
            State::Released => d.events.push(LifecycleEvent::ReleasedAccount),
            State::Expired => {
                d.events.push(LifecycleEvent::ExpiredAccount);
                self.react(state);
            }
        }
    }

    /// The work a state asks for: its build, or the next state when the build is disabled.
    fn react(&mut self, state: State) {
        let (kind, activity, next) = match state {
            State::Assigned => (
                BuildKind::Preparation,
                &self.effective.preparation,
                State::Released,
            ),
            State::Expired => (BuildKind::Purge, &self.effective.purge, State::Assigned),
            State::Vanilla | State::Released => return,
        };
        if activity.enabled {
            let since = self
                .decision
                .set
                .get(&self.keys.since)
                .cloned()
                .or_else(|| self.account.tags.get(&self.keys.since).cloned())
                .unwrap_or_default();
            self.decision.build = Some(BuildRequest {
                kind,
                variables: variables(self.settings, self.account, self.effective, kind),
                token: token(self.account.id.as_str(), kind, &since),
            });
        } else {
            self.enter(next);
        }
    }

    fn on_board(&mut self) {
        self.decision.action = "on-board".into();
        let d = &mut self.decision;
        d.unset.extend(
            self.effective
                .unset_tags
                .iter()
                .map(|k| k.as_str().to_string()),
        );
        d.set.extend(
            self.effective
                .account_tags
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.clone())),
        );
        d.set.insert(
            self.keys.holder.clone(),
            self.account.holder(self.settings).to_string(),
        );
        d.events.push(LifecycleEvent::CreatedAccount);
        self.enter(State::Assigned);
    }

    fn finish(mut self) -> Outcome {
        let d = &mut self.decision;
        d.unset.retain(|k| !d.set.contains_key(k));
        // Keys the account does not have need no removal.
        d.unset.retain(|k| self.account.tags.contains_key(k));
        Outcome::Act(self.decision)
    }
}

/// The variables of a build: the merged settings' variables, then the lifecycle's own
/// (`ACCOUNT_ID`, `HOLDER_EMAIL`, `ENVIRONMENT`, `CENTRAL_BUS_ARN`, `AUTOMATION_ACCOUNT_ID`,
/// `ACCOUNT_ROLE`), which the settings cannot override. The purge's `NUKE_CONFIG` is added
/// when the build starts, once the account's regions are known ([`nuke_config`]).
pub fn variables(
    settings: &Settings,
    account: &Account,
    effective: &EffectiveSettings,
    kind: BuildKind,
) -> BTreeMap<String, String> {
    let activity = match kind {
        BuildKind::Preparation => &effective.preparation,
        BuildKind::Purge => &effective.purge,
    };
    let mut out: BTreeMap<String, String> = activity
        .variables
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.clone()))
        .collect();
    let automation = &settings.automation;
    let bus = &settings.events.bus;
    let bus_arn = if bus.starts_with("arn:") {
        bus.clone()
    } else {
        format!(
            "arn:aws:events:{}:{}:event-bus/{bus}",
            automation.region.as_str(),
            automation.account_id
        )
    };
    out.insert("ACCOUNT_ID".into(), account.id.to_string());
    out.insert("HOLDER_EMAIL".into(), account.holder(settings).to_string());
    out.insert(
        "ENVIRONMENT".into(),
        settings.environment_identifier.as_str().into(),
    );
    out.insert("CENTRAL_BUS_ARN".into(), bus_arn);
    out.insert(
        "AUTOMATION_ACCOUNT_ID".into(),
        automation.account_id.to_string(),
    );
    out.insert("ACCOUNT_ROLE".into(), automation.account_role.to_string());
    out
}

/// The aws-nuke configuration for one account: only that account, the `regions` given (the
/// account's enabled regions and `global`), the management and automation accounts blocked, and the resources the organization needs kept
/// (the lifecycle's role, Control Tower, IAM Identity Center, the deployment's own
/// `<environment>-*` resources).
pub fn nuke_config(settings: &Settings, account: &Account, regions: &[String]) -> String {
    let role = settings.automation.account_role.as_str();
    let env = settings.environment_identifier.as_str();
    // The deployment names its resources with the identifier lowercased.
    let deployed = env.to_ascii_lowercase();
    let control_tower = ["AWSControlTower*", "aws-controltower-*", "stacksets-exec-*"];
    let build_role = settings.build_role();
    let roles: Vec<String> = [role, &build_role, "AWSReservedSSO_*"]
        .into_iter()
        .chain(control_tower)
        .map(str::to_string)
        .chain([format!("{deployed}-*")])
        .collect();
    let glob = |values: &[String]| -> Vec<serde_json::Value> {
        values
            .iter()
            .map(|v| serde_json::json!({"type": "glob", "value": v}))
            .collect()
    };
    let ours = [format!("{env}-*")];
    let tower = ["aws-controltower-*".to_string()];
    let mut filters = serde_json::Map::new();
    filters.insert(
        "__global__".into(),
        serde_json::json!([{"property": format!("tag:{}", TagKeys::of(settings).state), "type": "exists"}]),
    );
    filters.insert("IAMRole".into(), glob(&roles).into());
    let attachments: Vec<String> = roles.iter().map(|r| format!("{r} -> *")).collect();
    filters.insert("IAMRolePolicyAttachment".into(), glob(&attachments).into());
    // The member stack, deployed by the StackSet: `StackSet-<env>-members-<id>`.
    let stacks = [
        "StackSet-AWSControlTower*".to_string(),
        format!("StackSet-{deployed}-members-*"),
        format!("{env}-*"),
    ];
    filters.insert("CloudFormationStack".into(), glob(&stacks).into());
    let rules = [format!("Rule: {env}-*"), format!("Rule: {deployed}-*")];
    for kind in ["CloudWatchEventsRule", "CloudWatchEventsTarget"] {
        filters.insert(kind.into(), glob(&rules).into());
    }
    for kind in ["CodeBuildProject", "BudgetsBudget"] {
        filters.insert(kind.into(), glob(&ours).into());
    }
    for kind in [
        "CloudTrailTrail",
        "ConfigServiceConfigurationRecorder",
        "ConfigServiceDeliveryChannel",
        "LambdaFunction",
    ] {
        filters.insert(kind.into(), glob(&tower).into());
    }
    // Topics are named by their ARN: Control Tower's, and the member stack's budget alerts.
    filters.insert(
        "SNSTopic".into(),
        glob(&["*aws-controltower-*".to_string(), format!("*:{deployed}-*")]).into(),
    );
    let config = serde_json::json!({
        "regions": regions,
        "blocklist": [
            settings.automation.management_account_id.as_str(),
            settings.automation.account_id.as_str(),
        ],
        "resource-types": {"excludes": ["IAMSAMLProvider", "OrganizationsAccount"]},
        "accounts": {account.id.as_str(): {"filters": filters}},
    });
    format!(
        "# Generated by lifecycle for account {} ({env}); do not edit.\n{}",
        account.id,
        serde_yaml_ng::to_string(&config).expect("JSON values serialize as YAML")
    )
}

/// Decides what `trigger` means for `account` at `now`.
pub fn decide(
    settings: &Settings,
    account: &Account,
    trigger: &Trigger,
    now: DateTime<Utc>,
) -> Outcome {
    if account.id == settings.automation.management_account_id {
        return Outcome::Skip("the management account is never acted upon".into());
    }
    let Some(effective) = settings.effective(&account.id, Some(&account.parent)) else {
        return Outcome::Skip(format!(
            "not managed: neither listed in the settings nor in a managed OU (parent {})",
            account.parent
        ));
    };
    if account.status != AccountStatus::Active {
        return Outcome::Skip(format!("the account is {}", account.status.as_str()));
    }
    let keys = TagKeys::of(settings);
    if let Some(unsent) = account.tags.get(&keys.unsent) {
        // Before anything else: a step whose events could not be sent sends them now.
        return Outcome::Act(
            Decision {
                action: "send unsent events".into(),
                from: account.state(settings).ok().flatten(),
                to: None,
                set: BTreeMap::new(),
                unset: BTreeSet::from([keys.unsent.clone()]),
                build: None,
                events: Vec::new(),
                resend_at: None,
            }
            .resending(unsent),
        );
    }
    let state = match account.state(settings) {
        Ok(state) => state,
        Err(_) if matches!(trigger, Trigger::Reset | Trigger::Release) => None,
        Err(message) => return Outcome::Skip(format!("tag {}: {message}", keys.state)),
    };
    let since = account
        .tags
        .get(&keys.since)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.to_utc());
    let mut step = Step {
        settings,
        account,
        effective: &effective,
        keys,
        now,
        decision: Decision {
            action: String::new(),
            from: state,
            to: None,
            set: BTreeMap::new(),
            unset: BTreeSet::new(),
            build: None,
            events: Vec::new(),
            resend_at: None,
        },
    };
    let named = |s: Option<State>| s.map_or("untagged", State::as_str);
    match trigger {
        Trigger::Joined => match state {
            None | Some(State::Vanilla) => step.on_board(),
            Some(s) => return Outcome::Skip(format!("already {s}: on-boarded before")),
        },
        Trigger::Tagged { value, at, ours } => {
            if *ours {
                return Outcome::Skip("the lifecycle's own tag write".into());
            }
            let wanted: State = match value.parse() {
                Ok(s) => s,
                Err(message) => return Outcome::Skip(message),
            };
            if state != Some(wanted) {
                return Outcome::Skip(format!("stale: the account is now {}", named(state)));
            }
            if since.is_some_and(|s| s >= *at) {
                return Outcome::Skip(format!(
                    "already handled: {} since {}",
                    wanted,
                    since.map(timestamp).unwrap_or_default()
                ));
            }
            if wanted == State::Vanilla {
                step.on_board();
            } else {
                step.decision.action = format!("tagged {wanted}");
                step.enter(wanted);
            }
        }
        Trigger::BuildEnded {
            kind,
            build,
            outcome,
        } => {
            if state != Some(kind.state()) {
                return Outcome::Skip(format!(
                    "stale {} build: the account is now {}",
                    kind.as_str(),
                    named(state)
                ));
            }
            if account.tags.get(&step.keys.build) != Some(build) {
                return Outcome::Skip(format!(
                    "build {build} is not the account's current {} build",
                    kind.as_str()
                ));
            }
            match outcome {
                BuildOutcome::Succeeded => {
                    let (action, event, next) = match kind {
                        BuildKind::Preparation => {
                            ("prepared", LifecycleEvent::PreparedAccount, State::Released)
                        }
                        BuildKind::Purge => {
                            ("purged", LifecycleEvent::PurgedAccount, State::Assigned)
                        }
                    };
                    step.decision.action = action.into();
                    step.decision.events.push(event);
                    step.enter(next);
                }
                BuildOutcome::Failed(_)
                    if account.tags.get(&step.keys.failed).map(String::as_str)
                        == Some(kind.state().as_str()) =>
                {
                    return Outcome::Skip(format!(
                        "the failed {} build was reported already",
                        kind.as_str()
                    ));
                }
                BuildOutcome::Failed(status) => {
                    step.decision.action = format!("{} {status}", kind.as_str());
                    step.decision.events.push(failure(*kind));
                    step.decision
                        .set
                        .insert(step.keys.failed.clone(), kind.state().as_str().into());
                }
            }
        }
        Trigger::Maintenance => match state {
            None | Some(State::Released) => {
                step.decision.action = "expire".into();
                step.enter(State::Expired);
            }
            _ => return Outcome::Nothing,
        },
        Trigger::Reconcile => {
            let Some(current) = state else {
                return Outcome::Nothing;
            };
            let kind = match current {
                State::Vanilla => {
                    step.on_board();
                    return step.finish();
                }
                State::Released => return Outcome::Nothing,
                State::Assigned => BuildKind::Preparation,
                State::Expired => BuildKind::Purge,
            };
            let flagged =
                account.tags.get(&step.keys.failed).map(String::as_str) == Some(current.as_str());
            if flagged {
                return Outcome::Nothing;
            }
            if !account.tags.contains_key(&step.keys.build) {
                // The state was written but its reaction never ran (or the tag was set by hand).
                step.decision.action = format!("resume {}", kind.as_str());
                step.react(current);
                if step.decision.build.is_none() && step.decision.to.is_none() {
                    return Outcome::Nothing;
                }
            } else {
                let hours = match kind {
                    BuildKind::Preparation => settings.automation.on_boarding_timeout_hours,
                    BuildKind::Purge => settings.automation.maintenance_timeout_hours,
                };
                let stuck = since.is_some_and(|s| now - s > TimeDelta::hours(i64::from(hours)));
                if !stuck {
                    return Outcome::Nothing;
                }
                step.decision.action = format!("{} stuck over {hours} h", current);
                step.decision.events.push(failure(kind));
                step.decision
                    .set
                    .insert(step.keys.failed.clone(), current.as_str().into());
            }
        }
        Trigger::Release => {
            if state == Some(State::Released) {
                return Outcome::Nothing;
            }
            step.decision.action = "release".into();
            step.enter(State::Released);
        }
        Trigger::Reset => {
            if state == Some(State::Vanilla) {
                return Outcome::Nothing;
            }
            step.decision.action = "reset".into();
            step.enter(State::Vanilla);
        }
    }
    step.finish()
}

impl Decision {
    /// The `<prefix>unsent` tag value that records this decision's events at `at`.
    pub fn unsent_tag(&self, at: DateTime<Utc>) -> String {
        std::iter::once(timestamp(at))
            .chain(self.events.iter().map(|e| e.as_str().to_string()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// This decision sending the events an `<prefix>unsent` tag records; an unreadable tag is
    /// only removed (and logged), never acted on.
    fn resending(mut self, tag: &str) -> Self {
        let mut words = tag.split_whitespace();
        let at = words
            .next()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc());
        let events: Result<Vec<LifecycleEvent>, _> = words.map(str::parse).collect();
        match (at, events) {
            (Some(at), Ok(events)) if !events.is_empty() => {
                self.resend_at = Some(at);
                self.events = events;
            }
            _ => {
                tracing::warn!(tag, "unreadable unsent-events tag: removed");
                self.action = "remove an unreadable unsent-events tag".into();
            }
        }
        self
    }
}

fn failure(kind: BuildKind) -> LifecycleEvent {
    match kind {
        BuildKind::Preparation => LifecycleEvent::FailedOnBoarding,
        BuildKind::Purge => LifecycleEvent::FailedMaintenance,
    }
}

#[cfg(test)]
pub(crate) mod tests;
