//! What a run over the queue did, kept in the lake (SQS forgets a message once it is deleted,
//! and keeps no reason when it dead-letters one):
//!
//! - `lifecycle/runs/<run>.json`: written when the run is enqueued (action, time, accounts
//!   visited, messages sent);
//! - `lifecycle/outcomes/<run>/<outcome>/<account>.json`, one per message worked (`done`,
//!   `skipped` or `failed`; the latest attempt's reason or actions). A message that succeeds
//!   after failing has its `failed` record removed, so counting the keys under each outcome
//!   tells the run's progress without reading them.
//!
//! The run's name and the account come from a message, so they are checked before they become
//! keys.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use spa_core::lake::Lake;
use spa_core::settings::AccountId;

/// Where runs are recorded.
pub const RUNS: &str = "lifecycle/runs/";
/// Where the outcome of each message of a run is recorded.
pub const OUTCOMES: &str = "lifecycle/outcomes/";

/// How a message ended, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The account's step was carried out.
    Done,
    /// Nothing was due any more.
    Skipped,
    /// The step failed (the message comes back, then goes to the dead-letter queue).
    Failed,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 3] = [Outcome::Done, Outcome::Skipped, Outcome::Failed];

    /// The folder name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }

    /// The metric counting messages that ended so.
    pub const fn metric(self) -> &'static str {
        match self {
            Outcome::Done => spa_core::metrics::LIFECYCLE_DONE,
            Outcome::Skipped => spa_core::metrics::LIFECYCLE_SKIPPED,
            Outcome::Failed => spa_core::metrics::LIFECYCLE_FAILED,
        }
    }
}

/// Whether `run` may name a key: letters, digits and `-`, at most 64 characters (what
/// [`crate::fanout::Batch::of`] makes: `<action>-<YYYYMMDDTHHMMSSZ>`).
pub fn valid_run(run: &str) -> bool {
    !run.is_empty() && run.len() <= 64 && run.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn run_key(run: &str) -> Option<String> {
    valid_run(run).then(|| format!("{RUNS}{run}.json"))
}

/// The key of an account's outcome in a run; `None` when the run's name cannot be a key.
pub fn outcome_key(run: &str, outcome: Outcome, account: &AccountId) -> Option<String> {
    valid_run(run).then(|| format!("{OUTCOMES}{run}/{}/{account}.json", outcome.as_str()))
}

/// A run as recorded when it was enqueued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// Its name.
    pub run: String,
    /// What it does (`maintenance`, `reconcile`, `release`, `reset`).
    pub action: String,
    /// When it was started.
    pub at: DateTime<Utc>,
    /// Accounts visited.
    pub accounts: usize,
    /// Messages sent: one per account with something due.
    pub enqueued: usize,
}

/// Records a run just enqueued. A failure to record is logged, never fatal: the messages are
/// on the queue already.
pub async fn record_run(lake: &Lake, run: &Run) {
    let Some(key) = run_key(&run.run) else {
        return;
    };
    let body = serde_json::to_vec(run).expect("a run serializes");
    if let Err(e) = lake.put_bytes(&key, body.into()).await {
        tracing::warn!(run = %run.run, error = %e, "the run could not be recorded");
    }
}

/// How one message of a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended<'a> {
    /// The run.
    pub run: &'a str,
    /// The account.
    pub account: &'a AccountId,
    /// SQS's message id.
    pub message: &'a str,
    /// Which receipt of the message this was (1 the first time).
    pub attempt: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The actions taken, or the reason.
    pub detail: Value,
    /// When.
    pub at: DateTime<Utc>,
}

/// Records how a message ended. After a failed attempt, a later success removes the failure.
/// Failures to record are logged, never fatal.
pub async fn record_outcome(lake: &Lake, ended: &Ended<'_>) {
    let (run, account) = (ended.run, ended.account);
    let Some(key) = outcome_key(run, ended.outcome, account) else {
        tracing::warn!(run, "a run name that cannot be a key: outcome not recorded");
        return;
    };
    let record = json!({"account": account, "message": ended.message, "attempt": ended.attempt,
        "outcome": ended.outcome, "detail": ended.detail, "at": ended.at});
    if let Err(e) = lake.put_bytes(&key, record.to_string().into()).await {
        tracing::warn!(run, %account, error = %e, "outcome not recorded");
    }
    if ended.outcome != Outcome::Failed
        && ended.attempt > 1
        && let Some(failed) = outcome_key(run, Outcome::Failed, account)
        && let Err(e) = lake.delete(&failed).await
    {
        tracing::warn!(run, %account, error = %e, "an old failure record stays");
    }
}

