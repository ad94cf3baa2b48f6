//! What a human needs beside the event: who the account is (the accounts snapshot valid on the
//! event's day) and what it has cost this month so far, as exact decimals: from the month's
//! `cost_totals` when they sum the costs object stored now and the day is at or after the last
//! day the costs hold (a live event), else from the month's `costs` rows.

use std::collections::HashMap;

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{Date32Type, Decimal128Type};
use chrono::Datelike;
use rust_decimal::Decimal;
use spa_core::lake::{Dataset, Lake, LakeError, MONEY_SCALE, NOT_SPEND, RowsWhere, columns};
use spa_core::period::{Day, Month};

/// Who an account is, from the accounts snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountInfo {
    /// Account name.
    pub name: Option<String>,
    /// Root e-mail.
    pub email: Option<String>,
    /// Holder (the holder tag, else none).
    pub holder: Option<String>,
    /// Cost center.
    pub cost_center: Option<String>,
    /// OU name.
    pub ou_name: Option<String>,
}

/// Month-to-date cost of one account up to a day: the total and the top services, in the
/// lake's money scale (`DECIMAL(38,12)` as an integer of 10^-12 units).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthToDate {
    /// Sum of the unblended cost of every record type but Credit and Refund.
    pub total: i128,
    /// Every service's cost, largest first (ties by name).
    pub services: Vec<(String, i128)>,
    /// Currency of the rows (USD unless the source said otherwise).
    pub currency: Option<String>,
}

impl MonthToDate {
    /// The [`TOP_SERVICES`] services that cost most.
    pub fn top(&self) -> &[(String, i128)] {
        &self.services[..self.services.len().min(TOP_SERVICES)]
    }
}

/// Services listed in a month-to-date summary.
pub const TOP_SERVICES: usize = 5;

/// One month's spend rows of the accounts asked for: per account, (day of month, service
/// index, amount), services interned.
#[derive(Debug, Default)]
struct MonthCosts {
    rows: HashMap<String, Vec<(u8, u32, i128)>>,
    services: Vec<String>,
    currency: Option<String>,
    /// Whether the month has any cost row at all.
    any: bool,
    /// Read from `cost_totals`: every row is dated this day of the month (the last day of the
    /// costs), so the rows answer for that day and later ones only.
    totals_through: Option<u8>,
}

/// Accounts and costs read from the lake, each snapshot and month once, and only the rows of the
/// accounts the context is for.
#[derive(Debug)]
pub struct Context {
    snapshots: HashMap<String, HashMap<String, AccountInfo>>,
    /// The snapshot valid on each day asked for (one listing per day, not per exception).
    snapshot_of: HashMap<Day, Option<String>>,
    months: HashMap<Month, MonthCosts>,
    accounts: Arc<HashSet<String>>,
    cost_rows_read: u64,
}

/// An amount in the money scale as a decimal.
pub fn decimal(units: i128) -> Decimal {
    Decimal::from_i128_with_scale(units, MONEY_SCALE as u32).normalize()
}

fn text(batch: &RecordBatch, name: &str, i: usize) -> Option<String> {
    let array = batch.column_by_name(name)?.as_string::<i32>();
    (array.is_valid(i) && !array.value(i).is_empty()).then(|| array.value(i).to_string())
}

impl Context {
    /// A context for `accounts`: other accounts' snapshot rows and costs are never held, and
    /// the context knows nothing of them.
    pub fn for_accounts(accounts: HashSet<String>) -> Self {
        Context {
            snapshots: HashMap::new(),
            snapshot_of: HashMap::new(),
            months: HashMap::new(),
            accounts: Arc::new(accounts),
            cost_rows_read: 0,
        }
    }

