//! Throttling, injected and recovered: AWS Organizations (moto, behind a proxy that refuses the
//! first tag reads with `TooManyRequestsException`) slows the lifecycle down but changes
//! nothing it finds, and the command reports the retries and the throttled answers.

mod common;

use spa_core::testing::{Rule, moto_endpoint, proxy, run_binary};

const CLI: &str = env!("CARGO_BIN_EXE_lifecycle");
const ACCOUNTS: usize = 12;
const REFUSED: usize = 5;

#[tokio::test(flavor = "multi_thread")]
async fn throttled_tag_reads_are_retried_and_counted() {
    let endpoint = moto_endpoint();
    let moto = common::moto_organization(&endpoint).await;
    moto.released_accounts("throttled", ACCOUNTS).await;
    let throttling = proxy(
        &endpoint,
        vec![Rule::throttle("ListTagsForResource", REFUSED)],
    );
    let dir = tempfile::tempdir().unwrap();
    let settings =
        moto.write_settings(dir.path(), &throttling.url, "OrganizationAccountAccessRole");
    // Every released account is due for the maintenance window, throttled or not.
    let (status, out, err) = run_binary(
        CLI,
        // One tag read at a time: the test's proxy serves one request at a time.
        &[
            "--settings",
            settings.to_str().unwrap(),
            "--concurrency",
            "1",
            "maintenance",
        ],
    );
    assert_eq!(status, 2, "needs --yes\n{out}{err}");
    assert_eq!(throttling.answered(0), REFUSED, "the proxy refused");
    let due = out.lines().filter(|l| l.contains("expire")).count();
    assert_eq!(due, ACCOUNTS, "{out}");
    assert!(
        err.contains(&format!("{REFUSED} retried, {REFUSED} throttled")),
        "{err}"
    );
}
