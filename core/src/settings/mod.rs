//! settings.yaml: types, loading with file:line:column errors, merge rules and CSV overlays.

/// Defines a text newtype whose `FromStr` validates, with serde going through that validation.
macro_rules! validated_text {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The value as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(s).map(|()| Self(s.to_string()))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                crate::settings::values::from_text(d)
            }
        }
    };
}

mod guardrails;
mod ids;
mod merge;
mod overlay;
pub mod remote;
mod schedule;
mod spend;
pub(crate) mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use guardrails::{
    ActionName, GuardrailOverrides, GuardrailRules, Guardrails, InstanceFamily, PrincipalPattern,
    ServicePrefix,
};
pub use ids::{AccountId, OuId};
pub use merge::{ActivitySettings, EffectiveSettings};
pub use schedule::Schedule;
pub use spend::{
    Amount, CostCenterOptions, Factor, HourlyPrice, Jump, JumpEntry, PriceKey, Spend, SpendLimits,
    Steps, Threshold,
};
use values::unique_map;
pub use values::{
    Currency, Email, EnvironmentId, Location, Rate, Region, RoleName, TagKey, Url, VariableName,
};

/// A settings file that could not be loaded: every variant names the file, and where known
/// the line, the column and the key path.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// YAML syntax, an unknown key, a wrong type or an invalid value.
    #[error("{file}:{line}:{column}: {message}")]
    Yaml {
        /// The settings file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong, starting with the key path (e.g. `accounts.123456789012.note`).
        message: String,
    },
    /// A rule that spans several keys.
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// The settings file.
        file: PathBuf,
        /// Key path, e.g. `mail.smtp`.
        key: String,
        /// What was expected.
        message: String,
    },
    /// A CSV overlay file with an unknown column or a bad cell.
    #[error("{file}:{line}: column `{column}`: {message}")]
    Csv {
        /// The CSV file.
        file: PathBuf,
        /// 1-based line in the CSV file.
        line: u64,
        /// The column header.
        column: String,
        /// What was expected.
        message: String,
    },
}

/// The whole of `settings.yaml`, validated, with paths resolved against the file's folder and
/// CSV overlays folded into `accounts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Name of this deployment, used in resource names and e-mail subjects.
    pub environment_identifier: EnvironmentId,
    /// Where the automation runs and how it reaches member accounts.
    pub automation: Automation,
    /// Feature switches and parameters shared by lifecycle and reports.
    #[serde(default)]
    pub features: Features,
    /// Key prefixes of the reports inside the lake's store.
    #[serde(default)]
    pub reporting: Reporting,
    /// Merged into every organizational unit and account entry.
    #[serde(default)]
    pub defaults: Entry,
    /// Managed organizational units; every account directly in one is managed.
    #[serde(default, deserialize_with = "unique_map")]
    pub organizational_units: BTreeMap<OuId, Entry>,
    /// Accounts managed individually; an entry here overrides its OU's entry.
    #[serde(default, deserialize_with = "unique_map")]
    pub accounts: BTreeMap<AccountId, Entry>,
    /// The data lake: a local folder or `s3://bucket/prefix`.
    #[serde(default = "default_lake")]
    pub lake: Location,
    /// Where the organization's accounts, units and tags come from.
    #[serde(default)]
    pub organization: OrganizationSource,
    /// Where lifecycle events go.
    #[serde(default)]
    pub events: EventSink,
    /// What ingest accepts.
    #[serde(default)]
    pub ingest: IngestOptions,
    /// Where exceptions are delivered.
    #[serde(default)]
    pub exceptions: ExceptionsOptions,
    /// Where preparation and purge builds run.
    #[serde(default)]
    pub builds: BuildRunner,
    /// Where costs come from.
    #[serde(default)]
    pub costs: CostSource,
    /// How the cost reports are delivered.
    #[serde(default)]
    pub mail: Mail,
    /// AWS SDK options shared by every client.
    #[serde(default)]
    pub aws: AwsOptions,
    /// Where `--engine athena` runs queries.
    #[serde(default)]
    pub athena: AthenaOptions,
    /// The service control policies on the managed OUs.
    #[serde(default)]
    pub guardrails: Guardrails,
    /// Raw inputs that fill an empty local lake when a report needs a period it lacks (the
    /// shipped fixtures); absent in production.
    #[serde(default)]
    pub seed: Option<Seed>,
    /// The file these settings were read from (not a key of the file).
    #[serde(skip)]
    pub file: PathBuf,
}

