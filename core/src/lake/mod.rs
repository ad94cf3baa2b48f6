//! The data lake: Parquet datasets under a local folder or `s3://bucket/prefix`.
//!
//! Layout: `<dataset>/<partition key>=<value>/part-<hash of the idempotency key>.parquet`.
//! Writing the same batch under the same idempotency key replaces the object, so retries never
//! duplicate rows; every write is atomic.

mod schema;
mod store;

use std::path::PathBuf;

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use sha2::{Digest, Sha256};

pub use schema::{
    Dataset, MONEY_PRECISION, MONEY_SCALE, NOT_SPEND, PartitionFormat, columns, money, tag_entries,
};
pub use store::{Listed, Precondition, Store};

use crate::settings::Settings;

/// Something went wrong reading or writing the lake.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// A local file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An S3 request failed.
    #[error("S3 {op} {key}: {message}")]
    S3 {
        /// The API operation.
        op: &'static str,
        /// The key relative to the lake.
        key: String,
        /// Whether a retry may succeed (throttling, timeouts, 5xx).
        transient: bool,
        /// What S3 said.
        message: String,
    },
    /// No object under that key.
    #[error("{key}: no such object in the lake")]
    NotFound {
        /// The key relative to the lake.
        key: String,
    },
    /// The data does not match the dataset's schema.
    #[error(
        "{dataset}: batch schema does not match the dataset: expected {expected}, found {found}"
    )]
    Schema {
        /// Dataset name.
        dataset: &'static str,
        /// The dataset's columns.
        expected: String,
        /// The batch's columns.
        found: String,
    },
    /// A partition value in the wrong format.
    #[error("{dataset}: partition value `{value}` is not {expected}")]
    Partition {
        /// Dataset name.
        dataset: &'static str,
        /// The value given.
        value: String,
        /// The expected format.
        expected: &'static str,
    },
    /// An Arrow computation over lake data failed.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being computed, and on which data.
        context: String,
        /// The underlying error.
        source: arrow::error::ArrowError,
    },
    /// A claim name outside `[A-Za-z0-9._-]` segments separated by `/`.
    #[error("claim name `{0}` is not a path of [A-Za-z0-9._-] segments")]
    ClaimName(String),
    /// Parquet encoding or decoding failed.
    #[error("{key}: parquet: {source}")]
    Parquet {
        /// The object key.
        key: String,
        /// The underlying error.
        source: parquet::errors::ParquetError,
    },
}

impl LakeError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LakeError::S3 {
                transient: true,
                ..
            }
        )
    }
}

/// The lake: the datasets in a [`Store`] (a local folder or S3), written only through
/// [`Lake::write`], [`Lake::writer`] and [`Lake::delete`].
#[derive(Debug, Clone)]
pub struct Lake {
    store: Store,
}

impl Lake {
    /// The lake at a local folder (created on first write).
    pub fn local(root: impl Into<PathBuf>) -> Self {
        Self {
            store: Store::local(root),
        }
    }

    /// The lake in an S3 bucket under `prefix` (no leading or trailing `/`).
    pub fn s3(client: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Self {
        Self {
            store: Store::s3(client, bucket, prefix),
        }
    }

    /// The lake that `settings.lake` names; S3 clients take the AWS options of the settings.
    pub async fn open(settings: &Settings) -> Self {
        Self {
            store: Store::open(&settings.lake, settings).await,
        }
    }

    /// The file that holds `key` when the lake is a local folder (readers that scan files
    /// themselves use it); `None` for S3.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.store.local_path(key)
    }

    /// Where the lake is, for messages: a folder or an `s3://` URL.
    pub fn location(&self) -> &str {
        self.store.location()
    }

