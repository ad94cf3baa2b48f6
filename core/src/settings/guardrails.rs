//! The `guardrails` section: what the service control policies on the managed OUs deny
//! (rendered by [`crate::guardrails`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::values::unique_map;
use super::{Feature, OuId, Region};

validated_text!(
    /// An AWS service's prefix in IAM actions, such as `sagemaker` (lowercase letters, digits,
    /// `-`).
    ServicePrefix,
    |s| {
        let ok = (2..=64).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if ok { Ok(()) } else { Err(format!("`{s}` is not a service prefix (expected e.g. sagemaker)")) }
    }
);

validated_text!(
    /// An IAM action such as `ec2:PurchaseReservedInstancesOffering`; `*` may stand for any
    /// characters of the action's name (`ec2:Purchase*`).
    ActionName,
    |s| {
        let ok = match s.split_once(':') {
            Some((service, action)) => {
                service.parse::<ServicePrefix>().is_ok()
                    && !action.is_empty()
                    && action.len() <= 128
                    && action.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'*')
            }
            None => false,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("`{s}` is not an IAM action (expected service:Action, e.g. ec2:PurchaseReservedInstancesOffering)"))
        }
    }
);

validated_text!(
    /// An EC2 instance family such as `p5` or `u-6tb1`: every size of it (`p5.*`) is denied.
    InstanceFamily,
    |s| {
        let ok = (1..=32).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
        if ok {
            Ok(())
        } else {
            Err(format!("`{s}` is not an instance family (expected the part before the dot, e.g. p5 for p5.48xlarge)"))
        }
    }
);

validated_text!(
    /// An IAM principal ARN pattern (`*` and `?` as in `ArnLike`), such as
    /// `arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_Admin_*`.
    PrincipalPattern,
    |s| {
        let ok = s.starts_with("arn:aws")
            && s.split(':').nth(2) == Some("iam")
            && s.split(':').count() == 6
            && s.len() <= 2048
            && !s.chars().any(|c| c.is_whitespace() || c == '"' || c == '\\');
        if ok {
            Ok(())
        } else {
            Err(format!("`{s}` is not an IAM principal ARN pattern (expected e.g. arn:aws:iam::*:role/Admin)"))
        }
    }
);

/// The `guardrails` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guardrails {
    /// Whether the deployment attaches the policies to the managed OUs [disabled].
    #[serde(default = "disabled")]
    pub feature: Feature,
    /// Regions where anything may be done (global services are exempt); empty: no region
    /// policy.
    #[serde(default)]
    pub allowed_regions: Vec<Region>,
    /// Services denied as a whole.
    #[serde(default)]
    pub denied_services: Vec<ServicePrefix>,
    /// Actions denied beside the durable commitments the policies always deny.
    #[serde(default)]
    pub denied_actions: Vec<ActionName>,
    /// EC2 instance families that may not be launched.
    #[serde(default)]
    pub denied_instance_families: Vec<InstanceFamily>,
    /// Principals no guardrail applies to, beside the automation's own roles (e.g. an
    /// administrators' permission set).
    #[serde(default)]
    pub exempt_principals: Vec<PrincipalPattern>,
    /// Per managed OU: lists that replace the ones above.
    #[serde(default, deserialize_with = "unique_map")]
    pub organizational_units: BTreeMap<OuId, GuardrailOverrides>,
}

fn disabled() -> Feature {
    Feature::Disabled
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            feature: Feature::Disabled,
            allowed_regions: Vec::new(),
            denied_services: Vec::new(),
            denied_actions: Vec::new(),
            denied_instance_families: Vec::new(),
            exempt_principals: Vec::new(),
            organizational_units: BTreeMap::new(),
        }
    }
}

/// A managed OU's own lists; a list given replaces the section's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailOverrides {
    /// Replaces `guardrails.allowed_regions`.
    #[serde(default)]
    pub allowed_regions: Option<Vec<Region>>,
    /// Replaces `guardrails.denied_services`.
    #[serde(default)]
    pub denied_services: Option<Vec<ServicePrefix>>,
    /// Replaces `guardrails.denied_actions`.
    #[serde(default)]
    pub denied_actions: Option<Vec<ActionName>>,
    /// Replaces `guardrails.denied_instance_families`.
    #[serde(default)]
    pub denied_instance_families: Option<Vec<InstanceFamily>>,
}

