//! Exceptions as rows of the `exceptions` dataset: built from a candidate and its context,
//! written once per id (ids already stored for the day are left out), read back.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, Decimal128Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use spa_core::events::ExceptionLabel;
use spa_core::lake::{Dataset, Lake, LakeError, MONEY_PRECISION, MONEY_SCALE, columns};
use spa_core::period::Day;

use super::classify::Candidate;
use super::context::{AccountInfo, MonthToDate, decimal};

/// An exception, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    /// The event's exception.
    pub candidate: Candidate,
    /// When it was raised, microseconds since the epoch (UTC).
    pub raised_at: i64,
    /// The account as the snapshot knows it (`None`: unknown to every snapshot).
    pub account: Option<AccountInfo>,
    /// Its month-to-date cost, when the exception names an account.
    pub cost: Option<MonthToDate>,
}

impl Exception {
    /// The label.
    pub fn label(&self) -> ExceptionLabel {
        self.candidate.label
    }

    /// The day (partition) of its source event.
    pub fn day(&self) -> Day {
        self.candidate.day()
    }

    /// The top services as stored: a JSON array of `{"service", "cost"}`, costs as exact
    /// decimal strings.
    pub fn services_json(&self) -> Option<String> {
        let cost = self.cost.as_ref()?;
        let items: Vec<serde_json::Value> = cost
            .top()
            .iter()
            .map(|(s, a)| serde_json::json!({"service": s, "cost": decimal(*a).to_string()}))
            .collect();
        Some(serde_json::Value::Array(items).to_string())
    }
}

/// The ids already stored for `day`.
pub async fn stored_ids(lake: &Lake, day: Day) -> Result<HashSet<String>, LakeError> {
    let mut ids = HashSet::new();
    for batch in lake
        .read_partition(Dataset::Exceptions, &day.to_string())
        .await?
    {
        let column = batch
            .column_by_name(columns::EXCEPTION_ID)
            .expect("the exceptions schema")
            .as_string::<i32>();
        ids.extend(column.iter().flatten().map(str::to_string));
    }
    Ok(ids)
}

/// Those of `candidates` (all of `day`) that the lake does not hold yet, each once.
pub async fn unstored(
    lake: &Lake,
    day: Day,
    mut candidates: Vec<Candidate>,
) -> Result<Vec<Candidate>, LakeError> {
    let mut seen = stored_ids(lake, day).await?;
    candidates.retain(|c| seen.insert(c.id.clone()));
    Ok(candidates)
}

/// Writes `exceptions` into their days, one object per day keyed by its ids (writing the same
/// exceptions again replaces that object), and counts them by label (metric `Exceptions`).
pub async fn write(lake: &Lake, exceptions: &[Exception]) -> Result<(), LakeError> {
    let mut by_day: BTreeMap<Day, Vec<&Exception>> = BTreeMap::new();
    for e in exceptions {
        by_day.entry(e.day()).or_default().push(e);
    }
    for (day, list) in by_day {
        let mut ids: Vec<&str> = list.iter().map(|e| e.candidate.id.as_str()).collect();
        ids.sort_unstable();
        let key = format!("exceptions:{}", ids.join(","));
        lake.write(Dataset::Exceptions, &day.to_string(), &key, &[batch(&list)])
            .await?;
    }
    for e in exceptions {
        metrics::counter!(spa_core::metrics::EXCEPTIONS, "Label" => e.label().as_str())
            .increment(1);
    }
    Ok(())
}

fn batch(list: &[&Exception]) -> RecordBatch {
    let text = || StringBuilder::new();
    let (mut id, mut label, mut severity, mut account_id, mut name, mut email) =
        (text(), text(), text(), text(), text(), text());
    let (mut holder, mut cost_center, mut ou, mut region, mut actor, mut ip) =
        (text(), text(), text(), text(), text(), text());
    let (mut message, mut source, mut services, mut currency, mut raw) =
        (text(), text(), text(), text(), text());
    let mut event_time = TimestampMicrosecondBuilder::new();
    let mut raised_at = TimestampMicrosecondBuilder::new();
    let mut cost = Decimal128Builder::new();
    for e in list {
        let c = &e.candidate;
        let info = e.account.as_ref();
        id.append_value(&c.id);
        event_time.append_value(c.event_time);
        raised_at.append_value(e.raised_at);
        label.append_value(c.label.as_str());
        severity.append_value(c.label.severity().as_str());
        account_id.append_option(c.account_id.as_deref());
        name.append_option(info.and_then(|i| i.name.as_deref()));
        email.append_option(info.and_then(|i| i.email.as_deref()));
        holder.append_option(info.and_then(|i| i.holder.as_deref()));
        cost_center.append_option(info.and_then(|i| i.cost_center.as_deref()));
        ou.append_option(info.and_then(|i| i.ou_name.as_deref()));
        region.append_option(c.region.as_deref());
        actor.append_option(c.actor.as_deref());
        ip.append_option(c.source_ip.as_deref());
        message.append_value(&c.message);
        source.append_value(&c.source_event_id);
        cost.append_option(e.cost.as_ref().map(|m| m.total));
        services.append_option(e.services_json());
        currency.append_option(e.cost.as_ref().and_then(|m| m.currency.as_deref()));
        raw.append_option(c.raw.as_deref());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(event_time.finish().with_timezone("UTC")),
        Arc::new(raised_at.finish().with_timezone("UTC")),
        Arc::new(label.finish()),
        Arc::new(severity.finish()),
        Arc::new(account_id.finish()),
        Arc::new(name.finish()),
        Arc::new(email.finish()),
        Arc::new(holder.finish()),
        Arc::new(cost_center.finish()),
        Arc::new(ou.finish()),
        Arc::new(region.finish()),
        Arc::new(actor.finish()),
        Arc::new(ip.finish()),
        Arc::new(message.finish()),
        Arc::new(source.finish()),
        Arc::new(
            cost.finish()
                .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)
                .expect("the money type"),
        ),
        Arc::new(services.finish()),
        Arc::new(currency.finish()),
        Arc::new(raw.finish()),
    ];
    RecordBatch::try_new(Dataset::Exceptions.schema(), columns)
        .expect("columns follow the exceptions schema")
}

