//! The lifecycle of sandbox accounts, kept in tags on the accounts themselves.
//!
//! [`decide`] holds every rule as pure code; [`engine`] carries decisions out through three
//! adapters, each local or AWS as `settings.yaml` says: [`directory`] (organization file or
//! AWS Organizations), [`builds`] (recorded locally, or CodeBuild in the member account) and
//! [`emit`] (events into the local lake, or EventBridge). [`triggers`] turns EventBridge events
//! and schedules into triggers for the Lambda function; [`fanout`] sends work over many accounts
//! through a queue, one message per account.
//!
//! Safety: nothing is ever done to the management account, to accounts outside the managed set
//! or to accounts that are not active; a purge starts only for an expired account.

pub mod builds;
pub mod decide;
pub mod directory;
pub mod emit;
pub mod engine;
pub mod fanout;
pub mod history;
pub mod operator;
pub mod runs;
pub mod triggers;

use std::path::PathBuf;

pub use engine::Engine;

/// A failed request without more context is an AWS Organizations one (the directory's).
impl From<spa_core::aws::ApiError> for Error {
    fn from(api: spa_core::aws::ApiError) -> Self {
        Error::Organization(api.into())
    }
}

impl Error {
    /// A CodeBuild request that failed in `account`.
    pub(crate) fn build(
        account: &spa_core::settings::AccountId,
        api: spa_core::aws::ApiError,
    ) -> Self {
        Error::Build {
            op: api.op,
            account: account.to_string(),
            message: api.message,
        }
    }
}

/// What the lifecycle could not do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or tagging the organization.
    #[error(transparent)]
    Organization(#[from] spa_core::organization::OrganizationError),
    /// The local organization file could not be saved.
    #[error("saving {}: {source}", file.display())]
    Save {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An account the organization does not have.
    #[error("account {0} is not in the organization")]
    UnknownAccount(String),
    /// A build could not be started.
    #[error("CodeBuild {op} in account {account}: {message}")]
    Build {
        /// The API operation.
        op: &'static str,
        /// The member account.
        account: String,
        /// What the service said.
        message: String,
    },
    /// The regions a purge clears could not be read.
    #[error(
        "the regions enabled in account {account} (Account ListRegions): {message}; the member role needs account:ListRegions, or list the regions in automation.purge_regions"
    )]
    Regions {
        /// The member account.
        account: String,
        /// What the service said.
        message: String,
    },
    /// The lifecycle queue.
    #[error("lifecycle queue: {0}")]
    Queue(spa_core::aws::ApiError),
    /// Events could not be emitted.
    #[error("emitting events: {0}")]
    Emit(String),
    /// The lake.
    #[error(transparent)]
    Lake(#[from] spa_core::lake::LakeError),
    /// A safety rule refused a decision (a bug if it ever shows).
    #[error("refused for account {account}: {reason}")]
    Refused {
        /// The account.
        account: String,
        /// The rule.
        reason: String,
    },
}
