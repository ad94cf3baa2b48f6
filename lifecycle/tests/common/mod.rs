//! Helpers of the tests on moto (each test binary uses some of them).
#![allow(dead_code)]

use aws_sdk_codebuild::types::*;

/// The environment of the lifecycle's projects (image, compute).
pub fn lifecycle_environment() -> ProjectEnvironment {
    ProjectEnvironment::builder()
        .r#type(EnvironmentType::LinuxContainer)
        .image("aws/codebuild/amazonlinux-x86_64-standard:5.0")
        .compute_type(ComputeType::BuildGeneral1Small)
        .build()
        .unwrap()
}

/// Creates a NO_SOURCE project with `spec`, `environment` and `role`, as a deployment (or a
/// holder) would; moto wants a source location even for NO_SOURCE, so one is given.
pub async fn create_project(
    cb: &aws_sdk_codebuild::Client,
    name: &str,
    spec: &str,
    environment: ProjectEnvironment,
    role: &str,
) {
    cb.create_project()
        .name(name)
        .source(
            ProjectSource::builder()
                .r#type(SourceType::NoSource)
                .location("buildspecs")
                .buildspec(spec)
                .build()
                .unwrap(),
        )
        .artifacts(
            ProjectArtifacts::builder()
                .r#type(ArtifactsType::NoArtifacts)
                .build()
                .unwrap(),
        )
        .environment(environment)
        .service_role(role)
        .send()
        .await
        .unwrap();
}

/// Creates an account in moto's organization; returns its id.
pub async fn create_account(org: &aws_sdk_organizations::Client, name: &str) -> String {
    org.create_account()
        .account_name(name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .unwrap()
        .create_account_status()
        .unwrap()
        .account_id()
        .unwrap()
        .to_string()
}

/// The project a deployment creates in each member account (moto insists on a source
/// location even for NO_SOURCE, so the lifecycle's own creation cannot run here).
pub async fn deploy_projects(
    config: &aws_config::SdkConfig,
    settings: &spa_core::Settings,
    account: &str,
    role: &str,
) {
    let member = spa_core::aws::assume_role(
        config,
        &account.parse().unwrap(),
        &role.parse().unwrap(),
        "test-deploy",
    )
    .await;
    let cb = aws_sdk_codebuild::Client::new(&member);
    for kind in [
        lifecycle::decide::BuildKind::Preparation,
        lifecycle::decide::BuildKind::Purge,
    ] {
        create_project(
            &cb,
            &kind.project(settings),
            lifecycle::builds::buildspec(kind),
            lifecycle_environment(),
            &format!("arn:aws:iam::{account}:role/{}", settings.build_role()),
        )
        .await;
    }
}
