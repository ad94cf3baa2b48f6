//! Monthly cost reports. One Polars query sums the month's costs per cost center, OU, account,
//! service, usage type and record type (the accounts snapshot valid at the month's end names
//! the account, its OU and cost center); every table is then built from those sums with exact
//! decimals, so each total is the sum of its rows and the grand total is the source's total.
//!
//! Credits and refunds stay out of the cost centers' totals and appear at organization level
//! (the cost centers sheet and the charges sheet).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use polars::prelude::*;
use rust_decimal::Decimal;
use spa_core::Settings;
use spa_core::lake::columns::{
    ACCOUNT_ID, COST_CENTER, CURRENCY, NAME, OU_NAME, RECORD_TYPE, SERVICE, UNBLENDED, USAGE_TYPE,
};
use spa_core::organization::NO_COST_TAG;

use spa_core::period::Month;

use crate::accounts::UNKNOWN;
use crate::data::DataError;
use crate::engine::Datasets;
use crate::excel::ChartSpec;
use crate::frames::{decimals, texts};
use crate::report::{Family, Report};
use crate::table::{Cell, Column, Kind, Row, Table};

/// Record types shown at organization level only.
pub const ORGANIZATION_LEVEL: [&str; 2] = spa_core::lake::NOT_SPEND;

/// One sum of the month's query. Its texts are shared (one allocation per distinct value of
/// the month, cloned into every table cell that shows it).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Cost center (`NoCostTag` when the account has none or is unknown).
    pub cost_center: Arc<str>,
    /// OU name.
    pub ou: Arc<str>,
    /// Account id.
    pub account: Arc<str>,
    /// Account name.
    pub name: Arc<str>,
    /// Service (the record type for charges that are not usage).
    pub service: Arc<str>,
    /// Usage type, where the source has it.
    pub usage_type: Arc<str>,
    /// Record type.
    pub record_type: Arc<str>,
    /// Unblended amount.
    pub amount: Decimal,
}

impl Line {
    /// Whether the line counts in its cost center's total (credits and refunds do not).
    pub(crate) fn per_cost_center(&self) -> bool {
        !ORGANIZATION_LEVEL.contains(&&*self.record_type)
    }

    /// Cost center, OU, account and name: the key of an account's row.
    fn account_key(&self) -> (Arc<str>, Arc<str>, Arc<str>, Arc<str>) {
        (
            self.cost_center.clone(),
            self.ou.clone(),
            self.account.clone(),
            self.name.clone(),
        )
    }
}

/// The columns that place a row: [Month,] Cost Center, Organizational Unit, Account, Name.
fn placing(month: bool) -> Vec<Column> {
    let mut columns = Vec::new();
    if month {
        columns.push(Column::text("Month"));
    }
    columns.extend(["Cost Center", "Organizational Unit", "Account", "Name"].map(Column::text));
    columns
}

/// The month's sums, the snapshot used and the currency.
#[derive(Debug, Clone)]
pub struct MonthCosts {
    /// Sums, in cost center, OU, account, service, usage type and record type order.
    pub lines: Vec<Line>,
    /// With Cost Explorer as the source, whose rows per service carry no usage type: its
    /// usage-type rows (`usage_types/`, service empty) in place of the `Usage` lines, beside the
    /// lines of every other record type, in the same order. `None` when the lines carry their
    /// usage types (CUR, FOCUS) or the lake has no usage types for the month.
    pub by_usage_type: Option<Vec<Line>>,
    /// Currency of every amount.
    pub currency: String,
    /// Date of the accounts snapshot.
    pub snapshot: String,
    /// Time the Polars query took (reading, summing, joining; not building the lines).
    pub query: std::time::Duration,
}

impl MonthCosts {
    /// The lines by usage type: [`MonthCosts::by_usage_type`] when the month has them, else
    /// the lines.
    pub fn usage_lines(&self) -> &[Line] {
        self.by_usage_type.as_deref().unwrap_or(&self.lines)
    }
}

/// The columns the month's queries give, in order.
const SUMMED: [&str; 6] = [
    ACCOUNT_ID,
    SERVICE,
    USAGE_TYPE,
    RECORD_TYPE,
    CURRENCY,
    UNBLENDED,
];

