//! Every state x trigger x feature switch against a model written from the lifecycle rules (the
//! transition table of the README), and
//! the safety rules one by one.

use super::*;
use chrono::TimeZone;
use spa_core::organization::AccountStatus;

const MANAGEMENT: &str = "111111111111";
const MANAGED_OU: &str = "ou-test-sandbox1";

/// Settings with one managed OU and one listed account (the operator tests use them too).
pub(crate) fn settings(preparation: bool, purge: bool) -> Settings {
    let switch = |on: bool| if on { "enabled" } else { "disabled" };
    let yaml = format!(
        r#"
environment_identifier: spa-test
automation:
  account_id: "222222222222"
  management_account_id: "{MANAGEMENT}"
  region: eu-west-1
  maintenance_window: "cron(0 18 ? * SAT *)"
  on_boarding_timeout_hours: 24
  maintenance_timeout_hours: 48
defaults:
  account_tags:
    managed-by: sandbox-automation
  unset_tags: [account-request-id]
  preparation:
    feature: {}
    variables:
      BUDGET_AMOUNT: "500"
      ACCOUNT_ID: "overridden?"
  purge:
    feature: {}
    variables:
      PURGE_MODE: dry-run
organizational_units:
  {MANAGED_OU}:
    account_tags:
      business-unit: engineering
accounts:
  "300000000009":
    note: listed one by one
organization:
  adapter: local
  file: org.yaml
costs:
  source: local
  path: costs
"#,
        switch(preparation),
        switch(purge)
    );
    Settings::from_yaml(&yaml, std::path::Path::new("test.yaml")).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 3, 18, 0, 0).unwrap()
}

const SINCE: &str = "2026-10-03T10:00:00Z";

/// A managed, active account in `state` (`Some("bogus")` for an invalid tag), with the build
/// tag `b-1` when it is on-boarding or in maintenance.
pub(crate) fn account(state: Option<&str>) -> Account {
    let mut tags = BTreeMap::from([
        ("account-request-id".to_string(), "r-17".to_string()),
        ("cost-center".to_string(), "CC42".to_string()),
    ]);
    if let Some(s) = state {
        tags.insert("account-state".into(), s.into());
        tags.insert("account-since".into(), SINCE.into());
        if matches!(s, "assigned" | "expired") {
            tags.insert("account-build".into(), "b-1".into());
        }
    }
    Account {
        id: "300000000001".parse().unwrap(),
        name: "sandbox 1".into(),
        email: "alice@example.com".into(),
        status: AccountStatus::Active,
        joined: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        parent: MANAGED_OU.parse().unwrap(),
        tags,
    }
}

/// What the model expects.
#[derive(Debug, PartialEq)]
enum Expect {
    Skip,
    Nothing,
    Act {
        to: Option<State>,
        events: Vec<LifecycleEvent>,
        build: Option<BuildKind>,
    },
}

use LifecycleEvent::*;

/// The rule: entering a state emits its event and runs its build, or moves on when the build
/// is disabled (assigned -> released, expired -> assigned).
fn model_enter(
    state: State,
    preparation: bool,
    purge: bool,
    mut events: Vec<LifecycleEvent>,
) -> Expect {
    match state {
        State::Vanilla => Expect::Act {
            to: Some(State::Vanilla),
            events,
            build: None,
        },
        State::Assigned => {
            events.push(AssignedAccount);
            if preparation {
                Expect::Act {
                    to: Some(State::Assigned),
                    events,
                    build: Some(BuildKind::Preparation),
                }
            } else {
                model_enter(State::Released, preparation, purge, events)
            }
        }
        State::Released => {
            events.push(ReleasedAccount);
            Expect::Act {
                to: Some(State::Released),
                events,
                build: None,
            }
        }
        State::Expired => {
            events.push(ExpiredAccount);
            if purge {
                Expect::Act {
                    to: Some(State::Expired),
                    events,
                    build: Some(BuildKind::Purge),
                }
            } else {
                model_enter(State::Assigned, preparation, purge, events)
            }
        }
    }
}