    /// Who `account` was on `day` (the latest snapshot at or before it, else the earliest);
    /// `None` when no snapshot knows it.
    pub async fn account(
        &mut self,
        lake: &Lake,
        account: &str,
        day: Day,
    ) -> Result<Option<AccountInfo>, LakeError> {
        let snapshot = match self.snapshot_of.entry(day) {
            std::collections::hash_map::Entry::Occupied(e) => e.get().clone(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let found = match lake
                    .partition_at_or_before(Dataset::Accounts, &day.to_string())
                    .await?
                {
                    Some(s) => Some(s),
                    None => lake.partitions(Dataset::Accounts).await?.into_iter().next(),
                };
                e.insert(found).clone()
            }
        };
        let Some(snapshot) = snapshot else {
            return Ok(None);
        };
        if !self.snapshots.contains_key(&snapshot) {
            let mut accounts = HashMap::new();
            // Only the accounts the context is for, and only the columns shown.
            let wanted = self.accounts.clone();
            let filter = RowsWhere {
                columns: &[columns::ACCOUNT_ID],
                keep: Arc::new(move |batch: &RecordBatch| {
                    let ids = batch
                        .column_by_name(columns::ACCOUNT_ID)
                        .expect("the accounts schema")
                        .as_string::<i32>();
                    (0..batch.num_rows())
                        .map(|i| Some(wanted.contains(ids.value(i))))
                        .collect::<BooleanArray>()
                }),
                read: Some(&[
                    columns::ACCOUNT_ID,
                    columns::NAME,
                    columns::EMAIL,
                    columns::HOLDER,
                    columns::COST_CENTER,
                    columns::OU_NAME,
                ]),
            };
            let (batches, _) = lake
                .read_partition_where(Dataset::Accounts, &snapshot, &filter)
                .await?;
            for batch in batches {
                let ids = batch
                    .column_by_name(columns::ACCOUNT_ID)
                    .expect("the accounts schema")
                    .as_string::<i32>();
                for i in 0..batch.num_rows() {
                    accounts.insert(
                        ids.value(i).to_string(),
                        AccountInfo {
                            name: text(&batch, columns::NAME, i),
                            email: text(&batch, columns::EMAIL, i),
                            holder: text(&batch, columns::HOLDER, i),
                            cost_center: text(&batch, columns::COST_CENTER, i),
                            ou_name: text(&batch, columns::OU_NAME, i),
                        },
                    );
                }
            }
            self.snapshots.insert(snapshot.clone(), accounts);
        }
        Ok(self.snapshots[&snapshot].get(account).cloned())
    }

    /// What `account` cost from the first of `day`'s month to `day` included; `None` when the
    /// lake holds no costs for that month (not yet ingested: unknown, not zero).
    pub async fn month_to_date(
        &mut self,
        lake: &Lake,
        account: &str,
        day: Day,
    ) -> Result<Option<MonthToDate>, LakeError> {
        let month = day.month();
        let until = day.date().day() as u8;
        let loaded = self
            .months
            .get(&month)
            .is_some_and(|c| c.totals_through.is_none_or(|through| until >= through));
        if !loaded {
            let costs = match month_totals(lake, month, until, self.accounts.clone()).await? {
                Some(totals) => {
                    tracing::debug!(%month, "month to date from cost_totals");
                    totals
                }
                None => {
                    let (costs, read) = month_costs(lake, month, self.accounts.clone()).await?;
                    tracing::debug!(%month, rows = read, "month to date from costs");
                    self.cost_rows_read += read;
                    costs
                }
            };
            self.months.insert(month, costs);
        }
        let costs = &self.months[&month];
        if !costs.any {
            return Ok(None);
        }
        let mut by_service: HashMap<u32, i128> = HashMap::new();
        let mut total = 0i128;
        for (d, service, amount) in costs.rows.get(account).into_iter().flatten() {
            if *d <= until {
                total = total.saturating_add(*amount);
                let sum = by_service.entry(*service).or_default();
                *sum = sum.saturating_add(*amount);
            }
        }
        let mut services: Vec<(String, i128)> = by_service
            .into_iter()
            .map(|(s, a)| (costs.services[s as usize].clone(), a))
            .collect();
        services.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(Some(MonthToDate {
            total,
            services,
            currency: costs.currency.clone(),
        }))
    }
}

impl Context {
    /// Rows of the `costs` dataset read so far (none when the totals answered).
    pub fn cost_rows_read(&self) -> u64 {
        self.cost_rows_read
    }
}

