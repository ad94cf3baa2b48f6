//! The lifecycle on the local organization file, through the command line: plan, apply (only
//! with --yes, idempotent), check, show, and a simulation over several maintenance windows
//! whose events give the reports their on-boardings and maintenances.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reports::accounts::AccountInfo;
use reports::engine::Datasets;
use rust_decimal::Decimal;
use spa_core::lake::Lake;
use spa_core::organization::Organization;
use spa_core::testing::{repo_root, run_binary, settings_in};

const LIFECYCLE: &str = env!("CARGO_BIN_EXE_lifecycle");

/// The shipped settings in `dir`, on a copy of the fixture organization, without the seed.
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let org = dir.join("organization.yaml");
    std::fs::copy(repo_root().join("fixtures/organization.yaml"), &org).unwrap();
    let settings = settings_in(dir, |yaml| {
        let fixtures_org = format!("{}/fixtures/organization.yaml", repo_root().display());
        let yaml = yaml.replace(&fixtures_org, &org.display().to_string());
        let seed = yaml
            .find("\nseed:")
            .expect("the shipped settings have a seed");
        yaml[..seed].to_string()
    });
    (settings, org)
}

fn lifecycle(settings: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--settings", settings.to_str().unwrap()];
    all.extend(args);
    run_binary(LIFECYCLE, &all)
}

fn tags(org: &Path, id: &str) -> BTreeMap<String, String> {
    let org = Organization::load(org).unwrap();
    org.account(&id.parse().unwrap()).unwrap().tags.clone()
}

