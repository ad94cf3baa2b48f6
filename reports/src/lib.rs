//! Reports from the lake: monthly costs and activities, weekly inventories, per cost center and
//! for the organization, as CSV and Excel.
//!
//! Architecture invariant: the reports library reads the lake's datasets and never writes them
//! (it holds no call that writes a [`Lake`](spa_core::lake::Lake); a test reads the sources to
//! check it). It writes report files into a [`Store`] (the lake's reporting prefixes or a
//! folder) and mail into the outbox.

pub mod accounts;
pub mod activities;
pub mod athena;
pub mod costs;
pub mod csv_file;
pub mod daily;
pub mod data;
pub mod engine;
pub mod excel;
pub mod exceptions;
pub mod frames;
pub mod inventory;
pub mod jobs;
pub mod launches;
pub mod mail;
pub mod render;
pub mod report;
pub mod sql;
pub mod table;

use spa_core::Settings;
use spa_core::lake::Store;
use spa_core::period::{Month, Week};

use crate::data::DataError;
use crate::engine::Datasets;
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
    /// E-mail.
    #[error(transparent)]
    Mail(#[from] mail::MailError),
}

/// The week's inventories.
pub(crate) async fn inventory_reports(
    data: &Datasets<'_>,
    week: Week,
) -> Result<Vec<Report>, Error> {
    let (_, accounts) = accounts::load(data, week.last()).await?;
    let seen = inventory::seen(data, week.last()).await?;
    Ok(inventory::reports(week, &accounts, &seen))
}

/// The month's cost reports (the previous month, when the lake has it, gives the change per
/// cost center) and the month's summary, whose total is the sum of every row of the source.
pub async fn cost_reports(
    settings: &Settings,
    data: &Datasets<'_>,
    month: Month,
) -> Result<(Vec<Report>, mail::Summary), Error> {
    let current = costs::load(data, month, true)
        .await?
        .expect("required costs are present");
    let previous = costs::load(data, month.previous(), false).await?;
    Ok((
        costs::reports(settings, month, &current, previous.as_ref()),
        mail::summary(month, &current, previous.as_ref()),
    ))
}

/// Renders and stores reports in `out`; returns the files written.
pub async fn write(
    settings: &Settings,
    out: &Store,
    reports: &[Report],
) -> Result<Vec<Written>, Error> {
    write_with(settings, out, reports, &mut |_, _| {}).await
}

/// Reports rendered at once: enough to keep every core busy, few enough that their files do
/// not pile up in memory before they are stored.
const BATCH: usize = 16;

/// Like [`write`], telling `done` of each report stored and its number of files. Workbooks and
/// CSV files are rendered in parallel (rayon), then stored in order.
pub(crate) async fn write_with(
    settings: &Settings,
    out: &Store,
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