/// `frame`'s sums (columns [`SUMMED`]) named from the accounts snapshot.
fn named(frame: LazyFrame, accounts: LazyFrame) -> LazyFrame {
    frame
        .join(
            accounts,
            [col(ACCOUNT_ID)],
            [col(ACCOUNT_ID)],
            JoinArgs::new(JoinType::Left),
        )
        .with_columns([
            col(USAGE_TYPE).fill_null(lit("")),
            col(COST_CENTER).fill_null(lit(NO_COST_TAG)),
            col(NAME).fill_null(lit(UNKNOWN)),
            col(OU_NAME).fill_null(lit(UNKNOWN)),
        ])
}

/// The lines of a query's result, sorted, their texts taken from `shared`.
fn lines_of(
    df: &DataFrame,
    shared: &mut Shared,
) -> Result<(Vec<Line>, BTreeSet<String>), DataError> {
    let mut text = |name: &str| shared.column(df, name).map_err(DataError::from);
    let (cc, ou, account, name) = (
        text(COST_CENTER)?,
        text(OU_NAME)?,
        text(ACCOUNT_ID)?,
        text(NAME)?,
    );
    let (service, usage, kind, currency) = (
        text(SERVICE)?,
        text(USAGE_TYPE)?,
        text(RECORD_TYPE)?,
        text(CURRENCY)?,
    );
    let amounts = decimals(df, UNBLENDED)?;
    let currencies: BTreeSet<String> = currency.iter().map(|c| c.to_string()).collect();
    let mut lines: Vec<Line> = (0..df.height())
        .map(|i| Line {
            cost_center: cc[i].clone(),
            ou: ou[i].clone(),
            account: account[i].clone(),
            name: name[i].clone(),
            service: service[i].clone(),
            usage_type: usage[i].clone(),
            record_type: kind[i].clone(),
            amount: amounts[i].unwrap_or_default(),
        })
        .collect();
    sort(&mut lines);
    Ok((lines, currencies))
}

/// Texts read once per distinct value (a null as the empty text).
#[derive(Default)]
struct Shared(HashSet<Arc<str>, foldhash::fast::RandomState>);

impl Shared {
    /// The cells of a column (cast to text), each distinct value allocated once.
    fn column(&mut self, df: &DataFrame, name: &str) -> PolarsResult<Vec<Arc<str>>> {
        let column = df.column(name)?.cast(&DataType::String)?;
        Ok(column
            .str()?
            .iter()
            .map(|v| {
                let v = v.unwrap_or_default();
                match self.0.get(v) {
                    Some(shared) => shared.clone(),
                    None => {
                        let shared: Arc<str> = Arc::from(v);
                        self.0.insert(shared.clone());
                        shared
                    }
                }
            })
            .collect())
    }
}

/// Cost center, OU, account, service, usage type and record type order.
fn sort(lines: &mut [Line]) {
    // Texts of one query are shared, so equal ones are mostly the same allocation.
    let field = |a: &Arc<str>, b: &Arc<str>| {
        if Arc::ptr_eq(a, b) {
            Ordering::Equal
        } else {
            a.cmp(b)
        }
    };
    lines.sort_by(|a, b| {
        field(&a.cost_center, &b.cost_center)
            .then_with(|| field(&a.ou, &b.ou))
            .then_with(|| field(&a.account, &b.account))
            .then_with(|| field(&a.service, &b.service))
            .then_with(|| field(&a.usage_type, &b.usage_type))
            .then_with(|| field(&a.record_type, &b.record_type))
    });
}