    /// The key of the object that holds the batch written under `idempotency_key` in one
    /// partition. The same inputs always give the same key.
    pub fn object_key(dataset: Dataset, partition: &str, idempotency_key: &str) -> String {
        let digest = Sha256::digest(idempotency_key.as_bytes());
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}/{}={partition}/part-{hex}.parquet",
            dataset.name(),
            dataset.partition_key()
        )
    }

    /// Writes `batches` as one Parquet object (zstd, page statistics) in a partition, replacing
    /// whatever an earlier write with the same idempotency key left. Returns the object key.
    pub async fn write(
        &self,
        dataset: Dataset,
        partition: &str,
        idempotency_key: &str,
        batches: &[RecordBatch],
    ) -> Result<String, LakeError> {
        let (key, bytes) = Self::encode(dataset, partition, idempotency_key, batches)?;
        self.put_bytes(&key, bytes).await?;
        tracing::debug!(%key, rows = batches.iter().map(RecordBatch::num_rows).sum::<usize>(), "wrote");
        Ok(key)
    }

    /// The key and the Parquet bytes [`Lake::write`] would store, for a writer that encodes
    /// on one thread and stores on another (with [`Lake::put_bytes`]).
    pub fn encode(
        dataset: Dataset,
        partition: &str,
        idempotency_key: &str,
        batches: &[RecordBatch],
    ) -> Result<(String, Bytes), LakeError> {
        check_partition(dataset, partition)?;
        let key = Self::object_key(dataset, partition, idempotency_key);
        let bytes = encode(dataset, &key, batches)?;
        Ok((key, bytes))
    }

    /// A writer of one object, for data written batch by batch (see [`ObjectWriter`]). Nothing
    /// is visible until [`ObjectWriter::finish`].
    pub fn writer(
        &self,
        dataset: Dataset,
        partition: &str,
        idempotency_key: &str,
    ) -> Result<ObjectWriter<'_>, LakeError> {
        check_partition(dataset, partition)?;
        let key = Self::object_key(dataset, partition, idempotency_key);
        let writer = ArrowWriter::try_new(
            Vec::new(),
            dataset.schema(),
            Some(writer_properties(dataset)),
        )
        .map_err(|source| LakeError::Parquet {
            key: key.clone(),
            source,
        })?;
        Ok(ObjectWriter {
            lake: self,
            dataset,
            key,
            writer,
        })
    }

    /// Reads one Parquet object back.
    pub async fn read(&self, key: &str) -> Result<Vec<RecordBatch>, LakeError> {
        let bytes = self.store.get(key).await?;
        decode(key, bytes)
    }

    /// Reads every object of a partition, in key order.
    pub async fn read_partition(
        &self,
        dataset: Dataset,
        partition: &str,
    ) -> Result<Vec<RecordBatch>, LakeError> {
        let mut out = Vec::new();
        for key in self.objects(dataset, partition).await? {
            out.extend(self.read(&key).await?);
        }
        Ok(out)
    }

    /// Partition values present in a dataset, sorted (e.g. `["2026-10-01", "2026-10-02"]`).
    pub async fn partitions(&self, dataset: Dataset) -> Result<Vec<String>, LakeError> {
        let marker = format!("{}=", dataset.partition_key());
        let mut values: Vec<String> = self
            .store
            .list(&format!("{}/", dataset.name()))
            .await?
            .iter()
            .filter_map(|key| {
                key.split('/')
                    .nth(1)?
                    .strip_prefix(&marker)
                    .map(str::to_string)
            })
            .collect();
        values.dedup();
        Ok(values)
    }

    /// The latest partition at or before `value` (e.g. the accounts snapshot valid on a report's
    /// date, so a cost center changed later does not rewrite history); `None` if all are later.
    pub async fn partition_at_or_before(
        &self,
        dataset: Dataset,
        value: &str,
    ) -> Result<Option<String>, LakeError> {
        check_partition(dataset, value)?;
        Ok(self
            .partitions(dataset)
            .await?
            .into_iter()
            .rfind(|p| p.as_str() <= value))
    }

    /// Keys of the Parquet objects in one partition, sorted.
    pub async fn objects(
        &self,
        dataset: Dataset,
        partition: &str,
    ) -> Result<Vec<String>, LakeError> {
        check_partition(dataset, partition)?;
        let prefix = format!(
            "{}/{}={partition}/",
            dataset.name(),
            dataset.partition_key()
        );
        let mut keys = self.store.list(&prefix).await?;
        keys.retain(|k| k.ends_with(".parquet"));
        Ok(keys)
    }

    /// The Parquet objects of one partition with their versions, sorted by key.
    pub async fn objects_versioned(
        &self,
        dataset: Dataset,
        partition: &str,
    ) -> Result<Vec<Listed>, LakeError> {
        check_partition(dataset, partition)?;
        let prefix = format!(
            "{}/{}={partition}/",
            dataset.name(),
            dataset.partition_key()
        );
        let mut objects = self.store.list_objects(&prefix).await?;
        objects.retain(|o| o.key.ends_with(".parquet"));
        Ok(objects)
    }

    /// Removes one object; removing a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), LakeError> {
        self.store.delete(key).await
    }

    /// The bytes of one object (readers that decode Parquet themselves use it).
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, LakeError> {
        self.store.get(key).await
    }

    /// Keys of the small objects under `prefix` (outside the datasets), sorted.
    pub async fn objects_under(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        self.store.list(prefix).await
    }

    /// Writes a small object outside the datasets (a record of the lake's own bookkeeping),
    /// whole or not at all.
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<(), LakeError> {
        self.store.put(key, bytes).await.map(|_| ())
    }
}

