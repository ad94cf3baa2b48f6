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

/// A fresh moto server (reset) holding an organization with a "Sandboxes" unit.
pub struct MotoOrganization {
    /// The SDK configuration pointed at moto.
    pub config: aws_config::SdkConfig,
    /// Its Organizations client.
    pub org: aws_sdk_organizations::Client,
    /// The management account.
    pub management: String,
    /// The root.
    pub root: String,
    /// The "Sandboxes" unit.
    pub sandboxes: String,
}

/// Resets moto at `endpoint` and creates the organization and its "Sandboxes" unit.
pub async fn moto_organization(endpoint: &str) -> MotoOrganization {
    spa_core::testing::reset_moto(endpoint);
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .endpoint_url(endpoint)
        .load()
        .await;
    let org = aws_sdk_organizations::Client::new(&config);
    let (management, root) = spa_core::testing::create_organization(&org).await;
    let sandboxes = spa_core::testing::create_ou(&org, &root, "Sandboxes").await;
    MotoOrganization {
        config,
        org,
        management,
        root,
        sandboxes,
    }
}

impl MotoOrganization {
    /// Creates `n` accounts named `<prefix><i>` in "Sandboxes", each `released` to
    /// `<prefix><i>@example.com` since 2026-09-26; returns their ids in order.
    pub async fn released_accounts(&self, prefix: &str, n: usize) -> Vec<String> {
        use aws_sdk_organizations::types::Tag;
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
        let mut accounts = Vec::new();
        for i in 0..n {
            let name = format!("{prefix}{i:03}");
            let id = create_account(&self.org, &name).await;
            self.org
                .move_account()
                .account_id(&id)
                .source_parent_id(&self.root)
                .destination_parent_id(&self.sandboxes)
                .send()
                .await
                .unwrap();
            self.org
                .tag_resource()
                .resource_id(&id)
                .tags(tag("account-state", "released"))
                .tags(tag("account-since", "2026-09-26T18:30:00Z"))
                .tags(tag("account-holder", &format!("{name}@example.com")))
                .send()
                .await
                .unwrap();
            accounts.push(id);
        }
        accounts
    }

    /// Writes `dir/settings.yaml`: environment `spa-moto`, "Sandboxes" managed with purges on
    /// (in the two regions listed: moto has no Account API to ask),
    /// every adapter on AWS at `endpoint` (moto, or a proxy in front of it), member accounts
    /// reached through `role`; returns the file.
    pub fn write_settings(
        &self,
        dir: &std::path::Path,
        endpoint: &str,
        role: &str,
    ) -> std::path::PathBuf {
        let path = dir.join("settings.yaml");
        std::fs::write(
            &path,
            format!(
                r#"
environment_identifier: spa-moto
automation:
  account_id: "{management}"
  management_account_id: "{management}"
  region: eu-west-1
  maintenance_window: "cron(0 18 ? * SAT *)"
  account_role: {role}
  purge_regions: [us-east-1, eu-west-1]
defaults:
  purge:
    feature: enabled
organizational_units:
  {sandboxes}:
    note: Sandboxes
lake: {lake}
organization:
  adapter: aws
events:
  adapter: aws
  bus: default
builds:
  adapter: aws
costs:
  source: aws
aws:
  endpoint_url: {endpoint}
"#,
                management = self.management,
                sandboxes = self.sandboxes,
                lake = dir.join("lake").display()
            ),
        )
        .unwrap();
        path
    }
}