/// Runs the month's query.
pub async fn load(
    data: &Datasets<'_>,
    month: Month,
    required: bool,
) -> Result<Option<MonthCosts>, Error> {
    let costs = if required {
        Some(data.costs_required(month).await?)
    } else {
        data.costs(month).await?
    };
    let Some(costs) = costs else { return Ok(None) };
    let (snapshot, accounts) = data.accounts_at(month.last()).await?;
    let accounts = accounts.select([col(ACCOUNT_ID), col(NAME), col(OU_NAME), col(COST_CENTER)]);
    // Sum first (the month has a row per day), then name the sums: the join sees one row per
    // account, service, usage type and record type instead of one per day.
    let started = std::time::Instant::now();
    let sql = athena_sql(month, &snapshot);
    let keys = [
        col(ACCOUNT_ID),
        col(SERVICE),
        col(USAGE_TYPE),
        col(RECORD_TYPE),
        col(CURRENCY),
    ];
    let local = costs
        .select(SUMMED.map(col))
        .group_by(keys)
        .agg([col(UNBLENDED).sum()]);
    let df = data.aggregate(named(local, accounts.clone()), &sql).await?;
    let query = started.elapsed();
    // One set of texts for both queries: the usage-type lines share the accounts' names.
    let mut shared = Shared::default();
    let (lines, mut currencies) = lines_of(&df, &mut shared)?;
    let mut by_usage_type = None;
    if lines.iter().all(|l| l.usage_type.is_empty())
        && let Some((usages, versions)) = data.usage_types(month).await?
    {
        let local = usages
            .group_by([col(ACCOUNT_ID), col(USAGE_TYPE), col(CURRENCY)])
            .agg([col(UNBLENDED).sum()])
            .with_columns([lit("").alias(SERVICE), lit("Usage").alias(RECORD_TYPE)])
            .select(SUMMED.map(col));
        let sql = usage_types_sql(month, &snapshot, &versions);
        let df = data.aggregate(named(local, accounts), &sql).await?;
        let (usage_lines, more) = lines_of(&df, &mut shared)?;
        currencies.extend(more);
        if !usage_lines.is_empty() {
            let mut detail: Vec<Line> = lines
                .iter()
                .filter(|l| &*l.record_type != "Usage")
                .cloned()
                .chain(usage_lines)
                .collect();
            sort(&mut detail);
            by_usage_type = Some(detail);
        }
    }
    if currencies.len() > 1 {
        return Err(Error::Currencies {
            month: month.to_string(),
            found: currencies.into_iter().collect(),
        });
    }
    let the_currency = currencies
        .into_iter()
        .next()
        .unwrap_or_else(|| "USD".into());
    Ok(Some(MonthCosts {
        lines,
        by_usage_type,
        currency: the_currency,
        snapshot,
        query,
    }))
}

/// `sums` (a query giving the columns of [`SUMMED`]) named from the accounts snapshot, in
/// Athena's dialect.
fn named_sql(sums: &str, snapshot: &str) -> String {
    format!(
        "SELECT account_id, service, usage_type, record_type, currency, unblended, \
                COALESCE(name, '{UNKNOWN}') AS name, COALESCE(ou_name, '{UNKNOWN}') AS ou_name, \
                COALESCE(cost_center, '{NO_COST_TAG}') AS cost_center \
         FROM ({sums}) s \
         LEFT JOIN (SELECT account_id AS id, name, ou_name, cost_center FROM accounts \
                    WHERE snapshot = '{snapshot}') a ON a.id = s.account_id"
    )
}

/// The month's sums in Athena's dialect (the same as the Polars query of [`load`]).
pub fn athena_sql(month: Month, snapshot: &str) -> String {
    named_sql(
        &format!(
            "SELECT c.account_id, c.service, COALESCE(c.usage_type, '') AS usage_type, \
                    c.record_type, c.currency, SUM(c.unblended) AS unblended \
             FROM costs c WHERE c.month = '{month}' \
             GROUP BY c.account_id, c.service, COALESCE(c.usage_type, ''), c.record_type, c.currency"
        ),
        snapshot,
    )
}

/// The month's usage-type sums in Athena's dialect, of the rows written with one of the costs
/// object's `versions` (the Polars query of [`load`]).
pub fn usage_types_sql(month: Month, snapshot: &str, versions: &[String]) -> String {
    let versions: Vec<String> = versions
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect();
    named_sql(
        &format!(
            "SELECT u.account_id, '' AS service, u.usage_type, 'Usage' AS record_type, \
                    u.currency, SUM(u.unblended) AS unblended \
             FROM usage_types u WHERE u.month = '{month}' AND u.costs_version IN ({}) \
             GROUP BY u.account_id, u.usage_type, u.currency",
            versions.join(", ")
        ),
        snapshot,
    )
}

