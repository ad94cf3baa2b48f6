//! The pieces the templates share: intrinsic functions, the properties of every data bucket,
//! the TLS-only bucket statement, the role EventBridge forwards to the central bus with.

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

/// A bucket's properties: `properties` on top of what every data bucket of the system has
/// (SSE-S3 with bucket keys, public access blocked, bucket-owner objects, versioning).
pub fn private_bucket(properties: Value) -> Value {
    let mut all = json!({
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": true}]},
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "BlockPublicPolicy": true,
            "IgnorePublicAcls": true, "RestrictPublicBuckets": true},
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "VersioningConfiguration": {"Status": "Enabled"}
    });
    if let (Some(all), Value::Object(extra)) = (all.as_object_mut(), properties) {
        all.extend(extra);
    }
    all
}
