//! settings.yaml: the shipped file, merge rules, CSV overlays and every class of error.

use std::path::PathBuf;

use spa_core::settings::{AccountId, OuId, Settings, SettingsError};

const BASE: &str = r#"environment_identifier: test
automation:
  account_id: "222222222222"
  management_account_id: "111111111111"
  region: eu-west-1
  maintenance_window: "cron(0 18 ? * SAT *)"
organization:
  adapter: aws
costs:
  source: aws
"#;

fn repo_root() -> PathBuf {
    spa_core::testing::repo_root()
}

/// Writes `yaml` (and CSV files) into a fresh folder and loads it.
fn load(yaml: &str, csvs: &[(&str, &str)]) -> (tempfile::TempDir, Result<Settings, SettingsError>) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in csvs {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let file = dir.path().join("settings.yaml");
    std::fs::write(&file, yaml).unwrap();
    let result = Settings::load(&file);
    (dir, result)
}

fn error(yaml: &str, csvs: &[(&str, &str)]) -> String {
    let (dir, result) = load(yaml, csvs);
    let message = result.expect_err("settings should be refused").to_string();
    // Every message starts with the file it is about.
    assert!(
        message.starts_with(dir.path().to_str().unwrap()),
        "{message}"
    );
    message
}

/// 1-based line of the first line of `yaml` containing `needle`, found independently of the parser.
fn line_of(yaml: &str, needle: &str) -> usize {
    yaml.lines()
        .position(|l| l.contains(needle))
        .expect("needle in yaml")
        + 1
}

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn ou(s: &str) -> OuId {
    s.parse().unwrap()
}

#[test]
fn shipped_settings_load_and_resolve_paths() {
    let root = repo_root();
    let s = Settings::load(root.join("settings.yaml")).unwrap();
    assert_eq!(s.environment_identifier.as_str(), "spa-demo");
    assert_eq!(
        s.lake,
        spa_core::settings::Location::Local(root.join("./lake"))
    );
    assert_eq!(
        s.organization.file.as_deref(),
        Some(root.join("fixtures/organization.yaml").as_path())
    );
    assert_eq!(
        s.features.csv_files,
        vec![root.join("fixtures/accounts-overlay.csv")]
    );
    assert_eq!(s.mail.outbox, root.join("./outbox"));
    assert_eq!(
        s.features
            .extra_currencies
            .values()
            .map(|r| r.0.to_string())
            .collect::<Vec<_>>(),
        ["0.92", "0.79"]
    );
    assert_eq!(
        spa_core::organization::TagKeys::of(&s).state,
        "account-state"
    );
    // The overlay added an entry for an account the YAML does not list.
    let e = s
        .effective(&id("300002020202"), Some(&ou("ou-spa0-engineer")))
        .unwrap();
    assert_eq!(e.note.as_deref(), Some("Payments team lead"));
    assert_eq!(
        e.account_tags
            .get(&"owner-team".parse().unwrap())
            .map(String::as_str),
        Some("payments")
    );
    assert_eq!(
        e.preparation
            .variables
            .get(&"BUDGET_AMOUNT".parse().unwrap())
            .map(String::as_str),
        Some("1000")
    );
}

#[test]
fn shipped_organization_file_matches_settings() {
    let root = repo_root();
    let s = Settings::load(root.join("settings.yaml")).unwrap();
    let org =
        spa_core::organization::Organization::load(s.organization.file.as_ref().unwrap()).unwrap();
    assert_eq!(
        org.management_account_id,
        s.automation.management_account_id
    );
    for account in s.accounts.keys() {
        assert!(
            org.account(account).is_some(),
            "{account} of settings/overlay is not in the organization"
        );
    }
    for unit in s.organizational_units.keys() {
        assert!(
            org.unit(unit).is_some(),
            "{unit} is not in the organization"
        );
    }
}

const MERGE: &str = r#"
defaults:
  note: default note
  account_tags: { managed-by: spa, business-unit: none }
  unset_tags: [request-id]
  preparation:
    variables: { BUDGET_AMOUNT: 500, BUDGET_ALERT_PERCENT: 80 }
  purge:
    feature: enabled
    variables: { PURGE_MODE: dry-run }
organizational_units:
  ou-abcd-11111111:
    account_tags: { business-unit: data }
    unset_tags: [old-owner]
    preparation:
      variables: { BUDGET_AMOUNT: 1500 }
    purge:
      feature: disabled