/// What cost reports could not do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the lake failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Amounts in several currencies cannot share a total.
    #[error("the costs of {month} are in several currencies ({}); a report needs one", found.join(", "))]
    Currencies {
        /// The month.
        month: String,
        /// The currencies found.
        found: Vec<String>,
    },
}

/// Each cost center's total over `lines`, credits and refunds left out (they stay at
/// organization level).
pub fn cost_center_totals(lines: &[Line]) -> BTreeMap<Arc<str>, Decimal> {
    let own: Vec<&Line> = lines.iter().filter(|l| l.per_cost_center()).collect();
    sum_by(&own, |l| l.cost_center.clone())
}

/// `lines` per cost center, in cost center order.
pub(crate) fn by_cost_center<'a>(
    lines: impl IntoIterator<Item = &'a Line>,
) -> BTreeMap<&'a str, Vec<&'a Line>> {
    let mut out: BTreeMap<&str, Vec<&Line>> = BTreeMap::new();
    for l in lines {
        out.entry(l.cost_center.as_ref()).or_default().push(l);
    }
    out
}

/// Sums `lines` by a key, in key order.
fn sum_by<K: Ord>(lines: &[&Line], key: impl Fn(&Line) -> K) -> BTreeMap<K, Decimal> {
    let mut sums = BTreeMap::new();
    for line in lines {
        *sums.entry(key(line)).or_default() += line.amount;
    }
    sums
}

/// Money columns: the amount, then one per extra currency.
struct Money {
    currency: String,
    extra: Vec<(String, Decimal)>,
}

impl Money {
    fn columns(&self, name: &str) -> Vec<Column> {
        let mut columns = vec![Column::money(name, &self.currency)];
        for (code, _) in &self.extra {
            columns.push(Column::money(&format!("{name} {code}"), code));
        }
        columns
    }

    fn cells(&self, amount: Decimal) -> Vec<Cell> {
        let mut cells = vec![Cell::Decimal(amount)];
        for (_, rate) in &self.extra {
            cells.push(Cell::Decimal((amount * rate).round_dp(12)));
        }
        cells
    }
}

/// An outline sheet: cost center > OU > account, amounts at the accounts, subtotals above.
fn outline(name: &str, month: Month, lines: &[&Line], money: &Money) -> Table {
    let mut columns = placing(true);
    columns.extend(money.columns("Amount"));
    let mut table = Table::new(name, columns);
    let month = Cell::from(month.to_string());
    let by_account = sum_by(lines, Line::account_key);
    let by_ou = sum_by(lines, |l| (l.cost_center.clone(), l.ou.clone()));
    let by_cc = sum_by(lines, |l| l.cost_center.clone());
    let (mut last_cc, mut last_ou) = (None, None);
    for ((cc, ou, account, account_name), amount) in by_account {
        if last_cc.as_ref() != Some(&cc) {
            let mut cells = vec![
                month.clone(),
                cc.clone().into(),
                Cell::Empty,
                Cell::Empty,
                Cell::Empty,
            ];
            cells.extend(money.cells(by_cc[&cc]));
            table.rows.push(Row {
                cells,
                level: 0,
                subtotal: true,
            });
            last_cc = Some(cc.clone());
            last_ou = None;
        }
        if last_ou.as_ref() != Some(&ou) {
            let mut cells = vec![
                month.clone(),
                cc.clone().into(),
                ou.clone().into(),
                Cell::Empty,
                Cell::Empty,
            ];
            cells.extend(money.cells(by_ou[&(cc.clone(), ou.clone())]));
            table.rows.push(Row {
                cells,
                level: 1,
                subtotal: true,
            });
            last_ou = Some(ou.clone());
        }
        let mut cells = vec![
            month.clone(),
            cc.into(),
            ou.into(),
            account.into(),
            account_name.into(),
        ];
        cells.extend(money.cells(amount));
        table.rows.push(Row {
            cells,
            level: 2,
            subtotal: false,
        });
    }
    table
}