/// The month's totals of `accounts` as rows dated their last day, when the month's costs are one
/// object whose version the totals name and `until` (a day of the month) is at or after that
/// day; `None` otherwise (the caller reads the costs).
async fn month_totals(
    lake: &Lake,
    month: Month,
    until: u8,
    accounts: Arc<HashSet<String>>,
) -> Result<Option<MonthCosts>, LakeError> {
    let partition = month.to_string();
    let (costs, totals) =
        tokio::try_join!(lake.objects_versioned(Dataset::Costs, &partition), async {
            let wanted = accounts.clone();
            let filter = RowsWhere {
                columns: &[columns::ACCOUNT_ID],
                keep: Arc::new(move |batch: &RecordBatch| {
                    let ids = batch
                        .column_by_name(columns::ACCOUNT_ID)
                        .expect("the cost_totals schema")
                        .as_string::<i32>();
                    // A batch's first row is kept too: it carries the version to check when
                    // none of the accounts has spent.
                    (0..batch.num_rows())
                        .map(|i| Some(i == 0 || wanted.contains(ids.value(i))))
                        .collect::<BooleanArray>()
                }),
                read: None,
            };
            lake.read_partition_where(Dataset::CostTotals, &partition, &filter)
                .await
        })?;
    let (batches, rows) = totals;
    // Totals without rows (a month of credits only) cannot name the costs' version: read them.
    let [costs] = costs.as_slice() else {
        return Ok(None);
    };
    if rows == 0 {
        return Ok(None);
    }
    let mut out = MonthCosts {
        any: true,
        ..MonthCosts::default()
    };
    let mut interned: HashMap<String, u32> = HashMap::new();
    for batch in &batches {
        let text = |name| {
            batch
                .column_by_name(name)
                .expect("the cost_totals schema")
                .as_string::<i32>()
        };
        let (ids, services, currencies, versions) = (
            text(columns::ACCOUNT_ID),
            text(columns::SERVICE),
            text(columns::CURRENCY),
            text(columns::COSTS_VERSION),
        );
        let spend = batch
            .column_by_name(columns::SPEND)
            .expect("the cost_totals schema")
            .as_primitive::<Decimal128Type>();
        let through = batch
            .column_by_name(columns::THROUGH)
            .expect("the cost_totals schema")
            .as_primitive::<Date32Type>();
        for i in 0..batch.num_rows() {
            let day = through.value_as_date(i).map_or(u8::MAX, |d| d.day() as u8);
            if versions.value(i) != costs.version || until < day {
                return Ok(None);
            }
            out.totals_through = Some(day);
            if !accounts.contains(ids.value(i)) {
                continue;
            }
            if out.currency.is_none() {
                out.currency = Some(currencies.value(i).to_string());
            }
            let service = intern(&mut interned, &mut out.services, services.value(i));
            out.rows.entry(ids.value(i).to_string()).or_default().push((
                day,
                service,
                spend.value(i),
            ));
        }
    }
    Ok(Some(out))
}

fn intern(interned: &mut HashMap<String, u32>, names: &mut Vec<String>, name: &str) -> u32 {
    match interned.get(name) {
        Some(n) => *n,
        None => {
            let n = names.len() as u32;
            names.push(name.to_string());
            interned.insert(name.to_string(), n);
            n
        }
    }
}

/// The month's spend rows of `accounts`, read batch by batch with only the columns needed, and
/// the number of rows read.
async fn month_costs(
    lake: &Lake,
    month: Month,
    accounts: Arc<HashSet<String>>,
) -> Result<(MonthCosts, u64), LakeError> {
    let wanted = accounts.clone();
    let filter = RowsWhere {
        columns: &[columns::ACCOUNT_ID, columns::RECORD_TYPE],
        keep: Arc::new(move |batch: &RecordBatch| {
            let ids = batch
                .column_by_name(columns::ACCOUNT_ID)
                .expect("the costs schema")
                .as_string::<i32>();
            let kinds = batch
                .column_by_name(columns::RECORD_TYPE)
                .expect("the costs schema")
                .as_string::<i32>();
            (0..batch.num_rows())
                .map(|i| {
                    Some(wanted.contains(ids.value(i)) && !NOT_SPEND.contains(&kinds.value(i)))
                })
                .collect::<BooleanArray>()
        }),
        read: Some(&[
            columns::DAY,
            columns::ACCOUNT_ID,
            columns::SERVICE,
            columns::UNBLENDED,
            columns::CURRENCY,
        ]),
    };
    let mut out = MonthCosts::default();
    let mut interned: HashMap<String, u32> = HashMap::new();
    let read = lake
        .scan_partition_where(Dataset::Costs, &month.to_string(), &filter, &mut |batch| {
            let days = batch
                .column_by_name(columns::DAY)
                .expect("read")
                .as_primitive::<Date32Type>();
            let ids = batch
                .column_by_name(columns::ACCOUNT_ID)
                .expect("read")
                .as_string::<i32>();
            let services = batch
                .column_by_name(columns::SERVICE)
                .expect("read")
                .as_string::<i32>();
            let amounts = batch
                .column_by_name(columns::UNBLENDED)
                .expect("read")
                .as_primitive::<Decimal128Type>();
            let currencies = batch
                .column_by_name(columns::CURRENCY)
                .expect("read")
                .as_string::<i32>();
            for i in 0..batch.num_rows() {
                let Some(day) = days.value_as_date(i) else {
                    continue;
                };
                if out.currency.is_none() {
                    out.currency = Some(currencies.value(i).to_string());
                }
                let service = intern(&mut interned, &mut out.services, services.value(i));
                let entry = match out.rows.get_mut(ids.value(i)) {
                    Some(e) => e,
                    None => out.rows.entry(ids.value(i).to_string()).or_default(),
                };
                entry.push((day.day() as u8, service, amounts.value(i)));
            }
        })
        .await?;
    out.any = read > 0;
    Ok((out, read))
}
