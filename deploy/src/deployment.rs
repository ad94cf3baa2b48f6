//! One deployment of the system: which stacks go to which account and region with which
//! parameters, and what `apply` puts in the artifact bucket first (the Lambda zips and, on the
//! first install, the settings with the files they name).
//!
//! Layout of the artifact bucket, per environment: `<env>/lambda/<function>-<digest>.zip`,
//! `<env>/templates/<stack>-<digest>.json`, `<env>/settings/settings.yaml` and the CSV overlays
//! beside it (the functions' `SPA_SETTINGS`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use spa_core::Settings;
use spa_core::aws::ApiError;

use crate::Template;
use crate::names::Names;
use crate::package::{self, PackageError};
use crate::stacks::{Stack, Upload};

/// The region of the management account's stack: billing metrics exist only there.
pub const MANAGEMENT_REGION: &str = "us-east-1";

/// A stack of the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum StackKind {
    /// The automation account's stack (`<env>-automation`, in `automation.region`).
    Automation,
    /// The management account's stack (`<env>-management`, in us-east-1), with the member
    /// accounts' StackSet.
    Management,
}

impl StackKind {
    /// The stack's name in `names`' environment.
    pub fn stack_name(self, names: &Names) -> String {
        names.of_what(match self {
            StackKind::Automation => "automation",
            StackKind::Management => "management",
        })
    }

    /// The rendered template's file.
    pub fn file(self) -> &'static str {
        match self {
            StackKind::Automation => "automation.json",
            StackKind::Management => "management.json",
        }
    }
}

/// What a deployment needs beyond the settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// The settings file (uploaded on the first install).
    pub settings_file: PathBuf,
    /// The bucket for zips, large templates and the settings (in the automation account).
    pub artifact_bucket: String,
    /// The folder `deploy package` wrote.
    pub artifacts: PathBuf,
    /// Where the functions read their settings (default
    /// `s3://<artifact bucket>/<env>/settings/settings.yaml`).
    pub settings_url: Option<String>,
    /// The organization's id (`o-…`).
    pub organization_id: String,
    /// Most ingest invocations at once.
    pub ingest_concurrency: u32,
}

/// What deploying could not do.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A request failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A stack's change set or its execution.
    #[error(transparent)]
    Stack(#[from] crate::stacks::StackError),
    /// The zips' folder.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// A local file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The settings or the options do not make a deployment.
    #[error("{0}")]
    Invalid(String),
}

/// The artifact bucket's prefix of `names`' environment.
pub fn prefix(names: &Names) -> String {
    format!("{}/", names.env())
}

/// Where the functions read their settings.
pub fn settings_url(names: &Names, options: &Options) -> String {
    options.settings_url.clone().unwrap_or_else(|| {
        format!(
            "s3://{}/{}settings/settings.yaml",
            options.artifact_bucket,
            prefix(names)
        )
    })
}

/// The key of a Lambda zip in the artifact bucket.
pub fn code_key(names: &Names, file: &str) -> String {
    format!("{}lambda/{file}", prefix(names))
}

