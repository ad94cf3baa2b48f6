//! A report run, as the command line and the scheduled Lambda function both describe it: which
//! families for which period, written where, mailed or not.

use std::time::Instant;

use chrono::{Days, NaiveDate};
use serde::Deserialize;
use spa_core::Settings;
use spa_core::lake::{Lake, Store};
use std::path::PathBuf;

use spa_core::period::{Month, Week};

use crate::engine::{Datasets, Engine};
use crate::report::{Report, Stored, Written};
use crate::{Error, accounts, activities, costs, inventory_reports};

/// The report families.
pub(crate) const FAMILIES: [&str; 3] = ["costs", "activities", "inventory"];

/// What to produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The month of the cost and activity reports.
    pub month: Option<Month>,
    /// The week of the inventory.
    pub week: Option<Week>,
    /// Cost reports (needs `month`).
    pub costs: bool,
    /// Activity reports (needs `month`).
    pub activities: bool,
    /// Inventory (needs `week`).
    pub inventory: bool,
    /// E-mail the cost reports.
    pub send: bool,
    /// Run the aggregations on Athena (`settings.athena`) instead of Polars.
    pub athena: bool,
    /// Write the cost reports' HTML pages.
    pub html: bool,
}

/// The payload of the scheduled Lambda function (the schedule's constant input):
/// `{"reports": ["costs", "activities"], "send": false}` on day 6,
/// `{"reports": ["costs"], "send": true}` on day 14, `{"reports": ["inventory"]}` weekly, and
/// `{"exceptions": {"days": 2}}` hourly (the exceptions sweep of the last days, delivered),
/// `{"daily": {}}` several times a day (the daily spend run of the invocation's day, or of
/// `{"daily": {"day": "YYYY-MM-DD"}}`, delivered).
/// `month` and `week` default to the ones before the invocation's day.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Families: `costs`, `activities`, `inventory` [costs and activities].
    #[serde(default)]
    pub reports: Vec<String>,
    /// E-mail the cost reports.
    #[serde(default)]
    pub send: bool,
    /// `YYYY-MM`.
    #[serde(default)]
    pub month: Option<String>,
    /// `YYYY-Www`.
    #[serde(default)]
    pub week: Option<String>,
    /// `local` (Polars, the default) or `athena`: where the aggregations run.
    #[serde(default)]
    pub engine: Option<String>,
    /// The exceptions sweep instead of reports.
    #[serde(default)]
    pub exceptions: Option<SweepSchedule>,
    /// The daily spend run instead of reports.
    #[serde(default)]
    pub daily: Option<DailySchedule>,
}

/// The daily spend run: its day [the invocation's day, UTC].
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DailySchedule {
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub day: Option<String>,
}

impl DailySchedule {
    /// The day evaluated on `today`.
    pub fn day(&self, today: NaiveDate) -> Result<spa_core::period::Day, String> {
        match &self.day {
            Some(text) => text.parse().map_err(|e| format!("daily.day `{text}`: {e}")),
            None => Ok(spa_core::period::Day::of(today)),
        }
    }
}

/// The hourly exceptions sweep: the last `days` days (today included) raised and delivered.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepSchedule {
    /// Days swept, today included [2].
    #[serde(default = "two_days")]
    pub days: u32,
}

fn two_days() -> u32 {
    2
}

impl SweepSchedule {
    /// The first and last day swept on `today`.
    pub fn range(&self, today: NaiveDate) -> (spa_core::period::Day, spa_core::period::Day) {
        let first = today - chrono::Days::new(u64::from(self.days.max(1) - 1));
        (
            spa_core::period::Day::of(first),
            spa_core::period::Day::of(today),
        )
    }
}

/// The arguments of a report run on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Month to report, e.g. 2026-10 [default: the previous month, unless --week is given].
    #[arg(long, value_name = "YYYY-MM", value_parser = str::parse::<Month>)]
    pub month: Option<Month>,
    /// ISO week to report, e.g. 2026-W44 (inventory) [default with --only inventory: the
    /// previous week].
    #[arg(long, value_name = "YYYY-Www", value_parser = str::parse::<Week>)]
    pub week: Option<Week>,
    /// Only one family of reports.
    #[arg(long, value_parser = FAMILIES)]
    pub only: Option<String>,
    /// Write the reports into this folder (same layout) instead of the lake.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// E-mail the reports to the recipients of settings.yaml (never without this flag).
    #[arg(long)]
    pub send: bool,
    /// Where the reports' aggregations run: `local` (Polars over the lake) or `athena` (the
    /// work group and database of settings.yaml's `athena` section, over the same S3 lake).
    #[arg(long, default_value = "local", value_parser = ["local", "athena"])]
    pub engine: String,
    /// Leave out the cost reports' HTML pages (CSV and Excel only).
    #[arg(long)]
    pub no_html: bool,
}