/// The exceptions stored for `day`, each once (the first row of an id), as delivery needs them:
/// the cost summary holds the stored top services only.
pub async fn read(lake: &Lake, day: Day) -> Result<Vec<Exception>, LakeError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for batch in lake
        .read_partition(Dataset::Exceptions, &day.to_string())
        .await?
    {
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .expect("exceptions schema")
                .as_string::<i32>()
        };
        let time = |name: &str| {
            batch
                .column_by_name(name)
                .expect("exceptions schema")
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
        };
        let get = |a: &arrow::array::StringArray, i: usize| {
            use arrow::array::Array;
            a.is_valid(i).then(|| a.value(i).to_string())
        };
        let (ids, labels, accounts) = (
            text(columns::EXCEPTION_ID),
            text(columns::LABEL),
            text(columns::ACCOUNT_ID),
        );
        let (names, emails, holders) = (
            text(columns::ACCOUNT_NAME),
            text(columns::EMAIL),
            text(columns::HOLDER),
        );
        let (centers, ous, regions) = (
            text(columns::COST_CENTER),
            text(columns::OU_NAME),
            text(columns::REGION),
        );
        let (actors, ips, messages) = (
            text(columns::ACTOR),
            text(columns::SOURCE_IP),
            text(columns::MESSAGE),
        );
        let (sources, services, currencies) = (
            text(columns::SOURCE_EVENT_ID),
            text(columns::MTD_SERVICES),
            text(columns::CURRENCY),
        );
        let raws = text(columns::RAW);
        let (event_times, raised) = (time(columns::EVENT_TIME), time(columns::RAISED_AT));
        let costs = batch
            .column_by_name(columns::MTD_COST)
            .expect("exceptions schema")
            .as_primitive::<arrow::datatypes::Decimal128Type>();
        for i in 0..batch.num_rows() {
            if !seen.insert(ids.value(i).to_string()) {
                continue;
            }
            let Ok(label) = labels.value(i).parse::<ExceptionLabel>() else {
                continue;
            };
            let account = [names, emails, holders, centers, ous]
                .iter()
                .any(|a| get(a, i).is_some())
                .then(|| AccountInfo {
                    name: get(names, i),
                    email: get(emails, i),
                    holder: get(holders, i),
                    cost_center: get(centers, i),
                    ou_name: get(ous, i),
                });
            let cost = {
                use arrow::array::Array;
                costs.is_valid(i).then(|| {
                    let listed: Vec<serde_json::Value> = get(services, i)
                        .and_then(|s| serde_json::from_str(&s).ok())
                        .unwrap_or_default();
                    MonthToDate {
                        total: costs.value(i),
                        services: listed
                            .iter()
                            .filter_map(|v| {
                                let service = v.get("service")?.as_str()?.to_string();
                                let cost: rust_decimal::Decimal =
                                    v.get("cost")?.as_str()?.parse().ok()?;
                                let units = cost.checked_mul(rust_decimal::Decimal::from(
                                    10i64.pow(MONEY_SCALE as u32),
                                ))?;
                                Some((service, units.trunc().mantissa()))
                            })
                            .collect(),
                        currency: get(currencies, i),
                    }
                })
            };
            out.push(Exception {
                candidate: Candidate {
                    id: ids.value(i).to_string(),
                    label,
                    event_time: event_times.value(i),
                    account_id: get(accounts, i),
                    region: get(regions, i),
                    actor: get(actors, i),
                    source_ip: get(ips, i),
                    message: messages.value(i).to_string(),
                    source_event_id: sources.value(i).to_string(),
                    raw: get(raws, i),
                },
                raised_at: raised.value(i),
                account,
                cost,
            });
        }
    }
    Ok(out)
}
