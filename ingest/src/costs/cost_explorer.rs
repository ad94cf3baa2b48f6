//! Cost Explorer: `GetCostAndUsage` responses (saved in files, or read from the API) into cost
//! rows. The API side asks the month's three daily queries (see [`crate::costs`]) for
//! unblended and amortized costs (a second metric costs no extra request), every page followed,
//! every request counted (each one is billed).

use std::borrow::Cow;
use std::path::Path;

use aws_sdk_costexplorer::Client;
use aws_sdk_costexplorer::types::{
    DateInterval, Dimension, DimensionValues, Expression, Granularity, GroupDefinition,
    GroupDefinitionType,
};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;
use spa_core::period::{Day, Month};

use super::{CostError, CostRef, CostRow, amount, bad, files_with};

fn definition(key: &str) -> GroupDefinition {
    GroupDefinition::builder()
        .r#type(GroupDefinitionType::Dimension)
        .key(key)
        .build()
}

/// Reads one page into `sink`, with the rules of saved responses (`costs::read_response`).
fn read_page(
    output: &aws_sdk_costexplorer::operation::get_cost_and_usage::GetCostAndUsageOutput,
    grouping: Grouping,
    sink: &mut dyn FnMut(CostRef<'_>) -> Result<(), CostError>,
) -> Result<(), CostError> {
    const ORIGIN: &str = "Cost Explorer GetCostAndUsage";
    for result in output.results_by_time() {
        let day = day_of(
            result.time_period().map(|t| t.start()).unwrap_or_default(),
            ORIGIN,
        )?;
        for group in result.groups() {
            let keys = group.keys();
            let (Some(account), Some(second)) = (keys.first(), keys.get(1)) else {
                return Err(bad(ORIGIN, "a group without its two keys"));
            };
            let metric = |name: &str| group.metrics().and_then(|m| m.get(name));
            let g = Group {
                keys: [account, second],
                unblended: metric("UnblendedCost").and_then(|m| m.amount().map(|a| (a, m.unit()))),
                amortized: metric("AmortizedCost").and_then(|m| m.amount()),
            };
            if let Some(row) =
                group_row(grouping, day, Some(result.estimated()), &g, false, ORIGIN)?
            {
                sink(row)?;
            }
        }
    }
    Ok(())
}

/// What fetching a month did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fetched {
    /// Requests made (pages read), each billed.
    pub requests: u64,
    /// Time spent reading the SDK's pages into rows and pushing them into the sink (ours: the
    /// SDK's HTTP and JSON parsing not counted).
    pub reading: std::time::Duration,
}