/// A flat sheet of amounts per account and service (and usage type when `usages`). With Cost
/// Explorer's usage types ([`MonthCosts::by_usage_type`]) the usage rows have an empty service:
/// the source cannot say which service a usage type was billed under.
fn details(name: &str, month: Month, lines: &[&Line], money: &Money, usages: bool) -> Table {
    let mut columns = placing(true);
    columns.push(Column::text("Service"));
    if usages {
        columns.push(Column::text("Usage Type"));
    }
    columns.extend(money.columns("Amount"));
    let mut table = Table::new(name, columns);
    let none: Arc<str> = Arc::from("");
    let month = Cell::from(month.to_string());
    let sums = sum_by(lines, |l| {
        (
            l.cost_center.clone(),
            l.ou.clone(),
            l.account.clone(),
            l.name.clone(),
            l.service.clone(),
            if usages {
                l.usage_type.clone()
            } else {
                none.clone()
            },
        )
    });
    for ((cc, ou, account, account_name, service, usage), amount) in sums {
        let mut cells: Vec<Cell> = vec![
            month.clone(),
            cc.into(),
            ou.into(),
            account.into(),
            account_name.into(),
            service.into(),
        ];
        if usages {
            cells.push(usage.into());
        }
        cells.extend(money.cells(amount));
        table.rows.push(Row::new(cells));
    }
    table
}

/// Charges per account, one column per record type, and their total.
fn charges(lines: &[&Line], currency: &str) -> Table {
    let types: BTreeSet<&str> = lines.iter().map(|l| l.record_type.as_ref()).collect();
    // Usage first, then the others by name.
    let mut types: Vec<&str> = types.into_iter().collect();
    types.sort_by_key(|t| (*t != "Usage", *t));
    let mut columns = placing(false);
    columns.extend(types.iter().map(|t| Column::money(t, currency)));
    columns.push(Column::money("Total", currency));
    let mut table = Table::new("Charges", columns);
    type Account = (Arc<str>, Arc<str>, Arc<str>, Arc<str>);
    let mut accounts: BTreeMap<Account, BTreeMap<Arc<str>, Decimal>> = BTreeMap::new();
    for line in lines {
        *accounts
            .entry(line.account_key())
            .or_default()
            .entry(line.record_type.clone())
            .or_default() += line.amount;
    }
    for ((cc, ou, account, name), by_type) in accounts {
        let mut cells: Vec<Cell> = vec![cc.into(), ou.into(), account.into(), name.into()];
        for t in &types {
            cells.push(by_type.get(*t).map_or(Cell::Empty, |a| Cell::Decimal(*a)));
        }
        cells.push(Cell::Decimal(by_type.values().copied().sum()));
        table.rows.push(Row::new(cells));
    }
    table
}

/// Cost per cost center with the previous month and the change, then the charges kept at
/// organization level, so the sheet's total is the month's total.
fn cost_centers(
    lines: &[&Line],
    previous: Option<&[Line]>,
    money: &Money,
    currency: &str,
) -> Table {
    let mut columns = vec![
        Column::text("Cost Center"),
        Column::of("Accounts", Kind::Count),
    ];
    columns.extend(money.columns("Amount"));
    columns.extend([
        Column::of("Previous Month", Kind::Money(currency.into())),
        Column::of("Change", Kind::Money(currency.into())),
        Column::of("Change %", Kind::Number),
    ]);
    let mut table = Table::new("Cost Centers", columns);
    let own: Vec<&Line> = lines
        .iter()
        .copied()
        .filter(|l| l.per_cost_center())
        .collect();
    let current = sum_by(&own, |l| l.cost_center.clone());
    let accounts: BTreeMap<Arc<str>, BTreeSet<&str>> =
        own.iter().fold(BTreeMap::new(), |mut m, l| {
            m.entry(l.cost_center.clone())
                .or_default()
                .insert(l.account.as_ref());
            m
        });
    let before = previous.map(cost_center_totals);
    for (cc, amount) in &current {
        let mut cells: Vec<Cell> = vec![cc.clone().into(), Cell::Count(accounts[cc].len() as i64)];
        cells.extend(money.cells(*amount));
        match before.as_ref().map(|b| b.get(cc).copied()) {
            Some(Some(prev)) => {
                cells.push(Cell::Decimal(prev));
                cells.push(Cell::Decimal(amount - prev));
                cells.push(if prev.is_zero() {
                    Cell::Empty
                } else {
                    Cell::Decimal(((amount - prev) / prev * Decimal::ONE_HUNDRED).round_dp(2))
                });
            }
            Some(None) => {
                cells.extend([
                    Cell::Decimal(Decimal::ZERO),
                    Cell::Decimal(*amount),
                    Cell::Empty,
                ]);
            }
            None => cells.extend([Cell::Empty, Cell::Empty, Cell::Empty]),
        }
        table.rows.push(Row::new(cells));
    }
    for kind in ORGANIZATION_LEVEL {
        let amount: Decimal = lines
            .iter()
            .filter(|l| &*l.record_type == kind)
            .map(|l| l.amount)
            .sum();
        if amount.is_zero() {
            continue;
        }
        let mut cells: Vec<Cell> = vec![format!("{kind} (organization)").into(), Cell::Empty];
        cells.extend(money.cells(amount));
        cells.extend([Cell::Empty, Cell::Empty, Cell::Empty]);
        table.rows.push(Row::new(cells));
    }
    table
}

