//! Settings kept in S3 (on moto): the file and its CSV overlay copied beside each other and
//! loaded exactly as the same files on disk; a missing overlay and a path out of the prefix are
//! errors naming the S3 URL.

use aws_sdk_s3::primitives::ByteStream;
use spa_core::Settings;
use spa_core::settings::remote::load_s3;
use spa_core::testing::{
    create_bucket, moto_endpoint, repo_root, s3_client, settings_with_endpoint,
};

const OVERLAY: &str = "Account,Note,Spend: daily_limit\n333333333333,from the bucket,75\n";

fn settings_text() -> String {
    std::fs::read_to_string(repo_root().join("settings.yaml"))
        .unwrap()
        .replace(
            "  csv_files:\n    - fixtures/accounts-overlay.csv",
            "  csv_files:\n    - overlays/team.csv",
        )
        .replace(
            "file: fixtures/organization.yaml",
            "file: org/organization.yaml",
        )
}

#[tokio::test]
async fn settings_and_their_overlays_load_from_s3_as_from_disk() {
    let s3 = s3_client(&settings_with_endpoint(&moto_endpoint(), |y| y)).await;
    let bucket = create_bucket(&s3, "settings").await;
    let organization = std::fs::read(repo_root().join("fixtures/organization.yaml")).unwrap();
    for (key, body) in [
        ("spa/settings.yaml", settings_text().into_bytes()),
        ("spa/overlays/team.csv", OVERLAY.as_bytes().to_vec()),
        ("spa/org/organization.yaml", organization.clone()),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }
    let copy = tempfile::tempdir().unwrap();
    let url = format!("s3://{bucket}/spa/settings.yaml");
    let from_s3 = load_s3(&s3, &url, copy.path()).await.unwrap();

    // The same files written on disk by hand, loaded as usual.
    let disk = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(disk.path().join("overlays")).unwrap();
    std::fs::create_dir_all(disk.path().join("org")).unwrap();
    std::fs::write(disk.path().join("settings.yaml"), settings_text()).unwrap();
    std::fs::write(disk.path().join("overlays/team.csv"), OVERLAY).unwrap();
    std::fs::write(disk.path().join("org/organization.yaml"), organization).unwrap();
    let from_disk = Settings::load(disk.path().join("settings.yaml")).unwrap();
    let account = "333333333333".parse().unwrap();
    assert_eq!(from_s3.accounts, from_disk.accounts);
    assert_eq!(
        from_s3.accounts[&account].note.as_deref(),
        Some("from the bucket")
    );
    assert_eq!(
        from_s3.spend_limits(&account, None).daily_limit,
        Some("75".parse().unwrap())
    );
    assert!(from_s3.organization.file.as_ref().unwrap().exists());

    // A missing overlay, and a path out of the prefix.
    s3.delete_object()
        .bucket(&bucket)
        .key("spa/overlays/team.csv")
        .send()
        .await
        .unwrap();
    let err = load_s3(&s3, &url, tempfile::tempdir().unwrap().path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("s3://{bucket}/spa/overlays/team.csv")),
        "{err}"
    );
    s3.put_object()
        .bucket(&bucket)
        .key("spa/settings.yaml")
        .body(ByteStream::from(
            settings_text()
                .replace("    - overlays/team.csv", "    - ../secrets.csv")
                .into_bytes(),
        ))
        .send()
        .await
        .unwrap();
    let err = load_s3(&s3, &url, tempfile::tempdir().unwrap().path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("must be a relative path inside its prefix"),
        "{err}"
    );
}
