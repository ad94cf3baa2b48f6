//! The vocabulary of events, defined once: the lifecycle events (which the lifecycle emits),
//! the activity labels ingest gives events in the lake and reports count, and the exception
//! labels of what needs a human.

use std::fmt;
use std::str::FromStr;

/// EventBridge `source` of every lifecycle event.
pub const LIFECYCLE_SOURCE: &str = "spa.lifecycle";

/// A lifecycle event; its name is the EventBridge `detail-type` and the activity label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LifecycleEvent {
    /// A new account was tagged and assigned (start of on-boarding).
    CreatedAccount,
    /// An account entered `assigned`; preparation starts.
    AssignedAccount,
    /// Preparation succeeded.
    PreparedAccount,
    /// An account entered `released` (end of on-boarding or maintenance).
    ReleasedAccount,
    /// An account entered `expired` (start of maintenance); purge starts.
    ExpiredAccount,
    /// Purge succeeded.
    PurgedAccount,
    /// An account stayed `assigned` longer than allowed, or its preparation failed.
    FailedOnBoarding,
    /// An account stayed `expired` longer than allowed, or its purge failed.
    FailedMaintenance,
}

impl LifecycleEvent {
    /// Every lifecycle event.
    pub const ALL: [LifecycleEvent; 8] = [
        LifecycleEvent::CreatedAccount,
        LifecycleEvent::AssignedAccount,
        LifecycleEvent::PreparedAccount,
        LifecycleEvent::ReleasedAccount,
        LifecycleEvent::ExpiredAccount,
        LifecycleEvent::PurgedAccount,
        LifecycleEvent::FailedOnBoarding,
        LifecycleEvent::FailedMaintenance,
    ];

    /// The `detail-type` and activity label.
    pub const fn as_str(self) -> &'static str {
        match self {
            LifecycleEvent::CreatedAccount => "CreatedAccount",
            LifecycleEvent::AssignedAccount => "AssignedAccount",
            LifecycleEvent::PreparedAccount => "PreparedAccount",
            LifecycleEvent::ReleasedAccount => "ReleasedAccount",
            LifecycleEvent::ExpiredAccount => "ExpiredAccount",
            LifecycleEvent::PurgedAccount => "PurgedAccount",
            LifecycleEvent::FailedOnBoarding => "FailedOnBoarding",
            LifecycleEvent::FailedMaintenance => "FailedMaintenance",
        }
    }
}

impl fmt::Display for LifecycleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LifecycleEvent {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        LifecycleEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a lifecycle event"))
    }
}

/// What an event in the lake is, for reports: its `activity` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Activity {
    /// A successful console sign-in (named after CloudTrail's `ConsoleLogin` event).
    ConsoleLogin,
    /// A console sign-in that failed.
    FailedConsoleLogin,
    /// A lifecycle event (its name is the label).
    Lifecycle(LifecycleEvent),
    /// A CloudWatch billing alarm (`AWS/Billing` `EstimatedCharges`) that went to ALARM.
    BudgetAlarm,
    /// A preparation or purge build that ended without success.
    FailedBuild,
}

impl Activity {
    /// Every label.
    pub const ALL: [Activity; 12] = [
        Activity::ConsoleLogin,
        Activity::FailedConsoleLogin,
        Activity::Lifecycle(LifecycleEvent::CreatedAccount),
        Activity::Lifecycle(LifecycleEvent::AssignedAccount),
        Activity::Lifecycle(LifecycleEvent::PreparedAccount),
        Activity::Lifecycle(LifecycleEvent::ReleasedAccount),
        Activity::Lifecycle(LifecycleEvent::ExpiredAccount),
        Activity::Lifecycle(LifecycleEvent::PurgedAccount),
        Activity::Lifecycle(LifecycleEvent::FailedOnBoarding),
        Activity::Lifecycle(LifecycleEvent::FailedMaintenance),
        Activity::BudgetAlarm,
        Activity::FailedBuild,
    ];

    /// The label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Activity::ConsoleLogin => "ConsoleLogin",
            Activity::FailedConsoleLogin => "FailedConsoleLogin",
            Activity::Lifecycle(event) => event.as_str(),
            Activity::BudgetAlarm => "BudgetAlarm",
            Activity::FailedBuild => "FailedBuild",
        }
    }
}

impl From<LifecycleEvent> for Activity {
    fn from(event: LifecycleEvent) -> Self {
        Activity::Lifecycle(event)
    }
}

impl fmt::Display for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Activity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Activity::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not an activity label"))
    }
}

