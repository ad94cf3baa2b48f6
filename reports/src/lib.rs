//! Reports from the lake: monthly costs and activities, weekly inventories, per cost center and
//! for the organization, as CSV and Excel.
//!
//! Architecture invariant: the reports library reads the lake's datasets and never writes them
//! (it holds no call that writes a [`Lake`](spa_core::lake::Lake); a test reads the sources to
//! check it). It writes report files into a [`Store`] (the lake's reporting prefixes or a
//! folder) and mail into the outbox.

pub mod accounts;
pub mod activities;
pub mod anomalies;
pub mod athena;
pub mod costs;
pub mod csv_file;
pub mod daily;
pub mod data;
pub mod engine;
pub mod excel;
pub mod exceptions;
pub mod forecast;
pub mod frames;
pub mod html;
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
    let mut list = costs::reports(settings, month, &current, previous.as_ref());
    let sums = (month, &current, previous.as_ref());
    with_extras(settings, data, sums, &mut list, true).await?;
    let summary = with_page(mail::summary(month, &current, previous.as_ref()), &list);
    Ok((list, summary))
}

/// Adds to the month's cost reports their month-end forecast (a sheet of every workbook, and
/// the organization's `forecast` CSV file), the month's anomalies (a sheet of the
/// organization's workbook) and, when `html`, their HTML pages: the
/// organization's report (the last of [`costs::reports`]) and each cost center's.
pub(crate) async fn with_extras(
    settings: &Settings,
    data: &Datasets<'_>,
    (month, current, previous): (Month, &costs::MonthCosts, Option<&costs::MonthCosts>),
    list: &mut [Report],
    html: bool,
) -> Result<(), Error> {
    // Read with Polars whatever the engine, as the daily run does: a few small reads beside
    // the month's aggregation, which is the part worth sending to Athena.
    let local = Datasets::local(data.lake());
    let (_, accounts) = accounts::load(&local, month.last()).await?;
    let forecast = forecast::load(&local, month, &accounts).await?;
    let anomalies = anomalies::find(settings, &local, month, &forecast.days, &accounts).await?;
    tracing::debug!(anomalies = anomalies.len(), "forecast and anomalies");
    let currency = current.currency.as_str();
    for report in list.iter_mut() {
        let scope = (!report.organization).then_some(report.cost_center.as_str());
        report
            .tables
            .push(forecast::table(&forecast, currency, scope));
        if report.organization {
            report.csv.push(report.tables.len() - 1);
            report
                .tables
                .push(anomalies::table(&anomalies, currency, None));
        }
    }
    if !html {
        return Ok(());
    }
    let facts = html::facts::load(&local, month, current, previous, accounts).await?;
    let started = std::time::Instant::now();
    let Some(organization) = list.iter().position(|r| r.organization) else {
        return Ok(());
    };
    let (page, mut per_cc) = html::pages::pages(
        settings,
        (month, current, previous),
        &list[organization].tables[0],
        &facts,
        (&forecast, &anomalies),
    );
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "pages built");
    list[organization].page = Some(Box::new(page));
    for report in list.iter_mut().filter(|r| !r.organization) {
        report.page = per_cc.remove(&report.cost_center).map(Box::new);
    }
    Ok(())
}

/// The summary with the organization page's figures and chart, when the reports have one.
pub(crate) fn with_page(summary: mail::Summary, list: &[Report]) -> mail::Summary {
    match list
        .iter()
        .find_map(|r| r.page.as_deref().filter(|_| r.organization))
    {
        Some(page) => summary.with_page(page),
        None => summary,
    }
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
