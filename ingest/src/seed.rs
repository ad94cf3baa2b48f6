//! Filling a local lake from the raw inputs of the `seed` settings (the shipped fixtures)
//! through the same code as `ingest`, so that the `reports` command finds the period it is asked
//! for on a fresh clone. Only a local lake with a `seed` section is ever filled.

use chrono::NaiveDate;
use spa_core::Settings;
use spa_core::lake::{Dataset, Lake, LakeError};
use spa_core::period::{Day, Month};

use crate::accounts::{SnapshotError, snapshot};
use crate::costs::source::SourceError;
use crate::events::backfill::{self, BackfillError};

/// Why the lake could not be filled.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Costs.
    #[error("costs: {0}")]
    Costs(#[from] SourceError),
    /// Accounts snapshot.
    #[error("accounts: {0}")]
    Accounts(#[from] SnapshotError),
    /// Events.
    #[error("events: {0}")]
    Events(#[from] BackfillError),
    /// Looking for what the lake has.
    #[error("reading the lake: {0}")]
    Lake(#[from] LakeError),
}

/// Fills what reports of the days `first..=last` read and a local lake with a `seed` lacks: the
/// costs of `month` (when given), the accounts snapshot valid at `last`, the events of those
/// days. Returns a line per dataset filled; nothing when the lake is not a seeded local one.
pub async fn fill(
    settings: &Settings,
    lake: &Lake,
    month: Option<Month>,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<String>, SeedError> {
    if !allowed(settings, lake) {
        return Ok(Vec::new());
    }
    let mut done = Vec::new();
    if let Some(month) = month
        && lake
            .objects(Dataset::Costs, &month.to_string())
            .await?
            .is_empty()
    {
        done.push(costs(lake, settings, month).await?);
    }
    let last_day = Day::of(last).to_string();
    if lake
        .partition_at_or_before(Dataset::Accounts, &last_day)
        .await?
        .is_none()
    {
        done.push(accounts(lake, settings, last).await?);
    }
    let (first, last) = (Day::of(first).to_string(), last_day);
    // A partition exists only where an object was written: one listing tells.
    let has_events = lake
        .partitions(Dataset::Events)
        .await?
        .iter()
        .any(|day| *day >= first && *day <= last);
    if !has_events {
        done.push(events(lake, settings).await?);
    }
    Ok(done)
}

/// Whether `settings` allow filling `lake`: a local lake with a `seed` section.
pub fn allowed(settings: &Settings, lake: &Lake) -> bool {
    settings.seed.is_some() && lake.local_path("").is_some()
}

/// The month's costs from `costs` (as `ingest costs --month`); returns a line for the user.
pub async fn costs(lake: &Lake, settings: &Settings, month: Month) -> Result<String, SeedError> {
    let done = crate::costs::source::month(lake, settings, month, None, None, None).await?;
    Ok(format!(
        "costs {month}: {} rows, {} in all",
        done.summary.rows, done.summary.total
    ))
}

/// The accounts snapshot of `day` from `organization` (as `ingest accounts --date`).
pub async fn accounts(
    lake: &Lake,
    settings: &Settings,
    day: NaiveDate,
) -> Result<String, SeedError> {
    let s = snapshot(lake, settings, Day::of(day), 8).await?;
    Ok(format!("accounts {day}: {} accounts", s.accounts))
}

/// Every event file of `seed.events` (as `ingest FOLDER`); writing them again changes nothing.
pub async fn events(lake: &Lake, settings: &Settings) -> Result<String, SeedError> {
    let Some(seed) = &settings.seed else {
        return Ok("events: no seed.events in the settings".into());
    };
    let folder = seed.events.display().to_string();
    let walk = backfill::Walk::new(std::slice::from_ref(&folder), settings).await?;
    let policy = crate::events::Policy::of(settings);
    let stats = backfill::run(lake, &policy, walk, 2, |_, _| {}).await?;
    Ok(format!(
        "events from {folder}: {} records, {} quarantined",
        stats.records, stats.quarantined
    ))
}
