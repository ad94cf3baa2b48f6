//! Organization snapshots from the local file and from AWS Organizations on moto server.

use arrow::array::{Array, BooleanArray, MapArray};
use aws_sdk_organizations::types::Tag;
use spa_core::lake::{Dataset, Lake};
use spa_core::testing::{self, strings};

#[tokio::test]
async fn snapshot_of_the_local_organization_file() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let settings = testing::shipped_settings();
    let s = ingest::accounts::snapshot(&lake, &settings, "2026-10-31".parse().unwrap(), 4)
        .await
        .unwrap();
    // The fixture: 32 accounts, the 28 sandboxes of the three managed OUs are managed.
    assert_eq!((s.accounts, s.managed, s.requests), (32, 28, 0));
    let again = ingest::accounts::snapshot(&lake, &settings, "2026-10-31".parse().unwrap(), 4)
        .await
        .unwrap();
    assert_eq!(again.key, s.key, "the same day's snapshot is replaced");
    assert_eq!(
        lake.objects(Dataset::Accounts, "2026-10-31")
            .await
            .unwrap()
            .len(),
        1
    );
    let rows = lake
        .read_partition(Dataset::Accounts, "2026-10-31")
        .await
        .unwrap();
    let ids = strings(&rows, "account_id");
    let centers = strings(&rows, "cost_center");
    let at = |id: &str| ids.iter().position(|i| i == id).unwrap();
    assert_eq!(centers[at("300005050505")], "NoCostTag");
    assert_eq!(strings(&rows, "status")[at("300014141414")], "CLOSED");
    assert_eq!(
        strings(&rows, "ou_path")[at("300001010101")],
        "Root/Sandboxes/Engineering"
    );
    // Untagged: the holder falls back to the account e-mail.
    assert_eq!(
        strings(&rows, "holder")[at("300009090909")],
        "ines.silva+aws@example.com"
    );
    assert_eq!(
        strings(&rows, "holder")[at("300001010101")],
        "alice.martin@example.com"
    );
}

#[tokio::test]
async fn snapshot_from_aws_organizations_on_moto() {
    let endpoint = testing::moto_endpoint();
    // moto keeps one organization per server: start from a clean server.
    testing::reset_moto(&endpoint);
    let settings = testing::settings_with_endpoint(&endpoint, |y| {
        y.replace(
            "organization:\n  adapter: local\n  file: fixtures/organization.yaml",
            "organization:\n  adapter: aws",
        )
    });
    // The organization belongs to the management account, reached through organization_role
    // (moto gives assumed-role credentials the account of the role).
    let role = settings
        .automation
        .organization_role
        .clone()
        .expect("the shipped settings name a role");
    let management = settings.automation.management_account_id.clone();
    let config = spa_core::aws::assume_role(
        &spa_core::aws::sdk_config(&settings).await,
        &management,
        &role,
        "test",
    )
    .await;
    let org = spa_core::aws::organizations_client(&config, &Default::default());
    let (_, root) = testing::create_organization(&org).await;
    let sandboxes = testing::create_ou(&org, &root, "Sandboxes").await;
    let engineering = testing::create_ou(&org, &sandboxes, "Engineering").await;
    let research = testing::create_ou(&org, &root, "Research").await;
    let mut created = Vec::new();
    for i in 0..28 {
        let status = org
            .create_account()
            .email(format!("user{i}@example.com"))
            .account_name(format!("sandbox-{i}"))
            .tags(
                Tag::builder()
                    .key("cost-center")
                    .value(if i % 2 == 0 { "Platform" } else { "Research" })
                    .build()
                    .unwrap(),
            )
            .tags(
                Tag::builder()
                    .key("account-state")
                    .value("released")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let id = status
            .create_account_status()
            .unwrap()
            .account_id()
            .unwrap()
            .to_string();
        let to = if i < 25 { &engineering } else { &research };
        org.move_account()
            .account_id(&id)
            .source_parent_id(&root)
            .destination_parent_id(to)
            .send()
            .await
            .unwrap();
        created.push(id);
    }
    org.close_account()
        .account_id(&created[27])
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path());
    let s = ingest::accounts::snapshot(&lake, &settings, "2026-11-01".parse().unwrap(), 4)
        .await
        .unwrap();
    assert_eq!(s.accounts, 29, "28 created and the management account");
    let ids_now = strings(
        &lake
            .read_partition(Dataset::Accounts, "2026-11-01")
            .await
            .unwrap(),
        "account_id",
    );
    assert!(
        ids_now.contains(&management.to_string()),
        "read through the role, in the management account"
    );
    // One tag read per account, plus the listing of 4 parents (units and accounts; the 25
    // accounts of Engineering take two pages of 20), plus DescribeOrganization and ListRoots.
    assert_eq!(s.requests, 29 + (4 + 5) + 2);
    let rows = lake
        .read_partition(Dataset::Accounts, "2026-11-01")
        .await
        .unwrap();
    let ids = strings(&rows, "account_id");
    let at = |id: &str| ids.iter().position(|i| i == id).unwrap();
    assert_eq!(
        strings(&rows, "ou_path")[at(&created[0])],
        "Root/Sandboxes/Engineering"
    );
    assert_eq!(strings(&rows, "ou_id")[at(&created[26])], research);
    assert_eq!(strings(&rows, "cost_center")[at(&created[1])], "Research");
    assert_eq!(strings(&rows, "state")[at(&created[1])], "released");
    assert_ne!(
        strings(&rows, "status")[at(&created[27])],
        "ACTIVE",
        "the closed account is kept, not active"
    );
    let tags = rows[0]
        .column_by_name("tags")
        .unwrap()
        .as_any()
        .downcast_ref::<MapArray>()
        .unwrap();
    assert_eq!(tags.value(at(&created[0])).len(), 2);
    let managed = rows[0]
        .column_by_name("managed")
        .unwrap()
        .as_any()
        .downcast_ref::<BooleanArray>()
        .unwrap();
    assert_eq!(
        managed.true_count(),
        0,
        "the settings manage the fixture OUs, not these"
    );
}
