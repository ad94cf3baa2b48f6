//! The automation account's stack: the lake bucket, the ingest queue and its dead-letter queue,
//! the alert queue member budgets publish to, the central event bus with its organization policy
//! and rules, the schedules, the three Lambda functions and their roles, the exceptions topic,
//! the sender identity and the Athena work group.

use serde_json::{Map, Value, json};
use spa_core::Settings;
use spa_core::events::{BUILD_PROJECTS, LAUNCH_EVENTS};
use spa_core::lake::Dataset;

use crate::Template;
use crate::cfn::{get, private_bucket, reference, sub, tls_only};
use crate::names::Names;
use crate::operations::{self, Caller};

/// Seconds a function may run: ingest handles one SQS batch, the others whole jobs.
const INGEST_TIMEOUT: u32 = 300;
const JOB_TIMEOUT: u32 = 900;

/// Deliveries of an ingest message before it goes to the dead-letter queue.
const MAX_RECEIVES: u32 = 5;

/// A schedule of the system: its resource name, expression, function and input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    /// Logical id of its rule.
    pub id: &'static str,
    /// EventBridge schedule expression.
    pub expression: String,
    /// The function's logical id.
    pub function: &'static str,
    /// The constant input.
    pub input: Value,
    /// What it does.
    pub description: &'static str,
}

/// The schedules, the maintenance window taken from the settings.
pub fn schedules(settings: &Settings) -> Vec<ScheduleSpec> {
    let spec = |id, expression: &str, function, input, description| ScheduleSpec {
        id,
        expression: expression.to_string(),
        function,
        input,
        description,
    };
    vec![
        spec(
            "MaintenanceSchedule",
            settings.automation.maintenance_window.as_str(),
            "LifecycleFunction",
            json!({"action": "maintenance", "via_queue": true}),
            "The maintenance window: a message per released account on the lifecycle queue (expire, purge, prepare)",
        ),
        spec(
            "CheckSchedule",
            "rate(1 hour)",
            "LifecycleFunction",
            json!({"action": "check", "via_queue": true}),
            "The hourly check: a message per account with something due on the lifecycle queue",
        ),
        spec(
            "CostsSchedule",
            "cron(15 2,8,14,20 * * ? *)",
            "IngestFunction",
            json!({"costs": {}}),
            "Cost Explorer's month to date, four times a day (the month before too in its first days)",
        ),
        spec(
            "AccountsSchedule",
            "cron(0 1 * * ? *)",
            "IngestFunction",
            json!({"accounts": {}}),
            "The organization's daily snapshot",
        ),
        spec(
            "ExceptionsSchedule",
            "rate(1 hour)",
            "ReportsFunction",
            json!({"exceptions": {"days": 2}}),
            "The exceptions sweep of the last two days, delivered",
        ),
        spec(
            "DailySpendSchedule",
            "cron(30 5,11,17,23 * * ? *)",
            "ReportsFunction",
            json!({"daily": {}}),
            "The daily spend run of the day, four times a day, delivered",
        ),
        spec(
            "EarlyReportsSchedule",
            "cron(0 6 6 * ? *)",
            "ReportsFunction",
            json!({"reports": ["costs", "activities"]}),
            "The previous month's cost and activity reports, early run",
        ),
        spec(
            "FinalReportsSchedule",
            "cron(0 6 14 * ? *)",
            "ReportsFunction",
            json!({"reports": ["costs"], "send": true}),
            "The previous month's cost reports, e-mailed to FinOps",
        ),
        spec(
            "InventorySchedule",
            "cron(0 6 ? * MON *)",
            "ReportsFunction",
            json!({"reports": ["inventory"]}),
            "The previous week's inventory",
        ),
    ]
}

fn role(name: String, statements: Vec<Value>) -> Value {
    json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": name,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole"}]
            },
            "ManagedPolicyArns": [sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")],
            "Policies": [{"PolicyName": "operations", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}]
        }
    })
}

