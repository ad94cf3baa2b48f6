//! The one table of AWS operations the system performs: who performs each (a function, through
//! its own role or a role it assumes, or a person at the command line), on which resources,
//! under which condition, and which SDK calls in the code need it. Every role's policy is
//! generated from it; a test holds it equal to the SDK calls the code makes.

use serde_json::{Value, json};
use spa_core::Settings;

use crate::cfn::{get, reference, sub};
use crate::names::Names;

/// A program of the system that calls AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Caller {
    /// The ingest function.
    Ingest,
    /// The lifecycle function.
    Lifecycle,
    /// The reports function.
    Reports,
    /// A person running a command line (`reports athena setup`) with their own credentials:
    /// no role is rendered for it; the README lists what it needs.
    Operator,
}

impl Caller {
    /// The workspace package whose code the caller runs (with its dependencies).
    pub fn package(self) -> Option<&'static str> {
        match self {
            Caller::Ingest => Some("ingest"),
            Caller::Lifecycle => Some("lifecycle"),
            Caller::Reports => Some("reports"),
            Caller::Operator => None,
        }
    }

    /// The function's name in templates (`ingest`, …).
    pub fn function(self) -> Option<&'static str> {
        self.package()
    }
}

/// Which credentials perform an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The caller's own: the function's role (or the operator's credentials).
    Own,
    /// `automation.organization_role` in the management account (the function's own role when
    /// none is set: a delegated administrator).
    Organization,
    /// `automation.account_role` in a member account.
    Member,
}

/// The resources an operation is allowed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Every resource: the action has no resource-level permission.
    Any,
    /// The lake bucket itself (listing).
    Lake,
    /// The lake's objects.
    LakeObjects,
    /// The settings objects (`SettingsObjectArn`).
    Settings,
    /// The objects of the trail buckets ingest follows (none: no statement).
    TrailObjects,
    /// The queues the ingest function reads: the ingest queue and the alert queue.
    IngestQueues,
    /// The lifecycle queue and its dead-letter queue.
    LifecycleQueue,
    /// The dead-letter queue of failed asynchronous invocations.
    FunctionsDeadLetters,
    /// The exceptions topic.
    ExceptionsTopic,
    /// The central event bus.
    CentralBus,
    /// The analysts' Athena work group.
    WorkGroup,
    /// The Glue catalog, the lake's database and its tables.
    Catalog,
    /// The organization's member accounts (tags).
    MemberAccounts,
    /// The preparation and purge projects in a member account.
    BuildProjects,
    /// CodeBuild's service role in a member account.
    BuildRole,
}

/// A condition on an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// None.
    None,
    /// Mail only from `features.origin_email`.
    Sender,
    /// The role passed to CodeBuild only.
    PassedToCodeBuild,
}

/// One operation of the table.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// The IAM action.
    pub action: &'static str,
    /// The programs that perform it.
    pub callers: &'static [Caller],
    /// With which credentials.
    pub via: Via,
    /// On what.
    pub resource: Resource,
    /// Under which condition.
    pub condition: Condition,
    /// The SDK calls in the code that need it, as `<sdk crate suffix>:<method>`
    /// (`s3:list_objects_v2`); empty when AWS performs it on the caller's behalf.
    pub calls: &'static [&'static str],
    /// Why AWS performs it, when `calls` is empty.
    pub by: &'static str,
}

const FUNCTIONS: &[Caller] = &[Caller::Ingest, Caller::Lifecycle, Caller::Reports];
const DELIVERERS: &[Caller] = &[Caller::Ingest, Caller::Reports];
const ORGANIZATION_READERS: &[Caller] = &[Caller::Ingest, Caller::Lifecycle];

const fn op(
    action: &'static str,
    callers: &'static [Caller],
    via: Via,
    resource: Resource,
    calls: &'static [&'static str],
) -> Operation {
    Operation {
        action,
        callers,
        via,
        resource,
        condition: Condition::None,
        calls,
        by: "",
    }
}

const fn by_aws(
    action: &'static str,
    callers: &'static [Caller],
    resource: Resource,
    by: &'static str,
) -> Operation {
    Operation {
        action,
        callers,
        via: Via::Own,
        resource,
        condition: Condition::None,
        calls: &[],
        by,
    }
}