/// The `automation` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Automation {
    /// The account that runs lifecycle, ingest and reports.
    pub account_id: AccountId,
    /// The organization's management account; never acted upon.
    pub management_account_id: AccountId,
    /// Region of the automation resources.
    pub region: Region,
    /// When managed accounts expire for maintenance, as an EventBridge schedule expression.
    pub maintenance_window: Schedule,
    /// Role assumed in each member account to run CodeBuild.
    #[serde(default = "default_account_role")]
    pub account_role: RoleName,
    /// CodeBuild's service role for preparation and purge in each member account (the
    /// deployment's member stack creates it) [`<environment_identifier>-build`].
    #[serde(default)]
    pub build_role: Option<RoleName>,
    /// Role assumed in the management account to read and tag the organization, if the
    /// automation account is not a delegated administrator.
    #[serde(default)]
    pub organization_role: Option<RoleName>,
    /// Hours after which an account still `assigned` is reported as a failed on-boarding.
    #[serde(default = "default_stuck_hours")]
    pub on_boarding_timeout_hours: u32,
    /// Hours after which an account still `expired` is reported as a failed maintenance.
    #[serde(default = "default_stuck_hours")]
    pub maintenance_timeout_hours: u32,
    /// The SQS queue that work over many accounts goes through, one message per account
    /// [`<environment_identifier>-lifecycle`].
    #[serde(default)]
    pub lifecycle_queue: Option<String>,
    /// Most worker invocations taking messages from the lifecycle queue at once (2 to 1000)
    /// [10].
    #[serde(default = "default_lifecycle_concurrency")]
    pub lifecycle_concurrency: u32,
    /// The regions a purge clears; empty: the regions enabled in each account, read from the
    /// Account API in that account when the purge starts [].
    #[serde(default)]
    pub purge_regions: Vec<Region>,
}

fn default_lifecycle_concurrency() -> u32 {
    10
}

/// The `features` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Features {
    /// Prefix of the lifecycle tags (`<prefix>state`, `<prefix>holder`).
    #[serde(default = "default_tag_prefix")]
    pub tag_prefix: String,
    /// Tag key that holds an account's cost center.
    #[serde(default = "default_cost_center_tag")]
    pub cost_center_tag: TagKey,
    /// Recipients of the monthly cost reports (FinOps).
    #[serde(default)]
    pub cost_email_recipients: Vec<Email>,
    /// Sender of every e-mail.
    #[serde(default)]
    pub origin_email: Option<Email>,
    /// Extra currencies shown beside USD, with the rate of one USD in each.
    #[serde(default, deserialize_with = "unique_map")]
    pub extra_currencies: BTreeMap<Currency, Rate>,
    /// CSV overlays applied in order on top of `accounts` (later files win).
    #[serde(default)]
    pub csv_files: Vec<PathBuf>,
}

/// The `reporting` section: where reports are stored, as key prefixes in the lake's store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reporting {
    /// Monthly cost reports.
    #[serde(default = "default_costs_prefix")]
    pub costs_prefix: String,
    /// Monthly activity reports.
    #[serde(default = "default_activities_prefix")]
    pub activities_prefix: String,
    /// Weekly inventories.
    #[serde(default = "default_inventories_prefix")]
    pub inventories_prefix: String,
    /// The month's exceptions as CSV.
    #[serde(default = "default_exceptions_prefix")]
    pub exceptions_prefix: String,
    /// The daily spend run's CSV and workbook.
    #[serde(default = "default_spend_prefix")]
    pub spend_prefix: String,
    /// Per cost center: thresholds on the sum of its accounts' spend.
    #[serde(default, deserialize_with = "unique_map")]
    pub cost_centers: BTreeMap<String, CostCenterOptions>,
    /// Hourly prices that replace or add to the shipped launch price table.
    #[serde(default, deserialize_with = "unique_map")]
    pub launch_prices: BTreeMap<PriceKey, HourlyPrice>,
    /// Days without a console sign-in after which a released account is listed as idle in
    /// the HTML cost reports [30].
    #[serde(default = "default_idle_days")]
    pub idle_days: u32,
}