fn function(
    names: &Names,
    id_name: &str,
    code_key: &str,
    role_id: &str,
    timeout: u32,
    memory: u32,
    description: &str,
) -> Value {
    json!({
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": names.function(id_name),
            "Description": description,
            "Runtime": "provided.al2023",
            "Architectures": ["arm64"],
            "Handler": "bootstrap",
            "Code": {"S3Bucket": reference("ArtifactBucket"), "S3Key": reference(code_key)},
            "Role": get(role_id, "Arn"),
            "Timeout": timeout,
            "MemorySize": memory,
            "Environment": {"Variables": {"SPA_SETTINGS": reference("SettingsUrl")}},
            "LoggingConfig": {"LogFormat": "JSON"},
            "DeadLetterConfig": {"TargetArn": get("FunctionsDeadLetterQueue", "Arn")}
        },
        "Metadata": {"checkov": {"skip": [
            {"id": "CKV_AWS_117", "comment": "Calls AWS APIs and webhooks only and reaches nothing inside a VPC; in a VPC it would need NAT or an endpoint per service."},
            {"id": "CKV_AWS_115", "comment": "Bounded by the queue's event source MaximumConcurrency and by its schedules; a reservation fails in accounts whose concurrency quota is still the default low one."},
            {"id": "CKV_AWS_173", "comment": "The only variable is the settings' S3 URL, not a secret."}
        ]}}
    })
}

/// The lake's objects and the bucket itself, for policies.
fn lake_resources() -> Value {
    json!([get("LakeBucket", "Arn"), sub("${LakeBucket.Arn}/*")])
}

