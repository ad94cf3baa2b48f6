//! The service control policies (SCPs) of the managed OUs, rendered from `guardrails` in
//! settings: what a sandbox account may never do, whoever its holder is.
//!
//! Three kinds of policy, each a list of statements with a stable `Sid`:
//! - `baseline` (every managed OU): the root user can do nothing; no account leaves the
//!   organization; CloudTrail, Config, GuardDuty and the event forwarding stay on; the
//!   automation's roles, stacks, rules, topic and the account's budget stay as deployed; no
//!   resource is shared outside the organization;
//! - `regions`: nothing outside `allowed_regions` but the global services;
//! - `costs`: the denied services and actions, durable commitments (reserved capacity,
//!   savings plans, domain registration, object lock), the denied instance families.
//!
//! Every statement but the root user's spares the automation's roles (member role, build role,
//! the StackSet execution role that deploys the member stack) and `exempt_principals`. OUs whose
//! lists are the same share one policy; a policy longer than Organizations allows (5,120
//! characters, minified) is split into parts, and a list too long for one statement is spread
//! over several (`DenyCommitments`, `DenyCommitments2`, ...); an OU that would carry more than
//! Organizations attaches to one target (five, AWS's `FullAWSAccess` included) is refused with an
//! error that names it.

use serde_json::{Value, json};

use crate::settings::{GuardrailRules, OuId, Settings};

/// Organizations' largest service control policy, in characters.
pub const MAX_POLICY_CHARS: usize = 5_120;

/// Organizations' most service control policies attached to one target, AWS's `FullAWSAccess`
/// (which stays attached) included.
pub const MAX_ATTACHED: usize = 5;

/// Actions that commit money beyond the account's life: reserved capacity, savings plans,
/// domains, subscriptions, and locks a purge cannot remove.
pub const COMMITMENTS: &[&str] = &[
    "backup:PutBackupVaultLockConfiguration",
    "dynamodb:PurchaseReservedCapacityOfferings",
    "ec2:AcceptReservedInstancesExchangeQuote",
    "ec2:PurchaseCapacityBlock",
    "ec2:PurchaseHostReservation",
    "ec2:PurchaseReservedInstancesOffering",
    "ec2:PurchaseScheduledInstances",
    "elasticache:PurchaseReservedCacheNodesOffering",
    "es:PurchaseReservedInstanceOffering",
    "glacier:CompleteVaultLock",
    "glacier:InitiateVaultLock",
    "memorydb:PurchaseReservedNodesOffering",
    "rds:PurchaseReservedDBInstancesOffering",
    "redshift:PurchaseReservedNodeOffering",
    "route53domains:RegisterDomain",
    "route53domains:RenewDomain",
    "route53domains:TransferDomain",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutObjectLegalHold",
    "s3:PutObjectRetention",
    "savingsplans:CreateSavingsPlan",
    "shield:CreateSubscription",
];

/// Services that answer from one region whatever the request's (`aws:RequestedRegion` is
/// us-east-1 or absent for them): never denied by the region policy.
pub const GLOBAL_SERVICES: &[&str] = &[
    "a4b:*",
    "account:*",
    "acm:*",
    "aws-marketplace-management:*",
    "aws-marketplace:*",
    "aws-portal:*",
    "billing:*",
    "budgets:*",
    "ce:*",
    "chatbot:*",
    "cloudfront:*",
    "config:*",
    "cur:*",
    "directconnect:*",
    "ec2:DescribeRegions",
    "ec2:DescribeTransitGateways",
    "ec2:DescribeVpnGateways",
    "fms:*",
    "globalaccelerator:*",
    "health:*",
    "iam:*",
    "importexport:*",
    "kms:*",
    "networkmanager:*",
    "organizations:*",
    "pricing:*",
    "route53-recovery-cluster:*",
    "route53-recovery-control-config:*",
    "route53-recovery-readiness:*",
    "route53:*",
    "route53domains:*",
    "s3:GetAccountPublic*",
    "s3:ListAllMyBuckets",
    "s3:ListMultiRegionAccessPoints",
    "s3:PutAccountPublic*",
    "shield:*",
    "sso:*",
    "sts:*",
    "support:*",
    "tag:GetResources",
    "trustedadvisor:*",
    "waf-regional:*",
    "waf:*",
    "wafv2:*",
];