/// An entry of `defaults`, `organizational_units` or `accounts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Free text for operators.
    #[serde(default)]
    pub note: Option<String>,
    /// Tags applied to the account on on-boarding.
    #[serde(default, deserialize_with = "unique_map")]
    pub account_tags: BTreeMap<TagKey, String>,
    /// The preparation build.
    #[serde(default)]
    pub preparation: Activity,
    /// The purge build.
    #[serde(default)]
    pub purge: Activity,
    /// Tags removed from the account on on-boarding.
    #[serde(default)]
    pub unset_tags: Vec<TagKey>,
    /// Spend thresholds of the daily spend run, merged field by field.
    #[serde(default)]
    pub spend: Spend,
}

/// `preparation` or `purge` of an entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    /// Whether the build runs; unset inherits.
    #[serde(default)]
    pub feature: Option<Feature>,
    /// Environment variables passed to the build.
    #[serde(default, deserialize_with = "unique_map")]
    pub variables: BTreeMap<VariableName, String>,
}

/// A feature switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feature {
    /// The build runs.
    Enabled,
    /// The build is skipped and the state moves on.
    Disabled,
}

/// Which implementation of an outside service to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Adapter {
    /// Files on this machine; no AWS account needed.
    #[default]
    Local,
    /// The AWS service.
    Aws,
}

/// The `organization` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationSource {
    /// `local` (the YAML organization file) or `aws` (AWS Organizations).
    #[serde(default)]
    pub adapter: Adapter,
    /// The organization file, required with the `local` adapter.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// The `events` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSink {
    /// `local` (straight into the lake) or `aws` (EventBridge PutEvents).
    #[serde(default)]
    pub adapter: Adapter,
    /// Event bus name or ARN for the `aws` adapter.
    #[serde(default = "default_bus")]
    pub bus: String,
}

/// The `ingest` section: limits and trust of the event inputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestOptions {
    /// Largest input (file, object or message) accepted, in bytes once decompressed; a larger
    /// one is quarantined (with its first bytes) instead of exhausting memory.
    #[serde(default = "default_max_input_bytes")]
    pub max_input_bytes: u64,
    /// Buckets whose S3 notifications the ingest function follows (the organization trail's
    /// bucket); a notification for any other bucket is quarantined unread.
    #[serde(default)]
    pub trail_buckets: Vec<String>,
    /// Whether the deployment creates the organization's CloudTrail trail (in the management
    /// account) delivering to a bucket of the automation account that notifies the ingest queue
    /// (see [`Settings::organization_trail_bucket`]); that bucket is followed as if listed in
    /// `trail_buckets`.
    #[serde(default)]
    pub organization_trail: bool,
    /// Hours without any event ingested after which the deployment's silence alarm tells the
    /// exceptions topic (1 to 24).
    #[serde(default = "default_silence_hours")]
    pub silence_hours: u32,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            max_input_bytes: default_max_input_bytes(),
            trail_buckets: Vec::new(),
            organization_trail: false,
            silence_hours: default_silence_hours(),
        }
    }
}

fn default_silence_hours() -> u32 {
    24
}

fn default_max_input_bytes() -> u64 {
    512 << 20
}

/// The `exceptions` section: the channels exceptions are delivered to and which label goes
/// where. Webhook addresses are secrets: the settings name the environment variable that holds
/// each, never the address.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionsOptions {
    /// E-mail: the recipients (sent through `mail.transport`).
    #[serde(default)]
    pub email: Option<EmailChannel>,
    /// Microsoft Teams, through a Workflows webhook.
    #[serde(default)]
    pub teams: Option<WebhookChannel>,
    /// Slack, through an incoming webhook.
    #[serde(default)]
    pub slack: Option<WebhookChannel>,
    /// SNS: a topic that receives one JSON message per exception.
    #[serde(default)]
    pub sns: Option<SnsChannel>,
    /// Where each label goes; a label not listed goes to every configured channel, without the
    /// holder.
    #[serde(default, deserialize_with = "unique_map")]
    pub labels: BTreeMap<crate::events::ExceptionLabel, Route>,
    /// More exceptions than this for one channel in one run become one digest message
    /// [default 10].
    #[serde(default)]
    pub digest_after: Option<usize>,
    /// Name of the SQS queue member budgets publish to (the alert queue): a message on it that
    /// cannot be read raises an `Unreadable` exception with its text.
    #[serde(default)]
    pub alert_queue: Option<String>,
    /// Whether the ingest Lambda raises and delivers exceptions as it writes events (the live
    /// path) [true]; the sweep raises them either way.
    #[serde(default)]
    pub live: Option<bool>,
}

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// E-mail to `exceptions.email.to`.
    Email,
    /// Microsoft Teams.
    Teams,
    /// Slack.
    Slack,
    /// SNS.
    Sns,
}

