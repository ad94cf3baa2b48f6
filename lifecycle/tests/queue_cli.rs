//! The maintenance window through the queue from the terminal, on moto: `maintenance --yes
//! --via-queue` enqueues, `lifecycle work` works the queue as the worker function does, and
//! reports the requests it made per account; `lifecycle queue` then shows the run done.

mod common;

use spa_core::testing::{moto_endpoint, run_binary};

const CLI: &str = env!("CARGO_BIN_EXE_lifecycle");
const ACCOUNTS: usize = 12;
const ROLE: &str = "OrganizationAccountAccessRole";

/// The window through the queue from the terminal: `maintenance --yes --via-queue` enqueues,
/// `lifecycle work` works the queue as the worker function does, with the requests the
/// function would make: per account, its tags read and written, its project checked and its
/// purge started, its role assumed once, one event.
#[tokio::test(flavor = "multi_thread")]
async fn the_queue_worked_from_the_terminal() {
    let endpoint = moto_endpoint();
    let moto = common::moto_organization(&endpoint).await;
    let accounts = moto.released_accounts("queued", ACCOUNTS).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = moto.write_settings(dir.path(), &endpoint, ROLE);
    aws_sdk_sqs::Client::new(&moto.config)
        .create_queue()
        .queue_name("spa-moto-lifecycle")
        .send()
        .await
        .unwrap();
    let loaded = spa_core::Settings::load(&settings).unwrap();
    for account in &accounts {
        common::deploy_projects(&moto.config, &loaded, account, ROLE).await;
    }
    let run = |args: &[&str]| {
        let mut all = vec!["--settings", settings.to_str().unwrap()];
        all.extend(args);
        run_binary(CLI, &all)
    };
    let (status, out, err) = run(&["maintenance", "--yes", "--via-queue"]);
    assert_eq!(status, 0, "{out}{err}");
    assert!(
        err.contains(&format!("{ACCOUNTS} messages on spa-moto-lifecycle")),
        "{err}"
    );
    let (status, out, err) = run(&["work"]);
    assert_eq!(status, 0, "{out}{err}");
    assert!(
        err.contains(&format!("{ACCOUNTS} messages in "))
            && err.contains(&format!(": {ACCOUNTS} done, 0 skipped, 0 failed")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{} Organizations, {} CodeBuild, {ACCOUNTS} EventBridge requests, {ACCOUNTS} member roles assumed",
            2 * ACCOUNTS,
            2 * ACCOUNTS
        )),
        "{err}"
    );
    for account in &accounts {
        let tags = moto
            .org
            .list_tags_for_resource()
            .resource_id(account)
            .send()
            .await
            .unwrap();
        let state = tags.tags().iter().find(|t| t.key() == "account-state");
        assert_eq!(state.map(|t| t.value()), Some("expired"), "{account}");
    }
    let (status, out, err) = run(&["queue"]);
    assert_eq!(status, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "{ACCOUNTS} enqueued, {ACCOUNTS} done, 0 skipped, 0 failed, 0 pending"
        )),
        "{out}"
    );
}
