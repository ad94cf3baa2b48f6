//! Reports from the lake: monthly costs and activities, weekly inventories, per cost center and
//! for the organization, as CSV and Excel.
//!
//! Architecture invariant: reports read the lake's datasets and never write them; they write
//! only under the reporting prefixes (or a folder given on the command line). The one
//! exception is [`fill`]: a local lake with a `seed` in its settings is filled from the raw
//! inputs through the ingest code, exactly as `ingest` would.

pub mod activities;
pub mod athena;
pub mod costs;
pub mod csv_file;
pub mod data;
pub mod excel;
pub mod inventory;
pub mod jobs;
pub mod mail;
pub mod period;
pub mod report;
pub mod sql;
pub mod table;

use spa_core::Settings;
use spa_core::lake::Lake;

use crate::data::{Data, DataError};
use crate::period::{Month, Week};
use crate::report::{Report, Written};

/// What a run could not do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the lake.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Cost reports.
    #[error(transparent)]
    Costs(#[from] costs::Error),
    /// Writing a report.
    #[error(transparent)]
    Write(#[from] report::WriteError),
    /// Filling the lake from the seed.
    #[error("filling the local lake from the seed: {0}")]
    Seed(#[from] ingest::seed::SeedError),
    /// E-mail.
    #[error(transparent)]
    Mail(#[from] mail::MailError),
    /// Anything else from the lake.
    #[error(transparent)]
    Lake(#[from] spa_core::lake::LakeError),
}

/// Fills what reports of the days `first..=last` need and a local lake with a `seed` lacks: the
/// costs of `month` (when given), the accounts snapshot at `last`, the seed's events. Returns a
/// line per dataset filled.
pub async fn fill(
    settings: &Settings,
    lake: &Lake,
    month: Option<Month>,
    first: chrono::NaiveDate,
    last: chrono::NaiveDate,
) -> Result<Vec<String>, Error> {
    use spa_core::lake::Dataset;
    if !ingest::seed::allowed(settings, lake) {
        return Ok(Vec::new());
    }
    let mut done = Vec::new();
    let data = Data::new(lake);
    if let Some(month) = month
        && data.costs(&month.to_string()).await?.is_none()
    {
        done.push(ingest::seed::costs(lake, settings, &month.to_string()).await?);
    }
    if lake
        .partition_at_or_before(Dataset::Accounts, &last.format("%Y-%m-%d").to_string())
        .await?
        .is_none()
    {
        done.push(ingest::seed::accounts(lake, settings, last).await?);
    }
    if data.events(first, last, None).await?.is_none() {
        done.push(ingest::seed::events(lake, settings).await?);
    }
    Ok(done)
}

/// The week's inventories.
pub async fn inventory_reports(data: &Data<'_>, week: Week) -> Result<Vec<Report>, Error> {
    let (_, accounts) = data.directory(week.last()).await?;
    let seen = inventory::seen(data, week.last()).await?;
    Ok(inventory::reports(week, &accounts, &seen))
}

/// The month's cost reports (the previous month, when the lake has it, gives the change per
/// cost center), with the month's total over every row of the source.
pub async fn cost_reports(
    settings: &Settings,
    data: &Data<'_>,
    month: Month,
) -> Result<(Vec<Report>, rust_decimal::Decimal), Error> {
    let current = costs::load(data, month, true)
        .await?
        .expect("required costs are present");
    let previous = costs::load(data, month.previous(), false).await?;
    Ok((
        costs::reports(settings, month, &current, previous.as_ref()),
        costs::total(&current),
    ))
}

/// Renders and stores reports in `out`; returns the files written.
pub async fn write(
    settings: &Settings,
    out: &Lake,
    reports: &[Report],
) -> Result<Vec<Written>, Error> {
    write_with(settings, out, reports, &mut |_, _| {}).await
}

/// Reports rendered at once: enough to keep every core busy, few enough that their files do
/// not pile up in memory before they are stored.
const BATCH: usize = 16;

/// Like [`write`], telling `done` of each report stored and its number of files. Workbooks and
/// CSV files are rendered in parallel (rayon), then stored in order.
pub async fn write_with(
    settings: &Settings,
    out: &Lake,
    reports: &[Report],
    done: &mut (dyn FnMut(&Report, usize) + Send),
) -> Result<Vec<Written>, Error> {
    use rayon::prelude::*;
    let mut all = Vec::new();
    for batch in reports.chunks(BATCH) {
        // CPU-bound; a run handles one job at a time, so blocking this task is harmless.
        let rendered: Vec<Result<Vec<Written>, report::WriteError>> =
            batch.par_iter().map(|r| r.render(settings)).collect();
        for (report, files) in batch.iter().zip(rendered) {
            let files = files?;
            report::store(out, &files).await?;
            done(report, files.len());
            all.extend(files);
        }
    }
    Ok(all)
}
