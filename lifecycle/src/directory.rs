//! Where accounts and their tags live: the local organization file (tag writes saved
//! atomically) or AWS Organizations (paginated reads, throttling retried with backoff by the
//! SDK, bounded concurrency for the tag reads).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use aws_sdk_organizations::types::Tag;
use spa_core::Settings;
use spa_core::aws::ApiError;
use spa_core::organization::aws::Api;
use spa_core::organization::{self, Account, Organization, OrganizationError, Source};
use spa_core::settings::AccountId;
use tokio::sync::Mutex;

use crate::Error;

/// Reads and tags the organization's accounts.
pub enum Directory {
    /// The local organization file.
    Local {
        /// The file.
        file: PathBuf,
        /// Its content, as last read or written.
        organization: Mutex<Organization>,
    },
    /// AWS Organizations.
    Aws(Api),
}

impl Directory {
    /// The directory `settings.organization` names.
    pub(crate) async fn from_settings(
        settings: &Settings,
        concurrency: usize,
    ) -> Result<Self, Error> {
        Ok(match Source::open(settings, concurrency).await? {
            Source::File(file) => Directory::Local {
                organization: Mutex::new(
                    Organization::load(&file).map_err(OrganizationError::from)?,
                ),
                file,
            },
            Source::Aws(api) => Directory::Aws(api),
        })
    }

    /// AWS Organizations requests made so far (0 for the local file).
    pub fn requests(&self) -> u64 {
        match self {
            Directory::Local { .. } => 0,
            Directory::Aws(api) => api.requests(),
        }
    }

    /// AWS Organizations attempts so far: operations, retries, throttled answers.
    pub fn attempts(&self) -> spa_core::aws::Requests {
        match self {
            Directory::Local { .. } => spa_core::aws::Requests::default(),
            Directory::Aws(api) => api.attempts(),
        }
    }

    /// The whole organization: units, accounts and their tags.
    pub async fn organization(&self) -> Result<Organization, Error> {
        match self {
            Directory::Local { organization, .. } => Ok(organization.lock().await.clone()),
            Directory::Aws(api) => Ok(api.read().await?),
        }
    }

    /// The organization's accounts as listed, for a caller that reads each account's tags
    /// later: AWS Organizations without the tags (no request per account); the local file
    /// whole, since its tags cost nothing.
    pub async fn listing(&self) -> Result<Organization, Error> {
        match self {
            Directory::Local { organization, .. } => Ok(organization.lock().await.clone()),
            Directory::Aws(api) => Ok(api.read_untagged().await?),
        }
    }

    /// One account with its parent and tags, or `None` when the organization does not have it.
    pub async fn account(&self, id: &AccountId) -> Result<Option<Account>, Error> {
        match self {
            Directory::Local { organization, .. } => {
                Ok(organization.lock().await.account(id).cloned())
            }
            Directory::Aws(api) => {
                let client = &api.client;
                api.count();
                let described = match client
                    .describe_account()
                    .account_id(id.as_str())
                    .send()
                    .await
                {
                    Ok(d) => d,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_account_not_found_exception()) =>
                    {
                        return Ok(None);
                    }
                    Err(e) => return Err(ApiError::new("DescribeAccount", &e).into()),
                };
                let Some(a) = described.account() else {
                    return Ok(None);
                };
                api.count();
                let parents = client
                    .list_parents()
                    .child_id(id.as_str())
                    .send()
                    .await
                    .map_err(|e| ApiError::new("ListParents", &e))?;
                let parent = parents
                    .parents()
                    .first()
                    .and_then(|p| p.id())
                    .ok_or(OrganizationError::Missing("ListParents: parent"))?;
                let tags = api.tags_of(id.as_str()).await?;
                Ok(Some(Account {
                    id: id.clone(),
                    name: a.name().unwrap_or_default().to_string(),
                    email: a.email().unwrap_or_default().to_string(),
                    status: organization::aws::status(a),
                    joined: a
                        .joined_timestamp()
                        .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                        .unwrap_or_default(),
                    parent: parent.parse().map_err(OrganizationError::Invalid)?,
                    tags,
                }))
            }
        }
    }

    /// One account's tags as they are now (for a caller that knows the rest of the account);
    /// `None` when the local organization does not have it (AWS Organizations answers an error).
    pub async fn tags(&self, id: &AccountId) -> Result<Option<BTreeMap<String, String>>, Error> {
        match self {
            Directory::Local { organization, .. } => Ok(organization
                .lock()
                .await
                .account(id)
                .map(|a| a.tags.clone())),
            Directory::Aws(api) => Ok(Some(api.tags_of(id.as_str()).await?)),
        }
    }

    /// Removes `unset`, then sets `set` (so a crash in between leaves the state unchanged).
    pub async fn tag(
        &self,
        id: &AccountId,
        set: &BTreeMap<String, String>,
        unset: &BTreeSet<String>,
    ) -> Result<(), Error> {
        match self {
            Directory::Local { file, organization } => {
                let mut org = organization.lock().await;
                let account = org
                    .accounts
                    .iter_mut()
                    .find(|a| &a.id == id)
                    .ok_or_else(|| Error::UnknownAccount(id.to_string()))?;
                for key in unset {
                    account.tags.remove(key);
                }
                account
                    .tags
                    .extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
                org.save(file).map_err(|source| Error::Save {
                    file: file.clone(),
                    source,
                })
            }
            Directory::Aws(api) => {
                let client = &api.client;
                if !unset.is_empty() {
                    api.count();
                    client
                        .untag_resource()
                        .resource_id(id.as_str())
                        .set_tag_keys(Some(unset.iter().cloned().collect()))
                        .send()
                        .await
                        .map_err(|e| ApiError::new("UntagResource", &e))?;
                }
                if !set.is_empty() {
                    let tags = set
                        .iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| {
                            Error::Organization(OrganizationError::Invalid(e.to_string()))
                        })?;
                    api.count();
                    client
                        .tag_resource()
                        .resource_id(id.as_str())
                        .set_tags(Some(tags))
                        .send()
                        .await
                        .map_err(|e| ApiError::new("TagResource", &e))?;
                }
                Ok(())
            }
        }
    }
}
