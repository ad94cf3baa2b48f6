//! The lake's datasets and their Arrow schemas, defined once. Writers, readers, the Athena DDL
//! check and the docs derive from here.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Precision of every money column.
pub const MONEY_PRECISION: u8 = 38;
/// Scale of every money column: twelve decimals keep every Cost Explorer and CUR amount exact.
pub const MONEY_SCALE: i8 = 12;

/// The lake's column names, each defined once (a name several datasets share, such as
/// `account_id`, is one constant): the schemas below, the reports' Polars readers, compaction and
/// the lifecycle's history reader name columns through these.
pub mod columns {
    /// `event_id`.
    pub const EVENT_ID: &str = "event_id";
    /// `event_time`.
    pub const EVENT_TIME: &str = "event_time";
    /// `source`.
    pub const SOURCE: &str = "source";
    /// `detail_type`.
    pub const DETAIL_TYPE: &str = "detail_type";
    /// `event_name`.
    pub const EVENT_NAME: &str = "event_name";
    /// `account_id`.
    pub const ACCOUNT_ID: &str = "account_id";
    /// `recipient_account_id`.
    pub const RECIPIENT_ACCOUNT_ID: &str = "recipient_account_id";
    /// `region`.
    pub const REGION: &str = "region";
    /// `actor_type`.
    pub const ACTOR_TYPE: &str = "actor_type";
    /// `actor_name`.
    pub const ACTOR_NAME: &str = "actor_name";
    /// `source_ip`.
    pub const SOURCE_IP: &str = "source_ip";
    /// `user_agent`.
    pub const USER_AGENT: &str = "user_agent";
    /// `error_code`.
    pub const ERROR_CODE: &str = "error_code";
    /// `activity`.
    pub const ACTIVITY: &str = "activity";
    /// `origin`.
    pub const ORIGIN: &str = "origin";
    /// `raw`.
    pub const RAW: &str = "raw";
    /// `day`.
    pub const DAY: &str = "day";
    /// `service`.
    pub const SERVICE: &str = "service";
    /// `record_type`.
    pub const RECORD_TYPE: &str = "record_type";
    /// `usage_type`.
    pub const USAGE_TYPE: &str = "usage_type";
    /// `unblended`.
    pub const UNBLENDED: &str = "unblended";
    /// `amortized`.
    pub const AMORTIZED: &str = "amortized";
    /// `currency`.
    pub const CURRENCY: &str = "currency";
    /// `estimated`.
    pub const ESTIMATED: &str = "estimated";
    /// `name`.
    pub const NAME: &str = "name";
    /// `email`.
    pub const EMAIL: &str = "email";
    /// `status`.
    pub const STATUS: &str = "status";
    /// `joined`.
    pub const JOINED: &str = "joined";
    /// `ou_id`.
    pub const OU_ID: &str = "ou_id";
    /// `ou_name`.
    pub const OU_NAME: &str = "ou_name";
    /// `ou_path`.
    pub const OU_PATH: &str = "ou_path";
    /// `managed`.
    pub const MANAGED: &str = "managed";
    /// `state`.
    pub const STATE: &str = "state";
    /// `holder`.
    pub const HOLDER: &str = "holder";
    /// `cost_center`.
    pub const COST_CENTER: &str = "cost_center";
    /// `tags`.
    pub const TAGS: &str = "tags";
    /// `received_at`.
    pub const RECEIVED_AT: &str = "received_at";
    /// `reason`.
    pub const REASON: &str = "reason";
    /// `exception_id`.
    pub const EXCEPTION_ID: &str = "exception_id";
    /// `raised_at`.
    pub const RAISED_AT: &str = "raised_at";
    /// `label`.
    pub const LABEL: &str = "label";
    /// `severity`.
    pub const SEVERITY: &str = "severity";
    /// `account_name`.
    pub const ACCOUNT_NAME: &str = "account_name";
    /// `actor`.
    pub const ACTOR: &str = "actor";
    /// `message`.
    pub const MESSAGE: &str = "message";
    /// `source_event_id`.
    pub const SOURCE_EVENT_ID: &str = "source_event_id";
    /// `mtd_cost`.
    pub const MTD_COST: &str = "mtd_cost";
    /// `mtd_services`.
    pub const MTD_SERVICES: &str = "mtd_services";
    /// `spend`.
    pub const SPEND: &str = "spend";
    /// `through`.
    pub const THROUGH: &str = "through";
    /// `costs_version`.
    pub const COSTS_VERSION: &str = "costs_version";
    /// `channel`.
    pub const CHANNEL: &str = "channel";
    /// `attempts`.
    pub const ATTEMPTS: &str = "attempts";
    /// `at`.
    pub const AT: &str = "at";
}

