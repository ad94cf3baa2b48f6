//! AWS SDK configuration shared by every client (region, endpoint override, S3 addressing), and
//! [`ApiError`], what a failed request of any AWS service becomes.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::http::{HttpClient, SharedHttpClient};

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
    // One HTTPS client for every client made from this configuration (the member accounts'
    // included): without it each SDK client builds its own, checking the system's root
    // certificates again, about a millisecond per member account.
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .build_https();
    // Stalled-stream protection watches the throughput of streamed bodies with a timer per
    // request: worth it for S3's objects ([`s3_client`] turns it back on), pure cost for the
    // small JSON answers of every other service (a tenth of the lifecycle's CPU per account
    // while a slow endpoint kept its timers busy).
    use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
    loader
        .http_client(SharedHttpClient::new(BuiltOnce(http)))
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .load()
        .await
}

/// The HTTPS client of a configuration, with its TLS connector built once, on the first
/// request, and kept (per timeout settings). The SDK's own check, run for every SDK client
/// made, builds a connector and throws it away, parsing the root certificates each time: a
/// third of a millisecond per member account's client.
#[derive(Debug)]
struct BuiltOnce(SharedHttpClient);

impl HttpClient for BuiltOnce {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// An S3 client for `settings`, addressing buckets by path when asked to or when the endpoint is
/// overridden (local S3-compatible servers rarely resolve virtual-host names), with stalled-stream
/// protection on (a download that stops is cut off).
pub fn s3_client(settings: &Settings, config: &SdkConfig) -> aws_sdk_s3::Client {
    let path_style = settings.aws.s3_force_path_style
        || settings.aws.endpoint_url.is_some()
        || endpoint_in_environment();
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .stalled_stream_protection(
            aws_config::stalled_stream_protection::StalledStreamProtectionConfig::enabled().build(),
        )
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
/// (`TooManyRequestsException`): up to 8 attempts with exponential backoff and jitter; every
/// attempt counted by `counter`.
pub fn organizations_client(
    config: &SdkConfig,
    counter: &RequestCounter,
) -> aws_sdk_organizations::Client {
    let conf = aws_sdk_organizations::config::Builder::from(config)
        .retry_config(patient_retries())
        .interceptor(counter.clone())
        .build();
    aws_sdk_organizations::Client::from_conf(conf)
}

/// The retries of the clients that meet throttling at scale (Organizations, CodeBuild): the
/// SDK's standard strategy (exponential backoff with jitter, throttling and transient errors
/// retried) with 8 attempts from 200 ms.
pub fn patient_retries() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(std::time::Duration::from_millis(200))
}

/// What a client's requests came to: operations called, attempts beyond the first (retries),
/// and attempts the service throttled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    /// Operations called (each may take several attempts).
    pub operations: u64,
    /// Attempts after the first of their operation.
    pub retries: u64,
    /// Attempts answered with a throttling error.
    pub throttled: u64,
}

impl std::ops::Add for Requests {
    type Output = Requests;
    fn add(self, other: Requests) -> Requests {
        Requests {
            operations: self.operations + other.operations,
            retries: self.retries + other.retries,
            throttled: self.throttled + other.throttled,
        }
    }
}

/// Counts the requests of the clients it is given to (an SDK interceptor; clone it freely: the
/// clones share their counts).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(std::sync::Arc<[std::sync::atomic::AtomicU64; 3]>);

/// Error codes that mean "slow down", as the services send them.
const THROTTLING: [&str; 8] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
];

/// The error code of an HTTP answer: from the `x-amzn-errortype` header, else the JSON body's
/// `__type` / `code` (after any `#`), else the XML body's `<Code>`.
fn error_code(error_type: Option<&str>, body: &[u8]) -> Option<String> {
    if let Some(t) = error_type {
        return Some(t.split(':').next().unwrap_or(t).to_string());
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let code = ["__type", "code", "Code"]
            .iter()
            .find_map(|k| value.get(*k).and_then(serde_json::Value::as_str))?;
        return Some(code.rsplit('#').next().unwrap_or(code).to_string());
    }
    let text = String::from_utf8_lossy(body);
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    Some(text[start..end].trim().to_string())
}

/// Whether an HTTP answer is a throttling error: status 429, or an error (4xx, or 5xx such as
/// S3's 503 `SlowDown`) whose code is one of [`THROTTLING`].
pub fn is_throttling(status: u16, error_type: Option<&str>, body: &[u8]) -> bool {
    status == 429
        || ((400..600).contains(&status)
            && error_code(error_type, body).is_some_and(|c| THROTTLING.contains(&c.as_str())))
}