/// The reason recorded for the last failed attempt at `account` in `run`, with that attempt's
/// number.
pub async fn failure(lake: &Lake, run: &str, account: &AccountId) -> Option<(u64, String)> {
    let key = outcome_key(run, Outcome::Failed, account)?;
    let bytes = lake.get_bytes(&key).await.ok()?;
    let record: Value = serde_json::from_slice(&bytes).ok()?;
    Some((
        record["attempt"].as_u64().unwrap_or(0),
        record["detail"].as_str()?.to_string(),
    ))
}

/// A run's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The run as enqueued.
    pub run: Run,
    /// Accounts per outcome (an account counts once, under its best: done, then skipped, then
    /// failed).
    pub outcomes: BTreeMap<Outcome, usize>,
    /// Accounts whose message failed its latest attempt.
    pub failed: Vec<AccountId>,
}

impl Progress {
    /// Messages not worked yet (waiting, or in a worker now).
    pub fn pending(&self) -> usize {
        self.run
            .enqueued
            .saturating_sub(self.outcomes.values().sum::<usize>())
    }
}

/// The progress of the `latest` runs recorded, newest first.
pub async fn progress(lake: &Lake, latest: usize) -> Result<Vec<Progress>, crate::Error> {
    let lake_error = |e: spa_core::lake::LakeError| crate::Error::Emit(e.to_string());
    let mut runs = Vec::new();
    for key in lake.objects_under(RUNS).await.map_err(lake_error)? {
        // Only the run records; anything else under the prefix is not ours to read.
        if key.trim_start_matches(RUNS).contains('/') || !key.ends_with(".json") {
            continue;
        }
        let bytes = lake.get_bytes(&key).await.map_err(lake_error)?;
        match serde_json::from_slice::<Run>(&bytes) {
            Ok(run) if valid_run(&run.run) => runs.push(run),
            _ => tracing::warn!(%key, "not a run record: left out"),
        }
    }
    runs.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.run.cmp(&a.run)));
    runs.truncate(latest);
    let mut out = Vec::new();
    for run in runs {
        let prefix = format!("{OUTCOMES}{}/", run.run);
        // Each account under its best outcome: done over skipped (a replay after the step)
        // over failed (an attempt before a success whose record could not be removed).
        let mut best: BTreeMap<AccountId, Outcome> = BTreeMap::new();
        for key in lake.objects_under(&prefix).await.map_err(lake_error)? {
            let rest = key.trim_start_matches(&prefix);
            let Some((folder, file)) = rest.split_once('/') else {
                continue;
            };
            let outcome = Outcome::ALL.into_iter().find(|o| o.as_str() == folder);
            let account = file.strip_suffix(".json").and_then(|a| a.parse().ok());
            if let (Some(outcome), Some(account)) = (outcome, account) {
                best.entry(account)
                    .and_modify(|o| *o = (*o).min(outcome))
                    .or_insert(outcome);
            }
        }
        let mut outcomes: BTreeMap<Outcome, usize> =
            Outcome::ALL.into_iter().map(|o| (o, 0)).collect();
        for outcome in best.values() {
            *outcomes.entry(*outcome).or_default() += 1;
        }
        let failed = best
            .into_iter()
            .filter(|(_, o)| *o == Outcome::Failed)
            .map(|(a, _)| a)
            .collect();
        out.push(Progress {
            run,
            outcomes,
            failed,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_run_names_become_keys() {
        let account: AccountId = "300002020202".parse().unwrap();
        assert_eq!(
            outcome_key("maintenance-20261003T180000Z", Outcome::Failed, &account).as_deref(),
            Some("lifecycle/outcomes/maintenance-20261003T180000Z/failed/300002020202.json")
        );
        for run in [
            "",
            "../../events/x",
            "a/b",
            "run.json",
            "x y",
            &"a".repeat(65),
        ] {
            assert_eq!(outcome_key(run, Outcome::Done, &account), None, "{run}");
            assert_eq!(run_key(run), None, "{run}");
        }
    }
}