/// The automation stack's parameters.
pub fn automation_parameters(
    names: &Names,
    options: &Options,
    zips: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, DeployError> {
    let url = settings_url(names, options);
    let (bucket, key) = spa_core::settings::remote::s3_url(&url).ok_or_else(|| {
        DeployError::Invalid(format!("--settings-url {url}: expected s3://bucket/key"))
    })?;
    let folder = key.rsplit_once('/').map_or("", |(p, _)| p);
    let objects = if folder.is_empty() {
        format!("arn:aws:s3:::{bucket}/*")
    } else {
        format!("arn:aws:s3:::{bucket}/{folder}/*")
    };
    let mut out = vec![
        (
            "ArtifactBucket".to_string(),
            options.artifact_bucket.clone(),
        ),
        ("OrganizationId".into(), options.organization_id.clone()),
        ("SettingsUrl".into(), url.clone()),
        ("SettingsObjectArn".into(), objects),
        (
            "IngestConcurrency".into(),
            options.ingest_concurrency.to_string(),
        ),
    ];
    for (function, parameter) in [
        ("ingest", "IngestCodeKey"),
        ("lifecycle", "LifecycleCodeKey"),
        ("reports", "ReportsCodeKey"),
    ] {
        let file = zips
            .get(function)
            .ok_or_else(|| DeployError::Invalid(format!("no zip for the {function} function")))?;
        out.push((parameter.into(), code_key(names, file)));
    }
    out.sort();
    Ok(out)
}

/// The management stack's parameters: the automation stack's bus and alert queue, whose ARNs
/// follow from the settings (the same names the automation stack gives them).
pub fn management_parameters(settings: &Settings, names: &Names) -> Vec<(String, String)> {
    let region = settings.automation.region.as_str();
    let account = &settings.automation.account_id;
    let alert_queue = settings
        .exceptions
        .alert_queue
        .as_ref()
        .map(|q| format!("arn:aws:sqs:{region}:{account}:{q}"))
        .unwrap_or_default();
    vec![
        ("AlertQueueArn".into(), alert_queue),
        (
            "CentralBusArn".into(),
            format!(
                "arn:aws:events:{region}:{account}:event-bus/{}",
                names.bus()
            ),
        ),
    ]
}

/// The stack of `kind`, from the rendered `templates`.
pub fn stack(
    kind: StackKind,
    settings: &Settings,
    templates: &[Template],
    parameters: Vec<(String, String)>,
    upload: Option<Upload>,
) -> Result<Stack, DeployError> {
    let names = Names::of(settings);
    let template = templates
        .iter()
        .find(|t| t.file == kind.file())
        .cloned()
        .ok_or_else(|| DeployError::Invalid(format!("{} was not rendered", kind.file())))?;
    // Only the parameters the template declares (it declares those its resources use).
    let declared = template.body["Parameters"].as_object();
    let parameters = parameters
        .into_iter()
        .filter(|(key, _)| declared.is_some_and(|d| d.contains_key(key)))
        .collect();
    Ok(Stack {
        name: kind.stack_name(&names),
        template,
        parameters,
        upload,
    })
}

/// Whether `key` exists in `bucket`.
async fn exists(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<bool, ApiError> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
        Err(e) => Err(ApiError::new("HeadObject", &e)),
    }
}

async fn put_file(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    path: &Path,
) -> Result<(), DeployError> {
    let bytes = std::fs::read(path).map_err(|source| DeployError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(bytes.into())
        .send()
        .await
        .map_err(|e| ApiError::new("PutObject", &e))?;
    Ok(())
}

/// Puts the Lambda zips of `options.artifacts` in the artifact bucket (those already there,
/// same name hence same content, are left); returns the keys written.
pub async fn upload_code(
    s3: &aws_sdk_s3::Client,
    names: &Names,
    options: &Options,
    zips: &BTreeMap<String, String>,
) -> Result<Vec<String>, DeployError> {
    let mut written = Vec::new();
    for file in zips.values() {
        let key = code_key(names, file);
        if !exists(s3, &options.artifact_bucket, &key).await? {
            put_file(
                s3,
                &options.artifact_bucket,
                &key,
                &options.artifacts.join(file),
            )
            .await?;
            written.push(key);
        }
    }
    Ok(written)
}

/// Puts the settings file and the files it names (CSV overlays, a local organization file) at
/// the settings URL, unless settings are already there and `replace` is false: FinOps and
/// security edit them in the bucket, and a redeploy must not undo their changes. Returns the
/// `s3://` URLs written.
pub async fn upload_settings(
    s3: &aws_sdk_s3::Client,
    names: &Names,
    options: &Options,
    replace: bool,
) -> Result<Vec<String>, DeployError> {
    let url = settings_url(names, options);
    let (bucket, key) = spa_core::settings::remote::s3_url(&url)
        .ok_or_else(|| DeployError::Invalid(format!("{url}: expected s3://bucket/key")))?;
    if !replace && exists(s3, bucket, key).await? {
        return Ok(Vec::new());
    }
    let file = &options.settings_file;
    let text = std::fs::read_to_string(file).map_err(|source| DeployError::Io {
        path: file.clone(),
        source,
    })?;
    let companions = spa_core::settings::remote::companions(&text, &file.display().to_string())
        .map_err(|e| DeployError::Invalid(e.to_string()))?;
    let folder = file.parent().unwrap_or(Path::new("."));
    let key_folder = key
        .rsplit_once('/')
        .map_or(String::new(), |(p, _)| format!("{p}/"));
    let mut written = Vec::new();
    // The companions first: settings never name a file that is not there yet.
    for path in companions {
        let target = format!("{key_folder}{path}");
        put_file(s3, bucket, &target, &folder.join(&path)).await?;
        written.push(format!("s3://{bucket}/{target}"));
    }
    put_file(s3, bucket, key, file).await?;
    written.push(url.clone());
    Ok(written)
}

/// The zips `deploy package` wrote into `options.artifacts`, by function.
pub fn zips(options: &Options) -> Result<BTreeMap<String, String>, DeployError> {
    Ok(package::read_manifest(&options.artifacts)?)
}

/// A deployment ready to plan or apply: the rendered templates, the stacks chosen, and the SDK
/// configuration of each account.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The settings deployed.
    pub settings: Settings,
    /// Beyond the settings.
    pub options: Options,
    /// The rendered templates.
    pub templates: Vec<Template>,
    /// The stacks to plan or apply, in order (automation first: the management stack forwards
    /// to its bus).
    pub kinds: Vec<StackKind>,
    /// The automation account's SDK configuration (in `automation.region`).
    pub automation: aws_config::SdkConfig,
    /// The management account's (in us-east-1).
    pub management: aws_config::SdkConfig,
    /// How often to poll CloudFormation.
    pub poll: std::time::Duration,
}