/// The lists that hold for one OU.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GuardrailRules {
    /// Regions allowed (sorted, no duplicates); empty: any.
    pub allowed_regions: Vec<Region>,
    /// Services denied (sorted).
    pub denied_services: Vec<ServicePrefix>,
    /// Actions denied beside the commitments (sorted).
    pub denied_actions: Vec<ActionName>,
    /// Instance families denied (sorted).
    pub denied_instance_families: Vec<InstanceFamily>,
}

fn sorted<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    items
}

impl Guardrails {
    /// Whether the policies are attached.
    pub fn enabled(&self) -> bool {
        self.feature == Feature::Enabled
    }

    /// The rules of `ou`: its overrides over the section's lists.
    pub fn rules(&self, ou: &OuId) -> GuardrailRules {
        self.rules_with(
            self.organizational_units
                .get(ou)
                .cloned()
                .unwrap_or_default(),
        )
    }

    /// The section's own lists: the rules of an OU without overrides.
    pub fn section_rules(&self) -> GuardrailRules {
        self.rules_with(GuardrailOverrides::default())
    }

    fn rules_with(&self, own: GuardrailOverrides) -> GuardrailRules {
        GuardrailRules {
            allowed_regions: sorted(
                own.allowed_regions
                    .as_ref()
                    .unwrap_or(&self.allowed_regions),
            ),
            denied_services: sorted(
                own.denied_services
                    .as_ref()
                    .unwrap_or(&self.denied_services),
            ),
            denied_actions: sorted(own.denied_actions.as_ref().unwrap_or(&self.denied_actions)),
            denied_instance_families: sorted(
                own.denied_instance_families
                    .as_ref()
                    .unwrap_or(&self.denied_instance_families),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked() {
        assert!("sagemaker".parse::<ServicePrefix>().is_ok());
        assert!("aws-marketplace".parse::<ServicePrefix>().is_ok());
        for bad in ["SageMaker", "-x", "s", "ec2:RunInstances"] {
            assert!(bad.parse::<ServicePrefix>().is_err(), "{bad}");
        }
        for good in [
            "ec2:RunInstances",
            "ec2:Purchase*",
            "savingsplans:CreateSavingsPlan",
        ] {
            assert!(good.parse::<ActionName>().is_ok(), "{good}");
        }
        for bad in [
            "RunInstances",
            "ec2:",
            "ec2:Run Instances",
            "EC2:RunInstances",
            "ec2:Run\"x",
        ] {
            assert!(bad.parse::<ActionName>().is_err(), "{bad}");
        }
        for good in ["p5", "x2iedn", "u-6tb1"] {
            assert!(good.parse::<InstanceFamily>().is_ok(), "{good}");
        }
        for bad in ["p5.48xlarge", "P5", "5p", "p5*"] {
            assert!(bad.parse::<InstanceFamily>().is_err(), "{bad}");
        }
        assert!(
            "arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_Admin_*"
                .parse::<PrincipalPattern>()
                .is_ok()
        );
        for bad in [
            "role/Admin",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::*:role/a\"b",
        ] {
            assert!(bad.parse::<PrincipalPattern>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_ou_list_replaces_the_sections_list() {
        let yaml = r#"
feature: enabled
allowed_regions: [us-east-1, eu-west-1, eu-west-1]
denied_services: [sagemaker]
denied_instance_families: [p5]
organizational_units:
  ou-ab12-cd34ef56:
    allowed_regions: [eu-central-1]
"#;
        let g: Guardrails = serde_yaml_ng::from_str(yaml).unwrap();
        assert!(g.enabled());
        let own = g.rules(&"ou-ab12-cd34ef56".parse().unwrap());
        let other = g.rules(&"ou-ab12-aaaabbbb".parse().unwrap());
        let names = |r: &[Region]| r.iter().map(|r| r.as_str().to_string()).collect::<Vec<_>>();
        assert_eq!(names(&own.allowed_regions), ["eu-central-1"]);
        assert_eq!(names(&other.allowed_regions), ["eu-west-1", "us-east-1"]);
        assert_eq!(own.denied_services, other.denied_services);
        assert_eq!(own.denied_instance_families[0].as_str(), "p5");
        assert!(!Guardrails::default().enabled());
    }
}
