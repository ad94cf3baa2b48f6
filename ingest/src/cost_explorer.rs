//! The Cost Explorer API: the month's two daily `GetCostAndUsage` queries (see `costs`) for
//! unblended and amortized costs (a second metric costs no extra request), every page followed,
//! every request counted (each one is billed).

use aws_sdk_costexplorer::Client;
use aws_sdk_costexplorer::types::{
    DateInterval, Dimension, DimensionValues, Expression, Granularity, GroupDefinition,
    GroupDefinitionType,
};
use chrono::NaiveDate;
use spa_core::period::{Day, Month};

use crate::costs::{CostError, CostRef, Group, Grouping, day_of, group_row};

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
                return Err(CostError::Response {
                    origin: ORIGIN.into(),
                    message: "a group without its two keys".into(),
                });
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

/// Fetches the month that starts on `first` (a first of month), or its days up to `until`, into
/// `sink`; returns the number of requests made.
pub async fn fetch_month(
    client: &Client,
    month: Month,
    until: Option<NaiveDate>,
    sink: &mut dyn FnMut(CostRef<'_>) -> Result<(), CostError>,
) -> Result<u64, CostError> {
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
            requests += 1;
            read_page(&output, grouping, sink)?;
            tracing::info!(query = second, request = requests, "GetCostAndUsage");
            token = output.next_page_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(requests)
}

/// A Cost Explorer client: the API lives in us-east-1 whatever the automation's region.
pub fn client(config: &aws_config::SdkConfig) -> Client {
    let conf = aws_sdk_costexplorer::config::Builder::from(config)
        .region(aws_config::Region::new("us-east-1"))
        .build();
    Client::from_conf(conf)
}
