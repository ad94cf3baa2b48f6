//! The lake's datasets as Polars lazy frames: files scanned in place in a local lake, objects
//! read into memory from S3. Reports only read the lake.

use std::sync::Arc;

use chrono::NaiveDate;
use polars::prelude::*;
use spa_core::lake::{Dataset, Lake, LakeError};

/// What a report could not read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The lake could not be listed or read.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// A query failed.
    #[error("query: {0}")]
    Polars(#[from] PolarsError),
    /// An Athena query failed.
    #[error("{0}")]
    Athena(String),
    /// The lake has no data for the period.
    #[error("the lake {lake} has no {dataset} for {period}: {hint}")]
    Missing {
        /// The lake's location.
        lake: String,
        /// The dataset (`costs`, `accounts`, `events`).
        dataset: &'static str,
        /// The period asked for.
        period: String,
        /// The command that fills it.
        hint: String,
    },
}

/// The datasets a report reads, and where its aggregations run: Polars on this machine, or
/// Athena over the same lake.
pub struct Data<'l> {
    lake: &'l Lake,
    athena: Option<&'l crate::athena::Athena>,
}

impl<'l> Data<'l> {
    /// Datasets of `lake`, aggregated locally.
    pub fn new(lake: &'l Lake) -> Self {
        Data { lake, athena: None }
    }

    /// Datasets of `lake`, aggregated by Athena (which reads the same S3 lake).
    pub fn on_athena(lake: &'l Lake, athena: &'l crate::athena::Athena) -> Self {
        Data {
            lake,
            athena: Some(athena),
        }
    }

    /// Runs `local` with Polars, or `sql` (Athena's dialect) on Athena; either way a frame with
    /// the same column names (Athena's cells arrive as text; the readers below parse them).
    pub async fn aggregate(&self, local: LazyFrame, sql: &str) -> Result<DataFrame, DataError> {
        match self.athena {
            None => Ok(collect(local)?),
            Some(athena) => {
                let results = athena
                    .query(sql)
                    .await
                    .map_err(|e| DataError::Athena(e.to_string()))?;
                Ok(crate::sql::frame(&results.columns)?)
            }
        }
    }

    /// The lake read.
    pub fn lake(&self) -> &Lake {
        self.lake
    }

    /// The objects of some partitions as one lazy frame, or `None` when there are none.
    async fn scan(
        &self,
        dataset: Dataset,
        partitions: &[String],
    ) -> Result<Option<LazyFrame>, DataError> {
        let keys = self.keys(dataset, partitions).await?;
        if keys.is_empty() {
            return Ok(None);
        }
        if self.athena.is_some() {
            // Athena reads the objects itself: only their presence matters here.
            return Ok(Some(DataFrame::empty().lazy()));
        }
        let args = ScanArgsParquet {
            hive_options: HiveOptions::new_disabled(),
            ..Default::default()
        };
        let sources = if self.lake.local_path(&keys[0]).is_some() {
            let paths: Vec<PlRefPath> = keys
                .iter()
                .filter_map(|k| self.lake.local_path(k))
                .map(|p| PlRefPath::new(p.to_string_lossy().as_ref()))
                .collect();
            ScanSources::Paths(paths.into_iter().collect())
        } else {
            let mut buffers = Vec::with_capacity(keys.len());
            for key in &keys {
                let bytes = self.lake.get_bytes(key).await?;
                buffers.push(polars_buffer::Buffer::from(bytes.to_vec()));
            }
            ScanSources::Buffers(Arc::from(buffers))
        };
        Ok(Some(LazyFrame::scan_parquet_sources(sources, args)?))
    }

    /// The objects of `partitions`, in order.
    async fn keys(
        &self,
        dataset: Dataset,
        partitions: &[String],
    ) -> Result<Vec<String>, DataError> {
        let mut keys = Vec::new();
        for partition in partitions {
            keys.extend(self.lake.objects(dataset, partition).await?);
        }
        Ok(keys)
    }

    /// A local dataset's `partitions` as one Parquet scan whose partition column Polars reads
    /// from the folder names (`dt=2026-10-01/`), so that a filter on it skips whole partitions
    /// and the other filters still reach the Parquet reader. `None` for an S3 lake, no objects,
    /// or a lake whose own path holds a `name=value` folder (which Polars would read as one more
    /// column): [`Data::scan_partition`] per partition then.
    pub async fn scan_hive(
        &self,
        dataset: Dataset,
        partitions: &[String],
    ) -> Result<Option<LazyFrame>, DataError> {
        if self.athena.is_some() || self.lake.local_path("").is_none() {
            return Ok(None);
        }
        let mut paths = Vec::new();
        for key in self.keys(dataset, partitions).await? {
            let path = self.lake.local_path(&key).expect("a local lake");
            let named = path
                .parent()
                .into_iter()
                .flat_map(std::path::Path::components)
                .filter(|c| c.as_os_str().to_string_lossy().contains('='))
                .count();
            if named != 1 {
                return Ok(None);
            }
            paths.push(PlRefPath::new(path.to_string_lossy().as_ref()));
        }
        if paths.is_empty() {
            return Ok(None);
        }
        let hive =
            Schema::from_iter([Field::new(dataset.partition_key().into(), DataType::String)]);
        let args = ScanArgsParquet {
            hive_options: HiveOptions {
                enabled: Some(true),
                hive_start_idx: 0,
                schema: Some(Arc::new(hive)),
                try_parse_dates: false,
            },
            ..Default::default()
        };
        let sources = ScanSources::Paths(paths.into_iter().collect());
        Ok(Some(LazyFrame::scan_parquet_sources(sources, args)?))
    }

