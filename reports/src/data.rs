//! The lake's datasets as Polars lazy frames: files scanned in place in a local lake, objects
//! read into memory from S3. A plain reader: it lists partitions and scans objects, and knows
//! nothing of the engine that aggregates them (see [`crate::engine`]).

use std::sync::Arc;

use polars::prelude::*;
use spa_core::lake::{Dataset, Lake, LakeError};
use spa_core::period::Day;

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

/// Reads the datasets of a lake.
#[derive(Clone, Copy)]
pub struct Data<'l> {
    lake: &'l Lake,
}

impl<'l> Data<'l> {
    /// The datasets of `lake`.
    pub fn new(lake: &'l Lake) -> Self {
        Data { lake }
    }

    /// The lake read.
    pub fn lake(&self) -> &'l Lake {
        self.lake
    }

    /// The error for a period the lake lacks, with the command that fills it.
    pub fn missing(&self, dataset: Dataset, period: &str, hint: String) -> DataError {
        DataError::Missing {
            lake: self.lake.location().to_string(),
            dataset: dataset.name(),
            period: period.to_string(),
            hint,
        }
    }

    /// The objects of `partitions`, in order.
    pub async fn keys(
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

    /// Objects of the lake as one lazy frame, or `None` when there are none.
    pub(crate) async fn scan_keys(&self, keys: &[String]) -> Result<Option<LazyFrame>, DataError> {
        if keys.is_empty() {
            return Ok(None);
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
            for key in keys {
                let bytes = self.lake.get_bytes(key).await?;
                buffers.push(polars_buffer::Buffer::from(bytes.to_vec()));
            }
            ScanSources::Buffers(Arc::from(buffers))
        };
        Ok(Some(LazyFrame::scan_parquet_sources(sources, args)?))
    }

    /// The objects of one partition as one lazy frame, or `None` when it has none.
    pub(crate) async fn scan_partition(
        &self,
        dataset: Dataset,
        partition: &str,
    ) -> Result<Option<LazyFrame>, DataError> {
        let keys = self.keys(dataset, &[partition.to_string()]).await?;
        self.scan_keys(&keys).await
    }

    /// A local dataset's `partitions` as one Parquet scan whose partition column Polars reads
    /// from the folder names (`dt=2026-10-01/`), so that a filter on it skips whole partitions
    /// and the other filters still reach the Parquet reader. `None` for an S3 lake, no objects,
    /// or a lake whose own path holds a `name=value` folder (which Polars would read as one more
    /// column): [`Data::scan_partition`] per partition then.
    pub(crate) async fn scan_hive(
        &self,
        dataset: Dataset,
        partitions: &[String],
    ) -> Result<Option<LazyFrame>, DataError> {
        if self.lake.local_path("").is_none() {
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

    /// The accounts snapshot valid on `day`: the latest at or before it, else the earliest (for
    /// a lake that started later), or an error that says how to take one.
    pub(crate) async fn snapshot_at(&self, day: Day) -> Result<String, DataError> {
        let value = day.to_string();
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
        snapshot.ok_or_else(|| self.snapshot_missing(day))
    }

    /// The error for a day without an accounts snapshot.
    pub(crate) fn snapshot_missing(&self, day: Day) -> DataError {
        self.missing(
            Dataset::Accounts,
            &day.to_string(),
            format!("take a snapshot with `cargo run -p ingest -- accounts --date {day}`"),
        )
    }

    /// The days of `from..=to` the events dataset has.
    pub(crate) async fn event_days(&self, from: Day, to: Day) -> Result<Vec<String>, DataError> {
        let (from, to) = (from.to_string(), to.to_string());
        Ok(self
            .lake
            .partitions(Dataset::Events)
            .await?
            .into_iter()
            .filter(|d| *d >= from && *d <= to)
            .collect())
    }
}
