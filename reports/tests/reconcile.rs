//! Totals reconcile for any cost rows: every table's total is the sum of its rows, each cost
//! center's services add up to its line in the cost centers sheet, and the organization's
//! total (cost centers plus credits and refunds) is the sum of every source row, exactly.

use proptest::prelude::*;
use reports::costs::{Line, MonthCosts, ORGANIZATION_LEVEL, reports, total};
use reports::report::ALL;
use reports::table::Table;
use rust_decimal::Decimal;

fn line() -> impl Strategy<Value = Line> {
    (
        0..4usize,
        0..3usize,
        0..6usize,
        0..5usize,
        0..6usize,
        any::<i64>(),
        0..=12u32,
    )
        .prop_map(|(cc, ou, account, service, kind, mantissa, scale)| {
            let kinds = ["Usage", "Usage", "Tax", "Credit", "Refund", "Support"];
            let kind = kinds[kind];
            Line {
                cost_center: ["Alpha", "Beta", "NoCostTag", "=x"][cc].into(),
                ou: ["Eng", "Data", "Unknown"][ou].into(),
                account: format!("10000000000{account}").into(),
                name: format!("account {account}").into(),
                service: if kind == "Usage" {
                    ["EC2", "S3", "Lambda", "KMS", "RDS"][service].into()
                } else {
                    kind.into()
                },
                usage_type: "".into(),
                record_type: kind.into(),
                // Mantissas below 1e14 at any scale from 0 to 12 decimals, so that sums of 80
                // rows stay within the 28 significant digits of an exact decimal.
                amount: Decimal::new(mantissa % 100_000_000_000_000, scale),
            }
        })
}

fn column_total(table: &Table, column: &str) -> Decimal {
    table.total()[table.column(column).unwrap()].unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn totals_reconcile(lines in proptest::collection::vec(line(), 1..80)) {
        let settings = spa_core::testing::shipped_settings();
        let month = "2026-10".parse().unwrap();
        let costs = MonthCosts { lines: lines.clone(), by_usage_type: None, currency: "USD".into(), snapshot: "2026-10-31".into(), query: Default::default() };
        let list = reports(&settings, month, &costs, None);
        let source: Decimal = lines.iter().map(|l| l.amount).sum();
        prop_assert_eq!(total(&costs), source);

        let all = list.iter().find(|r| r.cost_center == ALL).unwrap();
        let centers = &all.tables[0];
        prop_assert_eq!(column_total(centers, "Amount"), source);
        let charges = &all.tables[2];
        prop_assert_eq!(column_total(charges, "Total"), source);
        let kept: Decimal = lines
            .iter()
            .filter(|l| !ORGANIZATION_LEVEL.contains(&&*l.record_type))
            .map(|l| l.amount)
            .sum();
        prop_assert_eq!(column_total(&all.tables[1], "Amount"), kept);

        for report in list.iter().filter(|r| r.cost_center != ALL) {
            let own: Decimal = lines
                .iter()
                .filter(|l| *l.cost_center == *report.cost_center)
                .filter(|l| !ORGANIZATION_LEVEL.contains(&&*l.record_type))
                .map(|l| l.amount)
                .sum();
            for table in &report.tables {
                prop_assert_eq!(column_total(table, "Amount"), own, "{} {}", report.cost_center, table.name);
            }
            let row = centers
                .rows
                .iter()
                .find(|r| r.cells[0] == reports::table::Cell::from(report.cost_center.as_str()))
                .unwrap();
            prop_assert_eq!(row.cells[centers.column("Amount").unwrap()].decimal(), Some(own));
        }
    }
}
