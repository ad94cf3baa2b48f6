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
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use sha2::{Digest, Sha256};

pub use schema::{Dataset, MONEY_PRECISION, MONEY_SCALE, PartitionFormat, money, tag_entries};
use store::Store;

use crate::settings::{Location, Settings};

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

/// The lake: one type over a local folder and S3.
#[derive(Debug, Clone)]
pub struct Lake {
    store: Store,
    location: String,
}

impl Lake {
    /// The lake at a local folder (created on first write).
    pub fn local(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let location = root.display().to_string();
        Self {
            store: Store::Local { root },
            location,
        }
    }

    /// The lake in an S3 bucket under `prefix` (no leading or trailing `/`).
    pub fn s3(client: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/').to_string();
        let location = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        Self {
            store: Store::S3 {
                client,
                bucket: bucket.to_string(),
                prefix,
            },
            location,
        }
    }

    /// The lake that `settings.lake` names; S3 clients take the AWS options of the settings.
    pub async fn open(settings: &Settings) -> Self {
        match &settings.lake {
            Location::Local(root) => Self::local(root),
            Location::S3 { bucket, prefix } => {
                let config = crate::aws::sdk_config(settings).await;
                Self::s3(crate::aws::s3_client(settings, &config), bucket, prefix)
            }
        }
    }

    /// The file that holds `key` when the lake is a local folder (readers that scan files
    /// themselves use it); `None` for S3.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        match &self.store {
            Store::Local { root } => Some(root.join(key)),
            Store::S3 { .. } => None,
        }
    }

    /// Where the lake is, for messages: a folder or an `s3://` URL.
    pub fn location(&self) -> &str {
        &self.location
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
        check_partition(dataset, partition)?;
        let key = Self::object_key(dataset, partition, idempotency_key);
        let bytes = encode(dataset, &key, batches)?;
        self.store.put(&key, bytes).await?;
        tracing::debug!(%key, rows = batches.iter().map(RecordBatch::num_rows).sum::<usize>(), "wrote");
        Ok(key)
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

    /// Every key below `prefix` (a folder ending in `/`, or a key prefix), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        self.store.list(prefix).await
    }

    /// Removes one object; removing a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), LakeError> {
        self.store.delete(key).await
    }

    /// Stores raw bytes (reports, e-mails) under a key, atomically.
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<(), LakeError> {
        self.store.put(key, bytes).await
    }

    /// Reads raw bytes stored under a key.
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, LakeError> {
        self.store.get(key).await
    }
}

fn check_partition(dataset: Dataset, value: &str) -> Result<(), LakeError> {
    let (ok, expected) = match dataset.partition_format() {
        PartitionFormat::Day => (
            value.len() == 10 && NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok(),
            "a day (YYYY-MM-DD)",
        ),
        PartitionFormat::Month => (
            value.len() == 7
                && NaiveDate::parse_from_str(&format!("{value}-01"), "%Y-%m-%d").is_ok(),
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

/// zstd, page statistics, and neither a dictionary nor statistics for columns whose values are
/// all different (`raw`, `event_id`): building them costs time and saves nothing.
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
            "raw" => {
                props = props
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_statistics_enabled(path, EnabledStatistics::None);
            }
            "event_id" => props = props.set_column_dictionary_enabled(path, false),
            _ => {}
        }
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
        let bytes = self
            .writer
            .into_inner()
            .map_err(|source| LakeError::Parquet {
                key: self.key.clone(),
                source,
            })?;
        self.lake.store.put(&self.key, Bytes::from(bytes)).await?;
        Ok(self.key)
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

fn decode(key: &str, bytes: Bytes) -> Result<Vec<RecordBatch>, LakeError> {
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
