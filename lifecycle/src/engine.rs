//! Carries decisions out: start the build (if any), write the tags, emit the events, in that
//! order; with local builds, feed each build's success straight back into [`decide`]. When the
//! events cannot be sent after the tags are written, they are recorded in the account's
//! `<prefix>unsent` tag, and the account's next step (a retry, the periodic check) sends them
//! first, with the same ids, before it looks at its own trigger.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::json;
use spa_core::Settings;
use spa_core::organization::{Account, State, TagKeys};

use crate::Error;
use crate::builds::Builds;
use crate::decide::{BuildKind, BuildOutcome, Decision, Outcome, Trigger, decide};
use crate::directory::Directory;
use crate::emit::{Emitted, Emitter};

/// The settings and the three adapters.
pub struct Engine {
    /// Effective settings.
    pub settings: Settings,
    /// Accounts and tags.
    pub directory: Directory,
    /// Builds.
    pub builds: Builds,
    /// Events.
    pub emitter: Emitter,
    /// How long local builds take, in simulated time (preparation, purge); zero by default, so
    /// a local `apply` stamps every event with the time it runs.
    pub local_durations: (TimeDelta, TimeDelta),
    /// The lifecycle queue, looked up on first use.
    queue: tokio::sync::OnceCell<crate::fanout::Queue>,
    /// The lake (for the queue's failure records), opened on first use.
    lake: tokio::sync::OnceCell<spa_core::lake::Lake>,
}

/// What happened to one account for one trigger.
#[derive(Debug, Clone)]
pub struct Done {
    /// The decisions carried out, in order (more than one when local builds finish at once).
    pub steps: Vec<Decision>,
    /// The events emitted.
    pub events: Vec<Emitted>,
    /// The builds started.
    pub builds: Vec<String>,
}

impl Engine {
    /// The engine `settings` describe; AWS Organizations tag reads run `concurrency` at once.
    pub async fn new(settings: Settings, concurrency: usize) -> Result<Self, Error> {
        Ok(Engine {
            directory: Directory::from_settings(&settings, concurrency).await?,
            builds: Builds::from_settings(&settings).await,
            emitter: Emitter::from_settings(&settings).await?,
            settings,
            local_durations: (TimeDelta::zero(), TimeDelta::zero()),
            queue: tokio::sync::OnceCell::new(),
            lake: tokio::sync::OnceCell::new(),
        })
    }

    /// The lake of the settings, opened once.
    pub async fn lake(&self) -> &spa_core::lake::Lake {
        self.lake
            .get_or_init(|| spa_core::lake::Lake::open(&self.settings))
            .await
    }

    /// The lifecycle queue (`automation.lifecycle_queue`), looked up once.
    pub async fn queue(&self) -> Result<&crate::fanout::Queue, Error> {
        self.queue
            .get_or_try_init(|| crate::fanout::Queue::open(&self.settings))
            .await
    }

    /// The requests made so far, by service (`organizations`, `codebuild`, `eventbridge`),
    /// the member roles assumed (`roles`) and the attempts `retried` and `throttled`: what the
    /// function's answers report.
    pub async fn requests(&self) -> serde_json::Value {
        let attempts = self.directory.attempts() + self.builds.attempts();
        json!({
            "organizations": self.directory.requests(),
            "codebuild": self.builds.requests(),
            "eventbridge": self.emitter.requests(),
            "roles": self.builds.member_accounts().await,
            "retried": attempts.retries,
            "throttled": attempts.throttled,
        })
    }

    /// Decides what `trigger` means for `account` at `now` and carries it out, updating
    /// `account.tags`. `Ok(Err(reason))` when the trigger does not apply to the account.
    pub async fn run(
        &self,
        account: &mut Account,
        trigger: Trigger,
        now: DateTime<Utc>,
    ) -> Result<Result<Done, String>, Error> {
        self.run_in(account, trigger, now, None).await
    }

    /// [`Engine::run`] as part of the queue's run `run`, which the events name (detail `Run`).
    pub async fn run_in(
        &self,
        account: &mut Account,
        trigger: Trigger,
        now: DateTime<Utc>,
        run: Option<&str>,
    ) -> Result<Result<Done, String>, Error> {
        let mut done = Done {
            steps: Vec::new(),
            events: Vec::new(),
            builds: Vec::new(),
        };
        let (mut trigger, mut now) = (trigger, now);
        let unsent = TagKeys::of(&self.settings).unsent;
        loop {
            match decide(&self.settings, account, &trigger, now) {
                Outcome::Skip(reason) if done.steps.is_empty() => return Ok(Err(reason)),
                Outcome::Skip(_) | Outcome::Nothing => break,
                Outcome::Act(decision) => {
                    let sending = decision.unset.contains(&unsent);
                    let next = self
                        .carry_out(account, decision, now, run, &mut done)
                        .await?;
                    match next {
                        Some((t, at)) => (trigger, now) = (t, at),
                        // Unsent events are out: now the trigger itself.
                        None if sending => {}
                        None => break,
                    }
                }
            }
        }
        Ok(Ok(done))
    }

