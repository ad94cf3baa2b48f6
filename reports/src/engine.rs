//! Where the reports' aggregations and `reports query` run: Polars on this machine, or Athena
//! over the same S3 lake. Every report reads the lake through [`Datasets`], which asks the
//! engine; nothing else in the crate chooses between the two.

use std::path::PathBuf;

use chrono::NaiveDate;
use polars::prelude::*;
use spa_core::Settings;
use spa_core::lake::columns::{ACCOUNT_ID, COSTS_VERSION, EVENT_ID};
use spa_core::lake::{Dataset, Lake};
use spa_core::period::{Day, Month};

use crate::athena::{Athena, AthenaError};
use crate::data::{Data, DataError};
use crate::render::{Format, render};
use crate::sql::{SqlError, SqlFile};

/// The engine of a run.
pub enum Engine {
    /// Polars, reading the lake's files (local or fetched from S3).
    Local,
    /// Athena, in the work group and database of `settings.athena`.
    Athena(Athena),
}

/// The engine that computes everything locally.
pub(crate) const LOCAL: &Engine = &Engine::Local;

/// What a query file could not do on its engine.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The file, its parameters, or Polars SQL.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// On Athena.
    #[error(transparent)]
    Athena(#[from] AthenaError),
    /// The result as a frame or as text.
    #[error("the result: {0}")]
    Result(#[from] PolarsError),
}

impl Engine {
    /// Athena (`athena`) or Polars.
    pub async fn new(settings: &Settings, athena: bool) -> Self {
        if athena {
            Engine::Athena(Athena::new(settings).await)
        } else {
            Engine::Local
        }
    }

    /// Runs `local` with Polars, or `sql` (Athena's dialect, the same question) on Athena;
    /// either way a frame with the same column names (Athena's cells arrive as text; the
    /// readers of [`crate::frames`] parse both).
    pub(crate) async fn aggregate(
        &self,
        local: LazyFrame,
        sql: &str,
    ) -> Result<DataFrame, DataError> {
        match self {
            Engine::Local => Ok(crate::frames::collect(local)?),
            Engine::Athena(athena) => {
                let results = athena
                    .query(sql)
                    .await
                    .map_err(|e| DataError::Athena(e.to_string()))?;
                Ok(crate::frames::from_text(&results.columns)?)
            }
        }
    }

    /// Runs a query file's filled `text` (`reports query`): Polars SQL over `lake`, or Athena.
    /// Returns the result and a line naming where it ran.
    pub async fn query(
        &self,
        lake: &Lake,
        file: &SqlFile,
        text: &str,
    ) -> Result<(DataFrame, String), QueryError> {
        match self {
            Engine::Local => Ok((
                crate::sql::run_local(lake, file, text).await?,
                "local, Polars SQL".into(),
            )),
            Engine::Athena(athena) => {
                let results = athena.query(text).await?;
                Ok((
                    crate::frames::from_text(&results.columns)?,
                    format!("Athena query {}", results.id),
                ))
            }
        }
    }
}

/// A query file's answer, rendered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The result in the format asked for.
    pub text: String,
    /// Rows of the result.
    pub rows: usize,
    /// Where it ran (`local, Polars SQL` or the Athena query id).
    pub engine: String,
    /// What the engine took: registering the lake's tables, planning, running and collecting
    /// the result (not rendering it).
    pub query: std::time::Duration,
}

/// The arguments of `reports query`.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    /// The SQL file.
    pub file: PathBuf,
    /// A parameter, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Output format.
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "json"])]
    pub format: String,
    /// Where the query runs: `local` (Polars SQL on the lake) or `athena` (the work group
    /// and database of settings.yaml's `athena` section).
    #[arg(long, default_value = "local", value_parser = ["local", "athena"])]
    pub engine: String,
}

/// `NAME=VALUE`.
fn parse_param(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}

/// `reports query`: reads a SQL file, fills its parameters and runs it on the engine of
/// `athena` over the lake of `settings`.
pub async fn query_file(settings: &Settings, args: &QueryArgs) -> Result<Answer, QueryError> {
    let format: Format = args.format.parse().map_err(SqlError::Format)?;
    let file = SqlFile::read(&args.file)?;
    let text = file.filled(&args.params.iter().cloned().collect())?;
    let lake = Lake::open(settings).await;
    let engine = Engine::new(settings, args.engine == "athena").await;
    let started = std::time::Instant::now();
    let (df, engine) = engine.query(&lake, &file, &text).await?;
    let query = started.elapsed();
    Ok(Answer {
        text: render(&df, format)?,
        rows: df.height(),
        engine,
        query,
    })
}

/// The datasets a report reads, and the engine its aggregations run on.
#[derive(Clone, Copy)]
pub struct Datasets<'l> {
    data: Data<'l>,
    engine: &'l Engine,
}

impl<'l> Datasets<'l> {
    /// The datasets of `lake`, aggregated by `engine`.
    pub fn new(lake: &'l Lake, engine: &'l Engine) -> Self {
        Datasets {
            data: Data::new(lake),
            engine,
        }
    }

    /// The datasets of `lake`, aggregated by Polars.
    pub fn local(lake: &'l Lake) -> Self {
        Self::new(lake, LOCAL)
    }