/// The cost reports of a month: one per cost center (`costs` workbook with its summary,
/// services and usages; services and usages CSV files) and one for the organization (`all`:
/// cost centers, summary, charges).
pub fn reports(
    settings: &Settings,
    month: Month,
    current: &MonthCosts,
    previous: Option<&MonthCosts>,
) -> Vec<Report> {
    let money = Money {
        currency: current.currency.clone(),
        extra: settings
            .features
            .extra_currencies
            .iter()
            .map(|(c, r)| (c.as_str().to_string(), r.0))
            .collect(),
    };
    let all: Vec<&Line> = current.lines.iter().collect();
    let mut own: Vec<&Line> = all
        .iter()
        .copied()
        .filter(|l| l.per_cost_center())
        .collect();
    let mut out = Vec::new();
    let usages = by_cost_center(
        current
            .by_usage_type
            .iter()
            .flatten()
            .filter(|l| l.per_cost_center()),
    );
    // Each cost center's lines as one run (`load` sorts them already; this is linear then).
    own.sort_by(|a, b| a.cost_center.cmp(&b.cost_center));
    for lines in own.chunk_by(|a, b| a.cost_center == b.cost_center) {
        let cc = lines[0].cost_center.as_ref();
        let by_usage = match &current.by_usage_type {
            Some(_) => usages.get(cc).map_or(&[][..], Vec::as_slice),
            None => lines,
        };
        out.push(Report {
            family: Family::Costs,
            cost_center: cc.to_string(),
            organization: false,
            period: month.to_string(),
            year: month.year(),
            label: "costs".into(),
            tables: vec![
                outline("Summary", month, lines, &money),
                details("Services", month, lines, &money, false),
                details("Usages", month, by_usage, &money, true),
            ],
            csv: vec![1, 2],
            charts: Vec::new(),
            workbook: true,
            page: None,
        });
    }
    let centers_table = cost_centers(
        &all,
        previous.map(|p| p.lines.as_slice()),
        &money,
        &current.currency,
    );
    out.push(Report {
        family: Family::Costs,
        cost_center: crate::report::ALL.into(),
        organization: true,
        period: month.to_string(),
        year: month.year(),
        label: "costs".into(),
        tables: vec![
            centers_table,
            outline("Summary", month, &own, &money),
            charges(&all, &current.currency),
        ],
        csv: vec![0, 1, 2],
        charts: vec![ChartSpec {
            sheet: 0,
            categories: 0,
            values: 2,
            title: format!("Cost per cost center, {month} ({})", current.currency),
        }],
        workbook: true,
        page: None,
    });
    out
}

/// The month's total over every line (the source's total).
pub fn total(month: &MonthCosts) -> Decimal {
    month.lines.iter().map(|l| l.amount).sum()
}

/// `NOT_SPEND` as a Polars predicate on the record type: what the cost centers count.
pub(crate) fn is_spend() -> Expr {
    spa_core::lake::NOT_SPEND
        .iter()
        .map(|t| col(RECORD_TYPE).neq(lit(*t)))
        .reduce(|a, b| a.and(b))
        .expect("NOT_SPEND is not empty")
}

/// Per account and day, spend (credits and refunds left out), and the days the costs hold.
#[derive(Debug, Clone, Default)]
pub struct DaySpend {
    /// Spend per account and day.
    pub by_account: BTreeMap<String, BTreeMap<chrono::NaiveDate, Decimal>>,
    /// The days the costs hold (any row, spend or not).
    pub held: BTreeSet<chrono::NaiveDate>,
}