    /// Carries one decision out; returns the trigger that follows at once (a local build's
    /// success), if any.
    async fn carry_out(
        &self,
        account: &mut Account,
        mut decision: Decision,
        now: DateTime<Utc>,
        run: Option<&str>,
        done: &mut Done,
    ) -> Result<Option<(Trigger, DateTime<Utc>)>, Error> {
        let keys = TagKeys::of(&self.settings);
        let mut started = None;
        if let Some(build) = &decision.build {
            let state = decision.to.or(decision.from);
            if state != Some(build.kind.state()) {
                return Err(Error::Refused {
                    account: account.id.to_string(),
                    reason: format!(
                        "a {} build needs the account {}, not {}",
                        build.kind.as_str(),
                        build.kind.state(),
                        state.map_or("untagged", State::as_str)
                    ),
                });
            }
            let mut build = build.clone();
            if build.kind == BuildKind::Purge {
                let regions = self
                    .builds
                    .purge_regions(&self.settings, &account.id)
                    .await?;
                build.variables.insert(
                    "NUKE_CONFIG".into(),
                    crate::decide::nuke_config(&self.settings, account, &regions),
                );
            }
            let id = self.builds.start(&account.id, &build).await?;
            decision.set.insert(keys.build.clone(), id.clone());
            decision.unset.remove(&keys.build);
            done.builds.push(id.clone());
            started = Some((build.kind, id));
        }
        // Events sent again go out before their tag is removed; a step's own, after its tags.
        let resend = decision.resend_at.is_some();
        let at = decision.resend_at.unwrap_or(now);
        if !resend {
            self.write_tags(account, &decision).await?;
        }
        let state = decision.to.or(decision.from);
        let events: Vec<Emitted> = decision
            .events
            .iter()
            .map(|&event| {
                let mut detail = serde_json::Map::new();
                detail.insert("Action".into(), json!(decision.action));
                if let Some(s) = state {
                    detail.insert("State".into(), json!(s.as_str()));
                }
                if let Some(since) = account.tags.get(&keys.since) {
                    detail.insert("Since".into(), json!(since));
                }
                if let Some((_, id)) = &started {
                    detail.insert("Build".into(), json!(id));
                }
                if let Some(run) = run {
                    detail.insert("Run".into(), json!(run));
                }
                detail.insert(
                    "Holder".into(),
                    json!(account.holder(&self.settings).to_string()),
                );
                Emitted {
                    event,
                    account: account.id.to_string(),
                    at,
                    detail,
                }
            })
            .collect();
        if resend {
            self.emitter.emit(&self.settings, &events).await?;
            self.write_tags(account, &decision).await?;
        } else if let Err(failed) = self.emitter.emit(&self.settings, &events).await {
            return Err(self.keep_unsent(account, &decision, at, failed).await);
        }
        let cost_center = spa_core::metrics::dimension_value(account.cost_center(&self.settings));
        for e in &events {
            metrics::counter!(spa_core::metrics::LIFECYCLE_TRANSACTIONS, "CostCenter" => cost_center.clone())
                .increment(1);
            metrics::counter!(spa_core::metrics::LIFECYCLE_TRANSACTIONS, "Label" => e.event.as_str())
                .increment(1);
        }
        tracing::info!(
            account = %account.id,
            action = %decision.action,
            to = decision.to.map(State::as_str),
            events = ?decision.events,
            at = %now.to_rfc3339_opts(SecondsFormat::Secs, true),
            "lifecycle step"
        );
        done.events.extend(events);
        done.steps.push(decision);
        Ok(match started {
            Some((kind, build)) if self.builds.immediate() => {
                let took = match kind {
                    crate::decide::BuildKind::Preparation => self.local_durations.0,
                    crate::decide::BuildKind::Purge => self.local_durations.1,
                };
                Some((
                    Trigger::BuildEnded {
                        kind,
                        build,
                        outcome: BuildOutcome::Succeeded,
                    },
                    now + took,
                ))
            }
            _ => None,
        })
    }
}

impl Engine {
    /// Writes a decision's tags and mirrors them in `account.tags`.
    async fn write_tags(&self, account: &mut Account, decision: &Decision) -> Result<(), Error> {
        self.directory
            .tag(&account.id, &decision.set, &decision.unset)
            .await?;
        for key in &decision.unset {
            account.tags.remove(key);
        }
        account
            .tags
            .extend(decision.set.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }

    /// Records in the account's `<prefix>unsent` tag the events that `failed` to go out, so
    /// that the next step sends them; the error says whether they were kept or lost.
    async fn keep_unsent(
        &self,
        account: &mut Account,
        decision: &Decision,
        at: DateTime<Utc>,
        failed: Error,
    ) -> Error {
        let failed = match failed {
            Error::Emit(why) => why,
            other => other.to_string(),
        };
        let key = TagKeys::of(&self.settings).unsent;
        let value = decision.unsent_tag(at);
        let set = std::collections::BTreeMap::from([(key.clone(), value.clone())]);
        match self
            .directory
            .tag(&account.id, &set, &Default::default())
            .await
        {
            Ok(()) => {
                tracing::warn!(account = %account.id, tag = %key, %value, "events kept for the next step");
                account.tags.insert(key.clone(), value);
                Error::Emit(format!(
                    "{failed}; the events are kept in tag {key} of {} and sent by its next step",
                    account.id
                ))
            }
            Err(also) => Error::Emit(format!(
                "{failed}; recording them in tag {key} failed too ({also}): events `{value}` of {} are lost",
                account.id
            )),
        }
    }
}

/// One line of a plan: an account and what a trigger means for it.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The account as read.
    pub account: Account,
    /// Its OU's name.
    pub unit: String,
    /// The decision.
    pub outcome: Outcome,
}

/// What `trigger` means for every account of the organization, in account id order (the
/// same organization always gives the same plan).
pub fn plan(
    settings: &Settings,
    organization: &spa_core::organization::Organization,
    trigger: &Trigger,
    now: DateTime<Utc>,
) -> Vec<Planned> {
    let mut accounts: Vec<&Account> = organization.accounts.iter().collect();
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    accounts
        .into_iter()
        .map(|account| Planned {
            account: account.clone(),
            unit: organization
                .unit_name(&account.parent)
                .unwrap_or("?")
                .to_string(),
            outcome: decide(settings, account, trigger, now),
        })
        .collect()
}
