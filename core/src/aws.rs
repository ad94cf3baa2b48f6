//! AWS SDK configuration shared by every client (region, endpoint override, S3 addressing), and
//! [`ApiError`], what a failed request of any AWS service becomes.

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::settings::Settings;

/// A failed AWS request: its operation and what the service (or the client) said, with every
/// cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op}: {message}")]
pub struct ApiError {
    /// The API operation, e.g. `StartQueryExecution`.
    pub op: &'static str,
    /// What failed, with its causes.
    pub message: String,
}

impl ApiError {
    /// The error of a request to `op`, from any AWS SDK's error.
    pub fn new<E: std::error::Error + 'static>(op: &'static str, err: &E) -> Self {
        ApiError {
            op,
            message: aws_sdk_s3::error::DisplayErrorContext(err).to_string(),
        }
    }
}

/// Whether the environment sets an endpoint the SDK will honour (`AWS_ENDPOINT_URL` or a
/// service-specific `AWS_ENDPOINT_URL_<SERVICE>`).
fn endpoint_in_environment() -> bool {
    std::env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("AWS_ENDPOINT_URL"))
}

/// Loads the SDK configuration for `settings`: region from `aws.region` (else
/// `automation.region`), endpoint from the environment's standard variables, else from
/// `aws.endpoint_url`; credentials from the SDK's default chain.
pub async fn sdk_config(settings: &Settings) -> SdkConfig {
    let region = settings
        .aws
        .region
        .as_ref()
        .unwrap_or(&settings.automation.region);
    sdk_config_in(settings, region.as_str(), None).await
}

/// The SDK configuration for `settings` in `region`, with the credentials of the shared
/// configuration's `profile` when given (another account's, e.g. the management account's).
pub async fn sdk_config_in(settings: &Settings, region: &str, profile: Option<&str>) -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_string()));
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if let (Some(url), false) = (&settings.aws.endpoint_url, endpoint_in_environment()) {
        loader = loader.endpoint_url(url.as_str());
    }
    loader.load().await
}

/// An S3 client for `settings`, addressing buckets by path when asked to or when the endpoint is
/// overridden (local S3-compatible servers rarely resolve virtual-host names).
pub fn s3_client(settings: &Settings, config: &SdkConfig) -> aws_sdk_s3::Client {
    let path_style = settings.aws.s3_force_path_style
        || settings.aws.endpoint_url.is_some()
        || endpoint_in_environment();
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// An S3 client from the environment alone (region, credentials, endpoint), for reading what
/// comes before the settings: the settings themselves.
pub async fn default_s3_client() -> aws_sdk_s3::Client {
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(endpoint_in_environment())
            .build(),
    )
}

/// An AWS Organizations client whose standard retry strategy rides out throttling
/// (`TooManyRequestsException`): up to 8 attempts with exponential backoff.
pub fn organizations_client(config: &SdkConfig) -> aws_sdk_organizations::Client {
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(std::time::Duration::from_millis(200));
    let conf = aws_sdk_organizations::config::Builder::from(config)
        .retry_config(retry)
        .build();
    aws_sdk_organizations::Client::from_conf(conf)
}

/// The configuration `config` with credentials of `role` in `account`, assumed through STS and
/// refreshed before they expire.
pub async fn assume_role(
    config: &SdkConfig,
    account: &crate::settings::AccountId,
    role: &crate::settings::RoleName,
    session: &str,
) -> SdkConfig {
    let provider =
        aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/{role}"))
            .session_name(session)
            .configure(config)
            .build()
            .await;
    config
        .to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build()
}