/// Fetches the month that starts on `first` (a first of month), or its days up to `until`, into
/// `sink`.
pub async fn fetch_month(
    client: &Client,
    month: Month,
    until: Option<NaiveDate>,
    sink: &mut dyn FnMut(CostRef<'_>) -> Result<(), CostError>,
) -> Result<Fetched, CostError> {
    let next = match until {
        Some(day) => day.succ_opt().expect("a valid day"),
        None => month.next().first(),
    };
    let period = DateInterval::builder()
        .start(Day::of(month.first()).to_string())
        .end(Day::of(next).to_string())
        .build()
        .expect("start and end are set");
    let usage_only = Expression::builder()
        .dimensions(
            DimensionValues::builder()
                .key(Dimension::RecordType)
                .values("Usage")
                .build(),
        )
        .build();
    let mut requests = 0;
    let mut reading = std::time::Duration::ZERO;
    for grouping in Grouping::ALL {
        let second = grouping.key();
        let filter = (grouping != Grouping::RecordType).then(|| usage_only.clone());
        let mut token: Option<String> = None;
        loop {
            let request = client
                .get_cost_and_usage()
                .time_period(period.clone())
                .granularity(Granularity::Daily)
                .metrics("UnblendedCost")
                .metrics("AmortizedCost")
                .group_by(definition("LINKED_ACCOUNT"))
                .group_by(definition(second))
                .set_filter(filter.clone())
                .set_next_page_token(token.clone());
            let output = request.send().await.map_err(|e| CostError::Response {
                origin: "Cost Explorer GetCostAndUsage".into(),
                message: spa_core::aws::ApiError::new("GetCostAndUsage", &e).message,
            })?;
            requests += 1;
            let started = std::time::Instant::now();
            read_page(&output, grouping, sink)?;
            reading += started.elapsed();
            tracing::info!(query = second, request = requests, "GetCostAndUsage");
            token = output.next_page_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(Fetched { requests, reading })
}

/// A Cost Explorer client: the API lives in us-east-1 whatever the automation's region.
pub fn client(config: &aws_config::SdkConfig) -> Client {
    let conf = aws_sdk_costexplorer::config::Builder::from(config)
        .region(aws_config::Region::new("us-east-1"))
        .build();
    Client::from_conf(conf)
}

/// The second dimension of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// `[LINKED_ACCOUNT, SERVICE]` (query A).
    Service,
    /// `[LINKED_ACCOUNT, RECORD_TYPE]` (query B).
    RecordType,
    /// `[LINKED_ACCOUNT, USAGE_TYPE]` (query C, filtered to `Usage` like A): rows for
    /// `usage_types/`.
    UsageType,
}

impl Grouping {
    /// Every grouping, in the order the queries are sent.
    pub const ALL: [Grouping; 3] = [Grouping::Service, Grouping::RecordType, Grouping::UsageType];

    /// The second `GroupBy` key (`SERVICE`, `RECORD_TYPE`, `USAGE_TYPE`).
    pub fn key(self) -> &'static str {
        match self {
            Grouping::Service => "SERVICE",
            Grouping::RecordType => "RECORD_TYPE",
            Grouping::UsageType => "USAGE_TYPE",
        }
    }
}

/// One group of a response: its two keys and its metrics as Cost Explorer wrote them.
pub(crate) struct Group<'a> {
    pub keys: [&'a str; 2],
    /// `UnblendedCost` amount and unit.
    pub unblended: Option<(&'a str, Option<&'a str>)>,
    /// `AmortizedCost` amount.
    pub amortized: Option<&'a str>,
}

/// The row of a group (record type `Usage` for the service and usage type queries; the usage
/// type query's rows have an empty service and are marked [`CostRef::by_usage_type`]), or `None`
/// when the combination rule leaves it out (`Usage` of the record type query, counted by the
/// service query) and `all` is false.
pub(crate) fn group_row<'a>(
    grouping: Grouping,
    day: NaiveDate,
    estimated: Option<bool>,
    group: &Group<'a>,
    all: bool,
    origin: &str,
) -> Result<Option<CostRef<'a>>, CostError> {
    let [account, second] = group.keys;
    let (service, record_type, usage_type) = match grouping {
        Grouping::Service => (second, "Usage", None),
        Grouping::RecordType if second == "Usage" && !all => return Ok(None),
        Grouping::RecordType => (second, second, None),
        Grouping::UsageType => ("", "Usage", Some(second)),
    };
    let (text, unit) = group
        .unblended
        .ok_or_else(|| bad(origin, "a group without UnblendedCost"))?;
    let unblended = amount(text).map_err(|e| bad(origin, format!("UnblendedCost: {e}")))?;
    let amortized = group
        .amortized
        .map(|t| amount(t).map_err(|e| bad(origin, format!("AmortizedCost: {e}"))))
        .transpose()?;
    Ok(Some(CostRef {
        day,
        account,
        service,
        record_type,
        usage_type,
        unblended,
        amortized,
        currency: unit.unwrap_or("USD"),
        estimated,
        by_usage_type: grouping == Grouping::UsageType,
    }))
}

/// The grouping of a response from its `GroupDefinitions` keys.
pub(crate) fn grouping_of(keys: &[&str], origin: &str) -> Result<Grouping, CostError> {
    match keys {
        ["LINKED_ACCOUNT", "SERVICE"] => Ok(Grouping::Service),
        ["LINKED_ACCOUNT", "RECORD_TYPE"] => Ok(Grouping::RecordType),
        ["LINKED_ACCOUNT", "USAGE_TYPE"] => Ok(Grouping::UsageType),
        other => Err(bad(
            origin,
            format!(
                "grouped by {other:?}; expected [LINKED_ACCOUNT, SERVICE], [LINKED_ACCOUNT, RECORD_TYPE] or [LINKED_ACCOUNT, USAGE_TYPE]"
            ),
        )),
    }
}

/// A day as Cost Explorer writes it (`2026-10-01`).
pub(crate) fn day_of(start: &str, origin: &str) -> Result<NaiveDate, CostError> {
    start
        .parse::<Day>()
        .map(Day::date)
        .map_err(|_| bad(origin, format!("bad TimePeriod.Start `{start}`")))
}

/// A saved `GetCostAndUsage` response, its strings borrowed from the file's bytes where they
/// have no escape (unknown fields are skipped unread).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Saved<'a> {
    #[serde(borrow)]
    group_definitions: Option<Vec<SavedDefinition<'a>>>,
    #[serde(borrow)]
    results_by_time: Option<Vec<SavedPeriod<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedDefinition<'a> {
    #[serde(borrow)]
    key: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedPeriod<'a> {
    #[serde(borrow)]
    time_period: Option<SavedInterval<'a>>,
    estimated: Option<bool>,
    #[serde(borrow)]
    groups: Option<Vec<SavedGroup<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedInterval<'a> {
    #[serde(borrow)]
    start: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedGroup<'a> {
    #[serde(borrow)]
    keys: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow)]
    metrics: Option<SavedMetrics<'a>>,
}

#[derive(Deserialize)]
struct SavedMetrics<'a> {
    #[serde(borrow, rename = "UnblendedCost")]
    unblended: Option<SavedMetric<'a>>,
    #[serde(borrow, rename = "AmortizedCost")]
    amortized: Option<SavedMetric<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedMetric<'a> {
    #[serde(borrow)]
    amount: Option<Cow<'a, str>>,
    #[serde(borrow)]
    unit: Option<Cow<'a, str>>,
}