accounts:
  "333333333333":
    note: own note
    account_tags: { business-unit: payments }
    preparation:
      feature: disabled
      variables: { BUDGET_AMOUNT: 2000 }
  "444444444444":
    purge:
      variables: { PURGE_MODE: apply }
"#;

#[test]
fn merge_defaults_then_ou_then_account() {
    let (_dir, s) = load(&format!("{BASE}{MERGE}"), &[]);
    let s = s.unwrap();
    let data = ou("ou-abcd-11111111");
    let var = |v: &str| v.parse().unwrap();
    let tag = |t: &str| t.parse().unwrap();

    // Only in the OU: defaults then OU, key by key.
    let e = s.effective(&id("555555555555"), Some(&data)).unwrap();
    assert_eq!(e.note.as_deref(), Some("default note"));
    assert_eq!(e.account_tags[&tag("managed-by")], "spa");
    assert_eq!(e.account_tags[&tag("business-unit")], "data");
    assert_eq!(e.preparation.variables[&var("BUDGET_AMOUNT")], "1500");
    assert_eq!(e.preparation.variables[&var("BUDGET_ALERT_PERCENT")], "80");
    assert!(e.preparation.enabled);
    assert!(!e.purge.enabled, "the OU disables purge");
    assert_eq!(e.purge.variables[&var("PURGE_MODE")], "dry-run");
    assert_eq!(
        e.unset_tags.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        ["old-owner", "request-id"]
    );

    // In the OU and listed: the account entry wins over the OU entry.
    let e = s.effective(&id("333333333333"), Some(&data)).unwrap();
    assert_eq!(e.note.as_deref(), Some("own note"));
    assert_eq!(e.account_tags[&tag("business-unit")], "payments");
    assert_eq!(e.account_tags[&tag("managed-by")], "spa");
    assert_eq!(e.preparation.variables[&var("BUDGET_AMOUNT")], "2000");
    assert!(!e.preparation.enabled);

    // Listed but outside any managed OU: defaults then account.
    let e = s
        .effective(&id("444444444444"), Some(&ou("ou-abcd-99999999")))
        .unwrap();
    assert!(e.purge.enabled);
    assert_eq!(e.purge.variables[&var("PURGE_MODE")], "apply");
    assert_eq!(e.account_tags[&tag("business-unit")], "none");

    // Neither listed nor in a managed OU; and the management account, wherever it sits.
    assert!(
        s.effective(&id("555555555555"), Some(&ou("ou-abcd-99999999")))
            .is_none()
    );
    assert!(s.effective(&id("111111111111"), Some(&data)).is_none());
}

#[test]
fn feature_defaults_without_any_entry_setting_them() {
    let yaml = format!("{BASE}organizational_units:\n  ou-abcd-11111111: {{}}\n");
    let (_dir, s) = load(&yaml, &[]);
    let e = s
        .unwrap()
        .effective(&id("555555555555"), Some(&ou("ou-abcd-11111111")))
        .unwrap();
    assert!(e.preparation.enabled, "preparation runs unless disabled");
    assert!(!e.purge.enabled, "purge runs only when enabled");
}

#[test]
fn csv_overlays_later_files_win_and_empty_cells_keep() {
    let yaml = format!(
        "{BASE}features:\n  csv_files: [first.csv, second.csv]\naccounts:\n  \"333333333333\":\n    note: from yaml\n    account_tags: {{ team: blue }}\n"
    );
    let first = "Account,Note,Tag: team,Preparation: BUDGET_AMOUNT,Purge: PURGE_MODE\n\
                 333333333333,first note,green,700,apply\n\
                 444444444444,,red,,\n";
    let second = "Account,Tag: team,Note\n333333333333,yellow,\n";
    let (_dir, s) = load(&yaml, &[("first.csv", first), ("second.csv", second)]);
    let s = s.unwrap();
    let a = &s.accounts[&id("333333333333")];
    assert_eq!(
        a.note.as_deref(),
        Some("first note"),
        "an empty cell keeps the earlier value"
    );
    assert_eq!(
        a.account_tags[&"team".parse().unwrap()],
        "yellow",
        "the later file wins"
    );
    assert_eq!(
        a.preparation.variables[&"BUDGET_AMOUNT".parse().unwrap()],
        "700"
    );
    assert_eq!(a.purge.variables[&"PURGE_MODE".parse().unwrap()], "apply");
    let b = &s.accounts[&id("444444444444")];
    assert_eq!(b.account_tags[&"team".parse().unwrap()], "red");
    assert!(b.note.is_none());
    // A CSV-only account becomes managed.
    assert!(s.is_managed(&id("444444444444"), None));
}