/// What needs a human: the label of an exception (see the README's exceptions section).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ExceptionLabel {
    /// A console sign-in by the root user, successful or failed.
    ConsoleLoginWithRoot,
    /// A console sign-in by an IAM user, successful or failed.
    ConsoleLoginWithIamUser,
    /// A preparation or purge build ended in FAILED, STOPPED, FAULT or TIMED_OUT.
    FailedBuild,
    /// The lifecycle's `FailedOnBoarding` event.
    FailedOnBoarding,
    /// The lifecycle's `FailedMaintenance` event.
    FailedMaintenance,
    /// An AWS Budgets notification or a billing alarm that went to ALARM.
    BudgetAlert,
    /// An account created, closed, removed, left or moved out of a managed OU by anyone but the
    /// automation.
    AccountOutsideLifecycle,
    /// A day's spend past a threshold (raised by the spend checks).
    SpendAlert,
    /// A message on the alert queue that could not be read.
    Unreadable,
}

/// How urgent an exception is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Act now (a root sign-in, an account leaving the lifecycle).
    Critical,
    /// Act today (a failed build or step, a budget alert).
    High,
    /// Look when convenient.
    Warning,
}

impl Severity {
    /// `critical`, `high` or `warning`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ExceptionLabel {
    /// Every label.
    pub const ALL: [ExceptionLabel; 9] = [
        ExceptionLabel::ConsoleLoginWithRoot,
        ExceptionLabel::ConsoleLoginWithIamUser,
        ExceptionLabel::FailedBuild,
        ExceptionLabel::FailedOnBoarding,
        ExceptionLabel::FailedMaintenance,
        ExceptionLabel::BudgetAlert,
        ExceptionLabel::AccountOutsideLifecycle,
        ExceptionLabel::SpendAlert,
        ExceptionLabel::Unreadable,
    ];

    /// The label as stored and configured.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExceptionLabel::ConsoleLoginWithRoot => "ConsoleLoginWithRoot",
            ExceptionLabel::ConsoleLoginWithIamUser => "ConsoleLoginWithIamUser",
            ExceptionLabel::FailedBuild => "FailedBuild",
            ExceptionLabel::FailedOnBoarding => "FailedOnBoarding",
            ExceptionLabel::FailedMaintenance => "FailedMaintenance",
            ExceptionLabel::BudgetAlert => "BudgetAlert",
            ExceptionLabel::AccountOutsideLifecycle => "AccountOutsideLifecycle",
            ExceptionLabel::SpendAlert => "SpendAlert",
            ExceptionLabel::Unreadable => "Unreadable",
        }
    }

    /// How urgent exceptions of this label are.
    pub const fn severity(self) -> Severity {
        match self {
            ExceptionLabel::ConsoleLoginWithRoot | ExceptionLabel::AccountOutsideLifecycle => {
                Severity::Critical
            }
            ExceptionLabel::FailedBuild
            | ExceptionLabel::FailedOnBoarding
            | ExceptionLabel::FailedMaintenance
            | ExceptionLabel::BudgetAlert
            | ExceptionLabel::SpendAlert => Severity::High,
            ExceptionLabel::ConsoleLoginWithIamUser | ExceptionLabel::Unreadable => {
                Severity::Warning
            }
        }
    }
}

impl fmt::Display for ExceptionLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExceptionLabel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ExceptionLabel::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = ExceptionLabel::ALL.iter().map(|l| l.as_str()).collect();
                format!(
                    "`{s}` is not an exception label (one of {})",
                    all.join(", ")
                )
            })
    }
}

/// The CodeBuild projects of the lifecycle in a member account, `<environment>-<name>`: the
/// preparation's and the purge's.
pub const BUILD_PROJECTS: [&str; 2] = ["prepare-account", "purge-account"];

/// The CloudTrail calls that launch resources billed by the hour, which the daily spend run
/// prices (and the deployment forwards to the lake).
pub const LAUNCH_EVENTS: [&str; 6] = [
    "RunInstances",
    "CreateNatGateway",
    "CreateDBInstance",
    "CreateCluster",
    "CreateNotebookInstance",
    "CreateEndpointConfig",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_labels_read_back_and_are_distinct() {
        for label in ExceptionLabel::ALL {
            assert_eq!(label.as_str().parse::<ExceptionLabel>(), Ok(label));
        }
        let labels: std::collections::BTreeSet<&str> =
            ExceptionLabel::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(labels.len(), ExceptionLabel::ALL.len());
        assert!("RootLogin".parse::<ExceptionLabel>().is_err());
    }

    #[test]
    fn labels_read_back_and_are_distinct() {
        for activity in Activity::ALL {
            assert_eq!(activity.as_str().parse::<Activity>(), Ok(activity));
        }
        let labels: std::collections::BTreeSet<&str> =
            Activity::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(labels.len(), Activity::ALL.len());
        for event in LifecycleEvent::ALL {
            assert!(Activity::ALL.contains(&Activity::from(event)));
        }
        assert!("Nonsense".parse::<Activity>().is_err());
    }
}