impl ChannelKind {
    /// Every channel.
    pub const ALL: [ChannelKind; 4] = [
        ChannelKind::Email,
        ChannelKind::Teams,
        ChannelKind::Slack,
        ChannelKind::Sns,
    ];

    /// `email`, `teams`, `slack` or `sns`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Teams => "teams",
            ChannelKind::Slack => "slack",
            ChannelKind::Sns => "sns",
        }
    }
}

/// The e-mail channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChannel {
    /// Recipients.
    pub to: Vec<Email>,
}

/// A webhook channel: the environment variable holding its address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannel {
    /// Name of the environment variable that holds the webhook URL (a secret).
    pub url_env: VariableName,
}

/// The SNS channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsChannel {
    /// Topic ARN.
    pub topic_arn: String,
}

/// Where one label goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Channels (each must be configured); unset: every configured channel.
    #[serde(default)]
    pub channels: Option<Vec<ChannelKind>>,
    /// Whether the account's holder is e-mailed too.
    #[serde(default)]
    pub holder: bool,
}

impl ExceptionsOptions {
    /// The channels configured.
    pub fn configured(&self) -> Vec<ChannelKind> {
        ChannelKind::ALL
            .into_iter()
            .filter(|c| match c {
                ChannelKind::Email => self.email.is_some(),
                ChannelKind::Teams => self.teams.is_some(),
                ChannelKind::Slack => self.slack.is_some(),
                ChannelKind::Sns => self.sns.is_some(),
            })
            .collect()
    }

    /// Where exceptions of `label` go.
    pub fn route(&self, label: crate::events::ExceptionLabel) -> Route {
        let route = self.labels.get(&label).cloned().unwrap_or_default();
        Route {
            channels: Some(route.channels.unwrap_or_else(|| self.configured())),
            holder: route.holder,
        }
    }

    /// Whether the live path runs.
    pub fn live(&self) -> bool {
        self.live.unwrap_or(true)
    }

    /// The digest threshold.
    pub fn digest_after(&self) -> usize {
        self.digest_after.unwrap_or(10)
    }
}

/// The `builds` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildRunner {
    /// `local` (builds are recorded and succeed at once, for simulations) or `aws` (CodeBuild in
    /// the member account).
    #[serde(default)]
    pub adapter: Adapter,
}

/// Kinds of cost source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CostSourceKind {
    /// Saved Cost Explorer `GetCostAndUsage` responses (JSON files) in `path`.
    #[default]
    Local,
    /// The Cost Explorer API.
    Aws,
    /// A legacy Cost and Usage Report export (Parquet) in `path`.
    Cur,
    /// A FOCUS 1.0 export (CSV or Parquet) in `path`.
    Focus,
}

/// The `costs` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostSource {
    /// `local`, `aws`, `cur` or `focus`.
    #[serde(default)]
    pub source: CostSourceKind,
    /// File or folder (local path or `s3://` URL) for every source but `aws`.
    #[serde(default)]
    pub path: Option<Location>,
}

/// The `seed` section: where the raw inputs of a local lake are.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Folder of events (EventBridge envelopes as JSON lines, CloudTrail files) ingested
    /// through `ingest`. Costs come from `costs`, accounts from `organization`.
    pub events: PathBuf,
}

/// Mail transports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// `.eml` files in a folder.
    #[default]
    Outbox,
    /// An SMTP relay.
    Smtp,
    /// Amazon SES v2, raw messages.
    Ses,
}