/// What the policies could not be rendered into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardrailError {
    /// One statement alone is longer than a policy may be.
    #[error(
        "guardrails: statement {sid} of policy {policy} alone is {chars} characters, above the {MAX_POLICY_CHARS} Organizations allows in a policy: shorten {setting}"
    )]
    StatementTooLarge {
        /// The policy.
        policy: String,
        /// The statement.
        sid: String,
        /// Its length, minified, in a policy of its own.
        chars: usize,
        /// The settings key whose list made it long.
        setting: String,
    },
    /// An OU would carry more policies than Organizations attaches to one target.
    #[error(
        "guardrails: {ou} would carry {count} service control policies ({names}) beside FullAWSAccess; Organizations attaches at most {MAX_ATTACHED} to a target: shorten the lists of guardrails or of guardrails.organizational_units.{ou}"
    )]
    TooMany {
        /// The OU.
        ou: String,
        /// How many of ours.
        count: usize,
        /// Their names.
        names: String,
    },
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Its `Sid`.
    pub sid: String,
    /// What it denies, in a sentence.
    pub summary: String,
    /// The settings key whose values it carries (for errors).
    pub setting: String,
    /// The statement as IAM reads it (with its `Sid`).
    pub body: Value,
}

/// One service control policy and the OUs it is attached to.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Its name in Organizations (`<env>-guardrails-<kind>[-<ou>][-<part>]`).
    pub name: String,
    /// Its description in Organizations.
    pub description: String,
    /// Its statements.
    pub statements: Vec<Statement>,
    /// The OUs it is attached to (sorted).
    pub targets: Vec<OuId>,
}

impl Policy {
    /// The policy document.
    pub fn document(&self) -> Value {
        document(&self.statements)
    }

    /// The document minified: what Organizations stores and counts.
    pub fn content(&self) -> String {
        self.document().to_string()
    }
}

fn document(statements: &[Statement]) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": statements.iter().map(|s| s.body.clone()).collect::<Vec<_>>(),
    })
}

/// The names the automation gives its resources: `<env>` as written and lowercased (the
/// deployment lowercases it, the builds pass it as written).
fn env_forms(settings: &Settings) -> Vec<String> {
    let env = settings.environment_identifier.as_str();
    let mut forms = vec![env.to_ascii_lowercase(), env.to_string()];
    forms.dedup();
    forms
}

/// The principals no guardrail but the root user's applies to: the automation's roles in the
/// member accounts, the StackSet execution role that deploys their stack, and
/// `guardrails.exempt_principals`.
pub fn exempt_principals(settings: &Settings) -> Vec<String> {
    let mut out = vec![
        format!(
            "arn:aws:iam::*:role/{}",
            settings.automation.account_role.as_str()
        ),
        format!("arn:aws:iam::*:role/{}", settings.build_role()),
        "arn:aws:iam::*:role/stacksets-exec-*".to_string(),
    ];
    out.extend(
        settings
            .guardrails
            .exempt_principals
            .iter()
            .map(|p| p.as_str().to_string()),
    );
    out.sort();
    out.dedup();
    out
}

fn statement(sid: &str, summary: String, setting: &str, mut body: Value) -> Statement {
    body["Sid"] = json!(sid);
    body["Effect"] = json!("Deny");
    Statement {
        sid: sid.to_string(),
        summary,
        setting: setting.to_string(),
        body,
    }
}

/// `body` with the exemption of `exempt` added to its conditions.
fn sparing(mut body: Value, exempt: &[String]) -> Value {
    body["Condition"]["ArnNotLike"]["aws:PrincipalArn"] = json!(exempt);
    body
}

