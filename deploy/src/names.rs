//! Resource names, all derived from `environment_identifier` (a letter, then letters, digits or
//! `-`, at most 40 characters), so that two environments can live in one account.

use spa_core::Settings;

/// The names of one environment's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    env: String,
}

impl Names {
    /// The names of `settings`' environment.
    pub fn of(settings: &Settings) -> Self {
        Names {
            env: settings
                .environment_identifier
                .as_str()
                .to_ascii_lowercase(),
        }
    }

    /// `<env>-<what>`.
    pub fn of_what(&self, what: &str) -> String {
        format!("{}-{what}", self.env)
    }

    /// The environment's name.
    pub fn env(&self) -> &str {
        &self.env
    }

    /// The lake bucket, unique per account and region: `<env>-lake-<account>-<region>` (as a
    /// `Fn::Sub` text).
    pub fn bucket_sub(&self) -> String {
        format!("{}-lake-${{AWS::AccountId}}-${{AWS::Region}}", self.env)
    }

    /// The central event bus.
    pub fn bus(&self) -> String {
        self.of_what("central")
    }

    /// The organization's CloudTrail trail (`ingest.organization_trail`).
    pub fn trail(&self) -> String {
        self.of_what("organization")
    }

    /// A Lambda function's role (`ingest`, `lifecycle`, `reports`): member accounts trust the
    /// lifecycle's by this name.
    pub fn role(&self, what: &str) -> String {
        self.of_what(&format!("{what}-function"))
    }

    /// A Lambda function (`ingest`, `lifecycle`, `reports`).
    pub fn function(&self, what: &str) -> String {
        self.of_what(what)
    }
}
