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
use crate::report::{Report, Stored, Written};

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
    let built = build_cost_reports(settings, data, month, true).await?;
    let summary = built.summary();
    Ok((built.list, summary))
}

/// The month's cost reports, the sums they were built from and the time of each step.
pub(crate) struct CostReports {
    /// The month.
    pub month: Month,
    /// The reports, the organization's last.
    pub list: Vec<Report>,
    /// The month's sums.
    pub current: costs::MonthCosts,
    /// The previous month's, when the lake has it.
    pub previous: Option<costs::MonthCosts>,
    /// Seconds: the two months' queries (with their lines), building the tables, and reading
    /// and building the forecast, anomalies and pages.
    pub query: f64,
    /// See `query`.
    pub tables: f64,
    /// See `query`.
    pub extras: f64,
}

impl CostReports {
    /// The month's summary (the e-mail's), with the organization page's figures.
    pub fn summary(&self) -> mail::Summary {
        with_page(
            mail::summary(self.month, &self.current, self.previous.as_ref()),
            &self.list,
        )
    }
}

/// Builds the month's cost reports (the HTML pages when `html`): the sums, then the extras
/// (read before the tables, see [`extras`]), the tables, and the extras added to them.
pub(crate) async fn build_cost_reports(
    settings: &Settings,
    data: &Datasets<'_>,
    month: Month,
    html: bool,
) -> Result<CostReports, Error> {
    let started = std::time::Instant::now();
    let current = costs::load(data, month, true)
        .await?
        .expect("required costs are present");
    let previous = costs::load(data, month.previous(), false).await?;
    let query = started.elapsed().as_secs_f64();
    let sums = (month, &current, previous.as_ref());
    let extras_read = extras(settings, data, sums, html).await?;
    let read = started.elapsed().as_secs_f64() - query;
    let mut list = costs::reports(settings, month, &current, previous.as_ref());
    let tables = started.elapsed().as_secs_f64() - query - read;
    with_extras(settings, sums, &mut list, extras_read);
    let extras = started.elapsed().as_secs_f64() - query - tables;
    Ok(CostReports {
        month,
        list,
        current,
        previous,
        query,
        tables,
        extras,
    })
}

/// What the month's cost reports get beside their sums: the month-end forecast (a sheet of
/// every workbook, and the organization's `forecast` CSV file), the month's anomalies (a sheet
/// of the organization's workbook) and, for the HTML pages, what the lake recorded.
pub(crate) struct Extras {
    forecast: forecast::Forecast,
    anomalies: Vec<anomalies::Anomaly>,
    /// `None` without the pages.
    facts: Option<html::facts::Facts>,
}

/// Reads the month's [`Extras`] (the facts when `html`). Read before the reports' tables are
/// built: these reads' passing memory and the tables then do not add up.
pub(crate) async fn extras(
    settings: &Settings,
    data: &Datasets<'_>,
    (month, current, previous): (Month, &costs::MonthCosts, Option<&costs::MonthCosts>),
    html: bool,
) -> Result<Extras, Error> {
    // Read with Polars whatever the engine, as the daily run does: a few small reads beside
    // the month's aggregation, which is the part worth sending to Athena.
    let local = Datasets::local(data.lake());
    let (_, accounts) = accounts::load(&local, month.last()).await?;
    let forecast = forecast::load(&local, month, &accounts).await?;
    let anomalies = anomalies::find(settings, &local, month, &forecast.days, &accounts).await?;
    tracing::debug!(anomalies = anomalies.len(), "forecast and anomalies");
    let facts = if html {
        Some(html::facts::load(&local, month, current, previous, accounts).await?)
    } else {
        None
    };
    Ok(Extras {
        forecast,
        anomalies,
        facts,
    })
}

/// Adds the [`Extras`] to the month's cost reports: the forecast and anomaly sheets and, with
/// the facts, the HTML pages of the organization's report (the last of [`costs::reports`]) and
/// of each cost center's.
pub(crate) fn with_extras(
    settings: &Settings,
    (month, current, previous): (Month, &costs::MonthCosts, Option<&costs::MonthCosts>),
    list: &mut [Report],
    extras: Extras,
) {
    let Extras {
        forecast,
        anomalies,
        facts,
    } = extras;
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
    let Some(facts) = facts else { return };
    let started = std::time::Instant::now();
    let Some(organization) = list.iter().position(|r| r.organization) else {
        return;
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
    let (_, kept) = write_with(settings, out, reports, &mut |_, _| {}, &|_| true).await?;
    Ok(kept)
}

/// Reports rendered at once: enough to keep every core busy, few enough that their files do
/// not pile up in memory before they are stored.
const BATCH: usize = 16;

/// Like [`write`], telling `done` of each report stored and its number of files; returns every
/// file stored, and the bytes of those of the reports `keep` asks for (the others' are let go
/// once stored). Workbooks and CSV files are rendered in parallel (rayon), a batch at a time,
/// while the batch before is stored (a task: its files at once); `done` is told in order.
pub(crate) async fn write_with(
    settings: &Settings,
    out: &Store,
    reports: &[Report],
    done: &mut (dyn FnMut(&Report, usize) + Send),
    keep: &(dyn Fn(&Report) -> bool + Sync),
) -> Result<(Vec<Stored>, Vec<Written>), Error> {
    use rayon::prelude::*;
    let (mut stored, mut kept) = (Vec::new(), Vec::new());
    let mut storing: Option<Storing<'_>> = None;
    for batch in reports.chunks(BATCH) {
        // CPU-bound; a run handles one job at a time, so blocking this task is harmless (the
        // store task runs on the runtime's other threads).
        let rendered: Result<Vec<Vec<Written>>, report::WriteError> =
            batch.par_iter().map(|r| r.render(settings)).collect();
        if let Some(previous) = storing.take() {
            previous.wait(done).await?;
        }
        let rendered = rendered?;
        let counts = rendered.iter().map(Vec::len).collect();
        for (report, files) in batch.iter().zip(&rendered) {
            stored.extend(files.iter().map(Stored::from));
            if keep(report) {
                kept.extend(files.iter().cloned());
            }
        }
        let files: Vec<Written> = rendered.into_iter().flatten().collect();
        let task = tokio::spawn(report::store(out.clone(), files));
        storing = Some(Storing {
            batch,
            counts,
            task,
        });
    }
    if let Some(last) = storing {
        last.wait(done).await?;
    }
    Ok((stored, kept))
}

/// A batch of reports whose files are being stored.
struct Storing<'r> {
    batch: &'r [Report],
    /// Files per report.
    counts: Vec<usize>,
    task: tokio::task::JoinHandle<Result<(), report::WriteError>>,
}

impl Storing<'_> {
    /// Waits for the files, then tells `done` of each report.
    async fn wait(self, done: &mut (dyn FnMut(&Report, usize) + Send)) -> Result<(), Error> {
        self.task
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        for (report, n) in self.batch.iter().zip(self.counts) {
            done(report, n);
        }
        Ok(())
    }
}