fn baseline(settings: &Settings, exempt: &[String]) -> Vec<Statement> {
    let envs = env_forms(settings);
    let lower = &envs[0];
    let roles: Vec<String> = [
        settings.automation.account_role.as_str().to_string(),
        settings.build_role(),
    ]
    .into_iter()
    .chain(envs.iter().map(|e| format!("{e}-*")))
    .map(|r| format!("arn:aws:iam::*:role/{r}"))
    .collect();
    let per_env = |pattern: &str| -> Vec<String> {
        envs.iter().map(|e| pattern.replace("{env}", e)).collect()
    };
    vec![
        statement(
            "DenyRootUser",
            "the account's root user can do nothing".into(),
            "",
            json!({"Action": "*", "Resource": "*",
                "Condition": {"StringLike": {"aws:PrincipalArn": ["arn:aws:iam::*:root"]}}}),
        ),
        statement(
            "DenyLeavingOrganization",
            "no account leaves the organization".into(),
            "",
            json!({"Action": "organizations:LeaveOrganization", "Resource": "*"}),
        ),
        statement(
            "DenyAuditChanges",
            "CloudTrail trails, Config recorders and GuardDuty detectors cannot be stopped or deleted".into(),
            "guardrails.exempt_principals",
            sparing(
                json!({"Action": [
                    "cloudtrail:DeleteTrail", "cloudtrail:PutEventSelectors", "cloudtrail:StopLogging",
                    "cloudtrail:UpdateTrail",
                    "config:DeleteConfigRule", "config:DeleteConfigurationRecorder",
                    "config:DeleteDeliveryChannel", "config:StopConfigurationRecorder",
                    "guardduty:DeleteDetector", "guardduty:DisassociateFromAdministratorAccount",
                    "guardduty:DisassociateFromMasterAccount", "guardduty:UpdateDetector"],
                    "Resource": "*"}),
                exempt,
            ),
        ),
        statement(
            "ProtectEventForwarding",
            format!("the rules forwarding events to the automation ({lower}-*) stay as deployed"),
            "guardrails.exempt_principals",
            sparing(
                json!({"Action": ["events:DeleteRule", "events:DisableRule", "events:PutRule",
                    "events:PutTargets", "events:RemoveTargets"],
                    "Resource": per_env("arn:aws:events:*:*:rule/{env}-*")}),
                exempt,
            ),
        ),
        statement(
            "ProtectAutomationRoles",
            format!(
                "the automation's roles ({}, {}, {lower}-*) stay as deployed",
                settings.automation.account_role.as_str(),
                settings.build_role()
            ),
            "guardrails.exempt_principals",
            sparing(
                json!({"Action": ["iam:AttachRolePolicy", "iam:DeleteRole",
                    "iam:DeleteRolePermissionsBoundary", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
                    "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:TagRole", "iam:UntagRole",
                    "iam:UpdateAssumeRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription"],
                    "Resource": roles}),
                exempt,
            ),
        ),
        statement(
            "ProtectAutomationStacks",
            format!("the member stack (StackSet-{lower}-members-*) stays as deployed"),
            "guardrails.exempt_principals",
            sparing(
                json!({"Action": ["cloudformation:CreateChangeSet", "cloudformation:DeleteStack",
                    "cloudformation:ExecuteChangeSet", "cloudformation:SetStackPolicy",
                    "cloudformation:UpdateStack", "cloudformation:UpdateTerminationProtection"],
                    "Resource": [format!("arn:aws:cloudformation:*:*:stack/StackSet-{lower}-members-*/*")]}),
                exempt,
            ),
        ),
        statement(
            "ProtectAccountBudget",
            format!("the account's budget ({lower}-*) and its alert topic stay as prepared"),
            "guardrails.exempt_principals",
            sparing(
                json!({"Action": ["budgets:DeleteBudgetAction", "budgets:ModifyBudget",
                    "budgets:UpdateBudgetAction", "sns:DeleteTopic", "sns:RemovePermission",
                    "sns:SetTopicAttributes", "sns:Unsubscribe"],
                    "Resource": per_env("arn:aws:budgets::*:budget/{env}-*").into_iter()
                        .chain(per_env("arn:aws:sns:*:*:{env}-*")).collect::<Vec<_>>()}),
                exempt,
            ),
        ),
        statement(
            "DenySharingOutsideOrganization",
            "no resource is shared with principals outside the organization".into(),
            "",
            json!({"Action": ["ram:AssociateResourceShare", "ram:CreateResourceShare",
                "ram:UpdateResourceShare"], "Resource": "*",
                "Condition": {"Bool": {"ram:RequestedAllowsExternalPrincipals": "true"}}}),
        ),
    ]
}

/// The settings key of `field` for `ou`: its own list when it has one, else the section's.
fn list_key(settings: &Settings, ou: Option<&OuId>, field: &str) -> String {
    let own = ou.and_then(|ou| settings.guardrails.organizational_units.get(ou));
    let overridden = own.is_some_and(|o| match field {
        "allowed_regions" => o.allowed_regions.is_some(),
        "denied_services" => o.denied_services.is_some(),
        "denied_actions" => o.denied_actions.is_some(),
        _ => o.denied_instance_families.is_some(),
    });
    if let (true, Some(ou)) = (overridden, ou) {
        format!("guardrails.organizational_units.{ou}.{field}")
    } else {
        format!("guardrails.{field}")
    }
}

