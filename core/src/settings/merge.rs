//! Merge rules: `defaults`, then the OU entry, then the account entry.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Activity, Entry, Feature, TagKey, VariableName};

/// The settings that apply to one managed account after merging.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectiveSettings {
    /// The most specific note.
    pub note: Option<String>,
    /// Tags to apply on on-boarding, merged key by key.
    pub account_tags: BTreeMap<TagKey, String>,
    /// Tags to remove on on-boarding: the union over all entries.
    pub unset_tags: BTreeSet<TagKey>,
    /// The preparation build.
    pub preparation: ActivitySettings,
    /// The purge build.
    pub purge: ActivitySettings,
}

/// A build after merging: whether it runs and with which variables.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivitySettings {
    /// Whether the build runs.
    pub enabled: bool,
    /// Environment variables, merged key by key.
    pub variables: BTreeMap<VariableName, String>,
}

/// Preparation runs unless disabled; purge is destructive and runs only when enabled.
const PREPARATION_DEFAULT: bool = true;
const PURGE_DEFAULT: bool = false;

pub(super) fn merge<'a>(entries: impl Iterator<Item = &'a Entry>) -> EffectiveSettings {
    let mut out = EffectiveSettings {
        note: None,
        account_tags: BTreeMap::new(),
        unset_tags: BTreeSet::new(),
        preparation: ActivitySettings {
            enabled: PREPARATION_DEFAULT,
            variables: BTreeMap::new(),
        },
        purge: ActivitySettings {
            enabled: PURGE_DEFAULT,
            variables: BTreeMap::new(),
        },
    };
    for entry in entries {
        if entry.note.is_some() {
            out.note.clone_from(&entry.note);
        }
        out.account_tags.extend(
            entry
                .account_tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        out.unset_tags.extend(entry.unset_tags.iter().cloned());
        overlay_activity(&mut out.preparation, &entry.preparation);
        overlay_activity(&mut out.purge, &entry.purge);
    }
    out
}

fn overlay_activity(into: &mut ActivitySettings, from: &Activity) {
    if let Some(feature) = from.feature {
        into.enabled = feature == Feature::Enabled;
    }
    into.variables
        .extend(from.variables.iter().map(|(k, v)| (k.clone(), v.clone())));
}
