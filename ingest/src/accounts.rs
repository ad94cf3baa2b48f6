//! Organization snapshots: every account (active, suspended, closed) with its unit, tags and
//! derived state, holder and cost center, into `accounts/snapshot=YYYY-MM-DD/`.

use spa_core::Settings;
use spa_core::lake::{Dataset, Lake};
use spa_core::organization::{self, OrganizationError};
use spa_core::period::Day;

/// What a snapshot wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Accounts in the snapshot.
    pub accounts: usize,
    /// Of which managed by the lifecycle.
    pub managed: usize,
    /// AWS Organizations requests made (0 with the local file).
    pub requests: u64,
    /// The object written.
    pub key: String,
}

/// A snapshot could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading the organization failed.
    #[error(transparent)]
    Organization(#[from] OrganizationError),
    /// Writing the lake failed.
    #[error(transparent)]
    Lake(#[from] spa_core::lake::LakeError),
}

/// Reads the organization (file or API, as settings say) and writes the snapshot of `day`
/// Taking the same day's snapshot again replaces it.
pub async fn snapshot(
    lake: &Lake,
    settings: &Settings,
    day: Day,
    concurrency: usize,
) -> Result<Snapshot, SnapshotError> {
    let (org, requests) = organization::read(settings, concurrency).await?;
    let batch = org.snapshot_batch(settings);
    let managed = org
        .accounts
        .iter()
        .filter(|a| settings.is_managed(&a.id, Some(&a.parent)))
        .count();
    let key = lake
        .write(Dataset::Accounts, &day.to_string(), "accounts", &[batch])
        .await?;
    Ok(Snapshot {
        accounts: org.accounts.len(),
        managed,
        requests,
        key,
    })
}