fn model(state: Option<&str>, trigger: &Trigger, preparation: bool, purge: bool) -> Expect {
    let valid: Option<Option<State>> = match state {
        None => Some(None),
        Some(s) => s.parse().ok().map(Some),
    };
    let on_board = || model_enter(State::Assigned, preparation, purge, vec![CreatedAccount]);
    let Some(state) = valid else {
        // An invalid state tag: only the operator's release and reset repair it.
        return match trigger {
            Trigger::Release => model_enter(State::Released, preparation, purge, vec![]),
            Trigger::Reset => model_enter(State::Vanilla, preparation, purge, vec![]),
            _ => Expect::Skip,
        };
    };
    match trigger {
        Trigger::Joined => match state {
            None | Some(State::Vanilla) => on_board(),
            _ => Expect::Skip,
        },
        Trigger::Tagged { value, ours, .. } => match value.parse::<State>().ok() {
            Some(value) if !*ours && Some(value) == state => {
                if value == State::Vanilla {
                    on_board()
                } else {
                    model_enter(value, preparation, purge, vec![])
                }
            }
            _ => Expect::Skip,
        },
        Trigger::BuildEnded { kind, outcome, .. } => {
            if state != Some(kind.state()) {
                return Expect::Skip;
            }
            match (kind, outcome) {
                (BuildKind::Preparation, BuildOutcome::Succeeded) => {
                    model_enter(State::Released, preparation, purge, vec![PreparedAccount])
                }
                (BuildKind::Purge, BuildOutcome::Succeeded) => {
                    model_enter(State::Assigned, preparation, purge, vec![PurgedAccount])
                }
                (BuildKind::Preparation, BuildOutcome::Failed(_)) => Expect::Act {
                    to: None,
                    events: vec![FailedOnBoarding],
                    build: None,
                },
                (BuildKind::Purge, BuildOutcome::Failed(_)) => Expect::Act {
                    to: None,
                    events: vec![FailedMaintenance],
                    build: None,
                },
            }
        }
        Trigger::Maintenance => match state {
            None | Some(State::Released) => model_enter(State::Expired, preparation, purge, vec![]),
            _ => Expect::Nothing,
        },
        // The accounts of `account()` have their build running and are not stuck yet.
        Trigger::Reconcile => match state {
            Some(State::Vanilla) => on_board(),
            _ => Expect::Nothing,
        },
        Trigger::Release => match state {
            Some(State::Released) => Expect::Nothing,
            _ => model_enter(State::Released, preparation, purge, vec![]),
        },
        Trigger::Reset => match state {
            Some(State::Vanilla) => Expect::Nothing,
            _ => model_enter(State::Vanilla, preparation, purge, vec![]),
        },
    }
}

fn triggers() -> Vec<Trigger> {
    let mut all = vec![Trigger::Joined];
    for value in ["vanilla", "assigned", "released", "expired", "bogus"] {
        for ours in [false, true] {
            all.push(Trigger::Tagged {
                value: value.into(),
                at: now(),
                ours,
            });
        }
    }
    for kind in [BuildKind::Preparation, BuildKind::Purge] {
        for outcome in [
            BuildOutcome::Succeeded,
            BuildOutcome::Failed("FAILED".into()),
            BuildOutcome::Failed("STOPPED".into()),
        ] {
            all.push(Trigger::BuildEnded {
                kind,
                build: "b-1".into(),
                outcome,
            });
        }
    }
    all.extend([
        Trigger::Maintenance,
        Trigger::Reconcile,
        Trigger::Release,
        Trigger::Reset,
    ]);
    all
}

fn observed(outcome: &Outcome) -> Expect {
    match outcome {
        Outcome::Skip(_) => Expect::Skip,
        Outcome::Nothing => Expect::Nothing,
        Outcome::Act(d) => Expect::Act {
            to: d.to,
            events: d.events.clone(),
            build: d.build.as_ref().map(|b| b.kind),
        },
    }
}

#[test]
fn every_state_trigger_and_switch_follows_the_model() {
    let mut checked = 0;
    for preparation in [true, false] {
        for purge in [true, false] {
            let settings = settings(preparation, purge);
            for state in [
                None,
                Some("vanilla"),
                Some("assigned"),
                Some("released"),
                Some("expired"),
                Some("bogus"),
            ] {
                let account = account(state);
                for trigger in triggers() {
                    let got = decide(&settings, &account, &trigger, now());
                    let want = model(state, &trigger, preparation, purge);
                    assert_eq!(
                        observed(&got),
                        want,
                        "state {state:?}, {trigger:?}, preparation {preparation}, purge {purge}: {got:?}"
                    );
                    if let Outcome::Act(d) = &got {
                        check_invariants(&account, d);
                    }
                    checked += 1;
                }
            }
        }
    }
    // 4 switch combinations x 6 states x 21 triggers.
    assert_eq!(checked, 4 * 6 * 21);
}

