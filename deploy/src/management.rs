//! The management account's stack (in us-east-1, where billing metrics live): the organization
//! role the automation reads and tags the organization with, trusting only the automation's
//! function roles; one billing alarm per managed account (`EstimatedCharges` with the
//! `LinkedAccount` dimension exists in the payer account only) at its monthly budget, forwarded
//! to the central bus; and the StackSet that puts the member stack in every account of the
//! managed OUs, now and as accounts join; optionally the organization's CloudTrail trail.

use serde_json::{Map, Value, json};
use spa_core::Settings;
use spa_core::guardrails::Policy;
use spa_core::organization::{AccountStatus, Organization};

use crate::Template;
use crate::cfn::forwarding_role;
use crate::names::Names;
use crate::operations::{self, Via};

/// The management account's template; `organization` says which accounts are managed,
/// `policies` are the guardrails attached to the managed OUs.
pub fn template(
    settings: &Settings,
    organization: &Organization,
    members: &Template,
    policies: &[Policy],
) -> Template {
    let names = Names::of(settings);
    let env = names.env();
    let mut resources = Map::new();
    let mut add = |id: &str, resource: Value| {
        resources.insert(id.to_string(), resource);
    };
    // Trusted: the roles of the functions that act through this one.
    let trusted = operations::trusted_roles(Via::Organization, settings);
    if let Some(role) = &settings.automation.organization_role {
        add(
            "OrganizationRole",
            json!({
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": role.as_str(),
                    "Description": "Assumed by the automation to read the organization and write the lifecycle's tags",
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                        "Effect": "Allow", "Principal": {"AWS": trusted}, "Action": "sts:AssumeRole"}]},
                    "Policies": [{"PolicyName": "organization", "PolicyDocument": {"Version": "2012-10-17",
                        "Statement": operations::assumed_statements(Via::Organization, settings)}}]
                }
            }),
        );
    }

    // One billing alarm per managed, active account that has a monthly budget.
    let rates = &settings.features.extra_currencies;
    let mut alarms = 0;
    for account in &organization.accounts {
        if account.status != AccountStatus::Active
            || !settings.is_managed(&account.id, Some(&account.parent))
        {
            continue;
        }
        let limits = settings.spend_limits(&account.id, Some(&account.parent));
        let Some(threshold) = limits
            .monthly_budget
            .as_ref()
            .and_then(|b| b.approx_usd(rates))
        else {
            continue;
        };
        let id = account.id.as_str();
        alarms += 1;
        add(
            &format!("BillingAlarm{id}"),
            json!({
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": format!("{env}-billing-{id}"),
                    "AlarmDescription": format!("Estimated charges of {id} this month above its monthly budget"),
                    "Namespace": "AWS/Billing",
                    "MetricName": "EstimatedCharges",
                    "Dimensions": [{"Name": "Currency", "Value": "USD"}, {"Name": "LinkedAccount", "Value": id}],
                    "Statistic": "Maximum",
                    "Period": 21_600,
                    "EvaluationPeriods": 1,
                    "Threshold": threshold.to_string().parse::<f64>().unwrap_or(0.0),
                    "ComparisonOperator": "GreaterThanThreshold",
                    "TreatMissingData": "notBreaching"
                }
            }),
        );
    }
    if alarms > 0 {
        add(
            "AlarmForwardingRole",
            forwarding_role(
                names.of_what("alarm-forwarding"),
                "EventBridge forwarding the billing alarms' state changes to the central bus",
            ),
        );
        add(
            "AlarmForwarding",
            json!({
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "Description": "The billing alarms' state changes: to the central bus",
                    "EventPattern": {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
                        "detail": {"alarmName": [{"prefix": format!("{env}-billing-")}]}},
                    "State": "ENABLED",
                    "Targets": [{"Id": "central-bus", "Arn": {"Ref": "CentralBusArn"},
                        "RoleArn": {"Fn::GetAtt": ["AlarmForwardingRole", "Arn"]}}]
                }
            }),
        );
    }

    // The organization's trail, delivering to the automation account's trail bucket (which
    // the automation stack creates first, with the policy that lets this trail write).
    if let Some(bucket) = settings.organization_trail_bucket() {
        add(
            "OrganizationTrail",
            json!({
                "Type": "AWS::CloudTrail::Trail",
                "Metadata": {"checkov": {"skip": [
                    {"id": "CKV_AWS_35", "comment": "The trail's files are encrypted at rest by the bucket (SSE-S3); a KMS key would add a cross-account key policy for the ingest function's reads."},
                    {"id": "CKV_AWS_252", "comment": "New files are notified by the bucket to the ingest queue, not by the trail's SNS topic."}]}},
                "Properties": {
                    "TrailName": names.trail(),
                    "S3BucketName": bucket,
                    "IsLogging": true,
                    "IsOrganizationTrail": true,
                    "IsMultiRegionTrail": true,
                    "IncludeGlobalServiceEvents": true,
                    "EnableLogFileValidation": true
                }
            }),
        );
    }

    // The guardrails: each service control policy attached to its OUs (Organizations keeps
    // AWS's FullAWSAccess attached beside them).
    for policy in policies {
        add(
            &logical_id(&policy.name, names.env()),
            json!({
                "Type": "AWS::Organizations::Policy",
                "Properties": {
                    "Name": policy.name,
                    "Description": policy.description,
                    "Type": "SERVICE_CONTROL_POLICY",
                    "Content": policy.content(),
                    "TargetIds": policy.targets.iter().map(|t| t.as_str()).collect::<Vec<_>>()
                }
            }),
        );
    }

    // The member stack in every account of the managed OUs.
    let ous: Vec<&str> = settings
        .organizational_units
        .keys()
        .map(|ou| ou.as_str())
        .collect();
    if !ous.is_empty() {
        add(
            "MembersStackSet",
            json!({
                "Type": "AWS::CloudFormation::StackSet",
                "Properties": {
                    "StackSetName": names.of_what("members"),
                    "Description": "The member accounts' stack of the sandbox accounts system",
                    "PermissionModel": "SERVICE_MANAGED",
                    "AutoDeployment": {"Enabled": true, "RetainStacksOnAccountRemoval": false},
                    "Capabilities": ["CAPABILITY_NAMED_IAM"],
                    "ManagedExecution": {"Active": true},
                    "OperationPreferences": {"FailureTolerancePercentage": 10, "MaxConcurrentPercentage": 25,
                        "RegionConcurrencyType": "PARALLEL"},
                    "Parameters": [
                        {"ParameterKey": "CentralBusArn", "ParameterValue": {"Ref": "CentralBusArn"}},
                        {"ParameterKey": "AlertQueueArn", "ParameterValue": {"Ref": "AlertQueueArn"}}
                    ],
                    "StackInstancesGroup": [{
                        "DeploymentTargets": {"OrganizationalUnitIds": ous},
                        "Regions": [settings.automation.region.as_str()]
                    }],
                    "TemplateBody": members.text()
                }
            }),
        );
    }

    // Parameters only where a resource uses them (an unused one is a lint warning).
    let mut parameters = Map::new();
    if alarms > 0 || !ous.is_empty() {
        parameters.insert(
            "CentralBusArn".into(),
            json!({"Type": "String",
            "AllowedPattern": "^arn:aws[a-z-]*:events:.+:event-bus/.+",
            "Description": "The automation account's central bus (output CentralBusArn)"}),
        );
    }
    if !ous.is_empty() {
        parameters.insert("AlertQueueArn".into(), json!({"Type": "String", "Default": "",
            "Description": "The automation account's alert queue (empty: budget notifications are not forwarded)"}));
    }
    let mut body = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("Sandbox accounts system {env}: management account (us-east-1: billing metrics live there)"),
        "Resources": Value::Object(resources),
    });
    if !parameters.is_empty() {
        body["Parameters"] = Value::Object(parameters);
    }
    Template {
        file: "management.json".into(),
        body,
    }
}

/// A policy's logical id: `Guardrails` and the words of its name after the environment's, each
/// capitalized (`spa-demo-guardrails-regions-ou-ab12-cd34ef56` -> `GuardrailsRegionsOuAb12Cd34ef56`).
fn logical_id(name: &str, env: &str) -> String {
    let rest = name
        .strip_prefix(env)
        .unwrap_or(name)
        .trim_start_matches('-');
    rest.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn logical_ids_come_from_the_policy_names() {
        assert_eq!(
            super::logical_id("spa-demo-guardrails-regions-ou-ab12-cd34ef56", "spa-demo"),
            "GuardrailsRegionsOuAb12Cd34ef56"
        );
        assert_eq!(
            super::logical_id("spa-demo-guardrails-costs-2", "spa-demo"),
            "GuardrailsCosts2"
        );
    }
}