/// Statements `sid`, `sid2`, ... denying `items` in slices that each fit a policy of their own:
/// a list longer than a policy holds is spread over several statements (and then policies),
/// which deny together what one statement would.
fn spread(
    sid: &str,
    summary: &str,
    setting: &str,
    items: &[String],
    body: impl Fn(&[String]) -> Value,
) -> Vec<Statement> {
    let fits = |slice: &[String]| {
        let s = statement(sid, String::new(), setting, body(slice));
        document(&[s]).to_string().len() <= MAX_POLICY_CHARS
    };
    let mut slices: Vec<Vec<String>> = Vec::new();
    for item in items {
        let grown = slices.last().is_some_and(|last| {
            let mut trial = last.clone();
            trial.push(item.clone());
            fits(&trial)
        });
        match slices.last_mut() {
            Some(last) if grown => last.push(item.clone()),
            _ => slices.push(vec![item.clone()]),
        }
    }
    slices
        .iter()
        .enumerate()
        .map(|(i, slice)| {
            let sid = if i == 0 {
                sid.to_string()
            } else {
                format!("{sid}{}", i + 1)
            };
            statement(&sid, summary.to_string(), setting, body(slice))
        })
        .collect()
}

fn regions(
    settings: &Settings,
    ou: Option<&OuId>,
    rules: &GuardrailRules,
    exempt: &[String],
) -> Vec<Statement> {
    if rules.allowed_regions.is_empty() {
        return Vec::new();
    }
    let allowed: Vec<&str> = rules.allowed_regions.iter().map(|r| r.as_str()).collect();
    vec![statement(
        "DenyOtherRegions",
        format!(
            "nothing outside {} but the global services",
            allowed.join(", ")
        ),
        &list_key(settings, ou, "allowed_regions"),
        sparing(
            json!({"NotAction": GLOBAL_SERVICES, "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:RequestedRegion": allowed}}}),
            exempt,
        ),
    )]
}