fn check_partition(dataset: Dataset, value: &str) -> Result<(), LakeError> {
    let (ok, expected) = match dataset.partition_format() {
        PartitionFormat::Day => (
            value.parse::<crate::period::Day>().is_ok(),
            "a day (YYYY-MM-DD)",
        ),
        PartitionFormat::Month => (
            value.parse::<crate::period::Month>().is_ok(),
            "a month (YYYY-MM)",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(LakeError::Partition {
            dataset: dataset.name(),
            value: value.to_string(),
            expected,
        })
    }
}

fn describe(schema: &arrow::datatypes::Schema) -> String {
    let cols: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    cols.join(", ")
}

fn check_schema(dataset: Dataset, batch: &RecordBatch) -> Result<(), LakeError> {
    let schema = dataset.schema();
    if batch.schema().fields() == schema.fields() {
        Ok(())
    } else {
        Err(LakeError::Schema {
            dataset: dataset.name(),
            expected: describe(&schema),
            found: describe(&batch.schema()),
        })
    }
}

/// Rows per row group of the month datasets (costs, usage types, cost totals).
///
/// Polars' streaming scan decodes whole row groups, several ahead: with the writer's default
/// of a million rows, summing the 9.25 million cost rows of a 10,000-account month held about
/// 900 MB, with 65,536 rows about 400 MB, at the same speed. Their amounts are nearly all
/// different, so they get no dictionary (which, refilled in every small row group, made the
/// object 30 % larger; without it the object is 2 % smaller than before).
pub const MONTH_ROW_GROUP: usize = 65_536;

/// zstd, page statistics, no dictionary for columns whose values are (nearly) all different
/// (`raw`, `event_id`, the amounts) and no statistics for `raw`: building them costs time and
/// saves nothing. zstd level 1 by measurement: on a million real-shaped CloudTrail records,
/// level -1 encoded 13 % faster (ingest 6 % faster) but wrote 39 % more bytes, which S3 stores
/// and Athena bills per scan. The month datasets in row groups of [`MONTH_ROW_GROUP`] rows.
fn writer_properties(dataset: Dataset) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid zstd level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(concat!("spa-core ", env!("CARGO_PKG_VERSION")).to_string());
    for field in dataset.schema().fields() {
        let path = parquet::schema::types::ColumnPath::from(field.name().as_str());
        match field.name().as_str() {
            columns::RAW => {
                props = props
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_statistics_enabled(path, EnabledStatistics::None);
            }
            columns::EVENT_ID | columns::UNBLENDED | columns::AMORTIZED | columns::SPEND => {
                props = props.set_column_dictionary_enabled(path, false)
            }
            _ => {}
        }
    }
    if matches!(
        dataset,
        Dataset::Costs | Dataset::UsageTypes | Dataset::CostTotals | Dataset::MonthlyCosts
    ) {
        props = props.set_max_row_group_row_count(Some(MONTH_ROW_GROUP));
    }
    props.build()
}

/// A Parquet object written batch by batch: only the compressed output is kept in memory, so
/// objects larger than memory in Arrow form can be written.
pub struct ObjectWriter<'l> {
    lake: &'l Lake,
    dataset: Dataset,
    key: String,
    writer: ArrowWriter<Vec<u8>>,
}