impl SavedMetric<'_> {
    /// The amount of the metric `name`, which a response always writes.
    fn amount(&self, name: &str, origin: &str) -> Result<&str, CostError> {
        self.amount
            .as_deref()
            .ok_or_else(|| bad(origin, format!("{name} without Amount")))
    }
}

/// Reads one `GetCostAndUsage` response into `sink`: every group when `all`, else the rows the
/// lake keeps (see the module docs).
pub fn read_response(
    response: &Value,
    origin: &str,
    all: bool,
    sink: &mut dyn FnMut(CostRef<'_>) -> Result<(), CostError>,
) -> Result<Grouping, CostError> {
    let saved = Saved::deserialize(response)
        .map_err(|e| bad(origin, format!("not a GetCostAndUsage response: {e}")))?;
    read_saved(saved, origin, all, sink)
}

fn read_saved(
    saved: Saved<'_>,
    origin: &str,
    all: bool,
    sink: &mut dyn FnMut(CostRef<'_>) -> Result<(), CostError>,
) -> Result<Grouping, CostError> {
    let definitions = saved.group_definitions.ok_or_else(|| {
        bad(
            origin,
            "no GroupDefinitions: expected a GetCostAndUsage response grouped by LINKED_ACCOUNT and SERVICE, RECORD_TYPE or USAGE_TYPE",
        )
    })?;
    let keys: Vec<&str> = definitions
        .iter()
        .map(|d| d.key.as_deref().unwrap_or_default())
        .collect();
    let grouping = grouping_of(&keys, origin)?;
    for result in saved
        .results_by_time
        .ok_or_else(|| bad(origin, "no ResultsByTime"))?
    {
        let start = result.time_period.as_ref().and_then(|t| t.start.as_deref());
        let day = day_of(start.unwrap_or_default(), origin)?;
        for group in result.groups.iter().flatten() {
            let keys = group.keys.as_deref().unwrap_or_default();
            let (Some(account), Some(second)) = (keys.first(), keys.get(1)) else {
                return Err(bad(origin, "a group without its two keys"));
            };
            let metrics = group.metrics.as_ref();
            let unblended = metrics
                .and_then(|m| m.unblended.as_ref())
                .map(|m| {
                    m.amount("UnblendedCost", origin)
                        .map(|a| (a, m.unit.as_deref()))
                })
                .transpose()?;
            let amortized = metrics
                .and_then(|m| m.amortized.as_ref())
                .map(|m| m.amount("AmortizedCost", origin))
                .transpose()?;
            let g = Group {
                keys: [account, second],
                unblended,
                amortized,
            };
            if let Some(row) = group_row(grouping, day, result.estimated, &g, all, origin)? {
                sink(row)?;
            }
        }
    }
    Ok(grouping)
}

/// Parses one `GetCostAndUsage` response: its grouping and every group as a row.
pub fn parse(response: &Value, origin: &str) -> Result<(Grouping, Vec<CostRow>), CostError> {
    let mut rows = Vec::new();
    let grouping = read_response(response, origin, true, &mut |r| {
        rows.push(r.into());
        Ok(())
    })?;
    Ok((grouping, rows))
}

/// The month's rows from the responses of the queries (see the module docs).
pub fn combine(responses: Vec<(Grouping, Vec<CostRow>)>) -> Vec<CostRow> {
    let mut rows = Vec::new();
    for (grouping, part) in responses {
        match grouping {
            Grouping::Service | Grouping::UsageType => rows.extend(part),
            Grouping::RecordType => {
                rows.extend(part.into_iter().filter(|r| r.record_type != "Usage"))
            }
        }
    }
    rows
}

/// Reads saved responses (every `.json` file under `dir`, or `dir` itself, in name order) into
/// `sink`, keeping the rows the lake keeps.
pub fn load_saved(
    dir: &Path,
    sink: &mut dyn FnMut(CostRef<'_>) -> Result<(), CostError>,
) -> Result<(), CostError> {
    if !dir.exists() {
        return Err(bad(
            &dir.display().to_string(),
            "no such file or folder: costs.path should hold saved GetCostAndUsage responses (the generator writes some: `cargo run -p spa-fixtures -- --from-org fixtures/organization.yaml --only costs --out DIR`, then use DIR/costs)",
        ));
    }
    let files = files_with(dir, &["json"])?;
    if files.is_empty() {
        return Err(bad(
            &dir.display().to_string(),
            "no saved GetCostAndUsage responses (*.json)",
        ));
    }
    for path in &files {
        let text = std::fs::read(path).map_err(|source| CostError::Read {
            path: path.clone(),
            source,
        })?;
        let origin = path.display().to_string();
        let saved: Saved<'_> = serde_json::from_slice(&text).map_err(|e| {
            bad(
                &origin,
                format!("not JSON, or not a GetCostAndUsage response: {e}"),
            )
        })?;
        read_saved(saved, &origin, false, sink)?;
    }
    Ok(())
}