#[test]
fn unknown_top_level_key() {
    let yaml = format!("{BASE}colour: blue\n");
    let m = error(&yaml, &[]);
    let line = line_of(&yaml, "colour");
    assert!(
        m.contains(&format!(
            "settings.yaml:{line}:1: unknown field `colour`, expected one of"
        )),
        "{m}"
    );
}

#[test]
fn unknown_nested_key_names_its_path() {
    let yaml = BASE.replace("  region: eu-west-1", "  regoin: eu-west-1");
    let m = error(&yaml, &[]);
    let line = line_of(&yaml, "regoin");
    assert!(
        m.contains(&format!(":{line}:3: automation: unknown field `regoin`")),
        "{m}"
    );
}

#[test]
fn missing_required_key() {
    let yaml = BASE.replace("  region: eu-west-1\n", "");
    let m = error(&yaml, &[]);
    assert!(m.contains("automation: missing field `region`"), "{m}");
}

#[test]
fn wrong_types() {
    let yaml = format!("{BASE}features:\n  cost_email_recipients: finops@example.com\n");
    let m = error(&yaml, &[]);
    let line = line_of(&yaml, "cost_email_recipients");
    assert!(
        m.contains(&format!(":{line}:26: features.cost_email_recipients: invalid type: string \"finops@example.com\", expected a sequence")),
        "{m}"
    );

    let yaml = BASE.replace(
        "maintenance_window: \"cron(0 18 ? * SAT *)\"",
        "maintenance_window: [1, 2]",
    );
    let m = error(&yaml, &[]);
    assert!(
        m.contains("automation.maintenance_window: invalid type: sequence, expected a string"),
        "{m}"
    );

    let yaml = format!("{BASE}automation_extra: 1\n").replace("automation_extra: 1\n", "");
    let yaml = yaml.replace(
        "  region: eu-west-1\n",
        "  region: eu-west-1\n  on_boarding_timeout_hours: soon\n",
    );
    let m = error(&yaml, &[]);
    let line = line_of(&yaml, "on_boarding_timeout_hours");
    assert!(
        m.contains(&format!(":{line}:30: automation.on_boarding_timeout_hours: invalid value: string \"soon\", expected u32"))
            || m.contains(&format!(":{line}:30: automation.on_boarding_timeout_hours: invalid type: string \"soon\", expected u32")),
        "{m}"
    );

    let yaml = format!("{BASE}defaults:\n  preparation:\n    feature: enabld\n");
    let m = error(&yaml, &[]);
    let line = line_of(&yaml, "enabld");
    assert!(
        m.contains(&format!(":{line}:14: defaults.preparation.feature: unknown variant `enabld`, expected `enabled` or `disabled`")),
        "{m}"
    );
}

#[test]
fn bad_account_and_ou_ids() {
    let yaml = format!("{BASE}accounts:\n  \"12345\":\n    note: short id\n");
    let m = error(&yaml, &[]);
    let line = line_of(&yaml, "\"12345\"");
    assert!(
        m.contains(&format!(
            ":{line}:3: accounts: `12345` is not an AWS account id (expected 12 digits"
        )),
        "{m}"
    );

    let yaml = format!("{BASE}organizational_units:\n  ou-sandbox:\n    note: bad\n");
    let m = error(&yaml, &[]);
    let line = line_of(&yaml, "ou-sandbox");
    assert!(
        m.contains(&format!(
            ":{line}:3: organizational_units: `ou-sandbox` is not an organizational unit id"
        )),
        "{m}"
    );

    let yaml = BASE.replace("account_id: \"222222222222\"", "account_id: 2222");
    let m = error(&yaml, &[]);
    assert!(
        m.contains(":3:15: automation.account_id: `2222` is not an AWS account id"),
        "{m}"
    );

    let yaml = format!("{BASE}accounts:\n  \"333333333333\": {{}}\n  \"333333333333\": {{}}\n");
    let m = error(&yaml, &[]);
    assert!(
        m.contains("accounts: `333333333333` is written twice"),
        "{m}"
    );
}

