//! `SpendAlert` exceptions from the daily spend run's notices ([`spa_core::spend::Notice`]):
//! each stored once per alert key however often the run repeats (a key's id is looked up over
//! every day of its month, so a budget step or a forecast raised on the 14th is not raised again
//! on the 15th), with the account's context, then delivered like every exception.

use std::collections::{BTreeMap, HashSet};

use spa_core::events::ExceptionLabel;
use spa_core::lake::{Lake, LakeError};
use spa_core::period::{Day, Month};
use spa_core::spend::{Notice, Scope};

use super::classify::{Candidate, exception_id};
use super::context::AccountInfo;
use super::store::{self, Exception};
use super::sweep::with_context;

/// The candidate a notice raises.
pub fn candidate(notice: &Notice) -> Candidate {
    let key = notice.alert.key();
    Candidate {
        id: exception_id(&key, ExceptionLabel::SpendAlert),
        label: ExceptionLabel::SpendAlert,
        event_time: notice.time,
        account_id: match &notice.alert.scope {
            Scope::Account(id) => Some(id.clone()),
            Scope::CostCenter(_) => None,
        },
        region: notice.region.clone(),
        actor: notice.actor.clone(),
        source_ip: None,
        message: notice.message.clone(),
        source_event_id: key,
        raw: None,
    }
}

/// Stores the exceptions of `notices` that are not stored yet (ids looked up over each
/// month's days up to the latest notice of that month); returns those stored now.
pub async fn raise(
    lake: &Lake,
    notices: &[Notice],
    raised_at: i64,
) -> Result<Vec<Exception>, LakeError> {
    let candidates: Vec<(Candidate, &Notice)> = notices.iter().map(|n| (candidate(n), n)).collect();
    let mut last: BTreeMap<Month, Day> = BTreeMap::new();
    for (c, _) in &candidates {
        let day = c.day();
        let latest = last.entry(day.month()).or_insert(day);
        *latest = (*latest).max(day);
    }
    let mut stored: HashSet<String> = HashSet::new();
    for (month, latest) in last {
        for day in Day::of(month.first()).through(latest) {
            stored.extend(store::stored_ids(lake, day).await?);
        }
    }
    let mut centers: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut new = Vec::new();
    for (c, n) in candidates {
        if stored.insert(c.id.clone()) {
            if c.account_id.is_none() {
                centers.insert(c.id.clone(), n.cost_center.clone());
            }
            new.push(c);
        }
    }
    let mut raised = with_context(lake, new, raised_at).await?;
    // A cost center's alert names no account: its context is the cost center.
    for e in &mut raised {
        if let Some(center) = centers.get(&e.candidate.id) {
            e.account = Some(AccountInfo {
                cost_center: center.clone(),
                ..AccountInfo::default()
            });
        }
    }
    store::write(lake, &raised).await?;
    Ok(raised)
}

/// What storing and delivering a day's spend alerts did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Exceptions stored now.
    pub raised: usize,
    /// Notices whose exception was stored before.
    pub before: usize,
    /// The deliveries (with `send`).
    pub delivered: Option<super::deliver::Deliveries>,
    /// The FinOps digest: sent now (`Some(Ok)`), failed (`Some(Err)`), or not sent (before, or
    /// nothing to send).
    pub digest: Option<Result<(), String>>,
}

impl Outcome {
    /// Failed deliveries, the digest included.
    pub fn failed(&self) -> usize {
        self.delivered.as_ref().map_or(0, |d| d.failed().count())
            + usize::from(matches!(self.digest, Some(Err(_))))
    }

    /// Lines for a command's output or a log.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} SpendAlert exceptions stored now, {} stored before",
            self.raised, self.before
        )];
        if let Some(d) = &self.delivered {
            out.extend(d.lines());
        }
        match &self.digest {
            Some(Ok(())) => out.push("FinOps digest sent".into()),
            Some(Err(e)) => out.push(format!("FinOps digest failed: {e}")),
            None => {}
        }
        out
    }
}

/// Stores the day's notices as exceptions; with `send`, delivers every `SpendAlert` of `day`
/// the ledger does not hold as sent (new ones, and failed ones again) and the FinOps `digest`
/// once for the day.
pub async fn store_and_deliver(
    lake: &Lake,
    settings: &spa_core::Settings,
    day: Day,
    notices: &[Notice],
    digest: Option<lettre::Message>,
    send: bool,
    now: i64,
) -> Result<Outcome, super::deliver::DeliverError> {
    let raised = raise(lake, notices, now).await?;
    let mut outcome = Outcome {
        raised: raised.len(),
        before: notices.len() - raised.len(),
        ..Outcome::default()
    };
    if !send {
        return Ok(outcome);
    }
    let mut stored = store::read(lake, day).await?;
    stored.retain(|e| e.label() == ExceptionLabel::SpendAlert);
    let deliverer = super::deliver::Deliverer::new(settings, lake);
    outcome.delivered = Some(deliverer.deliver(&stored, now).await?);
    if let Some(message) = digest {
        let name = format!("spend-digest/{day}");
        outcome.digest = super::deliver::once(settings, lake, &name, "finops", &message, now)
            .await?
            .map(|d| d.result);
    }
    Ok(outcome)
}
