//! The pieces the templates share: intrinsic functions, the TLS-only bucket statement, the role
//! EventBridge forwards to the central bus with, and the organization's read and tag actions.

use serde_json::{Value, json};

/// `Fn::Sub`.
pub fn sub(text: &str) -> Value {
    json!({"Fn::Sub": text})
}

/// `Fn::GetAtt`.
pub fn get(id: &str, attribute: &str) -> Value {
    json!({"Fn::GetAtt": [id, attribute]})
}

/// `Ref`.
pub fn reference(id: &str) -> Value {
    json!({"Ref": id})
}

/// A bucket policy statement refusing every request without TLS on `resources`.
pub fn tls_only(resources: Value) -> Value {
    json!({"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": resources, "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
}

/// The role EventBridge assumes to put this account's events on the central bus (the
/// template's `CentralBusArn` parameter).
pub fn forwarding_role(name: String, description: &str) -> Value {
    json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": name,
            "Description": description,
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "central-bus", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "events:PutEvents", "Resource": reference("CentralBusArn")}]}}]
        }
    })
}

/// What the automation reads of the organization.
pub const ORGANIZATION_READ: [&str; 9] = [
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListRoots",
    "organizations:ListParents",
    "organizations:ListTagsForResource",
    "organizations:DescribeAccount",
    "organizations:DescribeOrganization",
    "organizations:DescribeOrganizationalUnit",
];

/// How it writes the lifecycle's tags.
pub const ORGANIZATION_TAG: [&str; 2] =
    ["organizations:TagResource", "organizations:UntagResource"];
