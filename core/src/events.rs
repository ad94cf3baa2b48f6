//! The vocabulary of events, defined once: the lifecycle events (which the lifecycle emits) and
//! the activity labels ingest gives events in the lake and reports count.

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

#[cfg(test)]
mod tests {
    use super::*;

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
