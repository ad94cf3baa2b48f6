//! The CodeBuild project in a member account, against moto server: a project someone else
//! created under the lifecycle's name (a holder can, before the first build) is never built
//! as it is; the lifecycle's own project is used as it is.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use aws_sdk_codebuild::types::*;
use lifecycle::builds::{Builds, buildspec, differences};
use lifecycle::decide::{BuildKind, BuildRequest};
use spa_core::settings::AccountId;
use spa_core::testing::{moto_endpoint, settings_with_endpoint};

const ROLE: &str = "AWSControlTowerExecution";
/// CodeBuild's service role: the shipped environment's default build role.
const BUILD_ROLE: &str = "spa-demo-build";

async fn member(config: &aws_config::SdkConfig, account: &AccountId) -> aws_sdk_codebuild::Client {
    let member = spa_core::aws::assume_role(config, account, &ROLE.parse().unwrap(), "test").await;
    aws_sdk_codebuild::Client::new(&member)
}

async fn builds_in(cb: &aws_sdk_codebuild::Client) -> Vec<String> {
    cb.list_builds().send().await.unwrap().ids().to_vec()
}

#[tokio::test]
async fn a_project_someone_else_defined_is_never_built_as_it_is() {
    let settings = settings_with_endpoint(&moto_endpoint(), |y| y);
    let config = spa_core::aws::sdk_config(&settings).await;
    let counter = spa_core::aws::RequestCounter::default();
    let builds = Builds::Aws {
        roles: Box::new(spa_core::aws::Roles::new(&config, &counter)),
        settings: Box::new(settings.clone()),
        requests: AtomicU64::new(0),
        counter,
        members: Default::default(),
    };
    let kind = BuildKind::Preparation;
    let name = kind.project(&settings);
    let request = |token: &str| BuildRequest {
        kind,
        variables: BTreeMap::from([("ACCOUNT_ID".to_string(), "x".to_string())]),
        token: token.into(),
    };

    // A holder's project: their image, privileged, their variable, their role.
    let hostile: AccountId = "300004040404".parse().unwrap();
    let cb = member(&config, &hostile).await;
    common::create_project(
        &cb,
        &name,
        "version: 0.2\nphases: {build: {commands: [env]}}",
        ProjectEnvironment::builder()
            .r#type(EnvironmentType::LinuxContainer)
            .image("holder/image:latest")
            .compute_type(ComputeType::BuildGeneral1Small)
            .privileged_mode(true)
            .environment_variables(
                EnvironmentVariable::builder()
                    .name("BASH_ENV")
                    .value("/tmp/run-me")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
        &format!("arn:aws:iam::{hostile}:role/holder-admin"),
    )
    .await;
    let started = builds.start(&hostile, &request("t-hostile")).await;
    let role = format!("arn:aws:iam::{hostile}:role/{BUILD_ROLE}");
    let now = cb.batch_get_projects().names(&name).send().await.unwrap();
    match started {
        // CodeBuild recreated it as ours, then built that.
        Ok(_) => {
            assert_eq!(now.projects().len(), 1);
            assert_eq!(
                differences(&now.projects()[0], kind, &role),
                Vec::<String>::new()
            );
        }
        // moto cannot create a NO_SOURCE project without a location: the holder's project is
        // gone and nothing was built.
        Err(e) => {
            assert!(e.to_string().contains("CreateProject"), "{e}");
            assert!(
                now.projects().is_empty(),
                "the holder's project is still there"
            );
            assert!(builds_in(&cb).await.is_empty(), "a build ran: {e}");
        }
    }

    // The lifecycle's own project (as a deployment creates it) is used as it is.
    let ours: AccountId = "300005050505".parse().unwrap();
    let cb = member(&config, &ours).await;
    common::create_project(
        &cb,
        &name,
        buildspec(kind),
        common::lifecycle_environment(),
        &format!("arn:aws:iam::{ours}:role/{BUILD_ROLE}"),
    )
    .await;
    let created =
        |out: &aws_sdk_codebuild::operation::batch_get_projects::BatchGetProjectsOutput| {
            out.projects()[0].created().cloned()
        };
    let before = created(&cb.batch_get_projects().names(&name).send().await.unwrap());
    let id = builds.start(&ours, &request("t-ours")).await.unwrap();
    assert!(id.starts_with(&format!("{name}:")), "{id}");
    let after = created(&cb.batch_get_projects().names(&name).send().await.unwrap());
    assert_eq!(before, after, "our project was replaced");
    assert_eq!(builds_in(&cb).await, [id]);
    // One role assumption per member account, however many builds.
    builds.start(&ours, &request("t-ours-2")).await.unwrap();
    assert_eq!(builds.member_accounts().await, 2);
}
