//! The accounts a report names: each account of the snapshot valid at the report's date, with
//! its name, OU, state, holder and cost center ([`AccountInfo`]), and what reports show for an
//! account the snapshot does not know.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use polars::prelude::*;
use spa_core::lake::columns::{
    ACCOUNT_ID, COST_CENTER, EMAIL, HOLDER, NAME, OU_ID, OU_NAME, STATE, STATUS,
};
use spa_core::organization::NO_COST_TAG;

use crate::data::DataError;
use spa_core::settings::SpendLimits;

use crate::engine::Datasets;
use crate::frames::texts;

/// Name and OU of accounts the snapshot does not know.
pub(crate) const UNKNOWN: &str = "Unknown";

/// One account as the snapshot describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountInfo {
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// `ACTIVE`, `SUSPENDED`, `CLOSED`, ...
    pub status: String,
    /// OU name.
    pub ou: String,
    /// OU id (empty when the snapshot has none).
    pub ou_id: String,
    /// Lifecycle state (empty when untagged or unmanaged).
    pub state: String,
    /// Holder (the cost owner).
    pub holder: String,
    /// Cost center (`NoCostTag` when untagged).
    pub cost_center: String,
}

impl AccountInfo {
    /// The spend thresholds of account `id` placed as the snapshot places it (an id that is
    /// not an account id gets the defaults).
    pub fn spend_limits(&self, id: &str, settings: &spa_core::Settings) -> SpendLimits {
        match (id.parse(), self.ou_id.parse().ok()) {
            (Ok(account), ou) => settings.spend_limits(&account, ou.as_ref()),
            (Err(_), _) => SpendLimits::merge([&settings.defaults.spend]),
        }
    }

    /// What reports show for an account the snapshot does not know.
    pub fn unknown() -> Self {
        AccountInfo {
            name: UNKNOWN.into(),
            ou: UNKNOWN.into(),
            cost_center: NO_COST_TAG.into(),
            ..Default::default()
        }
    }
}

/// The columns read, in order.
const COLUMNS: [&str; 9] = [
    ACCOUNT_ID,
    NAME,
    EMAIL,
    STATUS,
    OU_NAME,
    STATE,
    HOLDER,
    COST_CENTER,
    OU_ID,
];

/// The accounts of a snapshot in Athena's dialect (the same as the Polars query of [`load`]).
pub fn athena_sql(snapshot: &str) -> String {
    format!(
        "SELECT {} FROM accounts WHERE snapshot = '{snapshot}'",
        COLUMNS.join(", ")
    )
}

/// The accounts of the snapshot valid on `day`, by id, and the snapshot's date.
pub async fn load(
    datasets: &Datasets<'_>,
    day: NaiveDate,
) -> Result<(String, BTreeMap<String, AccountInfo>), DataError> {
    let (snapshot, frame) = datasets.accounts_at(day).await?;
    let df = datasets
        .aggregate(frame.select(COLUMNS.map(col)), &athena_sql(&snapshot))
        .await?;
    let text = |name: &str| texts(&df, name);
    let [
        ids,
        names,
        emails,
        statuses,
        ous,
        states,
        holders,
        centers,
        ou_ids,
    ] = [
        text(COLUMNS[0])?,
        text(COLUMNS[1])?,
        text(COLUMNS[2])?,
        text(COLUMNS[3])?,
        text(COLUMNS[4])?,
        text(COLUMNS[5])?,
        text(COLUMNS[6])?,
        text(COLUMNS[7])?,
        text(COLUMNS[8])?,
    ];
    let mut accounts = BTreeMap::new();
    for i in 0..df.height() {
        accounts.insert(
            ids[i].clone(),
            AccountInfo {
                name: names[i].clone(),
                email: emails[i].clone(),
                status: statuses[i].clone(),
                ou: ous[i].clone(),
                ou_id: ou_ids[i].clone(),
                state: states[i].clone(),
                holder: holders[i].clone(),
                cost_center: centers[i].clone(),
            },
        );
    }
    Ok((snapshot, accounts))
}