/// The automation account's template.
pub fn template(settings: &Settings) -> Template {
    let names = Names::of(settings);
    let env = names.env();
    let mut resources = Map::new();
    let mut add = |id: &str, resource: Value| {
        resources.insert(id.to_string(), resource);
    };

    // The lake.
    add(
        "LakeBucket",
        json!({
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": private_bucket(json!({
                "BucketName": sub(&names.bucket_sub()),
                "LoggingConfiguration": {"DestinationBucketName": reference("LakeAccessLogBucket"), "LogFilePrefix": "lake/"},
                "LifecycleConfiguration": {"Rules": [
                    {"Id": "quarantine", "Status": "Enabled", "Prefix": "quarantine/", "ExpirationInDays": 400},
                    {"Id": "claims", "Status": "Enabled", "Prefix": "claims/", "ExpirationInDays": 30},
                    {"Id": "lifecycle-outcomes", "Status": "Enabled", "Prefix": "lifecycle/outcomes/", "ExpirationInDays": 30},
                    {"Id": "lifecycle-runs", "Status": "Enabled", "Prefix": "lifecycle/runs/", "ExpirationInDays": 400},
                    {"Id": "replaced-objects", "Status": "Enabled",
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}
                ]}
            }))
        }),
    );
    add(
        "LakeAccessLogBucket",
        json!({
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Metadata": {"checkov": {"skip": [
                {"id": "CKV_AWS_18", "comment": "The access log bucket does not log its own access."}]}},
            "Properties": {
                "BucketName": sub(&format!("{}-lake-logs-${{AWS::AccountId}}-${{AWS::Region}}", names.env())),
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
                "PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "BlockPublicPolicy": true,
                    "IgnorePublicAcls": true, "RestrictPublicBuckets": true},
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "VersioningConfiguration": {"Status": "Enabled"},
                "LifecycleConfiguration": {"Rules": [
                    {"Id": "access-logs", "Status": "Enabled", "ExpirationInDays": 400,
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]}
            }
        }),
    );
    // The buckets whose access is logged, each under its own prefix.
    let trail_bucket = settings.organization_trail_bucket();
    let mut logged = vec![(get("LakeBucket", "Arn"), "lake")];
    if let Some(bucket) = &trail_bucket {
        logged.push((
            sub(&format!("arn:${{AWS::Partition}}:s3:::{bucket}")),
            "trail",
        ));
        organization_trail(settings, &names, bucket, &mut add);
    }
    add(
        "LakeAccessLogBucketPolicy",
        json!({
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": reference("LakeAccessLogBucket"),
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Sid": "S3ServerAccessLogs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                        "Action": "s3:PutObject", "Resource": logged.iter().map(|(_, prefix)| sub(&format!("${{LakeAccessLogBucket.Arn}}/{prefix}/*"))).collect::<Vec<_>>(),
                        "Condition": {"ArnLike": {"aws:SourceArn": logged.iter().map(|(arn, _)| arn.clone()).collect::<Vec<_>>()},
                            "StringEquals": {"aws:SourceAccount": reference("AWS::AccountId")}}},
                    tls_only(json!([get("LakeAccessLogBucket", "Arn"), sub("${LakeAccessLogBucket.Arn}/*")]))
                ]}
            }
        }),
    );
    add(
        "FunctionsDeadLetterQueue",
        json!({
            "Type": "AWS::SQS::Queue",
            "Metadata": sqs_managed_encryption(),
            "Properties": {"QueueName": names.of_what("functions-dlq"), "MessageRetentionPeriod": 1_209_600,
                "SqsManagedSseEnabled": true}
        }),
    );
    add(
        "LakeBucketPolicy",
        json!({
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": reference("LakeBucket"),
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    tls_only(lake_resources()),
                    {"Sid": "OrganizationOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                        "Resource": lake_resources(),
                        "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": reference("OrganizationId")},
                            "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}}
                ]}
            }
        }),
    );

    // Queues.
    add(
        "IngestDeadLetterQueue",
        json!({
            "Type": "AWS::SQS::Queue",
            "Metadata": sqs_managed_encryption(),
            "Properties": {"QueueName": names.of_what("ingest-dlq"), "MessageRetentionPeriod": 1_209_600,
                "SqsManagedSseEnabled": true}
        }),
    );
    add(
        "IngestQueue",
        json!({
            "Type": "AWS::SQS::Queue",
            "Metadata": sqs_managed_encryption(),
            "Properties": {
                "QueueName": names.of_what("ingest"),
                "VisibilityTimeout": 6 * INGEST_TIMEOUT,
                "MessageRetentionPeriod": 1_209_600,
                "SqsManagedSseEnabled": true,
                "RedrivePolicy": {"deadLetterTargetArn": get("IngestDeadLetterQueue", "Arn"), "maxReceiveCount": MAX_RECEIVES}
            }
        }),
    );
    let bus_rules = [
        "OrganizationsRule",
        "SignInRule",
        "CodeBuildRule",
        "BillingAlarmRule",
        "LaunchRule",
        "LifecycleEventsRule",
    ];
    let mut queue_statements = vec![json!(
        {"Sid": "CentralBusRules", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": get("IngestQueue", "Arn"),
            "Condition": {"ArnEquals": {"aws:SourceArn": bus_rules.iter().map(|r| get(r, "Arn")).collect::<Vec<_>>()}}}
    )];
    if let Some(bucket) = &trail_bucket {
        queue_statements.push(json!(
            {"Sid": "TrailBucketNotifications", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage", "Resource": get("IngestQueue", "Arn"),
                "Condition": {"ArnEquals": {"aws:SourceArn": sub(&format!("arn:${{AWS::Partition}}:s3:::{bucket}"))},
                    "StringEquals": {"aws:SourceAccount": reference("AWS::AccountId")}}}
        ));
    }
    add(
        "IngestQueuePolicy",
        json!({
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [reference("IngestQueue")],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": queue_statements}
            }
        }),
    );
    if let Some(alerts) = &settings.exceptions.alert_queue {
        add(
            "AlertQueue",
            json!({
                "Type": "AWS::SQS::Queue",
                "Metadata": sqs_managed_encryption(),
                "Properties": {"QueueName": alerts, "VisibilityTimeout": 6 * INGEST_TIMEOUT,
                    "MessageRetentionPeriod": 1_209_600, "SqsManagedSseEnabled": true,
                    "RedrivePolicy": {"deadLetterTargetArn": get("IngestDeadLetterQueue", "Arn"), "maxReceiveCount": MAX_RECEIVES}}
            }),
        );
        add(
            "AlertQueuePolicy",
            json!({
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [reference("AlertQueue")],
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Sid": "MemberBudgetTopics", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                            "Action": "sqs:SendMessage", "Resource": get("AlertQueue", "Arn"),
                            "Condition": {"StringEquals": {"aws:SourceOrgID": reference("OrganizationId")}}}
                    ]}
                }
            }),
        );
        add(
            "AlertEventSource",
            json!({
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"EventSourceArn": get("AlertQueue", "Arn"), "FunctionName": reference("IngestFunction"),
                    "BatchSize": 10, "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "ScalingConfig": {"MaximumConcurrency": 2}}
            }),
        );
    }

    // The central bus, open to the organization.
    add(
        "CentralBus",
        json!({"Type": "AWS::Events::EventBus", "Properties": {"Name": names.bus()}}),
    );
    add(
        "CentralBusPolicy",
        json!({
            "Type": "AWS::Events::EventBusPolicy",
            "Properties": {
                "EventBusName": get("CentralBus", "Name"),
                "StatementId": "OrganizationPutEvents",
                "Statement": {"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents",
                    "Resource": get("CentralBus", "Arn"),
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": reference("OrganizationId")}}}
            }
        }),
    );
    let projects: Vec<String> = BUILD_PROJECTS
        .iter()
        .map(|p| format!("{env}-{p}"))
        .collect();
    let queue_target = json!({"Id": "ingest-queue", "Arn": get("IngestQueue", "Arn")});
    let lifecycle_target = json!({"Id": "lifecycle", "Arn": get("LifecycleFunction", "Arn")});
    let rules: [(&str, Value, Vec<Value>, &str); 6] = [
        (
            "OrganizationsRule",
            json!({"source": ["aws.organizations"]}),
            vec![queue_target.clone(), lifecycle_target.clone()],
            "Organizations events: to the lake and the lifecycle",
        ),
        (
            "SignInRule",
            json!({"detail-type": ["AWS Console Sign In via CloudTrail"]}),
            vec![queue_target.clone()],
            "Console sign-ins: to the lake",
        ),
        (
            "CodeBuildRule",
            json!({"source": ["aws.codebuild"], "detail-type": ["CodeBuild Build State Change"],
            "detail": {"project-name": projects}}),
            vec![queue_target.clone(), lifecycle_target.clone()],
            "Preparation and purge builds: to the lake and the lifecycle",
        ),
        (
            "BillingAlarmRule",
            json!({"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}),
            vec![queue_target.clone()],
            "Alarm state changes (billing alarms among them): to the lake",
        ),
        (
            "LaunchRule",
            json!({"detail-type": ["AWS API Call via CloudTrail"], "detail": {"eventName": LAUNCH_EVENTS}}),
            vec![queue_target.clone()],
            "Launches priced by the daily spend run: to the lake",
        ),
        (
            "LifecycleEventsRule",
            json!({"source": ["spa.lifecycle"]}),
            vec![queue_target.clone()],
            "The lifecycle's own events: to the lake",
        ),
    ];
    for (id, pattern, targets, description) in rules {
        add(
            id,
            json!({
                "Type": "AWS::Events::Rule",
                "Properties": {"EventBusName": get("CentralBus", "Name"), "Description": description,
                    "EventPattern": pattern, "State": "ENABLED", "Targets": targets}
            }),
        );
    }
    for id in ["OrganizationsRule", "CodeBuildRule"] {
        add(
            &format!("{id}Permission"),
            json!({
                "Type": "AWS::Lambda::Permission",
                "Properties": {"Action": "lambda:InvokeFunction", "FunctionName": reference("LifecycleFunction"),
                    "Principal": "events.amazonaws.com", "SourceArn": get(id, "Arn")}
            }),
        );
    }

    // Schedules.
    for s in schedules(settings) {
        add(
            s.id,
            json!({
                "Type": "AWS::Events::Rule",
                "Properties": {"Description": s.description, "ScheduleExpression": s.expression, "State": "ENABLED",
                    "Targets": [{"Id": "function", "Arn": get(s.function, "Arn"), "Input": s.input.to_string()}]}
            }),
        );
        add(
            &format!("{}Permission", s.id),
            json!({
                "Type": "AWS::Lambda::Permission",
                "Properties": {"Action": "lambda:InvokeFunction", "FunctionName": reference(s.function),
                    "Principal": "events.amazonaws.com", "SourceArn": get(s.id, "Arn")}
            }),
        );
    }

    // Functions and their roles.
    for (id, caller) in [
        ("IngestRole", Caller::Ingest),
        ("LifecycleRole", Caller::Lifecycle),
        ("ReportsRole", Caller::Reports),
    ] {
        let function = caller.function().expect("a function");
        add(
            id,
            role(
                names.role(function),
                operations::function_statements(caller, settings),
            ),
        );
    }
    add(
        "IngestFunction",
        function(
            &names,
            "ingest",
            "IngestCodeKey",
            "IngestRole",
            INGEST_TIMEOUT,
            1024,
            "Events, CloudTrail files and alert messages into the lake; live exceptions",
        ),
    );
    add(
        "LifecycleFunction",
        function(
            &names,
            "lifecycle",
            "LifecycleCodeKey",
            "LifecycleRole",
            JOB_TIMEOUT,
            512,
            "Account states in tags, preparation and purge builds, lifecycle events",
        ),
    );
    add(
        "ReportsFunction",
        function(
            &names,
            "reports",
            "ReportsCodeKey",
            "ReportsRole",
            JOB_TIMEOUT,
            3008,
            "Monthly reports, inventories, the exceptions sweep and the daily spend run",
        ),
    );
    // The lifecycle's work over many accounts: one message per account, taken by the lifecycle
    // function at most `automation.lifecycle_concurrency` invocations at once.
    add(
        "LifecycleDeadLetterQueue",
        json!({
            "Type": "AWS::SQS::Queue",
            "Metadata": sqs_managed_encryption(),
            "Properties": {"QueueName": format!("{}-dlq", settings.lifecycle_queue()), "MessageRetentionPeriod": 1_209_600,
                "SqsManagedSseEnabled": true}
        }),
    );
    add(
        "LifecycleQueue",
        json!({
            "Type": "AWS::SQS::Queue",
            "Metadata": sqs_managed_encryption(),
            "Properties": {
                "QueueName": settings.lifecycle_queue(),
                "VisibilityTimeout": 6 * JOB_TIMEOUT,
                "MessageRetentionPeriod": 345_600,
                "SqsManagedSseEnabled": true,
                "RedrivePolicy": {"deadLetterTargetArn": get("LifecycleDeadLetterQueue", "Arn"), "maxReceiveCount": MAX_RECEIVES}
            }
        }),
    );
    add(
        "LifecycleDeadLetterAlarm",
        json!({
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": names.of_what("lifecycle-dead-letters"),
                "AlarmDescription": "Lifecycle messages failed every attempt: `lifecycle queue` lists them",
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": get("LifecycleDeadLetterQueue", "QueueName")}],
                "Statistic": "Maximum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [reference("ExceptionsTopic")]
            }
        }),
    );
    add(
        "LifecycleEventSource",
        json!({
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {"EventSourceArn": get("LifecycleQueue", "Arn"), "FunctionName": reference("LifecycleFunction"),
                "BatchSize": 10,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": {"MaximumConcurrency": settings.automation.lifecycle_concurrency}}
        }),
    );
    add(
        "IngestEventSource",
        json!({
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {"EventSourceArn": get("IngestQueue", "Arn"), "FunctionName": reference("IngestFunction"),
                "BatchSize": 10, "MaximumBatchingWindowInSeconds": 5,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": {"MaximumConcurrency": reference("IngestConcurrency")}}
        }),
    );

    // Exceptions, mail, Athena.
    add(
        "ExceptionsTopic",
        json!({
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": names.of_what("exceptions"), "KmsMasterKeyId": "alias/aws/sns"}
        }),
    );
    // The health dashboard, and the alarms that tell the exceptions topic.
    add("HealthDashboard", crate::dashboard::dashboard(settings));
    for (id, alarm) in crate::dashboard::alarms(settings) {
        add(&id, alarm);
    }
    if let Some(from) = &settings.features.origin_email {
        add(
            "SenderIdentity",
            json!({
                "Type": "AWS::SES::EmailIdentity",
                "Properties": {"EmailIdentity": from.as_str()}
            }),
        );
    }
    add(
        "AthenaWorkGroup",
        json!({
            "Type": "AWS::Athena::WorkGroup",
            "Properties": {
                "Name": names.of_what("analysts"),
                "State": "ENABLED",
                "WorkGroupConfiguration": {"EnforceWorkGroupConfiguration": true,
                    "ResultConfiguration": {"OutputLocation": sub("s3://${LakeBucket}/athena-results/"),
                        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}}}
            }
        }),
    );
    add(
        "LakeDatabase",
        json!({
            "Type": "AWS::Glue::Database",
            "Properties": {"CatalogId": reference("AWS::AccountId"),
                "DatabaseInput": {"Name": settings.athena.database.as_str(),
                    "Description": format!("The {env} lake's datasets")}}
        }),
    );

    for dataset in Dataset::ALL {
        add(
            &crate::glue::logical_id(dataset),
            crate::glue::table(dataset),
        );
    }

    let parameters = json!({
        "OrganizationId": {"Type": "String", "AllowedPattern": "^o-[a-z0-9]{10,32}$",
            "Description": "The organization's id: the lake, the bus and the alert queue admit its principals only"},
        "ArtifactBucket": {"Type": "String", "Description": "The bucket holding the Lambda zips (deploy package)"},
        "IngestCodeKey": {"Type": "String", "Description": "Key of the ingest-lambda zip"},
        "LifecycleCodeKey": {"Type": "String", "Description": "Key of the lifecycle-lambda zip"},
        "ReportsCodeKey": {"Type": "String", "Description": "Key of the reports-lambda zip"},
        "SettingsUrl": {"Type": "String", "AllowedPattern": "^s3://.+", "Description": "s3:// URL of settings.yaml"},
        "SettingsObjectArn": {"Type": "String", "AllowedPattern": "^arn:aws[a-z-]*:s3:::.+",
            "Description": "ARN of the settings objects the functions read (e.g. arn:aws:s3:::bucket/spa/*)"},
        "IngestConcurrency": {"Type": "Number", "Default": 10, "MinValue": 2, "MaxValue": 1000,
            "Description": "Most ingest invocations at once"}
    });
    let outputs = json!({
        "LakeBucket": {"Value": reference("LakeBucket")},
        "IngestQueueUrl": {"Value": reference("IngestQueue")},
        "CentralBusArn": {"Value": get("CentralBus", "Arn")},
        "ExceptionsTopicArn": {"Value": reference("ExceptionsTopic")},
    });
    Template {
        file: "automation.json".into(),
        body: json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": format!("Sandbox accounts system {env}: automation account (rendered from settings.yaml by deploy render)"),
            "Parameters": parameters,
            "Resources": Value::Object(resources),
            "Outputs": outputs,
        }),
    }
}