impl DaySpend {
    /// The days before `day` whose spend makes its trailing mean: up to
    /// [`spa_core::spend::TRAILING_DAYS`] of them, those the costs hold.
    pub fn trailing(&self, day: chrono::NaiveDate) -> Vec<chrono::NaiveDate> {
        (1..=spa_core::spend::TRAILING_DAYS as i64)
            .rev()
            .map(|k| day - chrono::TimeDelta::days(k))
            .filter(|d| self.held.contains(d))
            .collect()
    }
}

/// Adds the days of `month` through `until` to `out` (nothing when the lake lacks the month).
/// Read with Polars.
pub async fn day_spend(
    data: &Datasets<'_>,
    month: Month,
    until: chrono::NaiveDate,
    out: &mut DaySpend,
) -> Result<(), DataError> {
    use spa_core::lake::columns::DAY;
    let Some(costs) = data.costs(month).await? else {
        return Ok(());
    };
    // Filtered and grouped on the date itself; only the sums' days become text.
    let frame = costs
        .select([
            col(DAY),
            col(ACCOUNT_ID),
            is_spend().alias("spend"),
            col(UNBLENDED),
        ])
        .filter(col(DAY).lt_eq(lit(until)))
        .group_by([col(ACCOUNT_ID), col(DAY), col("spend")])
        .agg([col(UNBLENDED).sum()])
        .with_column(col(DAY).cast(DataType::String));
    let df = crate::frames::collect(frame)?;
    let (ids, days, amounts) = (
        texts(&df, ACCOUNT_ID)?,
        texts(&df, DAY)?,
        decimals(&df, UNBLENDED)?,
    );
    let spend = df.column("spend")?.bool()?.clone();
    for i in 0..df.height() {
        let Ok(day) = days[i].parse::<chrono::NaiveDate>() else {
            continue;
        };
        out.held.insert(day);
        if spend.get(i) == Some(true) {
            *out.by_account
                .entry(ids[i].clone())
                .or_default()
                .entry(day)
                .or_default() += amounts[i].unwrap_or_default();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_sorted_each_distinct_text_allocated_once() {
        let df = df!(
            COST_CENTER => ["B", "A", "A"],
            OU_NAME => ["Eng", "Eng", "Eng"],
            ACCOUNT_ID => ["222", "111", "111"],
            NAME => ["two", "one", "one"],
            SERVICE => ["S3", "S3", "EC2"],
            USAGE_TYPE => [Some("Requests"), None, None],
            RECORD_TYPE => ["Usage", "Usage", "Usage"],
            CURRENCY => ["USD", "USD", "USD"],
            UNBLENDED => ["1.5", "-0.25", "2"],
        )
        .unwrap();
        let (lines, currencies) = lines_of(&df, &mut Shared::default()).unwrap();
        let row = |l: &Line| {
            (
                l.cost_center.to_string(),
                l.account.to_string(),
                l.service.to_string(),
                l.usage_type.to_string(),
                l.amount.to_string(),
            )
        };
        let rows: Vec<_> = lines.iter().map(row).collect();
        let expected = [
            ("A", "111", "EC2", "", "2"),
            ("A", "111", "S3", "", "-0.25"),
            ("B", "222", "S3", "Requests", "1.5"),
        ]
        .map(|(cc, a, s, u, x)| (cc.into(), a.into(), s.into(), u.into(), x.into()));
        assert_eq!(rows, expected);
        assert_eq!(currencies, BTreeSet::from(["USD".to_string()]));
        // One allocation per distinct value: the rows of account 111 share its id, cost
        // center and name, every row the OU, the two S3 rows their service.
        assert!(Arc::ptr_eq(&lines[0].account, &lines[1].account));
        assert!(Arc::ptr_eq(&lines[0].name, &lines[1].name));
        assert!(Arc::ptr_eq(&lines[0].ou, &lines[2].ou));
        assert!(Arc::ptr_eq(&lines[1].service, &lines[2].service));
        assert!(!Arc::ptr_eq(&lines[0].service, &lines[1].service));
    }
}