#[test]
fn bad_schedule_expressions() {
    for (expr, expected) in [
        (
            "cron(0 18 * * SAT *)",
            "exactly one of day-of-month (`*`) and day-of-week (`SAT`) must be `?`",
        ),
        ("cron(0 18 ? * SAT)", "found 5 fields"),
        (
            "cron(0 25 ? * SAT *)",
            "bad schedule `cron(0 25 ? * SAT *)`",
        ),
        ("rate(2 day)", "use `days` with the value 2"),
        ("weekly", "expected `cron(...)` or `rate(...)`"),
    ] {
        let yaml = BASE.replace("cron(0 18 ? * SAT *)", expr);
        let m = error(&yaml, &[]);
        let line = line_of(&yaml, "maintenance_window");
        assert!(
            m.contains(&format!(":{line}:23: automation.maintenance_window: ")),
            "{m}"
        );
        assert!(m.contains(expected), "{expr}: {m}");
    }
}

#[test]
fn rules_across_keys() {
    let yaml = format!("{BASE}mail:\n  transport: smtp\n");
    let m = error(&yaml, &[]);
    assert!(m.ends_with("settings.yaml: mail.smtp: required when mail.transport is smtp (expected host, port, tls)"), "{m}");

    let yaml = BASE.replace("organization:\n  adapter: aws\n", "");
    let m = error(&yaml, &[]);
    assert!(
        m.contains("organization.file: required when organization.adapter is local"),
        "{m}"
    );

    let yaml = format!("{BASE}accounts:\n  \"111111111111\": {{}}\n");
    let m = error(&yaml, &[]);
    assert!(
        m.contains("accounts.111111111111: the management account is never managed"),
        "{m}"
    );
}

#[test]
fn yaml_syntax_error_has_position() {
    let yaml = format!("{BASE}features:\n  tag_prefix: \"unclosed\n  x: [\n");
    let m = error(&yaml, &[]);
    let line = line_of(&yaml, "unclosed");
    let end = yaml.lines().count() + 1;
    assert!(
        m.contains(&format!(
            "settings.yaml:{end}:1: found unexpected end of stream, while scanning a quoted scalar at line {line} column 15"
        )),
        "{m}"
    );
}

#[test]
fn unknown_csv_column() {
    let yaml = format!("{BASE}features:\n  csv_files: [overlay.csv]\n");
    let m = error(
        &yaml,
        &[("overlay.csv", "Account,Colour\n333333333333,blue\n")],
    );
    assert!(m.contains("overlay.csv:1: column `Colour`: unknown column (expected `Account`, `Note`, `Tag: <key>`"), "{m}");

    let m = error(
        &yaml,
        &[(
            "overlay.csv",
            "Account,Preparation: 9LIVES\n333333333333,1\n",
        )],
    );
    assert!(
        m.contains("overlay.csv:1: column `Preparation: 9LIVES`: `9LIVES` is not a variable name"),
        "{m}"
    );

    let m = error(&yaml, &[("overlay.csv", "Note\nhello\n")]);
    assert!(
        m.contains("overlay.csv:1: column `Account`: missing"),
        "{m}"
    );
}

#[test]
fn csv_row_with_bad_account_id() {
    let yaml = format!("{BASE}features:\n  csv_files: [overlay.csv]\n");
    let csv = "Account,Note\n333333333333,fine\n33333333333,one digit short\n";
    let m = error(&yaml, &[("overlay.csv", csv)]);
    assert!(
        m.contains("overlay.csv:3: column `Account`: `33333333333` is not an AWS account id"),
        "{m}"
    );
}

#[test]
fn missing_file_is_named() {
    let err = Settings::load("/nonexistent/settings.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("/nonexistent/settings.yaml: cannot read:"),
        "{err}"
    );
}

/// The automation and management accounts are never managed: not when listed (refused, with
/// the key), not when they sit in a managed OU.
#[test]
fn the_automation_and_management_accounts_are_never_managed() {
    for account in ["111111111111", "222222222222"] {
        let listed = format!("{BASE}accounts:\n  \"{account}\": {{}}\n");
        let m = error(&listed, &[]);
        assert!(
            m.contains(&format!("accounts.{account}: the "))
                && m.contains("account is never managed"),
            "{m}"
        );
        let in_ou = format!("{BASE}organizational_units:\n  ou-ab12-cd34ef56: {{}}\n");
        let (_dir, s) = load(&in_ou, &[]);
        let s = s.unwrap();
        assert!(
            !s.is_managed(&id(account), Some(&ou("ou-ab12-cd34ef56"))),
            "{account}"
        );
        assert!(s.is_managed(&id("333333333333"), Some(&ou("ou-ab12-cd34ef56"))));
    }
}