/// Every operation the system performs.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    // The lake, the settings, the trail files.
    op("s3:GetObject", FUNCTIONS, Via::Own, Resource::LakeObjects, &["s3:get_object"]),
    op("s3:PutObject", FUNCTIONS, Via::Own, Resource::LakeObjects, &["s3:put_object"]),
    op("s3:DeleteObject", FUNCTIONS, Via::Own, Resource::LakeObjects, &["s3:delete_object"]),
    op("s3:ListBucket", FUNCTIONS, Via::Own, Resource::Lake, &["s3:list_objects_v2"]),
    op("s3:GetObject", FUNCTIONS, Via::Own, Resource::Settings, &["s3:get_object"]),
    op("s3:GetObject", &[Caller::Ingest], Via::Own, Resource::TrailObjects, &["s3:get_object"]),
    // Queues the functions are fed from or fail into.
    by_aws("sqs:ReceiveMessage", &[Caller::Ingest], Resource::IngestQueues, "Lambda polls the queue for the function"),
    by_aws("sqs:DeleteMessage", &[Caller::Ingest], Resource::IngestQueues, "Lambda deletes what the function took"),
    by_aws("sqs:GetQueueAttributes", &[Caller::Ingest], Resource::IngestQueues, "Lambda reads the queue's settings"),
    by_aws("sqs:SendMessage", FUNCTIONS, Resource::FunctionsDeadLetters, "Lambda keeps a failed asynchronous invocation"),
    // The lifecycle's fan-out: runs put a message per account, the worker takes them.
    op("sqs:GetQueueUrl", &[Caller::Lifecycle, Caller::Operator], Via::Own, Resource::LifecycleQueue, &["sqs:get_queue_url"]),
    op("sqs:SendMessage", &[Caller::Lifecycle, Caller::Operator], Via::Own, Resource::LifecycleQueue, &["sqs:send_message_batch"]),
    by_aws("sqs:ReceiveMessage", &[Caller::Lifecycle], Resource::LifecycleQueue, "Lambda polls the queue for the function"),
    by_aws("sqs:DeleteMessage", &[Caller::Lifecycle], Resource::LifecycleQueue, "Lambda deletes what the function took"),
    by_aws("sqs:GetQueueAttributes", &[Caller::Lifecycle], Resource::LifecycleQueue, "Lambda reads the queue's settings"),
    // `lifecycle queue`: what is left and what failed; `lifecycle work`: the queue worked from a terminal.
    op("sqs:GetQueueAttributes", &[Caller::Operator], Via::Own, Resource::LifecycleQueue, &["sqs:get_queue_attributes"]),
    op("sqs:ReceiveMessage", &[Caller::Operator], Via::Own, Resource::LifecycleQueue, &["sqs:receive_message"]),
    op("sqs:DeleteMessage", &[Caller::Operator], Via::Own, Resource::LifecycleQueue, &["sqs:delete_message_batch"]),
    // Sources.
    op("ce:GetCostAndUsage", &[Caller::Ingest], Via::Own, Resource::Any, &["costexplorer:get_cost_and_usage"]),
    // Delivery of exceptions and reports.
    op("sns:Publish", DELIVERERS, Via::Own, Resource::ExceptionsTopic, &["sns:publish"]),
    Operation { condition: Condition::Sender, ..op("ses:SendEmail", DELIVERERS, Via::Own, Resource::Any, &["sesv2:send_email"]) },
    Operation { condition: Condition::Sender, ..op("ses:SendRawEmail", DELIVERERS, Via::Own, Resource::Any, &["sesv2:send_email"]) },
    // The lifecycle's own events.
    op("events:PutEvents", &[Caller::Lifecycle], Via::Own, Resource::CentralBus, &["eventbridge:put_events"]),
    // The organization: read by ingest (snapshots) and the lifecycle, tagged by the lifecycle.
    op("organizations:DescribeOrganization", ORGANIZATION_READERS, Via::Organization, Resource::Any, &["organizations:describe_organization"]),
    op("organizations:ListRoots", ORGANIZATION_READERS, Via::Organization, Resource::Any, &["organizations:list_roots"]),
    op("organizations:ListOrganizationalUnitsForParent", ORGANIZATION_READERS, Via::Organization, Resource::Any, &["organizations:list_organizational_units_for_parent"]),
    op("organizations:ListAccountsForParent", ORGANIZATION_READERS, Via::Organization, Resource::Any, &["organizations:list_accounts_for_parent"]),
    op("organizations:ListTagsForResource", ORGANIZATION_READERS, Via::Organization, Resource::Any, &["organizations:list_tags_for_resource"]),
    op("organizations:DescribeAccount", &[Caller::Lifecycle], Via::Organization, Resource::Any, &["organizations:describe_account"]),
    op("organizations:ListParents", &[Caller::Lifecycle], Via::Organization, Resource::Any, &["organizations:list_parents"]),
    op("organizations:TagResource", &[Caller::Lifecycle], Via::Organization, Resource::MemberAccounts, &["organizations:tag_resource"]),
    op("organizations:UntagResource", &[Caller::Lifecycle], Via::Organization, Resource::MemberAccounts, &["organizations:untag_resource"]),
    // Preparation and purge in each member account.
    op("codebuild:BatchGetProjects", &[Caller::Lifecycle], Via::Member, Resource::BuildProjects, &["codebuild:batch_get_projects"]),
    op("codebuild:CreateProject", &[Caller::Lifecycle], Via::Member, Resource::BuildProjects, &["codebuild:create_project"]),
    op("codebuild:DeleteProject", &[Caller::Lifecycle], Via::Member, Resource::BuildProjects, &["codebuild:delete_project"]),
    op("codebuild:StartBuild", &[Caller::Lifecycle], Via::Member, Resource::BuildProjects, &["codebuild:start_build"]),
    // The regions a purge clears (when `automation.purge_regions` does not list them): the role's own account.
    op("account:ListRegions", &[Caller::Lifecycle], Via::Member, Resource::Any, &["account:list_regions"]),
    Operation { condition: Condition::PassedToCodeBuild, ..op("iam:PassRole", &[Caller::Lifecycle], Via::Member, Resource::BuildRole, &["codebuild:create_project"]) },
    // Reports on Athena (a schedule's `"engine": "athena"`, `reports --engine athena`).
    op("athena:StartQueryExecution", &[Caller::Reports], Via::Own, Resource::WorkGroup, &["athena:start_query_execution"]),
    op("athena:GetQueryExecution", &[Caller::Reports], Via::Own, Resource::WorkGroup, &["athena:get_query_execution"]),
    op("athena:GetQueryResults", &[Caller::Reports], Via::Own, Resource::WorkGroup, &["athena:get_query_results"]),
    by_aws("glue:GetDatabase", &[Caller::Reports], Resource::Catalog, "Athena reads the catalog as the caller"),
    by_aws("glue:GetTable", &[Caller::Reports], Resource::Catalog, "Athena reads the catalog as the caller"),
    by_aws("glue:GetPartitions", &[Caller::Reports], Resource::Catalog, "Athena reads the catalog as the caller"),
    // `reports athena setup`: the analysts' saved queries.
    op("athena:ListNamedQueries", &[Caller::Operator], Via::Own, Resource::WorkGroup, &["athena:list_named_queries"]),
    op("athena:GetNamedQuery", &[Caller::Operator], Via::Own, Resource::WorkGroup, &["athena:get_named_query"]),
    op("athena:CreateNamedQuery", &[Caller::Operator], Via::Own, Resource::WorkGroup, &["athena:create_named_query"]),
];