    /// The objects of one partition as one lazy frame, or `None` when it has none.
    pub async fn scan_partition(
        &self,
        dataset: Dataset,
        partition: &str,
    ) -> Result<Option<LazyFrame>, DataError> {
        self.scan(dataset, &[partition.to_string()]).await
    }

    /// The costs of a month (`YYYY-MM`), if the lake has them.
    pub async fn costs(&self, month: &str) -> Result<Option<LazyFrame>, DataError> {
        self.scan(Dataset::Costs, &[month.to_string()]).await
    }

    /// The costs of a month, or an error that says how to fill them.
    pub async fn costs_required(&self, month: &str) -> Result<LazyFrame, DataError> {
        self.costs(month).await?.ok_or_else(|| DataError::Missing {
            lake: self.lake.location().to_string(),
            dataset: "costs",
            period: month.to_string(),
            hint: format!("fill it with `cargo run -p ingest -- costs --month {month}`"),
        })
    }

    /// The accounts snapshot valid on `day` (the latest at or before it; else the earliest,
    /// for a lake that started later) and its date.
    pub async fn accounts_at(&self, day: NaiveDate) -> Result<(String, LazyFrame), DataError> {
        let value = day.format("%Y-%m-%d").to_string();
        let snapshot = match self
            .lake
            .partition_at_or_before(Dataset::Accounts, &value)
            .await?
        {
            Some(s) => Some(s),
            None => self
                .lake
                .partitions(Dataset::Accounts)
                .await?
                .into_iter()
                .next(),
        };
        let missing = || DataError::Missing {
            lake: self.lake.location().to_string(),
            dataset: "accounts",
            period: value.clone(),
            hint: format!("take a snapshot with `cargo run -p ingest -- accounts --date {value}`"),
        };
        let snapshot = snapshot.ok_or_else(missing)?;
        let frame = self
            .scan(Dataset::Accounts, std::slice::from_ref(&snapshot))
            .await?
            .ok_or_else(missing)?;
        Ok((snapshot, frame))
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
        let (from, to) = (
            from.format("%Y-%m-%d").to_string(),
            to.format("%Y-%m-%d").to_string(),
        );
        let days: Vec<String> = self
            .lake
            .partitions(Dataset::Events)
            .await?
            .into_iter()
            .filter(|d| *d >= from && *d <= to)
            .collect();
        Ok(self.scan(Dataset::Events, &days).await?.map(|frame| {
            let frame = match filter {
                Some(f) => frame.filter(f),
                None => frame,
            };
            frame.unique_stable_generic(Some(vec![col("event_id")]), UniqueKeepStrategy::First)
        }))
    }
}

/// The accounts of a snapshot in Athena's dialect (the same as the Polars query of
/// [`Data::directory`]).
pub fn directory_sql(snapshot: &str) -> String {
    format!(
        "SELECT account_id, name, email, status, ou_name, state, holder, cost_center \
         FROM accounts WHERE snapshot = '{snapshot}'"
    )
}