/// A dataset of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    /// One row per event (EventBridge event or CloudTrail record), partitioned by UTC day.
    Events,
    /// One row per day x account x service x record type, partitioned by month.
    Costs,
    /// One row per account x service: the month's spend so far in `costs`, written with it
    /// (the month-to-date a live exception shows, without reading the month's every row).
    CostTotals,
    /// One row per account x service x record type x currency: the month's `costs` summed, written
    /// with them (the analysts' month without its every day, credits and refunds included).
    MonthlyCosts,
    /// One row per day x account x usage type of the `Usage` record type, from Cost Explorer
    /// (which groups by service or by usage type, not both): the detail of the month's usage
    /// rows in `costs`, written with them and counted in no total, partitioned by month.
    UsageTypes,
    /// One row per account of the organization, partitioned by snapshot day.
    Accounts,
    /// One row per input that could not be parsed, partitioned by the day it arrived.
    Quarantine,
    /// One row per exception raised, partitioned by the day of its source event.
    Exceptions,
    /// One row per delivery attempt run of an exception to a channel, partitioned by its day.
    Deliveries,
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
    pub const ALL: [Dataset; 9] = [
        Dataset::Events,
        Dataset::Costs,
        Dataset::CostTotals,
        Dataset::MonthlyCosts,
        Dataset::UsageTypes,
        Dataset::Accounts,
        Dataset::Quarantine,
        Dataset::Exceptions,
        Dataset::Deliveries,
    ];

    /// Folder name in the lake.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Events => "events",
            Dataset::Costs => "costs",
            Dataset::CostTotals => "cost_totals",
            Dataset::MonthlyCosts => "monthly_costs",
            Dataset::UsageTypes => "usage_types",
            Dataset::Accounts => "accounts",
            Dataset::Quarantine => "quarantine",
            Dataset::Exceptions => "exceptions",
            Dataset::Deliveries => "deliveries",
        }
    }

    /// Partition column (Hive style `key=value` folder).
    pub fn partition_key(self) -> &'static str {
        match self {
            Dataset::Events | Dataset::Quarantine | Dataset::Exceptions | Dataset::Deliveries => {
                "dt"
            }
            Dataset::Costs | Dataset::CostTotals | Dataset::MonthlyCosts | Dataset::UsageTypes => {
                "month"
            }
            Dataset::Accounts => "snapshot",
        }
    }

    /// Format of the partition value.
    pub fn partition_format(self) -> PartitionFormat {
        match self {
            Dataset::Costs | Dataset::CostTotals | Dataset::MonthlyCosts | Dataset::UsageTypes => {
                PartitionFormat::Month
            }
            _ => PartitionFormat::Day,
        }
    }

    /// The Arrow schema of the dataset's files (the partition column is in the path only).
    pub fn schema(self) -> SchemaRef {
        match self {
            Dataset::Events => EVENTS.clone(),
            Dataset::Costs => COSTS.clone(),
            Dataset::CostTotals => COST_TOTALS.clone(),
            Dataset::MonthlyCosts => MONTHLY_COSTS.clone(),
            Dataset::UsageTypes => USAGE_TYPES.clone(),
            Dataset::Accounts => ACCOUNTS.clone(),
            Dataset::Quarantine => QUARANTINE.clone(),
            Dataset::Exceptions => EXCEPTIONS.clone(),
            Dataset::Deliveries => DELIVERIES.clone(),
        }
    }
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Record types of `costs` that are not spend (credits and refunds): month-to-date and spend
/// figures leave them out; the cost reports show them at organization level.
pub const NOT_SPEND: [&str; 2] = ["Credit", "Refund"];

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
        text(columns::EVENT_ID, false),
        Field::new(columns::EVENT_TIME, utc_micros(), false),
        text(columns::SOURCE, false),
        text(columns::DETAIL_TYPE, true),
        text(columns::EVENT_NAME, true),
        text(columns::ACCOUNT_ID, true),
        text(columns::RECIPIENT_ACCOUNT_ID, true),
        text(columns::REGION, true),
        text(columns::ACTOR_TYPE, true),
        text(columns::ACTOR_NAME, true),
        text(columns::SOURCE_IP, true),
        text(columns::USER_AGENT, true),
        text(columns::ERROR_CODE, true),
        text(columns::ACTIVITY, true),
        text(columns::ORIGIN, false),
        text(columns::RAW, false),
    ]))
});

static COSTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(columns::DAY, DataType::Date32, false),
        text(columns::ACCOUNT_ID, false),
        text(columns::SERVICE, false),
        text(columns::RECORD_TYPE, false),
        text(columns::USAGE_TYPE, true),
        Field::new(columns::UNBLENDED, money(), false),
        Field::new(columns::AMORTIZED, money(), true),
        text(columns::CURRENCY, false),
        Field::new(columns::ESTIMATED, DataType::Boolean, true),
        text(columns::SOURCE, false),
    ]))
});

static COST_TOTALS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        text(columns::ACCOUNT_ID, false),
        text(columns::SERVICE, false),
        Field::new(columns::SPEND, money(), false),
        text(columns::CURRENCY, false),
        Field::new(columns::THROUGH, DataType::Date32, false),
        text(columns::COSTS_VERSION, false),
    ]))
});

static MONTHLY_COSTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        text(columns::ACCOUNT_ID, false),
        text(columns::SERVICE, false),
        text(columns::RECORD_TYPE, false),
        Field::new(columns::UNBLENDED, money(), false),
        text(columns::CURRENCY, false),
        Field::new(columns::THROUGH, DataType::Date32, false),
        text(columns::COSTS_VERSION, false),
    ]))
});

static USAGE_TYPES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(columns::DAY, DataType::Date32, false),
        text(columns::ACCOUNT_ID, false),
        text(columns::USAGE_TYPE, false),
        Field::new(columns::UNBLENDED, money(), false),
        Field::new(columns::AMORTIZED, money(), true),
        text(columns::CURRENCY, false),
        Field::new(columns::ESTIMATED, DataType::Boolean, true),
        text(columns::COSTS_VERSION, false),
    ]))
});

static ACCOUNTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        text(columns::ACCOUNT_ID, false),
        text(columns::NAME, true),
        text(columns::EMAIL, true),
        text(columns::STATUS, false),
        Field::new(columns::JOINED, utc_micros(), true),
        text(columns::OU_ID, true),
        text(columns::OU_NAME, true),
        text(columns::OU_PATH, true),
        Field::new(columns::MANAGED, DataType::Boolean, false),
        text(columns::STATE, true),
        text(columns::HOLDER, true),
        text(columns::COST_CENTER, false),
        Field::new(
            columns::TAGS,
            DataType::Map(Arc::new(tag_entries()), false),
            false,
        ),
    ]))
});

static QUARANTINE: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(columns::RECEIVED_AT, utc_micros(), false),
        text(columns::ORIGIN, false),
        text(columns::REASON, false),
        Field::new(columns::RAW, DataType::Binary, false),
    ]))
});

static EXCEPTIONS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        text(columns::EXCEPTION_ID, false),
        Field::new(columns::EVENT_TIME, utc_micros(), false),
        Field::new(columns::RAISED_AT, utc_micros(), false),
        text(columns::LABEL, false),
        text(columns::SEVERITY, false),
        text(columns::ACCOUNT_ID, true),
        text(columns::ACCOUNT_NAME, true),
        text(columns::EMAIL, true),
        text(columns::HOLDER, true),
        text(columns::COST_CENTER, true),
        text(columns::OU_NAME, true),
        text(columns::REGION, true),
        text(columns::ACTOR, true),
        text(columns::SOURCE_IP, true),
        text(columns::MESSAGE, false),
        text(columns::SOURCE_EVENT_ID, false),
        Field::new(columns::MTD_COST, money(), true),
        text(columns::MTD_SERVICES, true),
        text(columns::CURRENCY, true),
        text(columns::RAW, true),
    ]))
});

static DELIVERIES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        text(columns::EXCEPTION_ID, false),
        text(columns::CHANNEL, false),
        text(columns::STATUS, false),
        Field::new(columns::ATTEMPTS, DataType::Int32, false),
        text(columns::REASON, true),
        Field::new(columns::AT, utc_micros(), false),
    ]))
});
