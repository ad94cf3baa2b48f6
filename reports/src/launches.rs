//! Launches: CloudTrail records of API calls that start resources billed by the hour (EC2
//! instances, NAT gateways, RDS instances, EKS clusters, SageMaker notebooks and endpoints),
//! read from an event's raw JSON (a trail record, or an EventBridge envelope around one) and
//! priced from an hourly price table, for the daily spend run's same-day estimate.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use rust_decimal::Decimal;
use serde_json::Value;
use spa_core::settings::{HourlyPrice, PriceKey};

/// One kind of resource launched, as the price table keys it: `ec2/p4d.24xlarge`,
/// `nat/gateway`, `rds/db.r5.large`, `eks/cluster`, `sagemaker/ml.g5.xlarge`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Launched {
    /// Price table key.
    pub key: String,
    /// How many (instances; an RDS Multi-AZ instance counts twice, as it is billed).
    pub count: u32,
}

/// One launch call that succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The account it was made in.
    pub account: String,
    /// Region.
    pub region: String,
    /// The API call (`RunInstances`, ...).
    pub event: String,
    /// Who made it (ARN, or the service that did).
    pub actor: String,
    /// When (`2026-10-20T09:12:00Z`).
    pub time: String,
    /// What it started.
    pub launched: Vec<Launched>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// CloudTrail writes a one-element list as an object in some XML-mirrored responses: both read
/// as a list.
fn items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn count(v: &Value) -> Option<u32> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .and_then(|n| u32::try_from(n).ok())
}

/// The events of successful launch calls, as a Polars predicate on the events dataset.
pub(crate) fn succeeded() -> polars::prelude::Expr {
    use polars::prelude::{col, lit};
    use spa_core::lake::columns::{ERROR_CODE, EVENT_NAME};
    spa_core::events::LAUNCH_EVENTS
        .iter()
        .map(|n| col(EVENT_NAME).eq(lit(*n)))
        .reduce(|a, b| a.or(b))
        .expect("launch event names")
        .and(col(ERROR_CODE).is_null())
}

/// The launch an event's raw JSON records, if it is a successful launch call.
pub fn parse(raw: &str) -> Option<Launch> {
    let value: Value = serde_json::from_str(raw).ok()?;
    let record = match value.get("detail") {
        Some(detail) if detail.is_object() => detail,
        _ => &value,
    };
    if record.get("errorCode").is_some_and(|e| !e.is_null()) {
        return None;
    }
    let source = record.get("eventSource")?.as_str()?;
    let event = record.get("eventName")?.as_str()?;
    let request = &record["requestParameters"];
    let response = &record["responseElements"];
    let launched: Vec<Launched> = match (source, event) {
        ("ec2.amazonaws.com", "RunInstances") => {
            // Count what started (the response), by its type; the request's type and minimum
            // count when the response lists nothing.
            let mut by_type: BTreeMap<String, u32> = BTreeMap::new();
            for item in items(&response["instancesSet"]["items"]) {
                if let Some(t) = item["instanceType"]
                    .as_str()
                    .or(request["instanceType"].as_str())
                {
                    *by_type.entry(t.to_string()).or_default() += 1;
                }
            }
            if by_type.is_empty()
                && let Some(t) = request["instanceType"].as_str()
            {
                let n = items(&request["instancesSet"]["items"])
                    .first()
                    .and_then(|i| count(&i["minCount"]))
                    .unwrap_or(1);
                by_type.insert(t.to_string(), n);
            }
            by_type
                .into_iter()
                .map(|(t, count)| Launched {
                    key: format!("ec2/{t}"),
                    count,
                })
                .collect()
        }
        ("ec2.amazonaws.com", "CreateNatGateway") => vec![Launched {
            key: "nat/gateway".into(),
            count: 1,
        }],
        ("rds.amazonaws.com", "CreateDBInstance") => {
            let class = response["dBInstanceClass"]
                .as_str()
                .or(request["dBInstanceClass"].as_str())?;
            let multi_az = response["multiAZ"]
                .as_bool()
                .or(request["multiAZ"].as_bool())
                .unwrap_or(false);
            vec![Launched {
                key: format!("rds/{class}"),
                count: if multi_az { 2 } else { 1 },
            }]
        }
        ("eks.amazonaws.com", "CreateCluster") => vec![Launched {
            key: "eks/cluster".into(),
            count: 1,
        }],
        ("sagemaker.amazonaws.com", "CreateNotebookInstance") => vec![Launched {
            key: format!("sagemaker/{}", request["instanceType"].as_str()?),
            count: 1,
        }],
        // An endpoint configuration is what names the instances an endpoint runs on; it is
        // counted when created (an endpoint normally follows within minutes).
        ("sagemaker.amazonaws.com", "CreateEndpointConfig") => {
            items(&request["productionVariants"])
                .into_iter()
                .filter_map(|v| {
                    Some(Launched {
                        key: format!("sagemaker/{}", v["instanceType"].as_str()?),
                        count: count(&v["initialInstanceCount"]).unwrap_or(1),
                    })
                })
                .collect()
        }
        _ => return None,
    };
    if launched.is_empty() {
        return None;
    }
    let identity = &record["userIdentity"];
    let actor = text(&identity["arn"])
        .or_else(|| text(&identity["invokedBy"]))
        .or_else(|| text(&record["sourceIPAddress"]))
        .unwrap_or_else(|| "unknown".into());
    Some(Launch {
        account: text(&record["recipientAccountId"])
            .or_else(|| text(&value["account"]))
            .or_else(|| text(&identity["accountId"]))?,
        region: text(&record["awsRegion"]).unwrap_or_default(),
        event: event.to_string(),
        actor,
        time: text(&record["eventTime"]).unwrap_or_default(),
        launched,
    })
}