/// `tls: none` only for a relay on this machine: any other host is refused with the key.
#[test]
fn plain_text_smtp_only_on_loopback() {
    let with = |host: &str, tls: &str| {
        format!(
            "{BASE}features:\n  origin_email: sandboxes@example.com\nmail:\n  transport: smtp\n  smtp: {{ host: \"{host}\", port: 25, tls: {tls} }}\n"
        )
    };
    for host in [
        "localhost",
        "LOCALHOST",
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "[::1]",
    ] {
        let (_dir, s) = load(&with(host, "none"), &[]);
        assert!(s.is_ok(), "{host}: {:?}", s.err());
    }
    for host in [
        "smtp.example.com",
        "10.0.0.5",
        "192.168.1.1",
        "localhost.evil.com",
        "0.0.0.0",
        "::",
    ] {
        let m = error(&with(host, "none"), &[]);
        assert!(
            m.contains("mail.smtp.tls") && m.contains(host),
            "{host}: {m}"
        );
        // With TLS the same host is fine.
        let (_dir, s) = load(&with(host, "starttls"), &[]);
        assert!(s.is_ok(), "{host}: {:?}", s.err());
    }
}

/// The exceptions section: a route naming a channel that is not configured, an e-mail channel
/// without recipients, a topic that is no ARN and a webhook address written in the file are
/// each refused with the key; the environment variable's name is what the file holds.
#[test]
fn exception_channels_are_checked() {
    let with = |section: &str| format!("{BASE}exceptions:\n{section}");
    let cases = [
        (
            "  email: { to: [sre@example.com] }\n  labels:\n    FailedBuild: { channels: [teams] }\n",
            "exceptions.labels.FailedBuild.channels",
        ),
        ("  email: { to: [] }\n", "exceptions.email.to"),
        (
            "  sns: { topic_arn: spa-exceptions }\n",
            "exceptions.sns.topic_arn",
        ),
        (
            "  teams: { url: \"https://example.webhook.office.com/x\" }\n",
            "exceptions.teams",
        ),
        (
            "  labels:\n    RootLogin: { holder: true }\n",
            "exceptions.labels",
        ),
    ];
    for (section, key) in cases {
        let m = error(&with(section), &[]);
        assert!(m.contains(key), "{section}: {m}");
    }
    let (_dir, s) = load(
        &with(
            "  teams: { url_env: SPA_TEAMS_WEBHOOK }\n  sns: { topic_arn: \"arn:aws:sns:eu-west-1:222222222222:spa\" }\n  labels:\n    FailedBuild: { channels: [teams, sns], holder: true }\n",
        ),
        &[],
    );
    let s = s.unwrap();
    let route = s
        .exceptions
        .route(spa_core::events::ExceptionLabel::FailedBuild);
    assert!(route.holder);
    assert_eq!(route.channels.unwrap().len(), 2);
    // A label not listed goes to every configured channel, without the holder.
    let route = s
        .exceptions
        .route(spa_core::events::ExceptionLabel::BudgetAlert);
    assert!(!route.holder);
    assert_eq!(route.channels.unwrap().len(), 2);
}

