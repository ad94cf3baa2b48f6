//! The monthly cost e-mail to FinOps: a multipart text and HTML summary (top cost centers, change
//! against the previous month, totals, the forecast and the main chart as an inline PNG) with
//! the organization's workbook, HTML page and CSV files attached,
//! delivered through the transport of settings: an outbox folder of `.eml` files, an SMTP relay
//! (lettre, TLS, credentials from the environment) or SES v2 (raw message).

use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use rust_decimal::{Decimal, RoundingStrategy};
use spa_core::Settings;

use spa_core::period::Month;

use crate::costs::{MonthCosts, ORGANIZATION_LEVEL, cost_center_totals};
use crate::report::{ALL, Written};

/// Sender when the settings name none (the outbox transport only).
pub(crate) const DEFAULT_FROM: &str = "sandbox-reports@localhost";

/// Cost centers listed in the summary.
const TOP: usize = 10;

/// What could not be mailed.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Settings lack something.
    #[error("{0}")]
    Settings(String),
    /// The message could not be built.
    #[error("composing the message: {0}")]
    Compose(String),
    /// The transport failed.
    #[error("sending through {transport}: {message}")]
    Send {
        /// `outbox`, `smtp host:port`, `ses`.
        transport: String,
        /// What failed.
        message: String,
    },
}

/// One cost center's line of the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Cost center.
    pub name: String,
    /// This month.
    pub amount: Decimal,
    /// The previous month, when the lake has it.
    pub previous: Option<Decimal>,
}

/// The figures of the e-mail.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// `YYYY-MM`.
    pub month: String,
    /// Currency of the amounts.
    pub currency: String,
    /// The month's total (credits and refunds included).
    pub total: Decimal,
    /// The previous month's total over the same rows, when known.
    pub previous: Option<Decimal>,
    /// Cost centers by amount, largest first.
    pub cost_centers: Vec<Line>,
    /// Credits and refunds at organization level.
    pub organization: Vec<Line>,
    /// The organization page's headline figures after its total (forecast, accounts,
    /// exceptions, idle and stuck accounts), when the page was made.
    pub figures: Vec<crate::html::Figure>,
    /// The page's main chart (cost per cost center over the months), drawn inline as a PNG.
    pub chart: Option<crate::html::chart::ChartData>,
}

impl Summary {
    /// The summary with the organization page's figures and main chart.
    pub fn with_page(mut self, page: &crate::html::Page) -> Self {
        self.figures = page.figures.iter().skip(1).cloned().collect();
        self.chart = page.charts.first().map(|c| c.data().clone());
        self
    }
}

/// The Content-ID of the chart's inline image.
pub const CHART_ID: &str = "costs-chart";

/// The summary of a month's costs, from the sums the reports are built from: each cost
/// center's amount (credits and refunds left out) with its previous month (zero for a cost
/// center new this month, none when the lake lacks the previous month), and the credits and
/// refunds kept at organization level.
pub fn summary(month: Month, current: &MonthCosts, previous: Option<&MonthCosts>) -> Summary {
    let before = previous.map(|p| cost_center_totals(&p.lines));
    let mut cost_centers: Vec<Line> = cost_center_totals(&current.lines)
        .into_iter()
        .map(|(name, amount)| Line {
            previous: before
                .as_ref()
                .map(|b| b.get(&name).copied().unwrap_or_default()),
            name: name.to_string(),
            amount,
        })
        .collect();
    let organization: Vec<Line> = ORGANIZATION_LEVEL
        .iter()
        .map(|kind| Line {
            name: format!("{kind} (organization)"),
            amount: current
                .lines
                .iter()
                .filter(|l| &*l.record_type == *kind)
                .map(|l| l.amount)
                .sum(),
            previous: None,
        })
        .filter(|l| !l.amount.is_zero())
        .collect();
    cost_centers.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.name.cmp(&b.name)));
    let total = cost_centers
        .iter()
        .chain(&organization)
        .map(|l| l.amount)
        .sum();
    // The change compares the same cost centers; none without a previous month (or without a
    // cost center).
    let previous = before
        .map(|_| cost_centers.iter().filter_map(|l| l.previous).sum())
        .filter(|_| !cost_centers.is_empty());
    Summary {
        month: month.to_string(),
        currency: current.currency.clone(),
        total,
        previous,
        cost_centers,
        organization,
        figures: Vec::new(),
        chart: None,
    }
}