/// The `mail` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mail {
    /// `outbox`, `smtp` or `ses`.
    #[serde(default)]
    pub transport: Transport,
    /// Folder of `.eml` files for the `outbox` transport.
    #[serde(default = "default_outbox")]
    pub outbox: PathBuf,
    /// The relay for the `smtp` transport; credentials come from `SMTP_USERNAME` and
    /// `SMTP_PASSWORD` in the environment, never from this file.
    #[serde(default)]
    pub smtp: Option<Smtp>,
}

/// An SMTP relay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    /// Host name.
    pub host: String,
    /// Port (587 for STARTTLS, 465 for TLS).
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls`, `tls` or `none` (`none` only for a relay on this machine).
    #[serde(default)]
    pub tls: SmtpTls,
}

/// Whether `host` names this machine: `localhost` or a loopback address.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Transport security of an SMTP relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Upgrade with STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte.
    Tls,
    /// Plain text.
    None,
}

/// The `aws` section. Endpoints may also come from the SDK's standard `AWS_ENDPOINT_URL` and
/// `AWS_ENDPOINT_URL_<SERVICE>` variables, which win over this file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsOptions {
    /// Region of the clients; defaults to `automation.region`.
    #[serde(default)]
    pub region: Option<Region>,
    /// One endpoint for every service (e.g. a local test server).
    #[serde(default)]
    pub endpoint_url: Option<Url>,
    /// Address S3 buckets in the path (`host/bucket/key`), as local S3-compatible servers need.
    #[serde(default)]
    pub s3_force_path_style: bool,
}

/// The `athena` section: where the lake's tables live and queries run with `--engine athena`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AthenaOptions {
    /// Work group of every query.
    #[serde(default = "default_workgroup")]
    pub workgroup: String,
    /// Database (Glue catalog) of the lake's tables: lower-case letters, digits and `_`.
    #[serde(default = "default_database")]
    pub database: String,
    /// Where Athena writes query results (`s3://...`); unset: the work group's own setting.
    #[serde(default)]
    pub output_location: Option<String>,
    /// How long a query may run before the command gives up, in seconds.
    #[serde(default = "default_athena_timeout")]
    pub timeout_seconds: u64,
}

impl Default for AthenaOptions {
    fn default() -> Self {
        AthenaOptions {
            workgroup: default_workgroup(),
            database: default_database(),
            output_location: None,
            timeout_seconds: default_athena_timeout(),
        }
    }
}

fn default_workgroup() -> String {
    "primary".into()
}
fn default_database() -> String {
    "sandbox_lake".into()
}
fn default_athena_timeout() -> u64 {
    600
}

fn default_lake() -> Location {
    Location::Local(PathBuf::from("lake"))
}
fn default_account_role() -> RoleName {
    "AWSControlTowerExecution".parse().unwrap()
}
fn default_stuck_hours() -> u32 {
    24
}
fn default_tag_prefix() -> String {
    "account-".into()
}
fn default_cost_center_tag() -> TagKey {
    "cost-center".parse().unwrap()
}
fn default_costs_prefix() -> String {
    "reports/costs".into()
}
fn default_activities_prefix() -> String {
    "reports/activities".into()
}
fn default_inventories_prefix() -> String {
    "reports/inventories".into()
}
fn default_exceptions_prefix() -> String {
    "reports/exceptions".into()
}
fn default_spend_prefix() -> String {
    "reports/spend".into()
}
fn default_idle_days() -> u32 {
    30
}
fn default_bus() -> String {
    "default".into()
}
fn default_outbox() -> PathBuf {
    PathBuf::from("outbox")
}
fn default_smtp_port() -> u16 {
    587
}

impl Default for Features {
    fn default() -> Self {
        Self {
            tag_prefix: default_tag_prefix(),
            cost_center_tag: default_cost_center_tag(),
            cost_email_recipients: Vec::new(),
            origin_email: None,
            extra_currencies: BTreeMap::new(),
            csv_files: Vec::new(),
        }
    }
}

impl Default for Reporting {
    fn default() -> Self {
        Self {
            costs_prefix: default_costs_prefix(),
            activities_prefix: default_activities_prefix(),
            inventories_prefix: default_inventories_prefix(),
            exceptions_prefix: default_exceptions_prefix(),
            spend_prefix: default_spend_prefix(),
            cost_centers: BTreeMap::new(),
            launch_prices: BTreeMap::new(),
            idle_days: default_idle_days(),
        }
    }
}