impl RunArgs {
    /// Whether any argument of a report run is given (a subcommand takes none of them).
    pub fn given(&self) -> bool {
        self.month.is_some()
            || self.week.is_some()
            || self.only.is_some()
            || self.out.is_some()
            || self.send
            || self.no_html
    }

    /// The job these arguments ask for on `today`.
    pub fn job(&self, today: NaiveDate) -> Result<Job, String> {
        let job = Job::of_command_line(
            self.month,
            self.week,
            self.only.as_deref(),
            self.send,
            self.engine == "athena",
            today,
        )?;
        Ok(Job {
            html: !self.no_html,
            ..job
        })
    }
}

impl Job {
    /// The job of a command line: `month` and `week` as given, `only` one family. Without a
    /// period, the month before `today` (or with `only` inventory, the week before).
    pub(crate) fn of_command_line(
        month: Option<Month>,
        week: Option<Week>,
        only: Option<&str>,
        send: bool,
        athena: bool,
        today: NaiveDate,
    ) -> Result<Job, String> {
        if let Some(unknown) = only.filter(|o| !FAMILIES.contains(o)) {
            return Err(format!(
                "--only {unknown}: expected one of {}",
                FAMILIES.join(", ")
            ));
        }
        if send && only.is_some_and(|o| o != "costs") {
            return Err("--send mails the cost reports: use it with the costs family".into());
        }
        let wants = |family: &str| only.is_none_or(|o| o == family);
        let week = match (week, only) {
            (Some(week), _) => Some(week),
            (None, Some("inventory")) => Some(Week::of(today - Days::new(7))),
            (None, _) => None,
        }
        .filter(|_| wants("inventory"));
        let month = match (month, week) {
            (Some(month), _) => Some(month),
            (None, None) => Some(Month::of(today).previous()),
            (None, Some(_)) => None,
        }
        .filter(|_| wants("costs") || wants("activities"));
        if month.is_none() && week.is_none() {
            return Err(
                "nothing to report: --only inventory needs a week, costs and activities a month"
                    .into(),
            );
        }
        Ok(Job::of_families(month, week, wants, send, athena))
    }

    /// The job of the families `wants` accepts.
    fn of_families(
        month: Option<Month>,
        week: Option<Week>,
        wants: impl Fn(&str) -> bool,
        send: bool,
        athena: bool,
    ) -> Job {
        Job {
            month,
            week,
            costs: wants("costs"),
            activities: wants("activities"),
            inventory: wants("inventory"),
            send,
            athena,
            html: true,
        }
    }

    /// The periods the job reads: the month (with its costs) and the week, each as its first
    /// and last day.
    pub fn periods(&self) -> Vec<(Option<Month>, NaiveDate, NaiveDate)> {
        let mut periods = Vec::new();
        if let Some(month) = self.month {
            periods.push((Some(month), month.first(), month.last()));
        }
        if let Some(week) = self.week {
            periods.push((None, week.first(), week.last()));
        }
        periods
    }
}

impl Schedule {
    /// The job this schedule asks for on `today`.
    pub fn job(&self, today: NaiveDate) -> Result<Job, String> {
        let families: Vec<&str> = if self.reports.is_empty() {
            vec!["costs", "activities"]
        } else {
            self.reports.iter().map(String::as_str).collect()
        };
        if let Some(unknown) = families.iter().find(|f| !FAMILIES.contains(f)) {
            return Err(format!(
                "reports: unknown family `{unknown}` (costs, activities, inventory)"
            ));
        }
        let wants = |f: &str| families.contains(&f);
        let month = match &self.month {
            Some(m) => Some(m.parse::<Month>()?),
            None => Some(Month::of(today).previous()),
        }
        .filter(|_| wants("costs") || wants("activities"));
        let week = match &self.week {
            Some(w) => Some(w.parse::<Week>()?),
            None => Some(Week::of(today - Days::new(7))),
        }
        .filter(|_| wants("inventory"));
        let athena = match self.engine.as_deref() {
            None | Some("local") => false,
            Some("athena") => true,
            Some(other) => {
                return Err(format!("reports: unknown engine `{other}` (local, athena)"));
            }
        };
        Ok(Job::of_families(month, week, wants, self.send, athena))
    }
}