impl ObjectWriter<'_> {
    /// Appends a batch of the dataset's schema.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), LakeError> {
        check_schema(self.dataset, batch)?;
        self.writer
            .write(batch)
            .map_err(|source| LakeError::Parquet {
                key: self.key.clone(),
                source,
            })
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        usize::try_from(
            self.writer
                .flushed_row_groups()
                .iter()
                .map(|g| g.num_rows())
                .sum::<i64>(),
        )
        .unwrap_or(0)
            + self.writer.in_progress_rows()
    }

    /// Finishes the file and stores it atomically; returns its key.
    pub async fn finish(self) -> Result<String, LakeError> {
        Ok(self.finish_versioned().await?.0)
    }

    /// [`ObjectWriter::finish`], returning the key and the stored object's version (see
    /// [`Listed::version`]).
    pub async fn finish_versioned(self) -> Result<(String, String), LakeError> {
        let bytes = self
            .writer
            .into_inner()
            .map_err(|source| LakeError::Parquet {
                key: self.key.clone(),
                source,
            })?;
        let version = self.lake.store.put(&self.key, Bytes::from(bytes)).await?;
        Ok((self.key, version))
    }
}

fn encode(dataset: Dataset, key: &str, batches: &[RecordBatch]) -> Result<Bytes, LakeError> {
    let parquet = |source| LakeError::Parquet {
        key: key.to_string(),
        source,
    };
    let mut writer = ArrowWriter::try_new(
        Vec::new(),
        dataset.schema(),
        Some(writer_properties(dataset)),
    )
    .map_err(parquet)?;
    for batch in batches {
        check_schema(dataset, batch)?;
        writer.write(batch).map_err(parquet)?;
    }
    Ok(Bytes::from(writer.into_inner().map_err(parquet)?))
}

/// The batches of a Parquet object's bytes (`key` names it in errors), for readers that also
/// need the bytes themselves (compaction hashes them).
pub fn decode(key: &str, bytes: Bytes) -> Result<Vec<RecordBatch>, LakeError> {
    let parquet = |source| LakeError::Parquet {
        key: key.to_string(),
        source,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(parquet)?
        .build()
        .map_err(parquet)?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| parquet(parquet::errors::ParquetError::ArrowError(e.to_string())))
}

/// A row filter for [`Lake::read_partition_where`] and [`Lake::scan_partition_where`]: the
/// columns it reads and, for a batch of those columns, which rows to keep.
#[derive(Clone)]
pub struct RowsWhere {
    /// Columns the predicate needs (read first, for every row); none: every row is kept.
    pub columns: &'static [&'static str],
    /// Which rows of a batch of `columns` to keep.
    pub keep: std::sync::Arc<dyn Fn(&RecordBatch) -> arrow::array::BooleanArray + Send + Sync>,
    /// The columns read for the rows kept (`None`: every column).
    pub read: Option<&'static [&'static str]>,
}

impl RowsWhere {
    /// Every row, with only the columns `read`: no predicate runs.
    pub fn every(read: &'static [&'static str]) -> Self {
        RowsWhere {
            columns: &[],
            keep: std::sync::Arc::new(|batch: &RecordBatch| {
                arrow::array::BooleanArray::from(vec![true; batch.num_rows()])
            }),
            read: Some(read),
        }
    }
}

impl Lake {
    /// The rows of a partition that `filter` keeps, and the number of rows read: the filter's
    /// columns are read first and the others only for the rows kept (a sweep over millions of
    /// events then reads the raw JSON of the few it needs).
    pub async fn read_partition_where(
        &self,
        dataset: Dataset,
        partition: &str,
        filter: &RowsWhere,
    ) -> Result<(Vec<RecordBatch>, u64), LakeError> {
        let mut out = Vec::new();
        let rows = self
            .scan_partition_where(dataset, partition, filter, &mut |b| out.push(b))
            .await?;
        Ok((out, rows))
    }

    /// [`Lake::read_partition_where`] handing each batch to `each` as it is decoded, so that
    /// only one batch is in memory at a time; returns the number of rows read.
    pub async fn scan_partition_where(
        &self,
        dataset: Dataset,
        partition: &str,
        filter: &RowsWhere,
        each: &mut (dyn FnMut(RecordBatch) + Send),
    ) -> Result<u64, LakeError> {
        let mut rows = 0;
        for key in self.objects(dataset, partition).await? {
            let bytes = self.store.get(&key).await?;
            rows += decode_each(&key, bytes, filter, each)?;
        }
        Ok(rows)
    }
}

