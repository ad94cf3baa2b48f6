//! Saved Cost Explorer responses into costs/: totals against the generator's own rows, month
//! replacement, other months counted, responses of other shapes refused.

use std::collections::BTreeMap;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Decimal128Type;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use spa_core::lake::{Dataset, Lake};
use spa_core::testing::{self, strings};
use spa_fixtures::{Spec, costs, org};

fn write_pages(dir: &std::path::Path, spec: &Spec, o: &spa_core::organization::Organization) {
    for (grouping, name) in [
        (costs::Grouping::Service, "by-service"),
        (costs::Grouping::RecordType, "by-record-type"),
    ] {
        for (n, page) in costs::cost_explorer_pages(spec, o, grouping, 50).enumerate() {
            let path = dir.join(format!(
                "{}/{name}/page-{n:05}.json",
                spec.month.format("%Y-%m")
            ));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, serde_json::to_vec(&page).unwrap()).unwrap();
        }
    }
}

fn amounts(batches: &[RecordBatch]) -> Vec<Decimal> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("unblended")
                .unwrap()
                .as_primitive::<Decimal128Type>()
                .values()
                .iter()
                .map(|m| Decimal::from_i128_with_scale(*m, 12))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn month_totals_equal_the_rows_the_responses_come_from() {
    let spec = Spec {
        accounts: 20,
        units: 2,
        cost_centers: 4,
        services: 6,
        ..Spec::default()
    };
    let o = org::organization(&spec);
    let input = tempfile::tempdir().unwrap();
    write_pages(input.path(), &spec, &o);
    // A month before, which must be counted and left out.
    let september = Spec {
        month: NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
        ..spec.clone()
    };
    write_pages(input.path(), &september, &o);

    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let rows = ingest::costs::combine(ingest::costs::load_saved(input.path()).unwrap());
    let summary = ingest::costs::write_month(&lake, "2026-10", rows, "cost-explorer")
        .await
        .unwrap();

    // The truth: the generator's rows, summed here independently of the responses.
    let truth: Vec<costs::CostRow> = costs::rows(&spec, &o).collect();
    let total: Decimal = truth.iter().map(|r| r.amount).sum();
    assert_eq!(summary.total, total);
    assert!(summary.other_months > 0);
    let back = lake
        .read_partition(Dataset::Costs, "2026-10")
        .await
        .unwrap();
    assert_eq!(
        amounts(&back).into_iter().sum::<Decimal>(),
        total,
        "exact to the last decimal"
    );

    let mut by_account: BTreeMap<String, Decimal> = BTreeMap::new();
    for r in &truth {
        *by_account.entry(r.account.clone()).or_default() += r.amount;
    }
    let mut stored: BTreeMap<String, Decimal> = BTreeMap::new();
    for (account, value) in strings(&back, "account_id").into_iter().zip(amounts(&back)) {
        *stored.entry(account).or_default() += value;
    }
    assert_eq!(stored, by_account);
    let types: std::collections::BTreeSet<String> =
        strings(&back, "record_type").into_iter().collect();
    assert!(
        types.contains("Usage") && types.contains("Tax") && types.contains("Credit"),
        "{types:?}"
    );

    // Running the month again replaces it.
    let rows = ingest::costs::combine(ingest::costs::load_saved(input.path()).unwrap());
    let again = ingest::costs::write_month(&lake, "2026-10", rows, "cost-explorer")
        .await
        .unwrap();
    assert_eq!(again.key, summary.key);
    assert_eq!(
        lake.objects(Dataset::Costs, "2026-10").await.unwrap().len(),
        1
    );
}

#[test]
fn responses_of_another_shape_are_refused_with_their_grouping() {
    let file =
        testing::shared_data().join("cost_explorer/awscli_example_get-cost-and-usage_output.json");
    let err = ingest::costs::load_saved(&file).unwrap_err().to_string();
    assert!(err.contains("awscli_example_get-cost-and-usage_output.json: grouped by [\"SERVICE\", \"Environment\"]"), "{err}");
}

#[test]
fn amounts_stay_exact() {
    assert_eq!(
        ingest::costs::amount("0.0000012345").unwrap().to_string(),
        "0.0000012345"
    );
    assert_eq!(
        ingest::costs::amount("-1.2E-7").unwrap().to_string(),
        "-0.00000012"
    );
    assert!(
        ingest::costs::amount("0.0000000000001")
            .unwrap_err()
            .contains("more than 12 decimals")
    );
}
