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
    ArtifactsType, ComputeType, EnvironmentType, EnvironmentVariable, ProjectArtifacts,
    ProjectEnvironment, ProjectSource, SourceType,
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
        /// Base configuration (the automation account's credentials).
        config: Box<aws_config::SdkConfig>,
        /// Environment name and roles.
        settings: Box<Settings>,
        /// Requests made.
        requests: AtomicU64,
    },
}

impl Builds {
    /// The runner `settings.builds` names.
    pub(crate) async fn from_settings(settings: &Settings) -> Self {
        match settings.builds.adapter {
            Adapter::Local => Builds::Local {
                started: Mutex::new(Vec::new()),
            },
            Adapter::Aws => Builds::Aws {
                config: Box::new(spa_core::aws::sdk_config(settings).await),
                settings: Box::new(settings.clone()),
                requests: AtomicU64::new(0),
            },
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
                config,
                settings,
                requests,
            } => {
                let role = &settings.automation.account_role;
                let member =
                    spa_core::aws::assume_role(config, account, role, "spa-lifecycle").await;
                let client = aws_sdk_codebuild::Client::new(&member);
                let project = request.kind.project(settings);
                let variables = environment(&request.variables).map_err(|e| Error::Build {
                    op: "StartBuild",
                    account: account.to_string(),
                    message: e.to_string(),
                })?;
                let start = || {
                    requests.fetch_add(1, Ordering::Relaxed);
                    client
                        .start_build()
                        .project_name(&project)
                        .buildspec_override(buildspec(request.kind))
                        .idempotency_token(&request.token)
                        .set_environment_variables_override(Some(variables.clone()))
                        .send()
                };
                let output = match start().await {
                    Ok(o) => o,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_resource_not_found_exception()) =>
                    {
                        // First build in this account: create its project, then start again.
                        requests.fetch_add(1, Ordering::Relaxed);
                        create_project(&client, settings, account, request.kind, &project).await?;
                        start()
                            .await
                            .map_err(|e| Error::build(account, ApiError::new("StartBuild", &e)))?
                    }
                    Err(e) => return Err(Error::build(account, ApiError::new("StartBuild", &e))),
                };
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

    /// CodeBuild requests made so far.
    pub fn requests(&self) -> u64 {
        match self {
            Builds::Local { .. } => 0,
            Builds::Aws { requests, .. } => requests.load(Ordering::Relaxed),
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
    let role = format!(
        "arn:aws:iam::{account}:role/{}",
        settings.automation.account_role
    );
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
        .timeout_in_minutes(60)
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
