//! Small validated values of the settings file: names, addresses, currencies, locations.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

validated_text!(
    /// An AWS tag key: 1 to 128 characters, not in the reserved `aws:` namespace.
    TagKey,
    |s| {
        if s.is_empty() || s.chars().count() > 128 {
            Err(format!("tag key `{s}` must have 1 to 128 characters"))
        } else if s.to_ascii_lowercase().starts_with("aws:") {
            Err(format!("tag key `{s}` uses the reserved `aws:` prefix"))
        } else {
            Ok(())
        }
    }
);

validated_text!(
    /// A CodeBuild environment variable name: a letter or `_`, then letters, digits or `_`.
    VariableName,
    |s| {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            Ok(())
        } else {
            Err(format!(
                "`{s}` is not a variable name (expected letters, digits and `_`, not starting with a digit, e.g. BUDGET_AMOUNT)"
            ))
        }
    }
);

validated_text!(
    /// An e-mail address (`local@domain.tld`); delivery checks belong to the mail transport.
    Email,
    |s| {
        let ok = match s.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
                    && !s.chars().any(|c| c.is_whitespace() || c == ',' || c == ';')
            }
            None => false,
        };
        if ok { Ok(()) } else { Err(format!("`{s}` is not an e-mail address (expected e.g. finops@example.com)")) }
    }
);

validated_text!(
    /// An AWS region name such as `eu-west-1`.
    Region,
    |s| {
        let parts: Vec<&str> = s.split('-').collect();
        let ok = parts.len() >= 3
            && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
            && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if ok { Ok(()) } else { Err(format!("`{s}` is not an AWS region (expected e.g. eu-west-1)")) }
    }
);

validated_text!(
    /// An IAM role name: 1 to 64 characters of letters, digits and `+=,.@_-`.
    RoleName,
    |s| {
        let ok = (1..=64).contains(&s.len())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if ok { Ok(()) } else { Err(format!("`{s}` is not an IAM role name (1-64 letters, digits or +=,.@_-)")) }
    }
);

validated_text!(
    /// An ISO 4217 currency code such as `EUR`.
    Currency,
    |s| {
        if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(())
        } else {
            Err(format!("`{s}` is not a currency code (expected three capital letters, e.g. EUR)"))
        }
    }
);

validated_text!(
    /// The deployment's name, used in resource names and e-mail subjects.
    EnvironmentId,
    |s| {
        let mut chars = s.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.len() <= 40
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(())
        } else {
            Err(format!("`{s}` is not an environment identifier (a letter, then up to 39 letters, digits or `-`)"))
        }
    }
);

validated_text!(
    /// An `http://` or `https://` URL.
    Url,
    |s| {
        let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
        if rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace)) {
            Ok(())
        } else {
            Err(format!("`{s}` is not an http(s) URL"))
        }
    }
);

/// An exchange rate from the organization's billing currency (USD), as an exact decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rate(pub Decimal);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The YAML scalar's own text, so `0.92` stays exactly 0.92.
        from_text(d)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match Decimal::from_str_exact(text.trim()) {
            Ok(rate) if rate > Decimal::ZERO => Ok(Rate(rate)),
            _ => Err(format!(
                "`{text}` is not a positive exchange rate (expected a decimal number such as 0.92)"
            )),
        }
    }
}

/// Where the lake lives: a local directory or an S3 bucket and prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory on this machine (relative paths resolve against the settings file).
    Local(PathBuf),
    /// `s3://bucket/prefix`.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix without leading or trailing `/` (may be empty).
        prefix: String,
    },
}

impl FromStr for Location {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                });
            if !bucket_ok {
                return Err(format!(
                    "`{s}`: `{bucket}` is not an S3 bucket name (3-63 lowercase letters, digits, `-` or `.`)"
                ));
            }
            Ok(Location::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            })
        } else if s.contains("://") {
            Err(format!(
                "`{s}`: expected a local path or an s3://bucket/prefix URL"
            ))
        } else if s.trim().is_empty() {
            Err(
                "expected a local path or an s3://bucket/prefix URL, found an empty value"
                    .to_string(),
            )
        } else {
            Ok(Location::Local(PathBuf::from(s)))
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl Serialize for Location {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d)
    }
}

/// Deserializes a scalar through `FromStr`, validating inside the deserializer so that errors
/// carry the position and key path of the value itself.
pub(crate) fn from_text<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    struct Text<T>(PhantomData<T>);

    impl<T: FromStr<Err = String>> Visitor<'_> for Text<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            v.parse().map_err(E::custom)
        }
    }

    d.deserialize_str(Text(PhantomData))
}

/// Deserializes a mapping into a `BTreeMap`, refusing a key written twice (YAML would
/// otherwise keep the last silently).
pub(crate) fn unique_map<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord + fmt::Display,
    V: Deserialize<'de>,
{
    struct UniqueMap<K, V>(PhantomData<(K, V)>);

    impl<'de, K, V> Visitor<'de> for UniqueMap<K, V>
    where
        K: Deserialize<'de> + Ord + fmt::Display,
        V: Deserialize<'de>,
    {
        type Value = BTreeMap<K, V>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a mapping")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<K>()? {
                if out.contains_key(&key) {
                    return Err(de::Error::custom(format!("`{key}` is written twice")));
                }
                let value = map.next_value()?;
                out.insert(key, value);
            }
            Ok(out)
        }
    }

    d.deserialize_map(UniqueMap(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert!("finops@example.com".parse::<Email>().is_ok());
        for bad in [
            "finops",
            "a@b",
            "a b@example.com",
            "@example.com",
            "a@example.com,b@example.com",
        ] {
            assert!(bad.parse::<Email>().is_err(), "{bad}");
        }
        assert!("eu-west-1".parse::<Region>().is_ok());
        assert!("us-gov-west-1".parse::<Region>().is_ok());
        assert!("Europe".parse::<Region>().is_err());
        assert!("aws:createdBy".parse::<TagKey>().is_err());
        assert!("BUDGET_AMOUNT".parse::<VariableName>().is_ok());
        assert!("1BUDGET".parse::<VariableName>().is_err());
        assert!("eur".parse::<Currency>().is_err());
        assert_eq!(
            "s3://my-lake/spa/".parse::<Location>().unwrap(),
            Location::S3 {
                bucket: "my-lake".into(),
                prefix: "spa".into()
            }
        );
        assert!("s3://UPPER/x".parse::<Location>().is_err());
        assert!("https://example.com".parse::<Location>().is_err());
        assert_eq!(
            "./lake".parse::<Location>().unwrap(),
            Location::Local("./lake".into())
        );
    }
}