/// Where claims are kept in the lake's store, beside the datasets.
pub const CLAIMS: &str = "claims";

impl Lake {
    /// Claims the work named `name` for `holder` at `now` (UTC microseconds): the claim when
    /// this call holds it now, either because nobody had claimed it or because the last claim
    /// is older than `lease` (its holder is taken to have died; the caller checks that the work
    /// is still undone); `None` while another claim is younger than `lease`. Of concurrent
    /// callers at most one gets true, on S3 (conditional writes) and locally (a folder lock).
    /// Claims are small JSON objects under `claims/`, never deleted by the lake (a bucket
    /// may expire old ones).
    pub async fn claim(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        lease: std::time::Duration,
    ) -> Result<Option<Claim>, LakeError> {
        let safe = !name.is_empty()
            && name.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && !seg.starts_with(store::TEMP_PREFIX)
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            });
        if !safe {
            return Err(LakeError::ClaimName(name.to_string()));
        }
        let key = format!("{CLAIMS}/{name}");
        let body = Bytes::from(
            serde_json::json!({"holder": holder, "at": now})
                .to_string()
                .into_bytes(),
        );
        let held = |version: Option<String>| {
            version.map(|version| Claim {
                key: key.clone(),
                version,
            })
        };
        if let Some(version) = self
            .store
            .put_if(&key, body.clone(), Precondition::Absent)
            .await?
        {
            return Ok(held(Some(version)));
        }
        let (current, version) = match self.store.get_versioned(&key).await {
            Ok(found) => found,
            // Removed meanwhile (an expiry rule on the bucket): one more try to create it.
            Err(LakeError::NotFound { .. }) => {
                return Ok(held(
                    self.store.put_if(&key, body, Precondition::Absent).await?,
                ));
            }
            Err(e) => return Err(e),
        };
        // An unreadable claim is as good as an expired one.
        let at = serde_json::from_slice::<serde_json::Value>(&current)
            .ok()
            .and_then(|v| v["at"].as_i64())
            .unwrap_or(i64::MIN);
        let lease = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX);
        if now.saturating_sub(at) < lease {
            return Ok(None);
        }
        Ok(held(
            self.store
                .put_if(&key, body, Precondition::Version(version))
                .await?,
        ))
    }

    /// Gives a claim up (the work failed and may be tried at once by another run): it is
    /// marked expired, unless another holder has taken it over meanwhile.
    pub async fn release(&self, claim: &Claim) -> Result<(), LakeError> {
        let body = Bytes::from_static(br#"{"holder":null,"at":null}"#);
        self.store
            .put_if(
                &claim.key,
                body,
                Precondition::Version(claim.version.clone()),
            )
            .await?;
        Ok(())
    }
}

/// A claim held (see [`Lake::claim`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    key: String,
    version: String,
}

/// Decodes the rows `filter` keeps of a Parquet object, batch by batch into `each`; returns the
/// object's number of rows.
pub fn decode_each(
    key: &str,
    bytes: Bytes,
    filter: &RowsWhere,
    each: &mut (dyn FnMut(RecordBatch) + Send),
) -> Result<u64, LakeError> {
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::{ArrowPredicateFn, RowFilter};
    let parquet = |source| LakeError::Parquet {
        key: key.to_string(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(parquet)?;
    let rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let schema = builder.schema().clone();
    let indices = |names: &[&str]| -> Vec<usize> {
        names
            .iter()
            .filter_map(|c| schema.index_of(c).ok())
            .collect()
    };
    let mut builder = builder;
    if !filter.columns.is_empty() {
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices(filter.columns));
        let keep = filter.keep.clone();
        let predicate = ArrowPredicateFn::new(mask, move |batch| Ok(keep(&batch)));
        builder = builder.with_row_filter(RowFilter::new(vec![Box::new(predicate)]));
    }
    if let Some(read) = filter.read {
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices(read));
        builder = builder.with_projection(mask);
    }
    for batch in builder.build().map_err(parquet)? {
        each(batch.map_err(|e| parquet(parquet::errors::ParquetError::ArrowError(e.to_string())))?);
    }
    Ok(rows)
}