/// What holds for every decision.
fn check_invariants(account: &Account, d: &Decision) {
    // A purge starts only for an account that is (or just became) expired.
    if let Some(b) = &d.build {
        assert_eq!(Some(b.kind.state()), d.to.or(d.from), "{d:?}");
        if b.kind == BuildKind::Purge {
            assert_eq!(d.to.or(d.from), Some(State::Expired));
        }
    }
    // A state change writes the state with its time, and clears the build and failure marks.
    if let Some(to) = d.to {
        assert_eq!(
            d.set.get("account-state").map(String::as_str),
            Some(to.as_str())
        );
        if to == State::Vanilla {
            assert!(!d.set.contains_key("account-since"));
        } else {
            assert_eq!(
                d.set.get("account-since").map(String::as_str),
                Some("2026-10-03T18:00:00Z")
            );
        }
        assert!(!d.set.contains_key("account-build"));
    }
    // Nothing is both set and removed, and only present tags are removed.
    assert!(d.unset.iter().all(|k| !d.set.contains_key(k)));
    assert!(d.unset.iter().all(|k| account.tags.contains_key(k)));
}

#[test]
fn on_boarding_applies_the_merged_tags_and_the_holder() {
    let settings = settings(true, true);
    let Outcome::Act(d) = decide(&settings, &account(None), &Trigger::Joined, now()) else {
        panic!("on-boards")
    };
    assert_eq!(d.action, "on-board");
    assert_eq!(d.set["managed-by"], "sandbox-automation");
    assert_eq!(d.set["business-unit"], "engineering");
    assert_eq!(d.set["account-holder"], "alice@example.com");
    assert_eq!(d.set["account-state"], "assigned");
    assert_eq!(d.unset, BTreeSet::from(["account-request-id".to_string()]));
    let build = d.build.unwrap();
    assert_eq!(build.variables["BUDGET_AMOUNT"], "500");
    // The lifecycle's own variables win over the settings'.
    assert_eq!(build.variables["ACCOUNT_ID"], "300000000001");
    assert_eq!(build.variables["HOLDER_EMAIL"], "alice@example.com");
    assert_eq!(
        build.variables["CENTRAL_BUS_ARN"],
        "arn:aws:events:eu-west-1:222222222222:event-bus/default"
    );
    assert!(!build.variables.contains_key("NUKE_CONFIG"));
    assert_eq!(
        build.token,
        token(
            "300000000001",
            BuildKind::Preparation,
            "2026-10-03T18:00:00Z"
        )
    );

    // A holder tag already there is kept.
    let mut held = account(Some("vanilla"));
    held.tags
        .insert("account-holder".into(), "bob@example.com".into());
    let Outcome::Act(d) = decide(&settings, &held, &Trigger::Reconcile, now()) else {
        panic!("on-boards")
    };
    assert_eq!(d.set["account-holder"], "bob@example.com");
}

#[test]
fn never_the_management_account_unmanaged_or_inactive_accounts() {
    let settings = settings(true, true);
    let mut management = account(Some("released"));
    management.id = MANAGEMENT.parse().unwrap();
    let mut outside = account(Some("released"));
    outside.parent = "ou-test-others01".parse().unwrap();
    let mut listed = outside.clone();
    listed.id = "300000000009".parse().unwrap();
    for trigger in triggers() {
        for (who, acc) in [("management", &management), ("outside", &outside)] {
            assert!(
                matches!(decide(&settings, acc, &trigger, now()), Outcome::Skip(_)),
                "{who} {trigger:?}"
            );
        }
        for status in [
            AccountStatus::Suspended,
            AccountStatus::PendingClosure,
            AccountStatus::Closed,
        ] {
            let mut inactive = account(Some("released"));
            inactive.status = status;
            let Outcome::Skip(reason) = decide(&settings, &inactive, &trigger, now()) else {
                panic!("{status:?} {trigger:?}")
            };
            assert!(reason.contains(status.as_str()), "{reason}");
        }
    }
    // An account listed one by one is managed wherever it sits.
    assert!(matches!(
        decide(&settings, &listed, &Trigger::Maintenance, now()),
        Outcome::Act(_)
    ));
}

