//! Cost center names from tags never collide in file names nor escape their folder: `Eng/EU`
//! and `Eng EU` get files of their own, a cost center called `all` does not replace the
//! organization's workbook (and the cost e-mail still attaches the organization's files), and
//! no key leaves the reporting prefix.

use std::collections::BTreeSet;

use mail_parser::MimeHeaders;
use reports::costs::{Line, MonthCosts, reports};
use rust_decimal::Decimal;

fn line(cost_center: &str, account: &str, amount: i64) -> Line {
    Line {
        cost_center: cost_center.into(),
        ou: "Eng".into(),
        account: account.into(),
        name: format!("account {account}").into(),
        service: "EC2".into(),
        usage_type: "".into(),
        record_type: "Usage".into(),
        amount: Decimal::new(amount, 2),
    }
}

#[test]
fn every_cost_center_gets_its_own_files_and_the_organization_keeps_all() {
    let settings = spa_core::testing::shipped_settings();
    let names = [
        "Eng/EU",
        "Eng EU",
        "all",
        "ALL",
        "..",
        "../../etc",
        "Ingénierie",
        "Ingenierie",
    ];
    let month: spa_core::period::Month = "2026-10".parse().unwrap();
    let current = MonthCosts {
        lines: names
            .iter()
            .enumerate()
            .map(|(i, n)| line(n, &format!("30000000000{i}"), 100 + i as i64))
            .collect(),
        by_usage_type: None,
        currency: "USD".into(),
        snapshot: "2026-10-31".into(),
        query: std::time::Duration::ZERO,
    };
    let list = reports(&settings, month, &current, None);
    assert_eq!(
        list.len(),
        names.len() + 1,
        "a report per cost center and one for all"
    );
    let mut keys = BTreeSet::new();
    let mut folders = BTreeSet::new();
    for report in &list {
        for file in report.render(&settings).unwrap() {
            assert!(keys.insert(file.key.clone()), "{} written twice", file.key);
            let parts: Vec<&str> = file.key.split('/').collect();
            assert_eq!(&parts[..2], ["reports", "costs"], "{}", file.key);
            assert!(
                parts
                    .iter()
                    .all(|p| !p.is_empty() && *p != "." && *p != ".."),
                "{}",
                file.key
            );
            folders.insert(parts[2].to_string());
        }
    }
    assert_eq!(folders.len(), names.len() + 1, "{folders:?}");
    let organization = list.iter().find(|r| r.organization).unwrap();
    assert_eq!(organization.key(), "all");
    assert!(keys.contains("reports/costs/all/2026/2026-10-all-costs.xlsx"));
    // The cost center named `all` is not the organization.
    let named_all = list
        .iter()
        .find(|r| !r.organization && r.cost_center == "all")
        .unwrap();
    assert_ne!(named_all.key(), "all");

    // The e-mail attaches the organization's files only.
    let files: Vec<reports::report::Written> = list
        .iter()
        .flat_map(|r| r.render(&settings).unwrap())
        .collect();
    let summary = reports::mail::summary(month, &current, None);
    let mut with_recipients = settings.clone();
    with_recipients.features.cost_email_recipients = vec!["finops@example.com".parse().unwrap()];
    let message =
        reports::mail::compose(&with_recipients, &summary, &files, "reports/costs").unwrap();
    let bytes = message.formatted();
    let parsed = mail_parser::MessageParser::default().parse(&bytes).unwrap();
    let attached: Vec<String> = parsed
        .attachments()
        .map(|a| a.attachment_name().unwrap().to_string())
        .collect();
    assert_eq!(attached.len(), 4, "{attached:?}");
    assert!(
        attached.iter().all(|a| a.starts_with("2026-10-all-")),
        "{attached:?}"
    );
}
