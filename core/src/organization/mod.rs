//! The organization model (accounts, units, tags, lifecycle states), the local organization
//! file that stands in for AWS Organizations, and the reader of AWS Organizations (`aws`).

pub mod aws;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, MapBuilder, MapFieldNames, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::lake::Dataset;
use crate::settings::{AccountId, OuId, Settings, SettingsError};

/// The organization could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OrganizationError {
    /// The local organization file is missing or invalid.
    #[error(transparent)]
    File(#[from] SettingsError),
    /// An AWS Organizations request failed (after the SDK's retries).
    #[error("AWS Organizations {0}")]
    Aws(#[from] crate::aws::ApiError),
    /// A response lacked a field it always has.
    #[error("AWS Organizations returned no {0}")]
    Missing(&'static str),
    /// A response held an id of an unexpected shape.
    #[error("AWS Organizations returned {0}")]
    Invalid(String),
}

/// Where the organization is read from, as `settings.organization` says: the only place that
/// picks between the local file and AWS Organizations.
pub enum Source {
    /// The local organization file.
    File(std::path::PathBuf),
    /// AWS Organizations, through `automation.organization_role` in the management account
    /// when it is set.
    Aws(aws::Api),
}

impl Source {
    /// The source of `settings`; AWS tag reads run `concurrency` at once.
    pub async fn open(settings: &Settings, concurrency: usize) -> Result<Self, OrganizationError> {
        match (settings.organization.adapter, &settings.organization.file) {
            (crate::settings::Adapter::Local, Some(file)) => Ok(Source::File(file.clone())),
            (crate::settings::Adapter::Local, None) => Err(OrganizationError::Missing(
                "organization.file in the settings",
            )),
            (crate::settings::Adapter::Aws, _) => {
                let mut config = crate::aws::sdk_config(settings).await;
                if let Some(role) = &settings.automation.organization_role {
                    let management = &settings.automation.management_account_id;
                    config = crate::aws::assume_role(&config, management, role, "spa-organization")
                        .await;
                }
                let counter = crate::aws::RequestCounter::default();
                Ok(Source::Aws(aws::Api::new(
                    crate::aws::organizations_client(&config, &counter),
                    concurrency,
                    counter,
                )))
            }
        }
    }

    /// The whole organization: units, accounts and their tags.
    pub async fn read(&self) -> Result<Organization, OrganizationError> {
        match self {
            Source::File(file) => Ok(Organization::load(file)?),
            Source::Aws(api) => api.read().await,
        }
    }

    /// AWS Organizations requests made so far (0 for the file).
    pub fn requests(&self) -> u64 {
        match self {
            Source::File(_) => 0,
            Source::Aws(api) => api.requests(),
        }
    }
}

/// Reads the organization from where `settings.organization` says (see [`Source`]). Returns it
/// with the number of Organizations requests made (0 for the file).
pub async fn read(
    settings: &Settings,
    concurrency: usize,
) -> Result<(Organization, u64), OrganizationError> {
    let source = Source::open(settings, concurrency).await?;
    let organization = source.read().await?;
    Ok((organization, source.requests()))
}

/// Cost center of an account without the cost-center tag.
pub const NO_COST_TAG: &str = "NoCostTag";

/// Lifecycle state of a managed account, kept in the `<prefix>state` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// New or reset: waits for on-boarding.
    Vanilla,
    /// On-boarded, waiting for or running preparation.
    Assigned,
    /// Prepared and in the hands of its holder.
    Released,
    /// Taken back for maintenance: waiting for or running purge.
    Expired,
}

impl State {
    /// Every state, in lifecycle order.
    pub const ALL: [State; 4] = [
        State::Vanilla,
        State::Assigned,
        State::Released,
        State::Expired,
    ];

    /// The tag value.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Vanilla => "vanilla",
            State::Assigned => "assigned",
            State::Released => "released",
            State::Expired => "expired",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        State::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                format!("`{s}` is not a state (expected vanilla, assigned, released or expired)")
            })
    }
}

/// Status of an account in AWS Organizations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountStatus {
    /// Usable.
    Active,
    /// Suspended by AWS or the organization; never acted upon.
    Suspended,
    /// Closing.
    PendingClosure,
    /// Closed; still billed for the month it closed in.
    Closed,
}

