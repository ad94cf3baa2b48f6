//! The lake's datasets and their Arrow schemas, defined once. Writers, readers, the Athena DDL
//! check and the docs derive from here.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Precision of every money column.
pub const MONEY_PRECISION: u8 = 38;
/// Scale of every money column: twelve decimals keep every Cost Explorer and CUR amount exact.
pub const MONEY_SCALE: i8 = 12;

/// A dataset of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    /// One row per event (EventBridge event or CloudTrail record), partitioned by UTC day.
    Events,
    /// One row per day x account x service x record type, partitioned by month.
    Costs,
    /// One row per account of the organization, partitioned by snapshot day.
    Accounts,
    /// One row per input that could not be parsed, partitioned by the day it arrived.
    Quarantine,
}

/// How a dataset's partition value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionFormat {
    /// `YYYY-MM-DD`
    Day,
    /// `YYYY-MM`
    Month,
}

impl Dataset {
    /// Every dataset.
    pub const ALL: [Dataset; 4] = [
        Dataset::Events,
        Dataset::Costs,
        Dataset::Accounts,
        Dataset::Quarantine,
    ];

    /// Folder name in the lake.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Events => "events",
            Dataset::Costs => "costs",
            Dataset::Accounts => "accounts",
            Dataset::Quarantine => "quarantine",
        }
    }

    /// Partition column (Hive style `key=value` folder).
    pub fn partition_key(self) -> &'static str {
        match self {
            Dataset::Events | Dataset::Quarantine => "dt",
            Dataset::Costs => "month",
            Dataset::Accounts => "snapshot",
        }
    }

    /// Format of the partition value.
    pub fn partition_format(self) -> PartitionFormat {
        match self {
            Dataset::Costs => PartitionFormat::Month,
            _ => PartitionFormat::Day,
        }
    }

    /// The Arrow schema of the dataset's files (the partition column is in the path only).
    pub fn schema(self) -> SchemaRef {
        match self {
            Dataset::Events => EVENTS.clone(),
            Dataset::Costs => COSTS.clone(),
            Dataset::Accounts => ACCOUNTS.clone(),
            Dataset::Quarantine => QUARANTINE.clone(),
        }
    }
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The money type: `DECIMAL(38, 12)`.
pub fn money() -> DataType {
    DataType::Decimal128(MONEY_PRECISION, MONEY_SCALE)
}

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

/// The entries of the `tags` map column, named as the Parquet spec names them.
pub fn tag_entries() -> Field {
    Field::new(
        "key_value",
        DataType::Struct(Fields::from(vec![text("key", false), text("value", true)])),
        false,
    )
}

static EVENTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        text("event_id", false),
        Field::new("event_time", utc_micros(), false),
        text("source", false),
        text("detail_type", true),
        text("event_name", true),
        text("account_id", true),
        text("recipient_account_id", true),
        text("region", true),
        text("actor_type", true),
        text("actor_name", true),
        text("source_ip", true),
        text("user_agent", true),
        text("error_code", true),
        text("activity", true),
        text("origin", false),
        text("raw", false),
    ]))
});

static COSTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("day", DataType::Date32, false),
        text("account_id", false),
        text("service", false),
        text("record_type", false),
        text("usage_type", true),
        Field::new("unblended", money(), false),
        Field::new("amortized", money(), true),
        text("currency", false),
        Field::new("estimated", DataType::Boolean, true),
        text("source", false),
    ]))
});

static ACCOUNTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        text("account_id", false),
        text("name", true),
        text("email", true),
        text("status", false),
        Field::new("joined", utc_micros(), true),
        text("ou_id", true),
        text("ou_name", true),
        text("ou_path", true),
        Field::new("managed", DataType::Boolean, false),
        text("state", true),
        text("holder", true),
        text("cost_center", false),
        Field::new("tags", DataType::Map(Arc::new(tag_entries()), false), false),
    ]))
});

static QUARANTINE: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("received_at", utc_micros(), false),
        text("origin", false),
        text("reason", false),
        Field::new("raw", DataType::Binary, false),
    ]))
});