/// The resources of `resource`, as a CloudFormation value of the stack that holds the role
/// (`None`: there are none, and the operation is not granted).
fn resources(resource: Resource, settings: &Settings) -> Option<Value> {
    let names = Names::of(settings);
    Some(match resource {
        Resource::TrailObjects => {
            let buckets = settings.trail_buckets();
            if buckets.is_empty() {
                return None;
            }
            json!(
                buckets
                    .iter()
                    .map(|b| sub(&format!("arn:${{AWS::Partition}}:s3:::{b}/*")))
                    .collect::<Vec<_>>()
            )
        }
        Resource::Any => json!("*"),
        Resource::Lake => get("LakeBucket", "Arn"),
        Resource::LakeObjects => sub("${LakeBucket.Arn}/*"),
        Resource::Settings => reference("SettingsObjectArn"),
        Resource::IngestQueues => {
            let mut queues = vec![get("IngestQueue", "Arn")];
            if settings.exceptions.alert_queue.is_some() {
                queues.push(get("AlertQueue", "Arn"));
            }
            json!(queues)
        }
        Resource::FunctionsDeadLetters => get("FunctionsDeadLetterQueue", "Arn"),
        Resource::LifecycleQueue => json!([
            get("LifecycleQueue", "Arn"),
            get("LifecycleDeadLetterQueue", "Arn")
        ]),
        Resource::ExceptionsTopic => reference("ExceptionsTopic"),
        Resource::CentralBus => get("CentralBus", "Arn"),
        Resource::WorkGroup => {
            // The work group the reports use (`athena.workgroup`) and the analysts' one the
            // automation stack creates.
            let mut groups = vec![settings.athena.workgroup.clone(), names.of_what("analysts")];
            groups.sort();
            groups.dedup();
            json!(groups
                .iter()
                .map(|g| sub(&format!(
                    "arn:${{AWS::Partition}}:athena:${{AWS::Region}}:${{AWS::AccountId}}:workgroup/{g}"
                )))
                .collect::<Vec<_>>())
        }
        Resource::Catalog => {
            let database = &settings.athena.database;
            json!([
                sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"),
                sub(&format!(
                    "arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:database/{database}"
                )),
                sub(&format!(
                    "arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:table/{database}/*"
                )),
            ])
        }
        Resource::MemberAccounts => sub(&format!(
            "arn:${{AWS::Partition}}:organizations::{}:account/o-*/*",
            settings.automation.management_account_id
        )),
        Resource::BuildProjects => json!(
            spa_core::events::BUILD_PROJECTS
                .iter()
                .map(|p| sub(&format!(
                    "arn:${{AWS::Partition}}:codebuild:*:${{AWS::AccountId}}:project/{}-{p}",
                    names.env()
                )))
                .collect::<Vec<_>>()
        ),
        Resource::BuildRole => get("BuildRole", "Arn"),
    })
}