/// Rounded for reading (half away from zero, as on an invoice); files keep every decimal.
pub(crate) fn round(amount: Decimal, digits: u32) -> Decimal {
    amount.round_dp_with_strategy(digits, RoundingStrategy::MidpointAwayFromZero)
}

fn money(amount: Decimal, currency: &str) -> String {
    format!("{} {currency}", round(amount, 2))
}

fn change(now: Decimal, before: Option<Decimal>) -> String {
    match before {
        Some(b) if !b.is_zero() => {
            let pct = round((now - b) / b * Decimal::ONE_HUNDRED, 1);
            format!("{:+} ({pct:+}%)", round(now - b, 2))
        }
        Some(b) => format!("{:+}", round(now - b, 2)),
        None => "n/a".into(),
    }
}

/// The plain text body.
pub fn text(s: &Summary, files: &[&Written], folder: &str) -> String {
    let per_cc: Decimal = s.cost_centers.iter().map(|l| l.amount).sum();
    let mut out = format!(
        "Costs of the sandbox accounts for {}\n\nTotal: {}\nCost centers: {} ({} in all)\nChange against the previous month (cost centers): {}\n",
        s.month,
        money(s.total, &s.currency),
        s.cost_centers.len(),
        money(per_cc, &s.currency),
        change(per_cc, s.previous),
    );
    for line in &s.organization {
        out.push_str(&format!(
            "{}: {}\n",
            line.name,
            money(line.amount, &s.currency)
        ));
    }
    out.push_str("\nTop cost centers:\n");
    let width = s
        .cost_centers
        .iter()
        .take(TOP)
        .map(|l| l.name.chars().count())
        .max()
        .unwrap_or(0);
    for line in s.cost_centers.iter().take(TOP) {
        out.push_str(&format!(
            "  {:<width$}  {:>16}  {}\n",
            line.name,
            money(line.amount, &s.currency),
            change(line.amount, line.previous)
        ));
    }
    out.push_str("\nAttached: ");
    out.push_str(
        &files
            .iter()
            .map(|f| file_name(&f.key))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push_str(&format!(
        "\nFiles per cost center: {folder}/<cost center>/ (services and usages, CSV and Excel).\n"
    ));
    out
}

/// The HTML body (every text escaped).
pub fn html(s: &Summary, files: &[&Written], folder: &str) -> String {
    let e = |t: &str| html_escape::encode_text(t).into_owned();
    let per_cc: Decimal = s.cost_centers.iter().map(|l| l.amount).sum();
    let mut rows = String::new();
    for line in s.cost_centers.iter().take(TOP) {
        rows.push_str(&format!(
            "<tr><td>{}</td><td style=\"text-align:right\">{}</td><td style=\"text-align:right\">{}</td></tr>\n",
            e(&line.name),
            e(&money(line.amount, &s.currency)),
            e(&change(line.amount, line.previous))
        ));
    }
    let organization: String = s
        .organization
        .iter()
        .map(|l| {
            format!(
                "<li>{}: {}</li>",
                e(&l.name),
                e(&money(l.amount, &s.currency))
            )
        })
        .collect();
    let attached: String = files
        .iter()
        .map(|f| format!("<li>{}</li>", e(file_name(&f.key))))
        .collect();
    let figures: String = s
        .figures
        .iter()
        .map(|f| {
            format!(
                "<li>{}: <b>{}</b> ({})</li>",
                e(&f.label),
                e(&f.value),
                e(&f.note)
            )
        })
        .collect();
    let chart = s.chart.as_ref().map_or(String::new(), |c| {
        format!(
            "<p><b>{}</b><br><img src=\"cid:{CHART_ID}\" alt=\"{}\" width=\"{}\" style=\"max-width:100%;height:auto\"></p>\n",
            e(&c.title),
            html_escape::encode_double_quoted_attribute(&c.title),
            crate::html::chart::PNG_WIDTH
        )
    });
    let page = files
        .iter()
        .find(|f| f.key.ends_with(".html"))
        .map_or(String::new(), |f| {
            format!(
                "<p>The full report, with every chart and table, is attached: <b>{}</b> (open it in a browser).</p>\n",
                e(file_name(&f.key))
            )
        });
    format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n<h2>Costs of the sandbox accounts for {month}</h2>\n<p><b>Total: {total}</b><br>Cost centers: {n} ({per_cc} in all), change against the previous month: {change}</p>\n<ul>{organization}{figures}</ul>\n{chart}{page}<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\n<tr><th>Cost center</th><th>Amount</th><th>Change</th></tr>\n{rows}</table>\n<p>Attached:</p><ul>{attached}</ul>\n<p>Files per cost center: {folder}/&lt;cost center&gt;/</p>\n</body></html>\n",
        month = e(&s.month),
        total = e(&money(s.total, &s.currency)),
        n = s.cost_centers.len(),
        per_cc = e(&money(per_cc, &s.currency)),
        change = e(&change(per_cc, s.previous)),
        folder = e(folder),
    )
}

fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

fn content_type(key: &str) -> ContentType {
    let mime = if key.ends_with(".xlsx") {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    } else if key.ends_with(".html") {
        "text/html; charset=utf-8"
    } else {
        "text/csv; charset=utf-8"
    };
    ContentType::parse(mime).expect("valid content type")
}

/// The cost e-mail of a month: summary and the organization's files attached.
pub fn compose(
    settings: &Settings,
    summary: &Summary,
    written: &[Written],
    folder: &str,
) -> Result<Message, MailError> {
    let recipients = &settings.features.cost_email_recipients;
    if recipients.is_empty() {
        return Err(MailError::Settings(format!(
            "{}: features.cost_email_recipients is empty: nobody to send the cost reports to",
            settings.file.display()
        )));
    }
    let from = settings
        .features
        .origin_email
        .as_ref()
        .map_or(DEFAULT_FROM, |e| e.as_str());
    let mailbox = |address: &str| -> Result<Mailbox, MailError> {
        address
            .parse()
            .map_err(|e| MailError::Compose(format!("`{address}`: {e}")))
    };
    let stem = format!("{}-{}-", summary.month, ALL);
    let files: Vec<&Written> = written
        .iter()
        .filter(|f| file_name(&f.key).starts_with(&stem))
        .collect();
    let html_body = html(summary, &files, folder);
    let plain = text(summary, &files, folder);
    // With a chart: the HTML and its image as one related part, the image inline by its
    // Content-ID (what the common mail clients show; they do not show SVG).
    let alternative = match &summary.chart {
        Some(chart) => {
            let png = crate::html::chart::stacked_columns_png(chart)
                .map_err(|e| MailError::Compose(format!("the chart: {e}")))?;
            let image = Attachment::new_inline(CHART_ID.to_string()).body(
                png,
                ContentType::parse("image/png").expect("valid content type"),
            );
            MultiPart::alternative()
                .singlepart(SinglePart::plain(plain))
                .multipart(
                    MultiPart::related()
                        .singlepart(SinglePart::html(html_body))
                        .singlepart(image),
                )
        }
        None => MultiPart::alternative_plain_html(plain, html_body),
    };
    let mut body = MultiPart::mixed().multipart(alternative);
    for file in &files {
        // Base64 keeps the bytes exactly (a text part's CRLF line ends may be rewritten on the
        // way; RFC 4180 wants them).
        let bytes = Body::new_with_encoding(file.bytes.to_vec(), ContentTransferEncoding::Base64)
            .map_err(|_| MailError::Compose("base64 encoding".into()))?;
        let part: SinglePart =
            Attachment::new(file_name(&file.key).to_string()).body(bytes, content_type(&file.key));
        body = body.singlepart(part);
    }
    let mut builder = Message::builder().from(mailbox(from)?).subject(format!(
        "Sandbox accounts: costs for {}, {}",
        summary.month,
        money(summary.total, &summary.currency)
    ));
    for to in recipients {
        builder = builder.to(mailbox(to.as_str())?);
    }
    builder
        .multipart(body)
        .map_err(|e| MailError::Compose(e.to_string()))
}

/// Sends `message` with the transport of settings (see [`spa_core::mail::send`]); `name`
/// names the outbox file. Returns where it went.
pub async fn send(settings: &Settings, message: &Message, name: &str) -> Result<String, MailError> {
    spa_core::mail::send(settings, message, name)
        .await
        .map_err(|e| match e {
            spa_core::mail::MailError::Settings(m) => MailError::Settings(m),
            spa_core::mail::MailError::Send { transport, message } => {
                MailError::Send { transport, message }
            }
        })
}
