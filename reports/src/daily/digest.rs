//! The FinOps digest e-mail of the day.

use super::*;

/// The FinOps digest of the day: every account and cost center over a threshold, largest
/// first, with the day's totals, the day's workbook attached; `None` without alerts.
pub fn digest(
    settings: &Settings,
    daily: &Daily,
    written: &[crate::report::Written],
) -> Option<Result<lettre::Message, crate::mail::MailError>> {
    use crate::mail::MailError;
    use lettre::message::header::{ContentTransferEncoding, ContentType};
    use lettre::message::{Attachment, Body, Mailbox, MultiPart};
    if daily.notices.is_empty() && daily.budget_alerts.is_empty() {
        return None;
    }
    let compose = || -> Result<lettre::Message, MailError> {
        let recipients = &settings.features.cost_email_recipients;
        if recipients.is_empty() {
            return Err(MailError::Settings(format!(
                "{}: features.cost_email_recipients is empty: nobody to send the spend digest to",
                settings.file.display()
            )));
        }
        let mailbox = |address: &str| -> Result<Mailbox, MailError> {
            address
                .parse()
                .map_err(|e| MailError::Compose(format!("`{address}`: {e}")))
        };
        let spend: Decimal = daily.accounts.iter().map(|a| a.figures.spend).sum();
        let mtd: Decimal = daily.accounts.iter().map(|a| a.figures.month_to_date).sum();
        let estimate: Decimal = daily.launches.iter().map(|l| l.per_day).sum();
        let subject = format!(
            "[{}] Spend {}: {} alerts, {} USD spent that day",
            settings.environment_identifier,
            daily.day,
            daily.notices.len(),
            money(spend)
        );
        let who = |n: &Notice| match &n.alert.scope {
            Scope::Account(id) => match &n.name {
                Some(name) => format!("{id} ({name})"),
                None => id.clone(),
            },
            Scope::CostCenter(name) => format!("cost center {name}"),
        };
        let mut text = vec![
            format!("Spend of the sandbox accounts on {}", daily.day),
            String::new(),
            format!("Spent that day: {} USD", money(spend)),
            format!("Month to date: {} USD", money(mtd)),
            format!(
                "Launched that day, estimated: {} USD per day",
                money(estimate)
            ),
            String::new(),
            format!("Over a threshold ({}), largest first:", daily.notices.len()),
        ];
        let e = |t: &str| html_escape::encode_text(t).into_owned();
        let mut rows = String::new();
        for n in &daily.notices {
            text.push(format!(
                "- {}: {} {} USD (threshold {})",
                who(n),
                n.alert.kind,
                money(n.alert.amount),
                n.alert.threshold
            ));
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td style=\"text-align:right\">{}</td><td>{}</td><td>{}</td></tr>\n",
                e(&who(n)),
                e(n.alert.kind.as_str()),
                e(&money(n.alert.amount)),
                e(&n.alert.threshold.to_string()),
                e(n.cost_center.as_deref().unwrap_or(""))
            ));
        }
        let mut budget_rows = String::new();
        if !daily.budget_alerts.is_empty() {
            text.push(String::new());
            text.push(
                "Budget notifications and billing alarms of the day (sent on their own as exceptions):"
                    .into(),
            );
            for b in &daily.budget_alerts {
                text.push(format!("- {} ({}): {}", b.account, b.name, b.message));
                budget_rows.push_str(&format!(
                    "<li>{} ({}): {}</li>\n",
                    e(&b.account),
                    e(&b.name),
                    e(&b.message)
                ));
            }
        }
        text.push(String::new());
        text.push("Each alert's drivers are in the attached workbook (sheet Alerts).".into());
        let html = format!(
            "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n<h2>Spend of the sandbox accounts on {day}</h2>\n<p>Spent that day: <b>{spend} USD</b><br>Month to date: {mtd} USD<br>Launched that day, estimated: {estimate} USD per day</p>\n<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\n<tr><th>Who</th><th>Threshold kind</th><th>Amount (USD)</th><th>Threshold</th><th>Cost center</th></tr>\n{rows}</table>\n{budget}<p>Each alert's drivers are in the attached workbook (sheet Alerts).</p>\n</body></html>\n",
            budget = if budget_rows.is_empty() {
                String::new()
            } else {
                format!(
                    "<p>Budget notifications and billing alarms of the day (sent on their own as exceptions):</p>\n<ul>{budget_rows}</ul>\n"
                )
            },
            day = e(&daily.day.to_string()),
            spend = e(&money(spend)),
            mtd = e(&money(mtd)),
            estimate = e(&money(estimate)),
        );
        let mut body =
            MultiPart::mixed().multipart(MultiPart::alternative_plain_html(text.join("\n"), html));
        for file in written.iter().filter(|f| f.key.ends_with(".xlsx")) {
            let bytes =
                Body::new_with_encoding(file.bytes.to_vec(), ContentTransferEncoding::Base64)
                    .map_err(|_| MailError::Compose("base64 encoding".into()))?;
            let name = file.key.rsplit('/').next().unwrap_or(&file.key).to_string();
            body = body.singlepart(
                Attachment::new(name).body(
                    bytes,
                    ContentType::parse(
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    )
                    .expect("valid content type"),
                ),
            );
        }
        let from = settings
            .features
            .origin_email
            .as_ref()
            .map_or(crate::mail::DEFAULT_FROM, |e| e.as_str());
        let mut builder = lettre::Message::builder()
            .from(mailbox(from)?)
            .subject(subject);
        for to in recipients {
            builder = builder.to(mailbox(to.as_str())?);
        }
        builder
            .multipart(body)
            .map_err(|e| MailError::Compose(e.to_string()))
    };
    Some(compose())
}
