//! Validated identifiers that appear in settings and in the organization.

validated_text!(
    /// A 12-digit AWS account id, kept as text so leading zeros survive.
    AccountId,
    |s| {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(())
        } else {
            Err(format!("`{s}` is not an AWS account id (expected 12 digits, e.g. \"123456789012\")"))
        }
    }
);

validated_text!(
    /// An organizational unit id such as `ou-ab12-34cd56ef`, or the organization root `r-ab12`.
    ///
    /// Accepts the AWS patterns `^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$` and `^r-[0-9a-z]{4,32}$`.
    OuId,
    |s| {
        let valid = if let Some(rest) = s.strip_prefix("ou-") {
            matches!(rest.split_once('-'), Some((root, unit)) if lower_alnum(root, 4, 32) && lower_alnum(unit, 8, 32))
        } else if let Some(root) = s.strip_prefix("r-") {
            lower_alnum(root, 4, 32)
        } else {
            false
        };
        if valid {
            Ok(())
        } else {
            Err(format!(
                "`{s}` is not an organizational unit id (expected `ou-` then 4-32 and 8-32 lowercase letters or digits, e.g. \"ou-ab12-cd34ef56\", or a root id like \"r-ab12\")"
            ))
        }
    }
);

impl OuId {
    /// Whether this is the organization root (`r-...`) rather than an OU.
    pub(crate) fn is_root(&self) -> bool {
        self.0.starts_with("r-")
    }
}

fn lower_alnum(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        assert!("012345678901".parse::<AccountId>().is_ok());
        for bad in [
            "12345678901",
            "1234567890123",
            "12345678901a",
            "",
            " 123456789012",
        ] {
            assert!(bad.parse::<AccountId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ou_ids() {
        for good in ["ou-ab12-cd34ef56", "r-ab12", "ou-abcd-1234567890"] {
            assert!(good.parse::<OuId>().is_ok(), "{good}");
        }
        for bad in [
            "ou-ab-cd34ef56",
            "ou-ab12-cd34",
            "OU-ab12-cd34ef56",
            "ou-ab12_cd34ef56",
            "r-a",
        ] {
            assert!(bad.parse::<OuId>().is_err(), "{bad}");
        }
        assert!("r-ab12".parse::<OuId>().unwrap().is_root());
    }
}
