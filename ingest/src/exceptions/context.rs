//! What a human needs beside the event: who the account is (the accounts snapshot valid on the
//! event's day) and what it has cost this month so far (the `costs` dataset), as exact decimals.

use std::collections::HashMap;

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{Date32Type, Decimal128Type};
use chrono::Datelike;
use rust_decimal::Decimal;
use spa_core::lake::{Dataset, Lake, LakeError, MONEY_SCALE, RowsWhere, columns};
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

/// Record types that are not spend.
const NOT_SPEND: [&str; 2] = ["Credit", "Refund"];

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
}

/// Accounts and costs read from the lake, each snapshot and month once; costs only of the
/// accounts the context is for.
#[derive(Debug, Default)]
pub struct Context {
    snapshots: HashMap<String, HashMap<String, AccountInfo>>,
    /// The snapshot valid on each day asked for (one listing per day, not per exception).
    snapshot_of: HashMap<Day, Option<String>>,
    months: HashMap<Month, MonthCosts>,
    accounts: Arc<HashSet<String>>,
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
    /// A context for the costs of `accounts` (the month's other rows are never held).
    pub fn for_accounts(accounts: HashSet<String>) -> Self {
        Context {
            accounts: Arc::new(accounts),
            ..Context::default()
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
            for batch in lake.read_partition(Dataset::Accounts, &snapshot).await? {
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
        if !self.months.contains_key(&month) {
            let costs = month_costs(lake, month, self.accounts.clone()).await?;
            self.months.insert(month, costs);
        }
        let costs = &self.months[&month];
        if !costs.any {
            return Ok(None);
        }
        let until = day.date().day() as u8;
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

/// The month's spend rows of `accounts`, read batch by batch with only the columns needed.
async fn month_costs(
    lake: &Lake,
    month: Month,
    accounts: Arc<HashSet<String>>,
) -> Result<MonthCosts, LakeError> {
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
                let name = services.value(i);
                let service = match interned.get(name) {
                    Some(n) => *n,
                    None => {
                        let n = out.services.len() as u32;
                        out.services.push(name.to_string());
                        interned.insert(name.to_string(), n);
                        n
                    }
                };
                let entry = match out.rows.get_mut(ids.value(i)) {
                    Some(e) => e,
                    None => out.rows.entry(ids.value(i).to_string()).or_default(),
                };
                entry.push((day.day() as u8, service, amounts.value(i)));
            }
        })
        .await?;
    out.any = read > 0;
    Ok(out)
}