impl Default for EventSink {
    fn default() -> Self {
        Self {
            adapter: Adapter::Local,
            bus: default_bus(),
        }
    }
}

impl Default for Mail {
    fn default() -> Self {
        Self {
            transport: Transport::Outbox,
            outbox: default_outbox(),
            smtp: None,
        }
    }
}

impl Settings {
    /// Reads, validates and resolves a settings file, then applies its CSV overlays.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SettingsError> {
        let file = path.as_ref().to_path_buf();
        let text = std::fs::read_to_string(&file).map_err(|source| SettingsError::Io {
            file: file.clone(),
            source,
        })?;
        Self::from_yaml(&text, &file)
    }

    /// Parses settings from YAML text; `file` names the source in errors and anchors relative
    /// paths (its folder is the base).
    pub fn from_yaml(text: &str, file: &Path) -> Result<Self, SettingsError> {
        let mut settings: Settings =
            serde_yaml_ng::from_str(text).map_err(|e| yaml_error(file, &e))?;
        settings.file = file.to_path_buf();
        settings.resolve_paths();
        settings.check()?;
        for csv in settings.features.csv_files.clone() {
            overlay::apply(
                &mut settings.accounts,
                &csv,
                &settings.features.extra_currencies,
            )?;
        }
        Ok(settings)
    }

    /// The folder against which relative paths of this file resolve (empty for the current folder).
    pub(crate) fn base_dir(&self) -> PathBuf {
        match self.file.parent() {
            Some(p) => p.to_path_buf(),
            None => PathBuf::new(),
        }
    }

    fn resolve_paths(&mut self) {
        let base = self.base_dir();
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Location::Local(p) = &mut self.lake {
            resolve(p);
        }
        if let Some(p) = &mut self.organization.file {
            resolve(p);
        }
        if let Some(Location::Local(p)) = &mut self.costs.path {
            resolve(p);
        }
        resolve(&mut self.mail.outbox);
        if let Some(seed) = &mut self.seed {
            resolve(&mut seed.events);
        }
        self.features.csv_files.iter_mut().for_each(resolve);
    }

    fn check(&self) -> Result<(), SettingsError> {
        let invalid = |key: &str, message: &str| {
            Err(SettingsError::Invalid {
                file: self.file.clone(),
                key: key.to_string(),
                message: message.to_string(),
            })
        };
        if let Some(smtp) = &self.mail.smtp
            && smtp.tls == SmtpTls::None
            && !is_loopback(&smtp.host)
        {
            return invalid(
                "mail.smtp.tls",
                &format!(
                    "none sends mail and credentials in plain text: allowed only for a relay on this machine (localhost, 127.0.0.0/8, ::1), not {}; use starttls or tls",
                    smtp.host
                ),
            );
        }
        let queue = self.lifecycle_queue();
        if queue.is_empty()
            || queue.len() > 80
            || !queue
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return invalid(
                "automation.lifecycle_queue",
                &format!(
                    "`{queue}` is not an SQS queue name (1 to 80 letters, digits, `-` or `_`)"
                ),
            );
        }
        if !(2..=1000).contains(&self.automation.lifecycle_concurrency) {
            return invalid(
                "automation.lifecycle_concurrency",
                &format!(
                    "{} is outside 2 to 1000 (the limits of an SQS event source's maximum concurrency)",
                    self.automation.lifecycle_concurrency
                ),
            );
        }
        if let Some(email) = &self.exceptions.email
            && email.to.is_empty()
        {
            return invalid(
                "exceptions.email.to",
                "expected at least one address (or leave exceptions.email out)",
            );
        }
        if let Some(sns) = &self.exceptions.sns
            && !(sns.topic_arn.starts_with("arn:") && sns.topic_arn.split(':').count() == 6)
        {
            return invalid(
                "exceptions.sns.topic_arn",
                &format!(
                    "`{}` is not an SNS topic ARN (expected e.g. arn:aws:sns:eu-west-1:123456789012:spa-exceptions)",
                    sns.topic_arn
                ),
            );
        }
        let configured = self.exceptions.configured();
        for (label, route) in &self.exceptions.labels {
            for channel in route.channels.iter().flatten() {
                if !configured.contains(channel) {
                    return invalid(
                        &format!("exceptions.labels.{label}.channels"),
                        &format!(
                            "{} is not configured (add exceptions.{} or leave it out)",
                            channel.as_str(),
                            channel.as_str()
                        ),
                    );
                }
            }
        }
        if self.organization.adapter == Adapter::Local && self.organization.file.is_none() {
            return invalid(
                "organization.file",
                "required when organization.adapter is local (expected the path of the organization YAML file)",
            );
        }
        if self.costs.source != CostSourceKind::Aws && self.costs.path.is_none() {
            return invalid(
                "costs.path",
                "required unless costs.source is aws (expected a file or folder, local or s3://)",
            );
        }
        if self.mail.transport == Transport::Smtp && self.mail.smtp.is_none() {
            return invalid(
                "mail.smtp",
                "required when mail.transport is smtp (expected host, port, tls)",
            );
        }
        if self.mail.transport != Transport::Outbox && self.features.origin_email.is_none() {
            return invalid(
                "features.origin_email",
                "required to send mail over smtp or ses (expected the sender address)",
            );
        }
        self.check_spend_currencies()?;
        self.check_guardrails()?;
        if !(1..=24).contains(&self.ingest.silence_hours) {
            return invalid(
                "ingest.silence_hours",
                "expected 1 to 24 (hours without any event ingested before the silence alarm)",
            );
        }
        if self.features.tag_prefix.is_empty() || self.features.tag_prefix.len() > 100 {
            return invalid(
                "features.tag_prefix",
                "expected 1 to 100 characters, e.g. `account-`",
            );
        }
        let database = &self.athena.database;
        if database.is_empty()
            || !database
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return invalid(
                "athena.database",
                "expected lower-case letters, digits and `_`, e.g. `sandbox_lake`",
            );
        }
        if let Some(location) = &self.athena.output_location
            && !location.starts_with("s3://")
        {
            return invalid(
                "athena.output_location",
                "expected an S3 location, e.g. `s3://bucket/athena-results/`",
            );
        }
        if let Some(ou) = self.organizational_units.keys().find(|ou| ou.is_root()) {
            return invalid(
                &format!("organizational_units.{ou}"),
                "the organization root cannot be managed (expected an `ou-` id)",
            );
        }
        let management = &self.automation.management_account_id;
        if self.accounts.contains_key(management) {
            return invalid(
                &format!("accounts.{management}"),
                "the management account is never managed; remove this entry",
            );
        }
        let automation = &self.automation.account_id;
        if self.accounts.contains_key(automation) {
            return invalid(
                &format!("accounts.{automation}"),
                "the automation account is never managed; remove this entry",
            );
        }
        Ok(())
    }

    /// Whether an account is managed: listed itself or directly inside a listed OU, and never the
    /// management account.
    pub fn is_managed(&self, account: &AccountId, parent: Option<&OuId>) -> bool {
        account != &self.automation.management_account_id
            && account != &self.automation.account_id
            && (self.accounts.contains_key(account)
                || parent.is_some_and(|ou| self.organizational_units.contains_key(ou)))
    }

    /// The guardrails' OUs are managed ones (whether their policies fit Organizations' limits
    /// is for the deployment to say: `spa_core::guardrails::policies`).
    fn check_guardrails(&self) -> Result<(), SettingsError> {
        if let Some(ou) = self
            .guardrails
            .organizational_units
            .keys()
            .find(|ou| !self.organizational_units.contains_key(*ou))
        {
            return Err(SettingsError::Invalid {
                file: self.file.clone(),
                key: format!("guardrails.organizational_units.{ou}"),
                message: "not a managed OU (expected a key of organizational_units)".into(),
            });
        }
        Ok(())
    }

    /// Every spend amount is in USD or in a currency of `features.extra_currencies`.
    fn check_spend_currencies(&self) -> Result<(), SettingsError> {
        let mut entries: Vec<(String, &Spend)> = vec![("defaults".into(), &self.defaults.spend)];
        entries.extend(
            self.organizational_units
                .iter()
                .map(|(ou, e)| (format!("organizational_units.{ou}"), &e.spend)),
        );
        entries.extend(
            self.accounts
                .iter()
                .map(|(id, e)| (format!("accounts.{id}"), &e.spend)),
        );
        entries.extend(
            self.reporting
                .cost_centers
                .iter()
                .map(|(cc, c)| (format!("reporting.cost_centers.{cc}"), &c.spend)),
        );
        for (path, spend) in entries {
            for (key, amount) in SpendLimits::amounts(spend) {
                if let Some(currency) = &amount.currency
                    && !self.features.extra_currencies.contains_key(currency)
                {
                    return Err(SettingsError::Invalid {
                        file: self.file.clone(),
                        key: format!("{path}.spend.{key}"),
                        message: format!(
                            "{currency} is not in features.extra_currencies (add its rate there, or give the amount in USD)"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The lifecycle queue's name: `automation.lifecycle_queue`, or
    /// `<environment_identifier>-lifecycle`.
    pub fn lifecycle_queue(&self) -> String {
        self.automation.lifecycle_queue.clone().unwrap_or_else(|| {
            format!(
                "{}-lifecycle",
                self.environment_identifier.as_str().to_ascii_lowercase()
            )
        })
    }

    /// The bucket of the organization trail when `ingest.organization_trail` is on:
    /// `<environment_identifier>-trail-<automation account>-<region>`, in the automation account.
    pub fn organization_trail_bucket(&self) -> Option<String> {
        self.ingest.organization_trail.then(|| {
            format!(
                "{}-trail-{}-{}",
                self.environment_identifier.as_str().to_ascii_lowercase(),
                self.automation.account_id,
                self.automation.region.as_str()
            )
        })
    }

    /// The buckets whose S3 notifications ingest follows: `ingest.trail_buckets` and the
    /// organization trail's bucket.
    pub fn trail_buckets(&self) -> std::collections::BTreeSet<String> {
        self.ingest
            .trail_buckets
            .iter()
            .cloned()
            .chain(self.organization_trail_bucket())
            .collect()
    }

    /// The role preparation and purge builds run as in each member account:
    /// `automation.build_role`, or `<environment_identifier>-build`.
    pub fn build_role(&self) -> String {
        self.automation.build_role.as_ref().map_or_else(
            || {
                format!(
                    "{}-build",
                    self.environment_identifier.as_str().to_ascii_lowercase()
                )
            },
            ToString::to_string,
        )
    }

    /// The spend thresholds of an account in OU `parent`, managed or not: `defaults`, then the
    /// OU's entry, then the account's.
    pub fn spend_limits(&self, account: &AccountId, parent: Option<&OuId>) -> SpendLimits {
        let ou = parent.and_then(|ou| self.organizational_units.get(ou));
        let own = self.accounts.get(account);
        SpendLimits::merge(
            [Some(&self.defaults), ou, own]
                .into_iter()
                .flatten()
                .map(|e| &e.spend),
        )
    }

    /// The spend thresholds of a cost center as a whole (none unless
    /// `reporting.cost_centers.<name>.spend` sets them).
    pub fn cost_center_limits(&self, cost_center: &str) -> SpendLimits {
        SpendLimits::merge(
            self.reporting
                .cost_centers
                .get(cost_center)
                .map(|c| &c.spend),
        )
    }

    /// The merged settings of a managed account: `defaults`, then its OU's entry, then its own
    /// entry (tags and variables key by key). `None` when the account is not managed.
    pub fn effective(
        &self,
        account: &AccountId,
        parent: Option<&OuId>,
    ) -> Option<EffectiveSettings> {
        if !self.is_managed(account, parent) {
            return None;
        }
        let ou = parent.and_then(|ou| self.organizational_units.get(ou));
        let own = self.accounts.get(account);
        Some(merge::merge(
            [Some(&self.defaults), ou, own].into_iter().flatten(),
        ))
    }
}

/// Turns a YAML error into one that names the file, line and column, and the key path.
pub(crate) fn yaml_error(file: &Path, err: &serde_yaml_ng::Error) -> SettingsError {
    let mut message = err.to_string();
    let (line, column) = match err.location() {
        Some(loc) => {
            // The library appends the position in words; we put it in front as file:line:col.
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(pos) = message.find(&suffix) {
                message.replace_range(pos..pos + suffix.len(), "");
            }
            (loc.line(), loc.column())
        }
        None => (1, 1),
    };
    SettingsError::Yaml {
        file: file.to_path_buf(),
        line,
        column,
        message,
    }
}