#[test]
fn apply_needs_yes_and_changes_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let (settings, org) = setup(dir.path());
    let before = std::fs::read(&org).unwrap();

    let (code, out, err) = lifecycle(&settings, &["plan"]);
    assert_eq!(code, 0, "{err}");
    let david = out.lines().find(|l| l.starts_with("300004040404")).unwrap();
    assert!(
        david.contains("on-board") && david.contains("CreatedAccount"),
        "{david}"
    );
    // Neither the management account nor unmanaged, closed or suspended ones are due.
    for id in [
        "111111111111",
        "222222222222",
        "300014141414",
        "300019191919",
        "400000000001",
    ] {
        assert!(!out.contains(id), "{id} in\n{out}");
    }
    assert!(err.contains("8 due"), "{err}");

    let (code, _, err) = lifecycle(&settings, &["apply"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(
        std::fs::read(&org).unwrap(),
        before,
        "nothing written without --yes"
    );

    let (code, out, err) = lifecycle(&settings, &["apply", "--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    // David was vanilla: on-boarded, prepared (local builds succeed at once), released.
    let david = tags(&org, "300004040404");
    assert_eq!(david["account-state"], "released");
    assert_eq!(david["account-holder"], "david.okafor@example.com");
    assert_eq!(david["managed-by"], "sandbox-automation");
    assert_eq!(david["business-unit"], "engineering");
    assert!(!david.contains_key("account-build"));
    // Xavier (Research: purge disabled) was expired: on to assigned, prepared, released.
    assert_eq!(tags(&org, "300024242424")["account-state"], "released");
    // Untouchables keep their tags.
    assert_eq!(tags(&org, "400000000001")["account-state"], "released");
    assert_eq!(tags(&org, "300019191919"), {
        let shipped = Organization::load(&repo_root().join("fixtures/organization.yaml")).unwrap();
        shipped
            .account(&"300019191919".parse().unwrap())
            .unwrap()
            .tags
            .clone()
    });

    let after = std::fs::read(&org).unwrap();
    let (code, _, err) = lifecycle(&settings, &["apply", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nothing to do"), "{err}");
    assert_eq!(
        std::fs::read(&org).unwrap(),
        after,
        "a second apply writes nothing"
    );

    let (code, out, _) = lifecycle(&settings, &["show", "300004040404"]);
    assert_eq!(code, 0);
    assert!(out.contains("state     released"), "{out}");
    for event in [
        "CreatedAccount",
        "AssignedAccount",
        "PreparedAccount",
        "ReleasedAccount",
    ] {
        assert!(out.contains(event), "{event} in\n{out}");
    }
    assert!(out.contains("BUDGET_AMOUNT"), "merged settings in\n{out}");
    for line in [
        "guardrails (service control policies on ou-spa0-engineer):",
        "  spa-demo-guardrails-baseline",
        "    DenyRootUser: the account's root user can do nothing",
        "    DenyOtherRegions: nothing outside eu-central-1, eu-west-1, us-east-1 but the global services",
        "    DenyCostlyServices: no use of sagemaker",
        "    DenyInstanceFamilies: no EC2 instance of the families p4d.*, p5.*, u-6tb1.*, x2iedn.*",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in\n{out}");
    }

    // The fixture still has accounts without cost center or holder: check says so.
    let (code, out, _) = lifecycle(&settings, &["check"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("300005050505") && out.contains("NoCostTag"),
        "{out}"
    );

    // A single account needs no --yes; reset puts it back to vanilla.
    let (code, _, err) = lifecycle(&settings, &["reset", "--account", "300004040404"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(tags(&org, "300004040404")["account-state"], "vanilla");
    let (code, _, err) = lifecycle(&settings, &["reset", "--account", "999999999999"]);
    assert_ne!(code, 0);
    assert!(err.contains("not in the organization"), "{err}");
}

#[tokio::test]
async fn a_simulation_gives_the_reports_their_on_boardings_and_maintenances() {
    let dir = tempfile::tempdir().unwrap();
    let (settings, org) = setup(dir.path());
    // Saturdays 18:00 in October 2026: the 3rd, 10th and 17th.
    let (code, _, err) = lifecycle(
        &settings,
        &["simulate", "--from", "2026-10-01", "--windows", "3"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2026-10-17 18:00"), "{err}");
    assert_eq!(tags(&org, "300004040404")["account-state"], "released");

    let lake = Lake::local(dir.path().join("lake"));
    let data = Datasets::local(&lake);
    let month = "2026-10".parse().unwrap();
    let events = reports::activities::load(&data, month).await.unwrap();
    let accounts: BTreeMap<String, AccountInfo> = BTreeMap::new();
    let found = reports::activities::activities(&events, month, &accounts);
    let of = |transaction: &str, account: &str| -> Vec<Option<Decimal>> {
        found
            .iter()
            .filter(|a| a.transaction == transaction && a.account == account)
            .map(|a| a.minutes)
            .collect()
    };
    // David, vanilla at the start: on-boarded at midnight, prepared in 25 minutes.
    assert_eq!(of("On-boarding", "300004040404"), [Some(Decimal::from(25))]);
    // Then three maintenances: purge 50 min + preparation 25 min.
    assert_eq!(
        of("Maintenance", "300004040404"),
        vec![Some(Decimal::from(75)); 3]
    );
    // Research accounts are never purged: expired -> assigned at once, then 25 min.
    assert_eq!(
        of("Maintenance", "300027272727"),
        vec![Some(Decimal::from(25)); 3]
    );
    // Nothing for the management account, unmanaged, closed or suspended accounts.
    for id in [
        "111111111111",
        "400000000001",
        "300014141414",
        "300019191919",
    ] {
        assert!(found.iter().all(|a| a.account != id), "{id}");
    }
}

/// Events whose sending fails after their step's tags are written are not lost: the step
/// records them in `account-unsent`, the next run sends them first (with their first time and
/// ids, so a third run stores nothing more) and removes the tag.
#[tokio::test]
async fn events_that_could_not_be_sent_are_sent_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let (settings, org) = setup(dir.path());
    let good = std::fs::read_to_string(&settings).unwrap();
    // A lake below a plain file: every write fails, even for root.
    std::fs::write(dir.path().join("blocker"), "").unwrap();
    let lake_line = format!("lake: {}", dir.path().join("lake").display());
    let blocked = good.replace(
        &lake_line,
        &format!("lake: {}", dir.path().join("blocker/lake").display()),
    );
    assert_ne!(blocked, good);
    std::fs::write(&settings, &blocked).unwrap();
    let (code, _, err) = lifecycle(&settings, &["apply", "--yes"]);
    assert_ne!(code, 0, "the lake cannot be written: {err}");
    assert!(err.contains("account-unsent"), "{err}");
    let organization = Organization::load(&org).unwrap();
    let unsent: Vec<(String, String)> = organization
        .accounts
        .iter()
        .filter_map(|a| {
            let value = a.tags.get("account-unsent")?;
            Some((a.id.to_string(), value.clone()))
        })
        .collect();
    assert!(!unsent.is_empty(), "no events recorded as unsent: {err}");
    for (account, value) in &unsent {
        let state = tags(&org, account).get("account-state").cloned();
        assert!(
            matches!(state.as_deref(), Some("assigned" | "released")),
            "the step itself was written for {account} ({value}): {state:?}"
        );
    }

    std::fs::write(&settings, &good).unwrap();
    let lake = Lake::local(dir.path().join("lake"));
    let stored = |lake: Lake, account: String, event: String, time: String| async move {
        let day = &time[..10];
        let batches = lake
            .read_partition(spa_core::lake::Dataset::Events, day)
            .await
            .unwrap_or_default();
        let accounts = spa_core::testing::strings(&batches, "account_id");
        let activities = spa_core::testing::strings(&batches, "activity");
        let raws = spa_core::testing::strings(&batches, "raw");
        (0..accounts.len())
            .filter(|&i| {
                accounts[i] == account
                    && activities[i] == event
                    && raws[i].contains(&format!("\"time\":\"{time}\""))
            })
            .count()
    };
    for run in ["second", "third"] {
        let (code, _, err) = lifecycle(&settings, &["apply", "--yes"]);
        assert_eq!(code, 0, "{run} run: {err}");
        for (account, value) in &unsent {
            assert!(
                !tags(&org, account).contains_key("account-unsent"),
                "{run} run left the tag on {account}"
            );
            let mut words = value.split(' ');
            let time = words.next().unwrap().to_string();
            for event in words {
                let n = stored(lake.clone(), account.clone(), event.into(), time.clone()).await;
                assert_eq!(
                    n, 1,
                    "{run} run: {event} of {account} at {time} stored {n} times"
                );
            }
        }
    }
}

/// A step taken through the queue names its run in every event it stores in the lake, and its
/// outcome is recorded under the run.
#[tokio::test]
async fn a_step_through_the_queue_names_its_run() {
    use lifecycle::fanout::{Action, jobs, work};
    let dir = tempfile::tempdir().unwrap();
    let (settings, _) = setup(dir.path());
    let engine = lifecycle::Engine::new(spa_core::Settings::load(&settings).unwrap(), 2)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let batch = jobs(&engine, Action::Reconcile, now).await.unwrap();
    let job = batch
        .jobs
        .first()
        .expect("the fixture has accounts to on-board");
    let body = serde_json::to_string(job).unwrap();
    let payload = serde_json::json!({"Records": [{"messageId": "m-1", "body": body,
        "eventSource": "aws:sqs", "attributes": {"ApproximateReceiveCount": "1"}}]});
    let answer = work(&engine, &payload, now).await;
    assert_eq!(answer["done"], 1, "{answer}");
    let lake = Lake::local(dir.path().join("lake"));
    let batches = lake
        .read_partition(
            spa_core::lake::Dataset::Events,
            &now.format("%Y-%m-%d").to_string(),
        )
        .await
        .unwrap();
    let accounts = spa_core::testing::strings(&batches, "account_id");
    let raws = spa_core::testing::strings(&batches, "raw");
    let ours: Vec<&String> = (0..accounts.len())
        .filter(|&i| accounts[i] == job.account.as_str())
        .map(|i| &raws[i])
        .collect();
    assert!(!ours.is_empty(), "no event stored for {}", job.account);
    for raw in ours {
        let event: serde_json::Value = serde_json::from_str(raw).unwrap();
        assert_eq!(event["detail"]["Run"], batch.run.as_str(), "{raw}");
    }
    let record = dir.path().join(format!(
        "lake/lifecycle/outcomes/{}/done/{}.json",
        batch.run, job.account
    ));
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(record["message"], "m-1");
    assert!(
        record["detail"].as_array().is_some_and(|a| !a.is_empty()),
        "{record}"
    );
}