/// `'a', 'b', ...`: labels as a SQL list.
pub fn sql_list(labels: &[&str]) -> String {
    labels
        .iter()
        .map(|l| format!("'{l}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Keeps events whose activity label is one of `labels`.
pub fn labelled(labels: &[&str]) -> Expr {
    labels
        .iter()
        .map(|l| col("activity").eq(lit(*l)))
        .reduce(|a, b| a.or(b))
        .unwrap_or_else(|| lit(false))
}

/// One account as the snapshot describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountInfo {
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// `ACTIVE`, `SUSPENDED`, `CLOSED`, ...
    pub status: String,
    /// OU name.
    pub ou: String,
    /// Lifecycle state (empty when untagged or unmanaged).
    pub state: String,
    /// Holder (the cost owner).
    pub holder: String,
    /// Cost center (`NoCostTag` when untagged).
    pub cost_center: String,
}

impl AccountInfo {
    /// What reports show for an account the snapshot does not know.
    pub fn unknown() -> Self {
        AccountInfo {
            name: crate::costs::UNKNOWN.into(),
            ou: crate::costs::UNKNOWN.into(),
            cost_center: spa_core::organization::NO_COST_TAG.into(),
            ..Default::default()
        }
    }
}

impl Data<'_> {
    /// The accounts of the snapshot valid on `day`, by id, and the snapshot's date.
    pub async fn directory(
        &self,
        day: NaiveDate,
    ) -> Result<(String, std::collections::BTreeMap<String, AccountInfo>), DataError> {
        let (snapshot, frame) = self.accounts_at(day).await?;
        let sql = directory_sql(&snapshot);
        let df = self
            .aggregate(
                frame.select([
                    col("account_id"),
                    col("name"),
                    col("email"),
                    col("status"),
                    col("ou_name"),
                    col("state"),
                    col("holder"),
                    col("cost_center"),
                ]),
                &sql,
            )
            .await?;
        let text = |name: &str| -> Result<Vec<String>, PolarsError> {
            Ok(strings(&df, name)?
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect())
        };
        let (ids, names, emails, statuses) = (
            text("account_id")?,
            text("name")?,
            text("email")?,
            text("status")?,
        );
        let (ous, states, holders, centers) = (
            text("ou_name")?,
            text("state")?,
            text("holder")?,
            text("cost_center")?,
        );
        let mut accounts = std::collections::BTreeMap::new();
        for i in 0..df.height() {
            accounts.insert(
                ids[i].clone(),
                AccountInfo {
                    name: names[i].clone(),
                    email: emails[i].clone(),
                    status: statuses[i].clone(),
                    ou: ous[i].clone(),
                    state: states[i].clone(),
                    holder: holders[i].clone(),
                    cost_center: centers[i].clone(),
                },
            );
        }
        Ok((snapshot, accounts))
    }
}

/// Times of a timestamp column as UTC times.
pub fn times(
    df: &DataFrame,
    name: &str,
) -> Result<Vec<Option<chrono::DateTime<chrono::Utc>>>, PolarsError> {
    if df.column(name)?.dtype() == &DataType::String {
        // Athena's text: `2026-10-03 18:00:01.000` (UTC).
        return Ok(df
            .column(name)?
            .str()?
            .iter()
            .map(|v| {
                v.and_then(|t| {
                    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").ok()
                })
                .map(|t| t.and_utc())
            })
            .collect());
    }
    let column = df
        .column(name)?
        .cast(&DataType::Datetime(TimeUnit::Microseconds, None))?
        .cast(&DataType::Int64)?;
    Ok(column
        .i64()?
        .iter()
        .map(|v| v.and_then(chrono::DateTime::from_timestamp_micros))
        .collect())
}

/// The text cells of a column.
pub fn strings(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>, PolarsError> {
    let column = df.column(name)?.cast(&DataType::String)?;
    Ok(column
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

/// The exact decimals of a decimal column.
pub fn decimals(
    df: &DataFrame,
    name: &str,
) -> Result<Vec<Option<rust_decimal::Decimal>>, PolarsError> {
    if df.column(name)?.dtype() == &DataType::String {
        return df
            .column(name)?
            .str()?
            .iter()
            .map(|v| {
                v.map(|t| {
                    t.parse::<rust_decimal::Decimal>()
                        .map(|d| d.normalize())
                        .map_err(|e| polars_err!(ComputeError: "`{t}` in {name}: {e}"))
                })
                .transpose()
            })
            .collect();
    }
    let column = df.column(name)?.decimal()?;
    let scale = column.scale() as u32;
    Ok(column
        .physical()
        .iter()
        .map(|v| v.map(|v| rust_decimal::Decimal::from_i128_with_scale(v, scale).normalize()))
        .collect())
}

/// Runs a query on Polars' streaming engine: the lake's files are read in morsels, so a month
/// of costs or events is summed without holding every row in memory at once. The query runs on
/// a thread of its own: the engine blocks on Tokio when it finds itself inside a runtime, which
/// only a multi-threaded runtime allows. A panic inside Polars (a bug of the engine, which an
/// analyst's query can meet) comes back as an error with its message.
pub fn collect(frame: LazyFrame) -> Result<DataFrame, PolarsError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| frame.collect_with_engine(Engine::Streaming))
            .join()
            .unwrap_or_else(|panic| {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("no message");
                Err(polars_err!(ComputeError: "the Polars engine failed: {message}"))
            })
    })
    // One sink (the lazy frame itself), so one frame comes back.
    .map(|result| result.unwrap_single())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_polars_is_an_error() {
        let frame = df!("a" => [1i64, 2]).unwrap().lazy().select([col("a").map(
            |_| -> PolarsResult<Column> { panic!("boom") },
            |_, field| Ok(field.clone()),
        )]);
        let err = collect(frame).unwrap_err().to_string();
        assert!(
            err.contains("the Polars engine failed: ") && err.contains("boom"),
            "{err}"
        );
        // And a query that works still does.
        let sum = collect(
            df!("a" => [1i64, 2])
                .unwrap()
                .lazy()
                .select([col("a").sum()]),
        )
        .unwrap();
        assert_eq!(sum.column("a").unwrap().i64().unwrap().get(0), Some(3));
    }
}
