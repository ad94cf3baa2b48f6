//! Filling a local lake from the raw inputs of the `seed` settings (the shipped fixtures)
//! through the same code as `ingest`, for reports that find a period missing.

use chrono::NaiveDate;
use spa_core::Settings;
use spa_core::lake::Lake;

use crate::accounts::{SnapshotError, snapshot};
use crate::backfill::{self, BackfillError};
use crate::month::MonthError;

/// Why the lake could not be filled.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Costs.
    #[error("costs: {0}")]
    Costs(#[from] MonthError),
    /// Accounts snapshot.
    #[error("accounts: {0}")]
    Accounts(#[from] SnapshotError),
    /// Events.
    #[error("events: {0}")]
    Events(#[from] BackfillError),
}

/// Whether `settings` allow filling `lake`: a local lake with a `seed` section.
pub fn allowed(settings: &Settings, lake: &Lake) -> bool {
    settings.seed.is_some() && lake.local_path("").is_some()
}

/// The month's costs from `costs` (as `ingest costs --month`); returns a line for the user.
pub async fn costs(lake: &Lake, settings: &Settings, month: &str) -> Result<String, SeedError> {
    let done = crate::month::costs(lake, settings, month, None, None, None).await?;
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
    let s = snapshot(lake, settings, &day.format("%Y-%m-%d").to_string(), 8).await?;
    Ok(format!("accounts {day}: {} accounts", s.accounts))
}

/// Every event file of `seed.events` (as `ingest FOLDER`); writing them again changes nothing.
pub async fn events(lake: &Lake, settings: &Settings) -> Result<String, SeedError> {
    let Some(seed) = &settings.seed else {
        return Ok("events: no seed.events in the settings".into());
    };
    let folder = seed.events.display().to_string();
    let files = backfill::collect(std::slice::from_ref(&folder), settings).await?;
    let stats = backfill::run(lake, backfill::groups(files), 2, |_, _| {}).await?;
    Ok(format!(
        "events from {folder}: {} records, {} quarantined",
        stats.records, stats.quarantined
    ))
}