fn condition(condition: Condition, settings: &Settings) -> Option<Value> {
    match condition {
        Condition::None => None,
        Condition::Sender => {
            let sender = settings
                .features
                .origin_email
                .as_ref()
                .map_or_else(|| "sandboxes@localhost".to_string(), ToString::to_string);
            Some(json!({"StringEquals": {"ses:FromAddress": sender}}))
        }
        Condition::PassedToCodeBuild => {
            Some(json!({"StringEquals": {"iam:PassedToService": "codebuild.amazonaws.com"}}))
        }
    }
}

/// Statements allowing `operations`, one per (resources, condition), actions sorted, in the
/// table's order.
fn statements<'a>(
    operations: impl Iterator<Item = &'a Operation>,
    settings: &Settings,
) -> Vec<Value> {
    let mut groups: Vec<(Value, Option<Value>, Vec<&str>)> = Vec::new();
    for o in operations {
        let Some(r) = resources(o.resource, settings) else {
            continue;
        };
        let c = condition(o.condition, settings);
        match groups.iter_mut().find(|(gr, gc, _)| *gr == r && *gc == c) {
            Some((_, _, actions)) => actions.push(o.action),
            None => groups.push((r, c, vec![o.action])),
        }
    }
    groups
        .into_iter()
        .map(|(r, c, mut actions)| {
            actions.sort_unstable();
            actions.dedup();
            let action = if actions.len() == 1 {
                json!(actions[0])
            } else {
                json!(actions)
            };
            let mut s = json!({"Effect": "Allow", "Action": action, "Resource": r});
            if let Some(c) = c {
                s["Condition"] = c;
            }
            s
        })
        .collect()
}

/// Whether the organization is reached through a role in the management account.
fn through_organization_role(settings: &Settings) -> bool {
    settings.automation.organization_role.is_some()
}

/// The statements of a function's role: its own operations, the organization's when no
/// organization role is set, and the roles it assumes for the rest.
pub fn function_statements(caller: Caller, settings: &Settings) -> Vec<Value> {
    let own = OPERATIONS.iter().filter(|o| {
        o.callers.contains(&caller)
            && (o.via == Via::Own
                || (o.via == Via::Organization && !through_organization_role(settings)))
    });
    let mut out = statements(own, settings);
    let uses = |via: Via| {
        OPERATIONS
            .iter()
            .any(|o| o.via == via && o.callers.contains(&caller))
    };
    if let (true, Some(role)) = (
        uses(Via::Organization),
        &settings.automation.organization_role,
    ) {
        out.push(json!({"Effect": "Allow", "Action": "sts:AssumeRole",
            "Resource": sub(&format!("arn:${{AWS::Partition}}:iam::{}:role/{role}",
                settings.automation.management_account_id))}));
    }
    if uses(Via::Member) {
        out.push(json!({"Effect": "Allow", "Action": "sts:AssumeRole",
            "Resource": sub(&format!("arn:${{AWS::Partition}}:iam::*:role/{}", settings.automation.account_role)),
            "Condition": {"StringEquals": {"aws:ResourceOrgID": reference("OrganizationId")}}}));
    }
    out
}

/// The statements of the role assumed `via` the organization or a member account.
pub fn assumed_statements(via: Via, settings: &Settings) -> Vec<Value> {
    statements(OPERATIONS.iter().filter(|o| o.via == via), settings)
}

/// The functions that assume the role `via` (its trust policy names their roles).
pub fn assumed_by(via: Via) -> Vec<Caller> {
    let mut callers: Vec<Caller> = OPERATIONS
        .iter()
        .filter(|o| o.via == via)
        .flat_map(|o| o.callers.iter().copied())
        .filter(|c| c.function().is_some())
        .collect();
    callers.sort();
    callers.dedup();
    callers
}

/// The role ARNs of the functions that assume the role `via`: the principals its trust policy
/// names.
pub fn trusted_roles(via: Via, settings: &Settings) -> Vec<Value> {
    let names = Names::of(settings);
    let automation = &settings.automation.account_id;
    assumed_by(via)
        .iter()
        .filter_map(|c| c.function())
        .map(|f| {
            sub(&format!(
                "arn:${{AWS::Partition}}:iam::{automation}:role/{}",
                names.role(f)
            ))
        })
        .collect()
}

/// What a person running the command lines needs, as IAM actions (the README lists them).
pub fn operator_actions() -> Vec<&'static str> {
    OPERATIONS
        .iter()
        .filter(|o| o.callers.contains(&Caller::Operator))
        .map(|o| o.action)
        .collect()
}
