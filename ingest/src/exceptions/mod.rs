//! Exceptions: what needs a human, raised from the lake's events ([`classify`], the same rules
//! for the sweep and for a batch just written), given the account's context ([`context`]:
//! who it is, what it has cost this month), and stored once per id in the `exceptions`
//! dataset ([`store`]); [`sweep`] raises whatever a range of days implies and is not stored;
//! [`spend`] stores the daily spend run's alerts the same way.

pub mod classify;
pub mod context;
pub mod deliver;
pub mod live;
pub mod spend;
pub mod store;
pub mod sweep;

pub use classify::{Candidate, Rules, classify, exception_id, unreadable};
pub use store::Exception;
pub use sweep::{Sweep, sweep};