#[test]
fn spend_thresholds_merge_per_field_over_every_account_and_cost_centers_stand_alone() {
    let yaml = format!(
        "{BASE}features:\n  extra_currencies: {{ EUR: \"0.92\" }}\n  csv_files: [overlay.csv]\nreporting:\n  cost_centers:\n    Research:\n      spend: {{ daily_limit: 500, monthly_budget: \"9200 EUR\", steps: [80, 100] }}\ndefaults:\n  spend:\n    daily_limit: 50\n    monthly_budget: 1000\n    jump: {{ factor: 3, min_amount: 20 }}\norganizational_units:\n  ou-ab12-cd34ef56:\n    spend: {{ daily_limit: \"40 EUR\", jump: {{ factor: \"2.5\" }} }}\naccounts:\n  \"333333333333\":\n    spend: {{ monthly_budget: none }}\n"
    );
    let csv = "Account,Spend: daily_limit,Spend: steps,Spend: jump.min_amount\n444444444444,none,25 75,\n";
    let (_dir, s) = load(&yaml, &[("overlay.csv", csv)]);
    let s = s.unwrap();
    let in_ou = s.spend_limits(&id("333333333333"), Some(&ou("ou-ab12-cd34ef56")));
    assert_eq!(in_ou.daily_limit, Some("40 EUR".parse().unwrap()));
    assert_eq!(in_ou.monthly_budget, None, "none turns the default off");
    let jump = in_ou.jump.unwrap();
    assert_eq!(
        (jump.factor.to_string(), jump.min_amount.to_string()),
        ("2.5".into(), "20 USD".into())
    );
    // Unmanaged accounts get the defaults too; the CSV overlay changes only what it names.
    let elsewhere = s.spend_limits(&id("555555555555"), None);
    assert_eq!(elsewhere.daily_limit, Some("50".parse().unwrap()));
    assert_eq!(elsewhere.steps.percents(), [50, 80, 100]);
    let overlaid = s.spend_limits(&id("444444444444"), None);
    assert_eq!(overlaid.daily_limit, None);
    assert_eq!(overlaid.steps.percents(), [25, 75]);
    assert_eq!(overlaid.monthly_budget, Some("1000".parse().unwrap()));
    let research = s.cost_center_limits("Research");
    assert_eq!(research.monthly_budget, Some("9200 EUR".parse().unwrap()));
    assert_eq!(research.steps.percents(), [80, 100]);
    assert!(
        research.jump.is_none(),
        "cost centers do not inherit defaults"
    );
    assert!(!s.cost_center_limits("Other").any());
}

#[test]
fn bad_spend_values_name_their_place() {
    let with = |entry: &str| format!("{BASE}defaults:\n  spend:\n    {entry}\n");
    for (entry, expected) in [
        ("daily_limit: -5", "is not an amount"),
        ("daily_limit: \"5 eur\"", "is not an amount"),
        ("monthly_budget: lots", "or none to turn it off"),
        ("steps: [80, 50]", "expected increasing percentages"),
        ("jump: { factor: 1 }", "is not a jump factor"),
        ("jump: { factor: 3, minimum: 2 }", "unknown field `minimum`"),
        ("daily_cap: 5", "unknown field `daily_cap`"),
    ] {
        let yaml = with(entry);
        let m = error(&yaml, &[]);
        let line = line_of(&yaml, entry.split(':').next().unwrap());
        assert!(
            m.contains(&format!("settings.yaml:{line}:")),
            "{entry}: {m}"
        );
        assert!(m.contains(expected), "{entry}: {m}");
    }
    let m = error(&with("daily_limit: \"5 CHF\""), &[]);
    assert!(
        m.ends_with("defaults.spend.daily_limit: CHF is not in features.extra_currencies (add its rate there, or give the amount in USD)"),
        "{m}"
    );
    let yaml = format!("{BASE}features:\n  csv_files: [overlay.csv]\n");
    let csv = "Account,Spend: monthly_budget\n333333333333,100\n333333333333,\"7 JPY\"\n";
    let m = error(&yaml, &[("overlay.csv", csv)]);
    assert!(
        m.contains(
            "overlay.csv:3: column `Spend: monthly_budget`: JPY is not in features.extra_currencies"
        ),
        "{m}"
    );
    let m = error(
        &yaml,
        &[("overlay.csv", "Account,Spend: weekly\n333333333333,1\n")],
    );
    assert!(m.contains("unknown spend key `weekly`"), "{m}");
}

#[test]
fn the_organization_trail_bucket_is_followed_beside_the_listed_ones() {
    let root = repo_root();
    let shipped = std::fs::read_to_string(root.join("settings.yaml")).unwrap();
    let s = Settings::from_yaml(&shipped, &root.join("settings.yaml")).unwrap();
    assert_eq!(s.organization_trail_bucket(), None);
    assert!(s.trail_buckets().is_empty());
    let yaml = shipped
        .replace("  trail_buckets: []", "  trail_buckets: [other-trail]")
        .replace("  organization_trail: false", "  organization_trail: true");
    let s = Settings::from_yaml(&yaml, &root.join("settings.yaml")).unwrap();
    // <environment>-trail-<automation account>-<automation region>
    let bucket = "spa-demo-trail-222222222222-eu-west-1";
    assert_eq!(s.organization_trail_bucket().as_deref(), Some(bucket));
    assert_eq!(
        s.trail_buckets().into_iter().collect::<Vec<_>>(),
        ["other-trail", bucket]
    );
}