#[test]
fn replays_change_nothing() {
    let settings = settings(true, true);
    // The operator tagged `released` at 09:00; the lifecycle handled it at 10:00 (since).
    let handled = account(Some("released"));
    let at = Utc.with_ymd_and_hms(2026, 10, 3, 9, 0, 0).unwrap();
    let replay = Trigger::Tagged {
        value: "released".into(),
        at,
        ours: false,
    };
    assert!(matches!(
        decide(&settings, &handled, &replay, now()),
        Outcome::Skip(r) if r.contains("already handled")
    ));
    // A build event of another build than the account's current one.
    let other = Trigger::BuildEnded {
        kind: BuildKind::Preparation,
        build: "b-0".into(),
        outcome: BuildOutcome::Succeeded,
    };
    assert!(matches!(
        decide(&settings, &account(Some("assigned")), &other, now()),
        Outcome::Skip(r) if r.contains("not the account's current")
    ));
    // Applying a decision's tags and deciding again on the same trigger does nothing.
    for trigger in triggers() {
        for state in [None, Some("vanilla"), Some("released"), Some("expired")] {
            let mut acc = account(state);
            if let Outcome::Act(d) = decide(&settings, &acc, &trigger, now()) {
                for k in &d.unset {
                    acc.tags.remove(k);
                }
                acc.tags.extend(d.set.clone());
                if d.build.is_some() {
                    acc.tags.insert("account-build".into(), "b-2".into());
                }
                let again = decide(&settings, &acc, &trigger, now());
                assert!(
                    !matches!(again, Outcome::Act(_)),
                    "{state:?} {trigger:?}: {again:?}"
                );
            }
        }
    }
}

#[test]
fn stuck_accounts_are_flagged_once() {
    let settings = settings(true, true);
    let later = Utc.with_ymd_and_hms(2026, 10, 4, 11, 0, 0).unwrap(); // 25 h after SINCE
    let Outcome::Act(d) = decide(
        &settings,
        &account(Some("assigned")),
        &Trigger::Reconcile,
        later,
    ) else {
        panic!("flags the on-boarding")
    };
    assert_eq!(d.events, [FailedOnBoarding]);
    assert_eq!(d.set["account-failed"], "assigned");
    assert_eq!(d.to, None);
    // Maintenance allows 48 h: not yet at 25 h.
    assert_eq!(
        decide(
            &settings,
            &account(Some("expired")),
            &Trigger::Reconcile,
            later
        ),
        Outcome::Nothing
    );
    let much_later = later + TimeDelta::hours(24);
    let mut flagged = account(Some("expired"));
    assert!(matches!(
        decide(&settings, &flagged, &Trigger::Reconcile, much_later),
        Outcome::Act(d) if d.events == [FailedMaintenance]
    ));
    flagged
        .tags
        .insert("account-failed".into(), "expired".into());
    assert_eq!(
        decide(&settings, &flagged, &Trigger::Reconcile, much_later),
        Outcome::Nothing
    );
}

#[test]
fn reconcile_resumes_a_transition_whose_build_never_started() {
    let settings = settings(true, true);
    let mut waiting = account(Some("expired"));
    waiting.tags.remove("account-build");
    let Outcome::Act(d) = decide(&settings, &waiting, &Trigger::Reconcile, now()) else {
        panic!("resumes")
    };
    assert_eq!(d.action, "resume purge");
    assert!(d.events.is_empty() && d.to.is_none());
    let build = d.build.unwrap();
    // The same token as when the state was entered: a second start is the same build.
    assert_eq!(build.token, token("300000000001", BuildKind::Purge, SINCE));
    // The aws-nuke configuration waits for the account's regions, known when the build starts.
    assert!(!build.variables.contains_key("NUKE_CONFIG"));
    let regions = ["global".to_string(), "eu-north-1".to_string()];
    let config: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&nuke_config(&settings, &waiting, &regions))
            .expect("the aws-nuke config is YAML");
    assert!(config["accounts"]["300000000001"].is_mapping());
    assert_eq!(config["blocklist"][0].as_str(), Some(MANAGEMENT));
    assert_eq!(
        config["regions"],
        serde_yaml_ng::from_str::<serde_yaml_ng::Value>("[global, eu-north-1]").unwrap()
    );
    assert_eq!(build.variables["PURGE_MODE"], "dry-run");
}