/// Hourly prices in USD by key (`ec2/p4d.24xlarge`), optionally per region
/// (`ec2/p4d.24xlarge@eu-west-1`); a key without a region is the price anywhere else.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices(BTreeMap<String, Decimal>);

/// The shipped table (see its header for where the figures come from).
const SHIPPED: &str = include_str!("../prices.yaml");

static SHIPPED_PRICES: LazyLock<BTreeMap<String, Decimal>> = LazyLock::new(|| {
    let table: BTreeMap<String, String> =
        serde_yaml_ng::from_str(SHIPPED).expect("reports/prices.yaml is a map of text");
    table
        .into_iter()
        .map(|(k, v)| {
            let price = Decimal::from_str_exact(&v).expect("reports/prices.yaml holds decimals");
            (k, price)
        })
        .collect()
});

impl Prices {
    /// The shipped table with `overrides` (settings' `reporting.launch_prices`) on top.
    pub fn with(overrides: &BTreeMap<PriceKey, HourlyPrice>) -> Self {
        let mut table = SHIPPED_PRICES.clone();
        table.extend(overrides.iter().map(|(k, v)| (k.as_str().to_string(), v.0)));
        Prices(table)
    }

    /// The hourly price of `key` in `region`: the region's own, else the key's.
    pub fn hourly(&self, key: &str, region: &str) -> Option<Decimal> {
        self.0
            .get(&format!("{key}@{region}"))
            .or_else(|| self.0.get(key))
            .copied()
    }

    /// A launch's estimated spend per day (24 hours of everything it started that has a
    /// price), and the keys it started that the table does not price.
    pub fn per_day(&self, launch: &Launch) -> (Decimal, Vec<String>) {
        let mut day = Decimal::ZERO;
        let mut unpriced = Vec::new();
        for l in &launch.launched {
            match self.hourly(&l.key, &launch.region) {
                Some(hourly) => day += hourly * Decimal::from(24u32) * Decimal::from(l.count),
                None => unpriced.push(l.key.clone()),
            }
        }
        (day, unpriced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_reads_and_prices_by_region() {
        let p = Prices::with(&BTreeMap::new());
        assert_eq!(
            p.hourly("ec2/p4d.24xlarge", "eu-west-1"),
            Some(Decimal::new(2_371_569, 5))
        );
        assert_eq!(
            p.hourly("ec2/p4d.24xlarge", "ap-south-1"),
            Some(Decimal::new(21_957_642, 6)),
            "elsewhere: the key's own price"
        );
        let over = Prices::with(&BTreeMap::from([(
            "ec2/p4d.24xlarge@eu-west-1".parse().unwrap(),
            HourlyPrice(Decimal::new(20, 0)),
        )]));
        assert_eq!(
            over.hourly("ec2/p4d.24xlarge", "eu-west-1"),
            Some(Decimal::new(20, 0))
        );
    }
}