impl AccountStatus {
    /// The Organizations API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "ACTIVE",
            AccountStatus::Suspended => "SUSPENDED",
            AccountStatus::PendingClosure => "PENDING_CLOSURE",
            AccountStatus::Closed => "CLOSED",
        }
    }
}

/// An organizational unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    /// `ou-...`
    pub id: OuId,
    /// Display name.
    pub name: String,
    /// Parent unit or the root.
    pub parent: OuId,
}

/// An account of the organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// 12-digit id.
    pub id: AccountId,
    /// Account name.
    pub name: String,
    /// Root e-mail address.
    pub email: String,
    /// Organizations status.
    pub status: AccountStatus,
    /// When the account joined the organization.
    pub joined: DateTime<Utc>,
    /// Parent unit or the root.
    pub parent: OuId,
    /// All tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// The tags the lifecycle keeps on an account, each `features.tag_prefix` plus a fixed name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagKeys {
    /// `<prefix>state`: the lifecycle state.
    pub state: String,
    /// `<prefix>holder`: who holds the account (else its e-mail).
    pub holder: String,
    /// `<prefix>since`: when the current state was entered (RFC 3339, UTC).
    pub since: String,
    /// `<prefix>build`: the build started for the current state.
    pub build: String,
    /// `<prefix>failed`: the state in which a failure was already reported.
    pub failed: String,
    /// `<prefix>unsent`: events whose sending failed after their step was written
    /// (`<time> <event> ...`), sent again by the account's next step.
    pub unsent: String,
}

impl TagKeys {
    /// The keys of `settings`.
    pub fn of(settings: &Settings) -> Self {
        let key = |name: &str| format!("{}{name}", settings.features.tag_prefix);
        TagKeys {
            state: key("state"),
            holder: key("holder"),
            since: key("since"),
            build: key("build"),
            failed: key("failed"),
            unsent: key("unsent"),
        }
    }
}

impl Account {
    /// The lifecycle state from the state tag: `Ok(None)` when untagged, `Err` when the tag holds
    /// something that is not a state.
    pub fn state(&self, settings: &Settings) -> Result<Option<State>, String> {
        self.tags
            .get(&TagKeys::of(settings).state)
            .map(|v| v.parse())
            .transpose()
    }

    /// The holder: the holder tag, else the account e-mail.
    pub fn holder<'a>(&'a self, settings: &Settings) -> &'a str {
        self.tags
            .get(&TagKeys::of(settings).holder)
            .map_or(self.email.as_str(), String::as_str)
    }

    /// The cost center tag, else [`NO_COST_TAG`].
    pub fn cost_center<'a>(&'a self, settings: &Settings) -> &'a str {
        self.tags
            .get(settings.features.cost_center_tag.as_str())
            .filter(|v| !v.trim().is_empty())
            .map_or(NO_COST_TAG, String::as_str)
    }
}

/// A whole organization: what AWS Organizations returns, or the local organization file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    /// `o-...`
    pub id: String,
    /// The management account.
    pub management_account_id: AccountId,
    /// The root (`r-...`).
    pub root_id: OuId,
    /// Every organizational unit.
    #[serde(default)]
    pub units: Vec<Unit>,
    /// Every account, including the management account.
    #[serde(default)]
    pub accounts: Vec<Account>,
}