    /// The lake read.
    pub fn lake(&self) -> &'l Lake {
        self.data.lake()
    }

    /// The reader below.
    pub fn data(&self) -> Data<'l> {
        self.data
    }

    /// Runs a query on the engine (see [`Engine::aggregate`]).
    pub(crate) async fn aggregate(
        &self,
        local: LazyFrame,
        sql: &str,
    ) -> Result<DataFrame, DataError> {
        self.engine.aggregate(local, sql).await
    }

    /// Some partitions as one lazy frame, or `None` when they hold no object. On Athena, which
    /// reads the objects itself, only their presence matters: the frame is empty.
    async fn scan(
        &self,
        dataset: Dataset,
        partitions: &[String],
    ) -> Result<Option<LazyFrame>, DataError> {
        let keys = self.data.keys(dataset, partitions).await?;
        match self.engine {
            Engine::Local => self.data.scan_keys(&keys).await,
            Engine::Athena(_) => Ok((!keys.is_empty()).then(|| DataFrame::empty().lazy())),
        }
    }

    /// The costs of a month, if the lake has them.
    pub async fn costs(&self, month: Month) -> Result<Option<LazyFrame>, DataError> {
        self.scan(Dataset::Costs, &[month.to_string()]).await
    }

    /// Cost Explorer's usage-type rows of a month written with the costs object stored now
    /// (rows naming another version are stale: left out), and the versions they may name; `None`
    /// when the lake has none for the month. On Athena the frame is empty: the versions go into
    /// the query.
    pub async fn usage_types(
        &self,
        month: Month,
    ) -> Result<Option<(LazyFrame, Vec<String>)>, DataError> {
        let month = month.to_string();
        let versions: Vec<String> = self
            .lake()
            .objects_versioned(Dataset::Costs, &month)
            .await?
            .into_iter()
            .map(|o| o.version)
            .collect();
        if versions.is_empty() {
            return Ok(None);
        }
        let Some(frame) = self.scan(Dataset::UsageTypes, &[month]).await? else {
            return Ok(None);
        };
        let current = col(COSTS_VERSION).is_in(
            lit(Series::new(COSTS_VERSION.into(), versions.clone())).implode(false),
            false,
        );
        let frame = match self.engine {
            Engine::Local => frame.filter(current),
            Engine::Athena(_) => frame,
        };
        Ok(Some((frame, versions)))
    }

    /// The costs of a month, or an error that says how to fill them.
    pub(crate) async fn costs_required(&self, month: Month) -> Result<LazyFrame, DataError> {
        self.costs(month).await?.ok_or_else(|| {
            self.data.missing(
                Dataset::Costs,
                &month.to_string(),
                format!("fill it with `cargo run -p ingest -- costs --month {month}`"),
            )
        })
    }

    /// The accounts snapshot valid on `day` (see [`Data::snapshot_at`]) and its date.
    pub(crate) async fn accounts_at(
        &self,
        day: NaiveDate,
    ) -> Result<(String, LazyFrame), DataError> {
        let day = Day::of(day);
        let snapshot = self.data.snapshot_at(day).await?;
        let frame = self
            .scan(Dataset::Accounts, std::slice::from_ref(&snapshot))
            .await?
            .ok_or_else(|| self.data.snapshot_missing(day))?;
        Ok((snapshot, frame))
    }

    /// The exceptions stored for the days of `month`, or `None` when there are none.
    pub async fn exceptions(&self, month: Month) -> Result<Option<LazyFrame>, DataError> {
        let days: Vec<String> = Day::of(month.first())
            .through(Day::of(month.last()))
            .map(|d| d.to_string())
            .collect();
        self.scan(Dataset::Exceptions, &days).await
    }

    /// The events of the days `from..=to` that `filter` keeps, each event once (readers dedupe
    /// on event id; filtering first keeps that cheap), or `None` when the lake has none of
    /// those days.
    pub async fn events(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        filter: Option<Expr>,
    ) -> Result<Option<LazyFrame>, DataError> {
        self.events_of(from, to, filter, None).await
    }

    /// Like [`Datasets::events`], keeping only the events of `accounts`, before the
    /// deduplication: what it holds in memory is those accounts'. The accounts are a predicate of
    /// the scan (`is_in`), so the Parquet reader decodes the other columns (the raw JSON) of
    /// their rows only.
    pub async fn events_of(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        filter: Option<Expr>,
        accounts: Option<Vec<String>>,
    ) -> Result<Option<LazyFrame>, DataError> {
        let days = self.data.event_days(Day::of(from), Day::of(to)).await?;
        let keep = accounts.map(|ids| {
            let ids = Series::new(ACCOUNT_ID.into(), ids);
            col(ACCOUNT_ID).is_in(lit(ids).implode(false), false)
        });
        let filter = match (keep, filter) {
            (Some(keep), Some(filter)) => Some(keep.and(filter)),
            (keep, filter) => keep.or(filter),
        };
        Ok(self.scan(Dataset::Events, &days).await?.map(|frame| {
            let frame = match filter {
                Some(f) => frame.filter(f),
                None => frame,
            };
            frame.unique_stable_generic(Some(vec![col(EVENT_ID)]), UniqueKeepStrategy::First)
        }))
    }
}