/// Runs a job: reads the lake, writes every report into `out`, mails the cost reports when
/// asked; `progress` receives a line per step. Returns the files stored (their bytes are let go
/// as soon as they are out).
pub async fn run(
    settings: &Settings,
    lake: &Lake,
    out: &Store,
    job: &Job,
    progress: &mut (dyn FnMut(String) + Send),
) -> Result<Vec<Stored>, Error> {
    let engine = Engine::new(settings, job.athena).await;
    let data = Datasets::new(lake, &engine);
    let mut written = Vec::new();
    if let (Some(month), true) = (job.month, job.costs) {
        let built = crate::build_cost_reports(settings, &data, month, job.html).await?;
        let (list, current) = (&built.list, &built.current);
        let polars = current.query.as_secs_f64()
            + built
                .previous
                .as_ref()
                .map_or(0.0, |p| p.query.as_secs_f64());
        progress(format!(
            "costs {month}: {} cost centers and the organization, {} in all (query {:.2} s of which Polars {polars:.2} s, tables {:.2} s, forecast and pages {:.2} s)",
            list.len() - 1,
            costs::total(current),
            built.query,
            built.tables,
            built.extras,
        ));
        // The organization's files are mailed: their bytes are kept for the message.
        let (stored, files) = write_each(settings, out, list, progress, &|r| {
            job.send && r.organization
        })
        .await?;
        if job.send {
            let folder = format!(
                "{}/{}",
                out.location(),
                settings.reporting.costs_prefix.trim_matches('/')
            );
            let summary = built.summary();
            let message = crate::mail::compose(settings, &summary, &files, &folder)?;
            let via = crate::mail::send(settings, &message, &format!("{month}-costs")).await?;
            let to: Vec<&str> = settings
                .features
                .cost_email_recipients
                .iter()
                .map(|e| e.as_str())
                .collect();
            progress(format!(
                "mail: cost reports of {month} sent to {} via {via}",
                to.join(", ")
            ));
        }
        written.extend(stored);
    }
    if let (Some(month), true) = (job.month, job.activities) {
        let started = Instant::now();
        let (events, query) = activities::load_timed(&data, month).await?;
        let query = query.as_secs_f64();
        let (_, accounts) = accounts::load(&data, month.last()).await?;
        let found = activities::activities(&events, month, &accounts);
        let raised = crate::exceptions::load(&data, month).await?;
        let mut list = activities::reports(month, &found, &accounts, &raised);
        list.extend(crate::exceptions::reports(month, &raised, &accounts));
        progress(format!(
            "activities {month}: {} activities, {} exceptions, {} reports (query {query:.2} s, tables {:.2} s)",
            found.len(),
            raised.len(),
            list.len(),
            started.elapsed().as_secs_f64() - query
        ));
        written.extend(
            write_each(settings, out, &list, progress, &|_| false)
                .await?
                .0,
        );
    }
    if let (Some(week), true) = (job.week, job.inventory) {
        let started = Instant::now();
        let list = inventory_reports(&data, week).await?;
        progress(format!(
            "inventory {week}: {} cost centers and the organization ({:.1} s)",
            list.len() - 1,
            started.elapsed().as_secs_f64()
        ));
        written.extend(
            write_each(settings, out, &list, progress, &|_| false)
                .await?
                .0,
        );
    }
    Ok(written)
}

/// Writes `list` with a progress line per report; returns every file stored and the bytes of
/// those of the reports `keep` asks for.
async fn write_each(
    settings: &Settings,
    out: &Store,
    list: &[Report],
    progress: &mut (dyn FnMut(String) + Send),
    keep: &(dyn Fn(&Report) -> bool + Sync),
) -> Result<(Vec<Stored>, Vec<Written>), Error> {
    crate::write_with(
        settings,
        out,
        list,
        &mut |report, files| progress(format!("  {:<24} {files} files", report.cost_center)),
        keep,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_default_to_the_period_before() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 6).unwrap();
        let early: Schedule =
            serde_json::from_str(r#"{"reports": ["costs", "activities"]}"#).unwrap();
        let job = early.job(today).unwrap();
        assert_eq!(job.month.unwrap().to_string(), "2026-10");
        assert!(job.costs && job.activities && !job.inventory && !job.send && job.week.is_none());
        let weekly: Schedule = serde_json::from_str(r#"{"reports": ["inventory"]}"#).unwrap();
        // 2026-11-06 is in week 45; the week before is 44.
        let job = weekly.job(today).unwrap();
        assert_eq!(job.week.unwrap().to_string(), "2026-W44");
        assert!(job.month.is_none());
        let bad: Schedule = serde_json::from_str(r#"{"reports": ["budgets"]}"#).unwrap();
        assert!(
            bad.job(today)
                .unwrap_err()
                .contains("unknown family `budgets`")
        );
        assert!(serde_json::from_str::<Schedule>(r#"{"report": []}"#).is_err());
    }
}
