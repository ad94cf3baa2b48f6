//! Ingest: the only writer of the lake's datasets. [`events`]: EventBridge events and CloudTrail
//! log files into `events/`, what cannot be read into `quarantine/`; [`costs`]: Cost Explorer,
//! CUR and FOCUS into `costs/`; [`accounts`]: organization snapshots into `accounts/`;
//! [`scheduled`]: the function's scheduled inputs (costs, snapshots); [`seed`]: a local lake
//! filled from the shipped fixtures.
//!
//! Every write unit (a file, a group of files, a batch of messages) carries an idempotency key
//! derived from its input, so writing it again replaces its objects instead of adding rows.

pub mod accounts;
pub mod commands;
pub mod costs;
pub mod events;
pub mod exceptions;
pub mod scheduled;
pub mod seed;
