//! The member accounts' stack (deployed to the managed OUs by a service-managed StackSet): the
//! role the automation assumes, trusting only the lifecycle function's role; CodeBuild's service
//! role for preparation and purge; the forwarding of console sign-ins, the builds' state changes
//! and launch calls to the central bus, with the role EventBridge needs for it; and the topic
//! the preparation's budget publishes to, subscribed by the central alert queue.

use serde_json::{Map, Value, json};
use spa_core::Settings;
use spa_core::events::{BUILD_PROJECTS, LAUNCH_EVENTS};

use crate::Template;
use crate::cfn::{forwarding_role, get, sub};
use crate::names::Names;
use crate::operations::{self, Via};

/// The role Control Tower creates in every account: it trusts the management account only, so
/// the stack never creates or changes it.
const CONTROL_TOWER_ROLE: &str = "AWSControlTowerExecution";

/// The member accounts' template.
pub fn template(settings: &Settings) -> Template {
    let names = Names::of(settings);
    let env = names.env();
    // Trusted: the roles of the functions that act through this one.
    let trusted = operations::trusted_roles(Via::Member, settings);
    let projects: Vec<String> = BUILD_PROJECTS
        .iter()
        .map(|p| format!("{env}-{p}"))
        .collect();
    let build_role = settings.build_role();
    let mut resources = Map::new();
    let mut add = |id: &str, resource: Value| {
        resources.insert(id.to_string(), resource);
    };

    let account_role = settings.automation.account_role.as_str();
    if account_role != CONTROL_TOWER_ROLE {
        add(
            "AutomationRole",
            json!({
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": account_role,
                    "Description": "Assumed by the lifecycle function to run preparation and purge builds",
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                        "Effect": "Allow", "Principal": {"AWS": trusted}, "Action": "sts:AssumeRole"}]},
                    "Policies": [{"PolicyName": "builds", "PolicyDocument": {"Version": "2012-10-17",
                        "Statement": operations::assumed_statements(Via::Member, settings)}}]
                }
            }),
        );
    }
    add(
        "BuildRole",
        json!({
            "Type": "AWS::IAM::Role",
            "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_274", "comment":
                "The purge (aws-nuke) removes every resource of the sandbox: it needs every action in the account it runs in, and nothing outside it."}]}},
            "Properties": {
                "RoleName": build_role,
                "Description": "CodeBuild's service role for the preparation and the purge of this sandbox account",
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}]},
                "ManagedPolicyArns": [sub("arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess")]
            }
        }),
    );
    add(
        "ForwardingRole",
        forwarding_role(
            names.of_what("event-forwarding"),
            "EventBridge forwarding this account's events to the central bus",
        ),
    );
    // Named `<env>-*`: the purge keeps them, the guardrails protect them.
    let forwarded: [(&str, &str, Value, &str); 3] = [
        (
            "SignInForwarding",
            "sign-in-forwarding",
            json!({"detail-type": ["AWS Console Sign In via CloudTrail"]}),
            "Console sign-ins: to the central bus",
        ),
        (
            "BuildForwarding",
            "build-forwarding",
            json!({"source": ["aws.codebuild"], "detail-type": ["CodeBuild Build State Change"],
            "detail": {"project-name": projects}}),
            "Preparation and purge builds: to the central bus",
        ),
        (
            "LaunchForwarding",
            "launch-forwarding",
            json!({"detail-type": ["AWS API Call via CloudTrail"], "detail": {"eventName": LAUNCH_EVENTS}}),
            "Launches priced by the daily spend run: to the central bus",
        ),
    ];
    for (id, name, pattern, description) in forwarded {
        add(
            id,
            json!({
                "Type": "AWS::Events::Rule",
                "Properties": {"Name": names.of_what(name), "Description": description, "EventPattern": pattern, "State": "ENABLED",
                    "Targets": [{"Id": "central-bus", "Arn": {"Ref": "CentralBusArn"}, "RoleArn": get("ForwardingRole", "Arn")}]}
            }),
        );
    }
    add(
        "BudgetTopic",
        json!({
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": names.of_what("budget-alerts"), "KmsMasterKeyId": "alias/aws/sns"}
        }),
    );
    add(
        "BudgetTopicPolicy",
        json!({
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {"Topics": [{"Ref": "BudgetTopic"}], "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Sid": "BudgetsPublish", "Effect": "Allow", "Principal": {"Service": "budgets.amazonaws.com"},
                    "Action": "sns:Publish", "Resource": {"Ref": "BudgetTopic"},
                    "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}]}}
        }),
    );
    add(
        "BudgetSubscription",
        json!({
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlertQueue",
            "Properties": {"TopicArn": {"Ref": "BudgetTopic"}, "Protocol": "sqs", "Endpoint": {"Ref": "AlertQueueArn"},
                "RawMessageDelivery": false}
        }),
    );

    Template {
        file: "members.json".into(),
        body: json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": format!("Sandbox accounts system {env}: every managed member account (a service-managed StackSet on the managed OUs)"),
            "Parameters": {
                "CentralBusArn": {"Type": "String", "AllowedPattern": "^arn:aws[a-z-]*:events:.+:event-bus/.+",
                    "Description": "The automation account's central bus (output CentralBusArn)"},
                "AlertQueueArn": {"Type": "String", "Default": "",
                    "Description": "The automation account's alert queue (empty: budget notifications are not forwarded)"}
            },
            "Conditions": {"HasAlertQueue": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertQueueArn"}, ""]}]}},
            "Resources": Value::Object(resources),
            "Outputs": {
                "BuildRoleArn": {"Value": get("BuildRole", "Arn")},
                "BudgetTopicArn": {"Value": {"Ref": "BudgetTopic"}}
            }
        }),
    }
}
