//! The day's workbook and CSV under the spend prefix.

use super::*;
use crate::report::{ALL, Family, Report};
use crate::table::{Cell, Column, Kind as CellKind, Row, Table};

/// The day's CSV and workbook (the organization's: `all`): alerts, accounts, cost centers and
/// launches.
pub fn reports(daily: &Daily) -> Vec<Report> {
    let limit = |a: &Option<spa_core::settings::Amount>| {
        a.as_ref()
            .map_or(Cell::Empty, |a| Cell::from(a.to_string()))
    };
    let mut alerts = Table::new(
        "Alerts",
        vec![
            Column::text("Scope"),
            Column::text("Account"),
            Column::text("Name"),
            Column::text("Cost Center"),
            Column::text("Threshold kind"),
            Column::of("Amount (USD)", CellKind::Number),
            Column::text("Threshold"),
            Column::text("Message"),
        ],
    );
    alerts.totals = false;
    for n in &daily.notices {
        let (scope, account) = match &n.alert.scope {
            Scope::Account(id) => ("account", id.clone()),
            Scope::CostCenter(_) => ("cost center", String::new()),
        };
        alerts.rows.push(Row::new(vec![
            scope.into(),
            account.into(),
            n.name.clone().unwrap_or_default().into(),
            n.cost_center.clone().unwrap_or_default().into(),
            n.alert.kind.as_str().into(),
            Cell::Decimal(n.alert.amount),
            n.alert.threshold.to_string().into(),
            n.message.clone().into(),
        ]));
    }
    let figures_columns = |first: Vec<Column>| {
        let mut columns = first;
        columns.extend([
            Column::money("Spend", "USD"),
            Column::money("Estimate (launches)", "USD"),
            Column::of("Trailing mean", CellKind::Number),
            Column::money("Month to date", "USD"),
            Column::of("Forecast", CellKind::Number),
            Column::text("Daily limit"),
            Column::text("Monthly budget"),
            Column::text("Alerts"),
        ]);
        columns
    };
    let figures_cells = |s: &ScopeDay| -> Vec<Cell> {
        let f = &s.figures;
        vec![
            Cell::Decimal(f.spend),
            f.estimate.map_or(Cell::Empty, Cell::Decimal),
            f.trailing_mean()
                .map_or(Cell::Empty, |m| Cell::Decimal(m.round_dp(12))),
            Cell::Decimal(f.month_to_date),
            Cell::Decimal(f.forecast()),
            limit(&s.limits.daily_limit),
            limit(&s.limits.monthly_budget),
            s.alerts
                .iter()
                .map(|a| a.kind.as_str())
                .collect::<Vec<_>>()
                .join(" ")
                .into(),
        ]
    };
    let mut accounts = Table::new(
        "Accounts",
        figures_columns(vec![
            Column::text("Account"),
            Column::text("Name"),
            Column::text("Cost Center"),
            Column::text("Organizational Unit"),
        ]),
    );
    for s in &daily.accounts {
        let mut cells: Vec<Cell> = vec![
            id_of(&s.scope).into(),
            s.info.name.clone().into(),
            s.info.cost_center.clone().into(),
            s.info.ou.clone().into(),
        ];
        cells.extend(figures_cells(s));
        accounts.rows.push(Row::new(cells));
    }
    let mut centers = Table::new(
        "Cost Centers",
        figures_columns(vec![Column::text("Cost Center")]),
    );
    for s in &daily.centers {
        let mut cells: Vec<Cell> = vec![s.info.cost_center.clone().into()];
        cells.extend(figures_cells(s));
        centers.rows.push(Row::new(cells));
    }
    let mut launched = Table::new(
        "Launches",
        vec![
            Column::text("Time"),
            Column::text("Account"),
            Column::text("Region"),
            Column::text("Event"),
            Column::text("Started"),
            Column::text("By"),
            Column::money("Estimate per day", "USD"),
            Column::text("Not priced"),
        ],
    );
    for l in &daily.launches {
        launched.rows.push(Row::new(vec![
            l.launch.time.clone().into(),
            l.launch.account.clone().into(),
            l.launch.region.clone().into(),
            l.launch.event.clone().into(),
            l.launch
                .launched
                .iter()
                .map(|x| format!("{} x {}", x.count, x.key))
                .collect::<Vec<_>>()
                .join(", ")
                .into(),
            l.launch.actor.clone().into(),
            Cell::Decimal(l.per_day),
            l.unpriced.join(", ").into(),
        ]));
    }
    let mut budget = Table::new(
        "Budget Alerts",
        vec![
            Column::of("Time", CellKind::Time),
            Column::text("Account"),
            Column::text("Name"),
            Column::text("Message"),
        ],
    );
    budget.totals = false;
    for b in &daily.budget_alerts {
        budget.rows.push(Row::new(vec![
            Cell::Time(b.time),
            b.account.clone().into(),
            b.name.clone().into(),
            b.message.clone().into(),
        ]));
    }
    vec![Report {
        family: Family::Spend,
        cost_center: ALL.into(),
        organization: true,
        period: daily.day.to_string(),
        year: daily.day.date().year(),
        label: "spend".into(),
        tables: vec![alerts, accounts, centers, launched, budget],
        csv: vec![1],
        charts: Vec::new(),
        workbook: true,
        page: None,
    }]
}