fn costs(
    settings: &Settings,
    ou: Option<&OuId>,
    rules: &GuardrailRules,
    exempt: &[String],
) -> Vec<Statement> {
    let mut out = Vec::new();
    let services: Vec<String> = rules
        .denied_services
        .iter()
        .map(|s| format!("{s}:*"))
        .collect();
    if !services.is_empty() {
        let names: Vec<&str> = rules.denied_services.iter().map(|s| s.as_str()).collect();
        out.extend(spread(
            "DenyCostlyServices",
            &format!("no use of {}", names.join(", ")),
            &list_key(settings, ou, "denied_services"),
            &services,
            |slice| sparing(json!({"Action": slice, "Resource": "*"}), exempt),
        ));
    }
    let mut actions: Vec<String> = COMMITMENTS.iter().map(|a| a.to_string()).collect();
    actions.extend(rules.denied_actions.iter().map(|a| a.as_str().to_string()));
    actions.sort();
    actions.dedup();
    let extra = match rules.denied_actions.len() {
        0 => String::new(),
        1..=5 => format!(
            ", nor {}",
            rules
                .denied_actions
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        n => format!(", nor {n} more actions"),
    };
    out.extend(spread(
        "DenyCommitments",
        &format!("no reserved capacity, savings plan, domain, subscription or object lock{extra}"),
        &list_key(settings, ou, "denied_actions"),
        &actions,
        |slice| sparing(json!({"Action": slice, "Resource": "*"}), exempt),
    ));
    let types: Vec<String> = rules
        .denied_instance_families
        .iter()
        .map(|f| format!("{f}.*"))
        .collect();
    if !types.is_empty() {
        out.extend(spread(
            "DenyInstanceFamilies",
            &format!("no EC2 instance of the families {}", types.join(", ")),
            &list_key(settings, ou, "denied_instance_families"),
            &types,
            |slice| {
                sparing(
                    json!({"Action": ["ec2:RunInstances", "ec2:StartInstances"],
                        "Resource": "arn:aws:ec2:*:*:instance/*",
                        "Condition": {"StringLike": {"ec2:InstanceType": slice}}}),
                    exempt,
                )
            },
        ));
    }
    out
}

/// `statements` packed, in order, into as few documents within [`MAX_POLICY_CHARS`] as hold
/// them.
fn pack(policy: &str, statements: Vec<Statement>) -> Result<Vec<Vec<Statement>>, GuardrailError> {
    let mut parts: Vec<Vec<Statement>> = Vec::new();
    for s in statements {
        let alone = document(std::slice::from_ref(&s)).to_string().len();
        if alone > MAX_POLICY_CHARS {
            return Err(GuardrailError::StatementTooLarge {
                policy: policy.to_string(),
                sid: s.sid,
                chars: alone,
                setting: s.setting,
            });
        }
        let fits = parts.last().is_some_and(|part| {
            let mut trial = part.clone();
            trial.push(s.clone());
            document(&trial).to_string().len() <= MAX_POLICY_CHARS
        });
        match parts.last_mut() {
            Some(part) if fits => part.push(s),
            _ => parts.push(vec![s]),
        }
    }
    Ok(parts)
}

/// The policies `settings` ask for, each with the OUs it is attached to; none when
/// `guardrails.feature` is not `enabled`.
pub fn policies(settings: &Settings) -> Result<Vec<Policy>, GuardrailError> {
    let guardrails = &settings.guardrails;
    if !guardrails.enabled() || settings.organizational_units.is_empty() {
        return Ok(Vec::new());
    }
    let env = settings
        .environment_identifier
        .as_str()
        .to_ascii_lowercase();
    let exempt = exempt_principals(settings);
    let units: Vec<&OuId> = settings.organizational_units.keys().collect();

    // (kind, statements) -> OUs; OUs whose statements deny the same share a policy.
    let same = |a: &[Statement], b: &[Statement]| {
        a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.body == b.body)
    };
    let mut groups: Vec<(&str, Vec<Statement>, Vec<OuId>)> = Vec::new();
    let mut add = |kind: &'static str, statements: Vec<Statement>, ou: &OuId| {
        if statements.is_empty() {
            return;
        }
        match groups
            .iter_mut()
            .find(|(k, s, _)| *k == kind && same(s, &statements))
        {
            Some((_, _, targets)) => targets.push(ou.clone()),
            None => groups.push((kind, statements, vec![ou.clone()])),
        }
    };
    // Kind by kind, so that policies come out baseline, regions, costs. The baseline is the
    // same for every OU: made once.
    let common = baseline(settings, &exempt);
    for ou in &units {
        add("baseline", common.clone(), ou);
    }
    for ou in &units {
        add(
            "regions",
            regions(settings, Some(ou), &guardrails.rules(ou), &exempt),
            ou,
        );
    }
    for ou in &units {
        add(
            "costs",
            costs(settings, Some(ou), &guardrails.rules(ou), &exempt),
            ou,
        );
    }

    // The policy of the section's own lists keeps the plain name; an OU's variant adds its id.
    let section = guardrails.section_rules();
    let plain_regions = regions(settings, None, &section, &exempt);
    let plain_costs = costs(settings, None, &section, &exempt);
    let mut out = Vec::new();
    for (kind, statements, targets) in groups {
        let plain = match kind {
            "regions" => same(&statements, &plain_regions),
            "costs" => same(&statements, &plain_costs),
            _ => true,
        };
        let base = if plain {
            format!("{env}-guardrails-{kind}")
        } else {
            format!("{env}-guardrails-{kind}-{}", targets[0])
        };
        let parts = pack(&base, statements)?;
        let count = parts.len();
        for (i, part) in parts.into_iter().enumerate() {
            let name = if count == 1 {
                base.clone()
            } else {
                format!("{base}-{}", i + 1)
            };
            let what = match kind {
                "baseline" => "root user, organization, audit and the automation's resources",
                "regions" => "regions outside the allowed ones",
                _ => "costly services, commitments and instance families",
            };
            let description = if count == 1 {
                format!("Sandbox guardrails of {env}: {what}")
            } else {
                format!(
                    "Sandbox guardrails of {env}: {what} (part {} of {count})",
                    i + 1
                )
            };
            out.push(Policy {
                name,
                description,
                statements: part,
                targets: targets.clone(),
            });
        }
    }
    for ou in &units {
        let mine: Vec<&str> = out
            .iter()
            .filter(|p| p.targets.contains(ou))
            .map(|p| p.name.as_str())
            .collect();
        if mine.len() + 1 > MAX_ATTACHED {
            return Err(GuardrailError::TooMany {
                ou: ou.to_string(),
                count: mine.len(),
                names: mine.join(", "),
            });
        }
    }
    Ok(out)
}

/// The policies of `policies` attached to `ou`.
pub fn of_unit<'a>(policies: &'a [Policy], ou: &OuId) -> Vec<&'a Policy> {
    policies.iter().filter(|p| p.targets.contains(ou)).collect()
}