impl Organization {
    /// Reads and checks a local organization file.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        let org: Organization =
            serde_yaml_ng::from_str(&text).map_err(|e| crate::settings::yaml_error(path, &e))?;
        org.check(path)?;
        Ok(org)
    }

    /// Writes the organization file atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_yaml_ng::to_string(self).map_err(std::io::Error::other)?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    fn check(&self, file: &Path) -> Result<(), SettingsError> {
        let invalid = |key: String, message: String| SettingsError::Invalid {
            file: PathBuf::from(file),
            key,
            message,
        };
        let mut units: HashMap<&OuId, &Unit> = HashMap::new();
        for (i, unit) in self.units.iter().enumerate() {
            if units.insert(&unit.id, unit).is_some() {
                return Err(invalid(
                    format!("units[{i}].id"),
                    format!("`{}` is listed twice", unit.id),
                ));
            }
        }
        let known = |ou: &OuId| ou == &self.root_id || units.contains_key(ou);
        for (i, unit) in self.units.iter().enumerate() {
            if !known(&unit.parent) {
                return Err(invalid(
                    format!("units[{i}].parent"),
                    format!("`{}` is neither the root nor a unit", unit.parent),
                ));
            }
        }
        for unit in &self.units {
            let mut at = &unit.parent;
            for _ in 0..=self.units.len() {
                match units.get(at) {
                    Some(u) => at = &u.parent,
                    None => break,
                }
            }
            if at != &self.root_id {
                return Err(invalid(
                    format!("units.{}", unit.id),
                    "the parents form a cycle".into(),
                ));
            }
        }
        let mut seen = HashMap::new();
        for (i, account) in self.accounts.iter().enumerate() {
            if seen.insert(&account.id, i).is_some() {
                return Err(invalid(
                    format!("accounts[{i}].id"),
                    format!("`{}` is listed twice", account.id),
                ));
            }
            if !known(&account.parent) {
                return Err(invalid(
                    format!("accounts[{i}].parent"),
                    format!("`{}` is neither the root nor a unit", account.parent),
                ));
            }
        }
        if !seen.contains_key(&self.management_account_id) {
            return Err(invalid(
                "management_account_id".into(),
                format!("`{}` is not among the accounts", self.management_account_id),
            ));
        }
        Ok(())
    }

    /// A unit by id.
    pub fn unit(&self, id: &OuId) -> Option<&Unit> {
        self.units.iter().find(|u| &u.id == id)
    }

    /// An account by id.
    pub fn account(&self, id: &AccountId) -> Option<&Account> {
        self.accounts.iter().find(|a| &a.id == id)
    }

    /// Name of a unit, or `Root` for the root.
    pub fn unit_name(&self, id: &OuId) -> Option<&str> {
        if id == &self.root_id {
            Some("Root")
        } else {
            self.unit(id).map(|u| u.name.as_str())
        }
    }

    /// Path of names from the root, e.g. `Root/Sandboxes/Data`.
    pub fn unit_path(&self, id: &OuId) -> Option<String> {
        let mut names = Vec::new();
        let mut at = id;
        for _ in 0..=self.units.len() {
            if at == &self.root_id {
                names.push("Root");
                names.reverse();
                return Some(names.join("/"));
            }
            let unit = self.unit(at)?;
            names.push(&unit.name);
            at = &unit.parent;
        }
        None
    }

    /// One row per account in the shape of the lake's `accounts` dataset.
    pub fn snapshot_batch(&self, settings: &Settings) -> RecordBatch {
        let accounts = &self.accounts;
        let text = |f: &dyn Fn(&Account) -> Option<String>| -> ArrayRef {
            Arc::new(accounts.iter().map(f).collect::<StringArray>())
        };
        let mut tags = MapBuilder::new(
            Some(MapFieldNames {
                entry: "key_value".into(),
                key: "key".into(),
                value: "value".into(),
            }),
            StringBuilder::new(),
            StringBuilder::new(),
        );
        for account in accounts {
            for (k, v) in &account.tags {
                tags.keys().append_value(k);
                tags.values().append_value(v);
            }
            tags.append(true)
                .expect("keys and values have equal lengths");
        }
        let columns: Vec<ArrayRef> = vec![
            text(&|a| Some(a.id.to_string())),
            text(&|a| Some(a.name.clone())),
            text(&|a| Some(a.email.clone())),
            text(&|a| Some(a.status.as_str().to_string())),
            Arc::new(
                accounts
                    .iter()
                    .map(|a| Some(a.joined.timestamp_micros()))
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("UTC"),
            ),
            text(&|a| Some(a.parent.to_string())),
            text(&|a| self.unit_name(&a.parent).map(str::to_string)),
            text(&|a| self.unit_path(&a.parent)),
            Arc::new(
                accounts
                    .iter()
                    .map(|a| Some(settings.is_managed(&a.id, Some(&a.parent))))
                    .collect::<BooleanArray>(),
            ),
            text(&|a| a.tags.get(&TagKeys::of(settings).state).cloned()),
            text(&|a| Some(a.holder(settings).to_string())),
            text(&|a| Some(a.cost_center(settings).to_string())),
            Arc::new(tags.finish()),
        ];
        RecordBatch::try_new(Dataset::Accounts.schema(), columns)
            .expect("columns follow the accounts schema")
    }
}