impl RequestCounter {
    /// The counts so far.
    pub fn requests(&self) -> Requests {
        use std::sync::atomic::Ordering::Relaxed;
        let [operations, attempts, throttled] = &*self.0;
        let operations = operations.load(Relaxed);
        Requests {
            operations,
            retries: attempts.load(Relaxed).saturating_sub(operations),
            throttled: throttled.load(Relaxed),
        }
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_execution(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.0[0].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.0[1].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(response) = context.response() {
            let body = response.body().bytes().unwrap_or_default();
            if is_throttling(
                response.status().as_u16(),
                response.headers().get("x-amzn-errortype"),
                body,
            ) {
                self.0[2].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

/// The configuration `config` with credentials of `role` in `account`, assumed through STS and
/// refreshed before they expire; STS throttling is retried as patiently as Organizations'
/// ([`patient_retries`]).
pub async fn assume_role(
    config: &SdkConfig,
    account: &crate::settings::AccountId,
    role: &crate::settings::RoleName,
    session: &str,
) -> SdkConfig {
    let sts = config.to_builder().retry_config(patient_retries()).build();
    let provider =
        aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/{role}"))
            .session_name(session)
            .configure(&sts)
            .build()
            .await;
    config
        .to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build()
}

/// Roles assumed in other accounts through one STS client (every attempt counted, throttling
/// retried as patiently as Organizations'), for work that visits thousands of accounts: an SDK
/// client made per account would cost more than its requests.
#[derive(Debug, Clone)]
pub struct Roles {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
}

/// The configuration of an assumed role, and when its credentials expire.
#[derive(Debug, Clone)]
pub struct Assumed {
    /// `config` with the role's credentials (not refreshed: assume again before `expires`).
    pub config: SdkConfig,
    /// When the credentials expire.
    pub expires: std::time::SystemTime,
}

impl Roles {
    /// Roles assumed with the credentials of `config`, every STS attempt counted by `counter`.
    pub fn new(config: &SdkConfig, counter: &RequestCounter) -> Self {
        let sts = aws_sdk_sts::config::Builder::from(config)
            .retry_config(patient_retries())
            .interceptor(counter.clone())
            .build();
        Roles {
            base: config.clone(),
            sts: aws_sdk_sts::Client::from_conf(sts),
        }
    }

    /// Assumes `role` in `account` (session name `session`): the base configuration with the
    /// role's credentials.
    pub async fn assume(
        &self,
        account: &crate::settings::AccountId,
        role: &crate::settings::RoleName,
        session: &str,
    ) -> Result<Assumed, ApiError> {
        let answer = self
            .sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/{role}"))
            .role_session_name(session)
            .send()
            .await
            .map_err(|e| ApiError::new("AssumeRole", &e))?;
        let missing = |what: &str| ApiError {
            op: "AssumeRole",
            message: format!("the answer has no {what}"),
        };
        let c = answer.credentials().ok_or_else(|| missing("credentials"))?;
        let expires = std::time::SystemTime::try_from(*c.expiration())
            .map_err(|_| missing("expiry that is a time"))?;
        let credentials = aws_credential_types::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            Some(expires),
            "AssumeRole",
        );
        let config = self
            .base
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            // Fixed credentials: nothing to cache, and a cache shared with the base
            // configuration would keep an entry for every account.
            .identity_cache(aws_config::identity::IdentityCache::no_cache())
            .build();
        Ok(Assumed { config, expires })
    }
}

#[cfg(test)]
mod tests {
    use super::is_throttling;

    #[test]
    fn throttling_answers_are_told_from_other_errors() {
        // AWS Organizations (JSON protocol): 400 with the code in the body.
        let organizations = br#"{"__type":"TooManyRequestsException","Message":"Rate exceeded"}"#;
        assert!(is_throttling(400, None, organizations));
        assert!(is_throttling(
            400,
            None,
            br#"{"__type":"com.amazonaws.codebuild#ThrottlingException"}"#
        ));
        // The code in the header, as some JSON services send it.
        assert!(is_throttling(
            400,
            Some("ThrottlingException:http://internal/"),
            b""
        ));
        // Query and XML protocols: the code in an element.
        assert!(is_throttling(
            400,
            None,
            b"<Error><Code>Throttling</Code></Error>"
        ));
        assert!(is_throttling(
            503,
            None,
            b"<Error><Code>SlowDown</Code></Error>"
        ));
        assert!(!is_throttling(
            503,
            None,
            b"<Error><Code>ServiceUnavailable</Code></Error>"
        ));
        assert!(is_throttling(429, None, b""));
        // Other errors, even those whose message says "Throttling".
        assert!(!is_throttling(
            400,
            None,
            br#"{"__type":"AccessDeniedException","Message":"no Throttling here"}"#
        ));
        assert!(!is_throttling(
            400,
            None,
            b"<Error><Code>InvalidParameter</Code><Message>Throttling</Message></Error>"
        ));
        assert!(!is_throttling(200, None, organizations));
    }
}
