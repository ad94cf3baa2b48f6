//! The vocabulary of lifecycle events shared by lifecycle (which emits them), ingest (which
//! labels them) and reports (which turn them into activities).

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
    pub fn as_str(self) -> &'static str {
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

/// Activity label of a successful console sign-in.
pub const CONSOLE_LOGIN: &str = "ConsoleLogin";
