//! Reads the organization from AWS Organizations: units level by level, accounts per parent,
//! tags per account with bounded concurrency. Throttling (`TooManyRequestsException`) is retried
//! with backoff by the SDK's standard retry strategy.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::{AccountState, AccountStatus as SdkStatus};
use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::{Account, AccountStatus, Organization, OrganizationError, Unit};
use crate::aws::ApiError;

/// AWS Organizations as the organization's source: the client (in the management account when
/// `automation.organization_role` is set), how many tag reads run at once, and the requests made
/// so far (each is counted, against the API's undocumented limits).
#[derive(Debug, Clone)]
pub struct Api {
    /// The client.
    pub client: Client,
    /// Tag reads at once.
    pub concurrency: usize,
    requests: Arc<AtomicU64>,
    counter: crate::aws::RequestCounter,
}

impl Api {
    /// The source behind `client` (whose attempts `counter` counts), with no request made yet.
    pub fn new(client: Client, concurrency: usize, counter: crate::aws::RequestCounter) -> Self {
        Api {
            client,
            concurrency,
            requests: Arc::new(AtomicU64::new(0)),
            counter,
        }
    }

    /// The client's attempts so far: operations, retries, throttled answers.
    pub fn attempts(&self) -> crate::aws::Requests {
        self.counter.requests()
    }

    /// The whole organization: units, accounts and their tags.
    pub async fn read(&self) -> Result<Organization, OrganizationError> {
        read(&self.client, self.concurrency, &self.requests, true).await
    }

    /// The organization's units and accounts without their tags: the listing alone, a request
    /// per page instead of one more per account.
    pub async fn read_untagged(&self) -> Result<Organization, OrganizationError> {
        read(&self.client, self.concurrency, &self.requests, false).await
    }

    /// The tags of one account or unit.
    pub async fn tags_of(&self, id: &str) -> Result<BTreeMap<String, String>, OrganizationError> {
        tags_of(&self.client, id, &self.requests).await
    }

    /// Counts one request about to be made.
    pub fn count(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests made so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Page size of the list calls (the API's maximum).
const PAGE: i32 = 20;

/// The status of an account as the API reports it (state first, then the older status field).
pub fn status(account: &aws_sdk_organizations::types::Account) -> AccountStatus {
    match (account.state(), account.status()) {
        (Some(AccountState::Closed), _) => AccountStatus::Closed,
        (Some(AccountState::PendingClosure), _) | (_, Some(SdkStatus::PendingClosure)) => {
            AccountStatus::PendingClosure
        }
        (Some(AccountState::Suspended), _) | (_, Some(SdkStatus::Suspended)) => {
            AccountStatus::Suspended
        }
        _ => AccountStatus::Active,
    }
}

/// Every tag of one account (all pages), counting each request in `requests`.
async fn tags_of(
    client: &Client,
    id: &str,
    requests: &AtomicU64,
) -> Result<BTreeMap<String, String>, OrganizationError> {
    let mut found = BTreeMap::new();
    let mut pages = client
        .list_tags_for_resource()
        .resource_id(id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        requests.fetch_add(1, Ordering::Relaxed);
        for tag in page
            .map_err(|e| ApiError::new("ListTagsForResource", &e))?
            .tags()
        {
            found.insert(tag.key().to_string(), tag.value().to_string());
        }
    }
    Ok(found)
}

/// The whole organization, with the accounts' tags when `with_tags`; each API request is
/// counted in `requests` as it is made (a caller can show progress from it).
async fn read(
    client: &Client,
    concurrency: usize,
    requests: &Arc<AtomicU64>,
    with_tags: bool,
) -> Result<Organization, OrganizationError> {
    let count = || requests.fetch_add(1, Ordering::Relaxed);
    count();
    let described = client
        .describe_organization()
        .send()
        .await
        .map_err(|e| ApiError::new("DescribeOrganization", &e))?;
    let org = described.organization().ok_or(OrganizationError::Missing(
        "DescribeOrganization: organization",
    ))?;
    count();
    let roots = client
        .list_roots()
        .send()
        .await
        .map_err(|e| ApiError::new("ListRoots", &e))?;
    let root = roots
        .roots()
        .first()
        .and_then(|r| r.id())
        .ok_or(OrganizationError::Missing("ListRoots: root"))?;
    let root_id = root
        .parse()
        .map_err(|e: String| OrganizationError::Invalid(e))?;

    let mut units = Vec::new();
    let mut accounts = Vec::new();
    let mut parents = vec![root.to_string()];
    while let Some(parent) = parents.pop() {
        let parent_id: crate::settings::OuId =
            parent.parse().map_err(OrganizationError::Invalid)?;
        let mut pages = client
            .list_organizational_units_for_parent()
            .parent_id(&parent)
            .max_results(PAGE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            count();
            for ou in page
                .map_err(|e| ApiError::new("ListOrganizationalUnitsForParent", &e))?
                .organizational_units()
            {
                let id = ou
                    .id()
                    .ok_or(OrganizationError::Missing("OrganizationalUnit.Id"))?;
                units.push(Unit {
                    id: id.parse().map_err(OrganizationError::Invalid)?,
                    name: ou.name().unwrap_or_default().to_string(),
                    parent: parent_id.clone(),
                });
                parents.push(id.to_string());
            }
        }
        let mut pages = client
            .list_accounts_for_parent()
            .parent_id(&parent)
            .max_results(PAGE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            count();
            for a in page
                .map_err(|e| ApiError::new("ListAccountsForParent", &e))?
                .accounts()
            {
                let id = a.id().ok_or(OrganizationError::Missing("Account.Id"))?;
                let joined = a
                    .joined_timestamp()
                    .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
                    .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
                accounts.push(Account {
                    id: id.parse().map_err(OrganizationError::Invalid)?,
                    name: a.name().unwrap_or_default().to_string(),
                    email: a.email().unwrap_or_default().to_string(),
                    status: status(a),
                    joined,
                    parent: parent_id.clone(),
                    tags: BTreeMap::new(),
                });
            }
        }
    }

    // Tags: one request per account (plus pages), a few at a time.
    let mut running = JoinSet::new();
    let mut next = 0;
    let mut tags: Vec<BTreeMap<String, String>> = vec![BTreeMap::new(); accounts.len()];
    loop {
        while with_tags && running.len() < concurrency.max(1) && next < accounts.len() {
            let (client, id, index, requests) = (
                client.clone(),
                accounts[next].id.to_string(),
                next,
                requests.clone(),
            );
            running.spawn(async move {
                let found = tags_of(&client, &id, &requests).await?;
                Ok::<_, OrganizationError>((index, found))
            });
            next += 1;
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let (index, found) = done.expect("tag reads do not panic")?;
        tags[index] = found;
    }
    for (account, found) in accounts.iter_mut().zip(tags) {
        account.tags = found;
    }
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    units.sort_by(|a, b| a.id.cmp(&b.id));
    let organization = Organization {
        id: org.id().unwrap_or_default().to_string(),
        management_account_id: org
            .master_account_id()
            .ok_or(OrganizationError::Missing("Organization.MasterAccountId"))?
            .parse()
            .map_err(OrganizationError::Invalid)?,
        root_id,
        units,
        accounts,
    };
    Ok(organization)
}
