//! Shared library of the sandbox accounts system: settings, the lake, the organization model
//! and AWS client configuration. Every binary of the workspace builds on it.

pub mod aws;
pub mod events;
pub mod guardrails;
pub mod lake;
pub mod mail;
pub mod metrics;
pub mod organization;
pub mod period;
pub mod process;
pub mod settings;
pub mod spend;
#[cfg(feature = "testing")]
pub mod testing;

pub use settings::Settings;