/// The organization trail's bucket (`ingest.organization_trail`): written by the trail the
/// management stack creates, each new log file notified to the ingest queue, read by the
/// ingest function like any trail bucket.
fn organization_trail(
    settings: &Settings,
    names: &Names,
    bucket: &str,
    add: &mut impl FnMut(&str, Value),
) {
    let trail = format!(
        "arn:${{AWS::Partition}}:cloudtrail:us-east-1:{}:trail/{}",
        settings.automation.management_account_id,
        names.trail()
    );
    let arn = format!("arn:${{AWS::Partition}}:s3:::{bucket}");
    add(
        "TrailBucket",
        json!({
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            // S3 checks that it may notify the queue when the bucket is created.
            "DependsOn": "IngestQueuePolicy",
            "Properties": private_bucket(json!({
                "BucketName": bucket,
                "LoggingConfiguration": {"DestinationBucketName": reference("LakeAccessLogBucket"), "LogFilePrefix": "trail/"},
                "LifecycleConfiguration": {"Rules": [
                    {"Id": "trail-files", "Status": "Enabled", "ExpirationInDays": 400,
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}]},
                "NotificationConfiguration": {"QueueConfigurations": [{
                    "Event": "s3:ObjectCreated:*", "Queue": get("IngestQueue", "Arn"),
                    "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "AWSLogs/"}, {"Name": "suffix", "Value": ".json.gz"}]}}}]}
            }))
        }),
    );
    add(
        "TrailBucketPolicy",
        json!({
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": reference("TrailBucket"),
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    tls_only(json!([sub(&arn), sub(&format!("{arn}/*"))])),
                    {"Sid": "TrailAcl", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                        "Action": "s3:GetBucketAcl", "Resource": sub(&arn),
                        "Condition": {"StringEquals": {"aws:SourceArn": sub(&trail)}}},
                    {"Sid": "TrailWrites", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": [sub(&format!("{arn}/AWSLogs/{}/*", settings.automation.management_account_id)),
                            sub(&format!("{arn}/AWSLogs/${{OrganizationId}}/*"))],
                        "Condition": {"StringEquals": {"aws:SourceArn": sub(&trail)}}}
                ]}
            }
        }),
    );
}

/// The checkov skip of the queues, encrypted with SQS-managed keys (`SqsManagedSseEnabled`):
/// EventBridge rules, S3 notifications and SNS subscriptions cannot send to a queue under the
/// AWS managed KMS key, and a customer managed key would need a key policy for each sender.
fn sqs_managed_encryption() -> Value {
    json!({"checkov": {"skip": [{"id": "CKV_AWS_27",
        "comment": "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled), which EventBridge, S3 and SNS can send to; the AWS managed KMS key would refuse them."}]}})
}
