//! The daily run's reads of the lake: spend per account and day, per account and service, the
//! day's launches and budget alerts, each one Polars query on this machine.

use super::*;

/// One service of one account: its spend on the day, and summed over the trailing days.
#[derive(Debug, Clone, Default)]
pub(super) struct ServiceDays {
    pub(super) day: Decimal,
    pub(super) trailing: Decimal,
}

/// Per account of `accounts`, per service: spend on `day` and summed over `from..day`.
pub(super) async fn service_spend(
    data: &Datasets<'_>,
    months: &[Month],
    from: NaiveDate,
    day: NaiveDate,
    accounts: &BTreeSet<String>,
) -> Result<BTreeMap<String, BTreeMap<String, ServiceDays>>, DailyError> {
    let mut out: BTreeMap<String, BTreeMap<String, ServiceDays>> = BTreeMap::new();
    if accounts.is_empty() {
        return Ok(out);
    }
    let wanted = crate::frames::account_ids(accounts.iter().cloned().collect())?;
    for month in months {
        let Some(costs) = data.costs(*month).await? else {
            continue;
        };
        // Two sums per account and service: the day's, and the trailing days'.
        let frame = costs
            .filter(
                col(DAY)
                    .gt_eq(lit(from))
                    .and(col(DAY).lt_eq(lit(day)))
                    .and(crate::costs::is_spend()),
            )
            .select([col(DAY), col(ACCOUNT_ID), col(SERVICE), col(UNBLENDED)])
            .join(
                wanted.clone().lazy(),
                [col(ACCOUNT_ID)],
                [col(ACCOUNT_ID)],
                JoinArgs::new(JoinType::Inner),
            )
            .group_by([
                col(ACCOUNT_ID),
                col(SERVICE),
                col(DAY).eq(lit(day)).alias("today"),
            ])
            .agg([col(UNBLENDED).sum()]);
        let df = collect(frame)?;
        let (ids, services, amounts) = (
            texts(&df, ACCOUNT_ID)?,
            texts(&df, SERVICE)?,
            decimals(&df, UNBLENDED)?,
        );
        let today = df.column("today")?.bool()?.clone();
        for i in 0..df.height() {
            let entry = out
                .entry(ids[i].clone())
                .or_default()
                .entry(services[i].clone())
                .or_default();
            let amount = amounts[i].unwrap_or_default();
            if today.get(i) == Some(true) {
                entry.day += amount;
            } else {
                entry.trailing += amount;
            }
        }
    }
    Ok(out)
}

/// The day's successful launch calls, priced.
pub(super) async fn launches_of(
    data: &Datasets<'_>,
    day: NaiveDate,
    prices: &Prices,
) -> Result<Vec<Priced>, DailyError> {
    let filter = crate::launches::succeeded();
    let Some(frame) = data.events(day, day, Some(filter)).await? else {
        return Ok(Vec::new());
    };
    let df = collect(frame.select([col(RAW)]))?;
    let mut out: Vec<Priced> = texts(&df, RAW)?
        .iter()
        .filter_map(|raw| launches::parse(raw))
        .map(|launch| {
            let (per_day, unpriced) = prices.per_day(&launch);
            Priced {
                launch,
                per_day,
                unpriced,
            }
        })
        .collect();
    out.sort_by(|a, b| a.launch.time.cmp(&b.launch.time));
    Ok(out)
}

/// The `BudgetAlert` exceptions stored for `day`.
pub(super) async fn budget_alerts(
    data: &Datasets<'_>,
    day: Day,
) -> Result<Vec<BudgetRow>, DailyError> {
    let Some(frame) = data.exceptions(day.month()).await? else {
        return Ok(Vec::new());
    };
    let df = collect(
        frame
            .filter(col(LABEL).eq(lit(ExceptionLabel::BudgetAlert.to_string())))
            .select([
                col(EVENT_TIME),
                col(ACCOUNT_ID),
                col(ACCOUNT_NAME),
                col(MESSAGE),
            ]),
    )?;
    let times = times(&df, EVENT_TIME)?;
    let (ids, names, messages) = (
        texts(&df, ACCOUNT_ID)?,
        texts(&df, ACCOUNT_NAME)?,
        texts(&df, MESSAGE)?,
    );
    let mut out: Vec<BudgetRow> = (0..df.height())
        .filter_map(|i| {
            let time = times[i]?;
            (time.date_naive() == day.date()).then(|| BudgetRow {
                time,
                account: ids[i].clone(),
                name: names[i].clone(),
                message: messages[i].clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.account.cmp(&b.account)));
    Ok(out)
}