impl Deployment {
    fn s3(&self, config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
        spa_core::aws::s3_client(&self.settings, config)
    }

    /// Each chosen stack with its CloudFormation client.
    fn stacks(
        &self,
        zips: &BTreeMap<String, String>,
    ) -> Result<Vec<(Stack, aws_sdk_cloudformation::Client)>, DeployError> {
        let names = Names::of(&self.settings);
        let mut out = Vec::new();
        for &kind in &self.kinds {
            let (config, parameters) = match kind {
                StackKind::Automation => (
                    &self.automation,
                    automation_parameters(&names, &self.options, zips)?,
                ),
                StackKind::Management => (
                    &self.management,
                    management_parameters(&self.settings, &names),
                ),
            };
            // The artifact bucket lives in the automation account's region, whichever stack
            // uploads to it.
            let upload = Upload {
                s3: self.s3(config),
                bucket: self.options.artifact_bucket.clone(),
                prefix: prefix(&names),
                region: self.settings.automation.region.as_str().to_string(),
            };
            let stack = stack(
                kind,
                &self.settings,
                &self.templates,
                parameters,
                Some(upload),
            )?;
            out.push((stack, aws_sdk_cloudformation::Client::new(config)));
        }
        Ok(out)
    }

    /// What `apply` would change, stack by stack; nothing is changed (each change set is
    /// deleted once described).
    pub async fn plan(&self) -> Result<Vec<crate::stacks::Plan>, DeployError> {
        let zips = zips(&self.options)?;
        let mut plans = Vec::new();
        for (stack, client) in self.stacks(&zips)? {
            let plan = crate::stacks::plan(&client, &stack, self.poll).await?;
            crate::stacks::discard(&client, &plan).await?;
            plans.push(plan);
        }
        Ok(plans)
    }

    /// Uploads the zips (and, on the first install or when `replace_settings`, the settings),
    /// then plans, reports (through `report`) and applies each stack in turn, waiting at most
    /// `timeout` for each. Stops at the first stack that fails.
    pub async fn apply(
        &self,
        replace_settings: bool,
        timeout: std::time::Duration,
        mut report: impl FnMut(Step<'_>),
    ) -> Result<Vec<crate::stacks::Outcome>, DeployError> {
        let names = Names::of(&self.settings);
        let zips = zips(&self.options)?;
        let s3 = self.s3(&self.automation);
        for key in upload_code(&s3, &names, &self.options, &zips).await? {
            report(Step::Uploaded(&format!(
                "s3://{}/{key}",
                self.options.artifact_bucket
            )));
        }
        let settings = upload_settings(&s3, &names, &self.options, replace_settings).await?;
        if settings.is_empty() {
            report(Step::SettingsKept(&settings_url(&names, &self.options)));
        }
        for url in &settings {
            report(Step::Uploaded(url));
        }
        let mut outcomes = Vec::new();
        for (stack, client) in self.stacks(&zips)? {
            let plan = crate::stacks::plan(&client, &stack, self.poll).await?;
            report(Step::Planned(&plan));
            let outcome = crate::stacks::apply(&client, &plan, self.poll, timeout).await?;
            report(Step::Applied(&outcome));
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}

/// A step of `apply`, as it happens.
#[derive(Debug)]
pub enum Step<'a> {
    /// An object was put in the artifact bucket.
    Uploaded(&'a str),
    /// Settings already at this URL were kept.
    SettingsKept(&'a str),
    /// A stack's change set.
    Planned(&'a crate::stacks::Plan),
    /// A stack's outcome.
    Applied(&'a crate::stacks::Outcome),
}

/// The organization's id, asked of AWS Organizations (any account of the organization may).
pub async fn organization_id(config: &aws_config::SdkConfig) -> Result<String, DeployError> {
    let out = spa_core::aws::organizations_client(config, &Default::default())
        .describe_organization()
        .send()
        .await
        .map_err(|e| ApiError::new("DescribeOrganization", &e))?;
    out.organization()
        .and_then(|o| o.id())
        .map(str::to_string)
        .ok_or_else(|| DeployError::Invalid("DescribeOrganization returned no id".into()))
}