/// Events recorded as unsent are sent (at their own time) before any trigger is looked at, and
/// an unreadable record is only removed.
#[test]
fn unsent_events_go_out_first() {
    let s = settings(true, true);
    let mut account = account(Some("expired"));
    account.tags.insert(
        "account-unsent".into(),
        "2026-10-03T17:00:05Z ExpiredAccount".into(),
    );
    for trigger in [Trigger::Maintenance, Trigger::Reconcile, Trigger::Release] {
        let Outcome::Act(d) = decide(&s, &account, &trigger, now()) else {
            panic!("{trigger:?}: no decision");
        };
        assert_eq!(d.events, [LifecycleEvent::ExpiredAccount]);
        assert_eq!(
            d.resend_at,
            Some(Utc.with_ymd_and_hms(2026, 10, 3, 17, 0, 5).unwrap())
        );
        assert_eq!(d.unset, BTreeSet::from(["account-unsent".to_string()]));
        assert!(d.set.is_empty() && d.build.is_none() && d.to.is_none());
        assert_eq!(
            d.unsent_tag(d.resend_at.unwrap()),
            "2026-10-03T17:00:05Z ExpiredAccount"
        );
    }
    for bad in [
        "",
        "yesterday ExpiredAccount",
        "2026-10-03T17:00:05Z NoSuchEvent",
        "2026-10-03T17:00:05Z",
    ] {
        account.tags.insert("account-unsent".into(), bad.into());
        let Outcome::Act(d) = decide(&s, &account, &Trigger::Reconcile, now()) else {
            panic!("`{bad}`: no decision");
        };
        assert!(d.events.is_empty() && d.resend_at.is_none(), "`{bad}`");
        assert_eq!(d.unset, BTreeSet::from(["account-unsent".to_string()]));
    }
}

#[test]
fn the_purge_keeps_what_the_deployment_put_in_the_account() {
    let settings = settings(true, true);
    let env = settings
        .environment_identifier
        .as_str()
        .to_ascii_lowercase();
    let text = nuke_config(&settings, &account(Some("expired")), &["global".into()]);
    let config: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    let filters = &config["accounts"][account(None).id.as_str()]["filters"];
    let kept = |kind: &str| -> Vec<String> {
        filters[kind]
            .as_array()
            .unwrap_or_else(|| panic!("no {kind} filter: {text}"))
            .iter()
            .map(|f| f["value"].as_str().unwrap().to_string())
            .collect()
    };
    let matches = |kind: &str, name: &str| {
        kept(kind).iter().any(|g| {
            // The filters are globs with `*` only.
            let parts: Vec<&str> = g.split('*').collect();
            let mut rest = name;
            parts.iter().enumerate().all(|(i, p)| {
                if i == 0 {
                    rest.strip_prefix(p).map(|r| rest = r).is_some()
                } else if i == parts.len() - 1 {
                    rest.ends_with(p)
                } else {
                    rest.find(p)
                        .map(|at| rest = &rest[at + p.len()..])
                        .is_some()
                }
            })
        })
    };
    // The member stack, as the StackSet names it, and what it holds.
    assert!(matches(
        "CloudFormationStack",
        &format!("StackSet-{env}-members-2f1e0c7a-94b0")
    ));
    assert!(matches("IAMRole", &settings.build_role()));
    assert!(matches(
        "IAMRole",
        settings.automation.account_role.as_str()
    ));
    assert!(matches("IAMRole", &format!("{env}-event-forwarding")));
    assert!(matches(
        "CloudWatchEventsRule",
        &format!("Rule: {env}-sign-in-forwarding")
    ));
    assert!(matches(
        "SNSTopic",
        &format!(
            "arn:aws:sns:eu-west-1:{}:{env}-budget-alerts",
            account(None).id
        )
    ));
    assert!(matches(
        "BudgetsBudget",
        &format!("{}-monthly", settings.environment_identifier)
    ));
    // And nothing else of the holder's.
    assert!(!matches("CloudFormationStack", "StackSet-holder-stack-1"));
    assert!(!matches("IAMRole", "developer"));
    assert!(!matches("SNSTopic", "arn:aws:sns:eu-west-1:123:alerts"));
}
