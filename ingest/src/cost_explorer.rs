//! The Cost Explorer API: the month's two daily `GetCostAndUsage` queries (see `costs`) for
//! unblended and amortized costs (a second metric costs no extra request), every page followed,
//! every request counted (each one is billed).

use aws_sdk_costexplorer::Client;
use aws_sdk_costexplorer::types::{
    DateInterval, Dimension, DimensionValues, Expression, Granularity, GroupDefinition,
    GroupDefinitionType,
};
use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};

use crate::costs::{CostError, CostRow, Grouping, parse};

/// The responses of a month and the number of requests made.
pub struct Fetched {
    /// Parsed responses, page by page.
    pub responses: Vec<(Grouping, Vec<CostRow>)>,
    /// `GetCostAndUsage` requests made.
    pub requests: u64,
}

fn definition(key: &str) -> GroupDefinition {
    GroupDefinition::builder()
        .r#type(GroupDefinitionType::Dimension)
        .key(key)
        .build()
}

/// The SDK's response in the JSON shape of the API, so saved and fetched responses share one
/// parser.
fn to_json(
    output: &aws_sdk_costexplorer::operation::get_cost_and_usage::GetCostAndUsageOutput,
    second: &str,
) -> Value {
    let results: Vec<Value> = output
        .results_by_time()
        .iter()
        .map(|r| {
            let groups: Vec<Value> = r
                .groups()
                .iter()
                .map(|g| {
                    let metrics: serde_json::Map<String, Value> = g
                        .metrics()
                        .into_iter()
                        .flatten()
                        .map(|(k, m)| (k.clone(), json!({"Amount": m.amount(), "Unit": m.unit()})))
                        .collect();
                    json!({"Keys": g.keys(), "Metrics": metrics})
                })
                .collect();
            json!({
                "TimePeriod": {"Start": r.time_period().map(|t| t.start()), "End": r.time_period().map(|t| t.end())},
                "Groups": groups,
                "Estimated": r.estimated()
            })
        })
        .collect();
    json!({"GroupDefinitions": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": second}], "ResultsByTime": results})
}

/// Fetches the month that starts on `first` (a first of month).
pub async fn fetch_month(client: &Client, first: NaiveDate) -> Result<Fetched, CostError> {
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .expect("a valid month");
    let period = DateInterval::builder()
        .start(first.format("%Y-%m-%d").to_string())
        .end(next.format("%Y-%m-%d").to_string())
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
    let mut fetched = Fetched {
        responses: Vec::new(),
        requests: 0,
    };
    for (grouping, second, filter) in [
        (Grouping::Service, "SERVICE", Some(usage_only)),
        (Grouping::RecordType, "RECORD_TYPE", None),
    ] {
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
                message: aws_sdk_costexplorer::error::DisplayErrorContext(&e).to_string(),
            })?;
            fetched.requests += 1;
            let (_, rows) = parse(&to_json(&output, second), "Cost Explorer GetCostAndUsage")?;
            fetched.responses.push((grouping, rows));
            tracing::info!(
                query = second,
                request = fetched.requests,
                "GetCostAndUsage"
            );
            token = output.next_page_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(fetched)
}

/// A Cost Explorer client: the API lives in us-east-1 whatever the automation's region.
pub fn client(config: &aws_config::SdkConfig) -> Client {
    let conf = aws_sdk_costexplorer::config::Builder::from(config)
        .region(aws_config::Region::new("us-east-1"))
        .build();
    Client::from_conf(conf)
}
