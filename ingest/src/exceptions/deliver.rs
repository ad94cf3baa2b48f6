//! Delivery: every stored exception reaches each channel its label routes it to once. The
//! ledger (`deliveries` dataset) says what was sent; a delivery is attempted only when no
//! `sent` row exists for the exception and channel, and its outcome is written right after.
//! Webhooks retry 429 (honouring `Retry-After`) and 5xx with backoff; any other answer is
//! recorded as failed, and the next sweep tries again. More than `exceptions.digest_after`
//! exceptions for one channel in one run become one digest message.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, AsArray, Int32Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use backon::{ExponentialBuilder, Retryable};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use serde_json::{Value, json};
use spa_core::Settings;
use spa_core::lake::{Claim, Dataset, Lake, LakeError, columns};
use spa_core::settings::ChannelKind;

use super::context::decimal;
use super::store::Exception;

/// The ledger's name of the holder's e-mail, beside the configured channels.
pub const HOLDER: &str = "holder";

/// Attempts of one webhook delivery before it is recorded as failed.
const ATTEMPTS: usize = 4;

/// A delivery run that could not run at all (the lake).
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The ledger could not be read or written.
    #[error(transparent)]
    Lake(#[from] LakeError),
}

/// One channel's outcome for one exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The exception.
    pub exception_id: String,
    /// `email`, `teams`, `slack`, `sns` or `holder`.
    pub channel: String,
    /// Sent, else why not.
    pub result: Result<(), String>,
    /// Attempts made.
    pub attempts: u32,
}

/// What a delivery run did.
#[derive(Debug, Default)]
pub struct Deliveries {
    /// Every outcome, in the order attempted.
    pub outcomes: Vec<Delivered>,
    /// Messages sent (a digest counts once).
    pub messages: usize,
    /// Deliveries skipped because the ledger says they were sent before.
    pub already: usize,
    /// Deliveries skipped because another run holds their claim (it is sending them now).
    pub elsewhere: usize,
}

impl Deliveries {
    /// The failed ones.
    pub fn failed(&self) -> impl Iterator<Item = &Delivered> {
        self.outcomes.iter().filter(|d| d.result.is_err())
    }

    /// The summary a command prints.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .failed()
            .map(|d| {
                format!(
                    "delivery failed: {} to {} after {} attempts: {}",
                    d.exception_id,
                    d.channel,
                    d.attempts,
                    d.result.as_ref().err().map_or("", String::as_str)
                )
            })
            .collect();
        let sent = self.outcomes.iter().filter(|d| d.result.is_ok()).count();
        out.push(format!(
            "delivered: {sent} exception-channel pairs in {} messages, {} failed, {} sent before, {} being sent by another run",
            self.messages,
            self.failed().count(),
            self.already,
            self.elsewhere
        ));
        out
    }
}

/// The `(exception, channel)` pairs the ledger holds as sent.
pub async fn ledger(lake: &Lake) -> Result<HashSet<(String, String)>, LakeError> {
    let mut sent = HashSet::new();
    for day in lake.partitions(Dataset::Deliveries).await? {
        for batch in lake.read_partition(Dataset::Deliveries, &day).await? {
            let ids = batch
                .column_by_name(columns::EXCEPTION_ID)
                .expect("deliveries schema")
                .as_string::<i32>();
            let channels = batch
                .column_by_name(columns::CHANNEL)
                .expect("deliveries schema")
                .as_string::<i32>();
            let status = batch
                .column_by_name(columns::STATUS)
                .expect("deliveries schema")
                .as_string::<i32>();
            for i in 0..batch.num_rows() {
                if status.value(i) == "sent" {
                    sent.insert((ids.value(i).to_string(), channels.value(i).to_string()));
                }
            }
        }
    }
    Ok(sent)
}

async fn record(lake: &Lake, outcomes: &[Delivered], at: i64) -> Result<(), LakeError> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let (mut id, mut channel, mut status, mut reason) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let mut attempts = Int32Builder::new();
    let mut when = TimestampMicrosecondBuilder::new();
    for d in outcomes {
        id.append_value(&d.exception_id);
        channel.append_value(&d.channel);
        status.append_value(if d.result.is_ok() { "sent" } else { "failed" });
        attempts.append_value(i32::try_from(d.attempts).unwrap_or(i32::MAX));
        reason.append_option(d.result.as_ref().err());
        when.append_value(at);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(channel.finish()),
        Arc::new(status.finish()),
        Arc::new(attempts.finish()),
        Arc::new(reason.finish()),
        Arc::new(when.finish().with_timezone("UTC")),
    ];
    let batch = RecordBatch::try_new(Dataset::Deliveries.schema(), columns)
        .expect("columns follow the deliveries schema");
    let day = chrono::DateTime::from_timestamp_micros(at)
        .expect("now is a time")
        .date_naive()
        .to_string();
    let keys: Vec<String> = outcomes
        .iter()
        .map(|d| format!("{}/{}", d.exception_id, d.channel))
        .collect();
    let key = format!("deliveries:{at}:{}", keys.join(","));
    lake.write(Dataset::Deliveries, &day, &key, &[batch])
        .await?;
    Ok(())
}

/// What a message says about one exception, as label/value pairs, in order.
fn facts(e: &Exception) -> Vec<(&'static str, String)> {
    let c = &e.candidate;
    let info = e.account.as_ref();
    let or_unknown = |v: Option<&String>| v.cloned().unwrap_or_else(|| "unknown".into());
    let mut out = vec![
        (
            "Account",
            c.account_id.clone().unwrap_or_else(|| "-".into()),
        ),
        ("Name", or_unknown(info.and_then(|i| i.name.as_ref()))),
        ("Holder", or_unknown(info.and_then(|i| i.holder.as_ref()))),
        (
            "Cost center",
            or_unknown(info.and_then(|i| i.cost_center.as_ref())),
        ),
        ("OU", or_unknown(info.and_then(|i| i.ou_name.as_ref()))),
    ];
    if let Some(cost) = &e.cost {
        let currency = cost.currency.as_deref().unwrap_or("USD");
        out.push((
            "Cost this month",
            format!("{} {currency}", decimal(cost.total)),
        ));
        let top: Vec<String> = cost
            .top()
            .iter()
            .map(|(s, a)| format!("{s} {}", decimal(*a)))
            .collect();
        if !top.is_empty() {
            out.push(("Top services", top.join("; ")));
        }
    }
    for (label, value) in [
        ("Region", c.region.as_ref()),
        ("Actor", c.actor.as_ref()),
        ("Source IP", c.source_ip.as_ref()),
    ] {
        if let Some(v) = value {
            out.push((label, v.clone()));
        }
    }
    let when = chrono::DateTime::from_timestamp_micros(c.event_time)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    out.push(("When", when));
    out.push(("Exception", c.id.clone()));
    if let Some(raw) = &c.raw {
        out.push(("Text", raw.chars().take(500).collect()));
    }
    out
}

/// Printable text of untrusted values: control characters (newlines in a header, escapes in
/// a chat message) become spaces.
fn clean(text: &str) -> String {
    text.chars()
        .map(|ch| if ch.is_control() { ' ' } else { ch })
        .collect()
}

/// [`clean`], keeping line breaks (an e-mail body shows them).
fn clean_lines(text: &str) -> String {
    text.lines().map(clean).collect::<Vec<_>>().join("\n")
}

fn title(settings: &Settings, e: &Exception) -> String {
    let c = &e.candidate;
    let name = e
        .account
        .as_ref()
        .and_then(|a| a.name.clone())
        .unwrap_or_else(|| "unknown account".into());
    clean(&format!(
        "[{}] {} {}: {} ({name})",
        settings.environment_identifier,
        c.label.severity(),
        c.label,
        c.account_id.as_deref().unwrap_or("-")
    ))
}

fn console_link(e: &Exception) -> Option<String> {
    let account = e.candidate.account_id.as_ref()?;
    Some(format!(
        "https://console.aws.amazon.com/organizations/v2/home/accounts/{account}"
    ))
}

/// What one message carries: one exception, or a digest's title and text.
enum Outgoing<'e> {
    One(&'e Exception),
    Digest { title: String, body: String },
}

/// The Microsoft Teams message: an Adaptive Card as a Workflows webhook expects it.
fn adaptive_card(
    title: &str,
    text: &str,
    facts: Option<Vec<Value>>,
    link: Option<String>,
) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true, "text": title}),
        json!({"type": "TextBlock", "wrap": true, "text": text}),
    ];
    if let Some(facts) = facts {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(url) = link {
        card["actions"] =
            json!([{"type": "Action.OpenUrl", "title": "Open the account", "url": url}]);
    }
    json!({"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card}]})
}

/// The Teams card of one exception: title, message, its facts and a link to the account.
pub fn teams_card(settings: &Settings, e: &Exception) -> Value {
    let facts: Vec<Value> = facts(e)
        .into_iter()
        .map(|(t, v)| json!({"title": t, "value": clean(&v)}))
        .collect();
    adaptive_card(
        &title(settings, e),
        &clean(&e.candidate.message),
        Some(facts),
        console_link(e),
    )
}

/// Slack's mrkdwn with `&`, `<` and `>` escaped, as Slack asks.
fn slack_text(text: &str) -> String {
    clean(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Slack message: Block Kit (header, text, fields by sections of ten, as Slack allows) with
/// `fallback` as its plain text.
fn slack_blocks(fallback: String, title: &str, text: &str, fields: &[Value]) -> Value {
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": title.chars().take(150).collect::<String>()}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": text.chars().take(3000).collect::<String>()}}),
    ];
    for chunk in fields.chunks(10) {
        blocks.push(json!({"type": "section", "fields": chunk}));
    }
    json!({"text": fallback, "blocks": blocks})
}

/// The Slack message of one exception, its facts as fields.
pub fn slack_message(settings: &Settings, e: &Exception) -> Value {
    let title = title(settings, e);
    let fields: Vec<Value> = facts(e)
        .into_iter()
        .map(|(t, v)| json!({"type": "mrkdwn", "text": format!("*{t}*\n{}", slack_text(&v))}))
        .collect();
    slack_blocks(
        format!("{title}: {}", clean(&e.candidate.message)),
        &title,
        &slack_text(&e.candidate.message),
        &fields,
    )
}

/// The SNS message (documented in the README): the exception as JSON.
pub fn sns_message(e: &Exception) -> Value {
    let c = &e.candidate;
    let info = e.account.as_ref();
    json!({
        "version": "1",
        "id": c.id,
        "label": c.label.as_str(),
        "severity": c.label.severity().as_str(),
        "time": chrono::DateTime::from_timestamp_micros(c.event_time).map(|t| t.to_rfc3339()),
        "account": {
            "id": c.account_id,
            "name": info.and_then(|i| i.name.clone()),
            "email": info.and_then(|i| i.email.clone()),
            "holder": info.and_then(|i| i.holder.clone()),
            "cost_center": info.and_then(|i| i.cost_center.clone()),
            "ou": info.and_then(|i| i.ou_name.clone()),
        },
        "region": c.region,
        "actor": c.actor,
        "source_ip": c.source_ip,
        "message": c.message,
        "source_event_id": c.source_event_id,
        "raw": c.raw,
        "cost": e.cost.as_ref().map(|m| json!({
            "month_to_date": decimal(m.total).to_string(),
            "currency": m.currency.clone().unwrap_or_else(|| "USD".into()),
            "top_services": m.top().iter().map(|(s, a)| json!({"service": s, "cost": decimal(*a).to_string()})).collect::<Vec<_>>(),
        })),
    })
}

/// The digest that replaces more than `limit` messages to one channel: counts per label and
/// the first `limit` exceptions.
fn digest_text(settings: &Settings, list: &[&Exception], limit: usize) -> (String, String) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in list {
        *counts.entry(e.candidate.label.as_str()).or_default() += 1;
    }
    let title = format!(
        "[{}] {} exceptions: {}",
        settings.environment_identifier,
        list.len(),
        counts
            .iter()
            .map(|(l, n)| format!("{n} {l}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // The most severe first, then in time order.
    let mut ordered: Vec<&&Exception> = list.iter().collect();
    ordered.sort_by_key(|e| (e.candidate.label.severity(), e.candidate.event_time));
    let mut body: Vec<String> = ordered
        .iter()
        .take(limit)
        .map(|e| clean(&format!("{}: {}", title_short(e), e.candidate.message)))
        .collect();
    if list.len() > limit {
        body.push(format!(
            "... and {} more: `reports exceptions` or the lake's exceptions table lists them all.",
            list.len() - limit
        ));
    }
    (clean(&title), body.join("\n"))
}

fn title_short(e: &Exception) -> String {
    format!(
        "{} {}",
        e.candidate.label,
        e.candidate.account_id.as_deref().unwrap_or("-")
    )
}

/// The account's month-to-date cost as a workbook: one row per service.
fn workbook(e: &Exception) -> Option<Vec<u8>> {
    let cost = e.cost.as_ref()?;
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Month to date").ok()?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let money = rust_xlsxwriter::Format::new().set_num_format("#,##0.00########");
    let currency = cost.currency.as_deref().unwrap_or("USD");
    let account = e.candidate.account_id.as_deref().unwrap_or("-");
    sheet
        .write_string_with_format(0, 0, format!("Account {account}"), &bold)
        .ok()?;
    sheet
        .write_string_with_format(2, 0, "Service", &bold)
        .ok()?;
    sheet
        .write_string_with_format(2, 1, format!("Cost ({currency})"), &bold)
        .ok()?;
    let mut row = 3;
    for (service, amount) in &cost.services {
        sheet.write_string(row, 0, service).ok()?;
        let value: f64 = decimal(*amount).try_into().ok()?;
        sheet.write_number_with_format(row, 1, value, &money).ok()?;
        row += 1;
    }
    sheet
        .write_string_with_format(row, 0, "Total", &bold)
        .ok()?;
    let total: f64 = decimal(cost.total).try_into().ok()?;
    sheet.write_number_with_format(row, 1, total, &money).ok()?;
    sheet.set_column_width(0, 48).ok()?;
    sheet.set_column_width(1, 18).ok()?;
    book.save_to_buffer().ok()
}

fn email(
    settings: &Settings,
    to: &[String],
    subject: &str,
    text: &str,
    attachment: Option<(String, Vec<u8>)>,
) -> Result<Message, String> {
    let from = settings.features.origin_email.as_ref().map_or(
        "sandbox-exceptions@localhost".to_string(),
        ToString::to_string,
    );
    let mut builder = Message::builder()
        .from(from.parse().map_err(|e| format!("sender {from}: {e}"))?)
        .subject(clean(subject));
    for address in to {
        builder = builder.to(address
            .parse()
            .map_err(|e| format!("recipient {address}: {e}"))?);
    }
    let html = format!(
        "<html><body><pre style=\"font-family: sans-serif; white-space: pre-wrap\">{}</pre></body></html>",
        html_escape::encode_text(text)
    );
    let alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(text.to_string()))
        .singlepart(SinglePart::html(html));
    let body = match attachment {
        Some((name, bytes)) => MultiPart::mixed().multipart(alternative).singlepart(
            Attachment::new(name).body(
                bytes,
                ContentType::parse(
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                )
                .expect("a valid content type"),
            ),
        ),
        None => alternative,
    };
    builder.multipart(body).map_err(|e| e.to_string())
}

fn text_of(settings: &Settings, e: &Exception) -> String {
    let mut lines = vec![
        title(settings, e),
        String::new(),
        clean_lines(&e.candidate.message),
        String::new(),
    ];
    lines.extend(
        facts(e)
            .into_iter()
            .map(|(t, v)| format!("{t}: {}", clean(&v))),
    );
    if let Some(url) = console_link(e) {
        lines.push(format!("Console: {url}"));
    }
    if let Some(raw) = &e.candidate.raw {
        lines.push(String::new());
        lines.push("The message as received:".into());
        lines.push(raw.clone());
    }
    lines.join("\n")
}

/// Why a webhook answer is retried or not.
#[derive(Debug)]
struct HttpFailure {
    reason: String,
    retry: bool,
    after: Option<Duration>,
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Result<(), HttpFailure> {
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| HttpFailure {
            reason: format!("request failed: {e}"),
            retry: true,
            after: None,
        })?;
    let status = answer.status();
    if status.is_success() {
        return Ok(());
    }
    let after = answer
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(60)));
    let text = answer.text().await.unwrap_or_default();
    Err(HttpFailure {
        reason: format!(
            "HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        ),
        retry: status.as_u16() == 429 || status.is_server_error(),
        after,
    })
}

/// Posts `body` with retries; returns the outcome and the attempts made.
async fn webhook_post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    pause: Duration,
) -> (Result<(), String>, u32) {
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let result = (|| async {
        attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        post(client, url, body).await
    })
    .retry(
        ExponentialBuilder::default()
            .with_min_delay(pause)
            .with_max_delay(pause * 30)
            .with_max_times(ATTEMPTS - 1)
            .with_jitter(),
    )
    .when(|f: &HttpFailure| f.retry)
    .adjust(|f: &HttpFailure, delay| f.after.or(delay).map(|d| d.max(pause)))
    .await;
    (
        result.map_err(|f| f.reason),
        attempts.load(std::sync::atomic::Ordering::Relaxed),
    )
}

/// Where the deliveries of one run go, where secrets come from, and how long a retry waits at
/// first (tests use a short pause).
pub struct Deliverer<'a> {
    /// The settings (channels, routes, mail transport).
    pub settings: &'a Settings,
    /// The lake holding the ledger.
    pub lake: &'a Lake,
    /// First pause before a retry.
    pub pause: Duration,
    /// The value of a secret's environment variable (see [`environment`]).
    pub secret: &'a (dyn Fn(&str) -> Option<String> + Sync),
}

/// How long a claim on a delivery holds off other runs: a Lambda invocation's longest life. A
/// run that claimed a pair and stopped before recording it leaves it to the first run after.
pub const CLAIM_LEASE: Duration = Duration::from_secs(15 * 60);

/// Claims each `(exception, channel)` pair for this run (`claims/deliveries/<id>/<channel>` in
/// the lake), 16 at a time: whether this run holds each. Two runs delivering the same
/// exceptions at once (a message delivered twice to two Lambda invocations, the hourly sweep
/// beside the live path) then never both send one pair.
pub async fn claims(
    lake: &Lake,
    pairs: &[(&Exception, String)],
    now: i64,
) -> Result<Vec<Option<Claim>>, LakeError> {
    let holder = claim_holder(now);
    let mut out = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(16) {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (e, channel)) in chunk.iter().enumerate() {
            let (lake, holder) = (lake.clone(), holder.clone());
            let name = format!("deliveries/{}/{channel}", e.candidate.id);
            tasks.spawn(async move { (i, lake.claim(&name, &holder, now, CLAIM_LEASE).await) });
        }
        let mut held = vec![None; chunk.len()];
        while let Some(done) = tasks.join_next().await {
            let (i, claimed) = done.expect("a claim task does not panic");
            held[i] = claimed?;
        }
        out.extend(held);
    }
    Ok(out)
}

/// Sends `message` once under `name` (e.g. `spend-digest/2026-10-14`): skipped when the
/// ledger holds it as sent to `channel` or another run holds its claim; the outcome is
/// recorded in the ledger like an exception's (a failure is tried again by the next run).
pub async fn once(
    settings: &Settings,
    lake: &Lake,
    name: &str,
    channel: &str,
    message: &Message,
    now: i64,
) -> Result<Option<Delivered>, DeliverError> {
    let pair = (name.to_string(), channel.to_string());
    if ledger(lake).await?.contains(&pair) {
        return Ok(None);
    }
    let holder = claim_holder(now);
    let claim_name = format!("deliveries/{}/{channel}", name.replace('/', "-"));
    let Some(claim) = lake.claim(&claim_name, &holder, now, CLAIM_LEASE).await? else {
        return Ok(None);
    };
    if ledger(lake).await?.contains(&pair) {
        return Ok(None);
    }
    let result = spa_core::mail::send(settings, message, &name.replace('/', "-"))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    let outcome = Delivered {
        exception_id: name.to_string(),
        channel: channel.to_string(),
        result,
        attempts: 1,
    };
    record(lake, std::slice::from_ref(&outcome), now).await?;
    if outcome.result.is_err() {
        count_failures(std::iter::once(&outcome));
        lake.release(&claim).await?;
    }
    Ok(Some(outcome))
}

/// Counts failed deliveries (metric `NotificationFailures`, in total and by `Channel`).
fn count_failures<'a>(failed: impl Iterator<Item = &'a Delivered>) {
    for d in failed {
        metrics::counter!(spa_core::metrics::NOTIFICATION_FAILURES).increment(1);
        metrics::counter!(spa_core::metrics::NOTIFICATION_FAILURES, "Channel" => d.channel.clone())
            .increment(1);
    }
}

/// Where the holder of an exception's account is told: the holder tag when it is an address,
/// else the account's e-mail.
fn holder_address(e: &Exception) -> Option<String> {
    e.account.as_ref().and_then(|a| {
        a.holder
            .clone()
            .filter(|h| h.contains('@'))
            .or(a.email.clone())
    })
}

impl<'a> Deliverer<'a> {
    /// A run's deliverer: secrets from the process environment, a second's pause before the
    /// first retry.
    pub fn new(settings: &'a Settings, lake: &'a Lake) -> Self {
        Deliverer {
            settings,
            lake,
            pause: Duration::from_secs(1),
            secret: &environment,
        }
    }
}

/// Who holds a claim taken at `now`, for whoever reads it.
fn claim_holder(now: i64) -> String {
    format!("pid {} at {now}", std::process::id())
}

/// Secrets from the process environment.
pub fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Deliverer<'_> {
    /// Delivers `exceptions` (already stored) to their channels, skipping what the ledger says
    /// was sent and what another run is delivering (see [`claims`]), and records every outcome
    /// in the ledger.
    pub async fn deliver(
        &self,
        exceptions: &[Exception],
        now: i64,
    ) -> Result<Deliveries, DeliverError> {
        let settings = self.settings;
        let options = &settings.exceptions;
        let mut report = Deliveries::default();
        // Every (exception, channel) pair its route asks for, the holder's included.
        let mut wanted: Vec<(&Exception, String)> = Vec::new();
        for channel in options.configured() {
            for e in exceptions {
                let route = options.route(e.label());
                if route.channels.is_some_and(|c| c.contains(&channel)) {
                    wanted.push((e, channel.as_str().to_string()));
                }
            }
        }
        for e in exceptions {
            if options.route(e.label()).holder && holder_address(e).is_some() {
                wanted.push((e, HOLDER.to_string()));
            }
        }
        let sent = ledger(self.lake).await?;
        wanted.retain(|(e, c)| {
            let done = sent.contains(&(e.candidate.id.clone(), c.clone()));
            report.already += usize::from(done);
            !done
        });
        if wanted.is_empty() {
            return Ok(report);
        }
        let before = wanted.len();
        let held = claims(self.lake, &wanted, now).await?;
        let mut claimed: HashMap<(String, String), Claim> = HashMap::new();
        wanted = wanted
            .into_iter()
            .zip(held)
            .filter_map(|((e, c), claim)| {
                claimed.insert((e.candidate.id.clone(), c.clone()), claim?);
                Some((e, c))
            })
            .collect();
        report.elsewhere = before - wanted.len();
        if wanted.is_empty() {
            return Ok(report);
        }
        // A claim taken over from a run that stopped: that run may have sent and recorded
        // since the ledger was read.
        let sent = ledger(self.lake).await?;
        wanted.retain(|(e, c)| {
            let done = sent.contains(&(e.candidate.id.clone(), c.clone()));
            report.already += usize::from(done);
            !done
        });
        let clients = Clients {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("an HTTP client"),
            sns: match options.sns {
                Some(_) => Some(aws_sdk_sns::Client::new(
                    &spa_core::aws::sdk_config(settings).await,
                )),
                None => None,
            },
        };
        for channel in options.configured() {
            let pending: Vec<&Exception> = wanted
                .iter()
                .filter(|(_, c)| c == channel.as_str())
                .map(|(e, _)| *e)
                .collect();
            if pending.is_empty() {
                continue;
            }
            let outcomes = if pending.len() > options.digest_after() {
                let (title, body) = digest_text(settings, &pending, options.digest_after());
                let digest = Outgoing::Digest { title, body };
                let (result, attempts) = self.send(&clients, channel, &digest).await;
                report.messages += usize::from(result.is_ok());
                pending
                    .iter()
                    .map(|e| Delivered {
                        exception_id: e.candidate.id.clone(),
                        channel: channel.as_str().into(),
                        result: result.clone(),
                        attempts,
                    })
                    .collect()
            } else {
                let mut out = Vec::new();
                for e in &pending {
                    let (result, attempts) = self.send(&clients, channel, &Outgoing::One(e)).await;
                    report.messages += usize::from(result.is_ok());
                    out.push(Delivered {
                        exception_id: e.candidate.id.clone(),
                        channel: channel.as_str().into(),
                        result,
                        attempts,
                    });
                }
                out
            };
            record(self.lake, &outcomes, now).await?;
            report.outcomes.extend(outcomes);
        }
        // The holder hears of their own account's exceptions, one by one.
        let mut holder = Vec::new();
        for (e, _) in wanted.iter().filter(|(_, c)| c == HOLDER) {
            let Some(address) = holder_address(e) else {
                continue;
            };
            let result = self.mail(&[address], e).await;
            report.messages += usize::from(result.is_ok());
            holder.push(Delivered {
                exception_id: e.candidate.id.clone(),
                channel: HOLDER.into(),
                result,
                attempts: 1,
            });
        }
        record(self.lake, &holder, now).await?;
        report.outcomes.extend(holder);
        count_failures(report.failed());
        // A failed pair may be tried again at once by the next run.
        for failed in report.failed() {
            if let Some(claim) = claimed.get(&(failed.exception_id.clone(), failed.channel.clone()))
            {
                self.lake.release(claim).await?;
            }
        }
        Ok(report)
    }

    async fn mail(&self, to: &[String], e: &Exception) -> Result<(), String> {
        let file = format!(
            "{}-{}-month-to-date.xlsx",
            e.day().month(),
            e.candidate.account_id.as_deref().unwrap_or("account")
        );
        let message = email(
            self.settings,
            to,
            &title(self.settings, e),
            &text_of(self.settings, e),
            workbook(e).map(|b| (file, b)),
        )?;
        let name = format!(
            "exception-{}-{}",
            e.candidate.id,
            to.join("+").replace(['@', '/'], "_")
        );
        spa_core::mail::send(self.settings, &message, &name)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The recipients of the e-mail channel.
    fn recipients(&self) -> Vec<String> {
        self.settings
            .exceptions
            .email
            .as_ref()
            .map(|c| c.to.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// Sends one message to `channel`; returns its outcome and the attempts made.
    async fn send(
        &self,
        clients: &Clients,
        channel: ChannelKind,
        out: &Outgoing<'_>,
    ) -> (Result<(), String>, u32) {
        let settings = self.settings;
        let options = &settings.exceptions;
        let title = match out {
            Outgoing::One(e) => title(settings, e),
            Outgoing::Digest { title, .. } => title.clone(),
        };
        match (channel, out) {
            (ChannelKind::Email, Outgoing::One(e)) => (self.mail(&self.recipients(), e).await, 1),
            (ChannelKind::Email, Outgoing::Digest { body, .. }) => {
                let sent = match email(settings, &self.recipients(), &title, body, None) {
                    Ok(message) => {
                        let name = format!("exceptions-digest-{}", sha_name(&title, body));
                        spa_core::mail::send(settings, &message, &name)
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e),
                };
                (sent, 1)
            }
            (ChannelKind::Teams | ChannelKind::Slack, _) => {
                let (webhook, message) = if channel == ChannelKind::Teams {
                    let card = match out {
                        Outgoing::One(e) => teams_card(settings, e),
                        Outgoing::Digest { body, .. } => adaptive_card(&title, body, None, None),
                    };
                    (options.teams.as_ref(), card)
                } else {
                    let blocks = match out {
                        Outgoing::One(e) => slack_message(settings, e),
                        Outgoing::Digest { body, .. } => slack_blocks(
                            format!("{title}\n{}", slack_text(body)),
                            &title,
                            &slack_text(body),
                            &[],
                        ),
                    };
                    (options.slack.as_ref(), blocks)
                };
                let Some(variable) = webhook.map(|w| w.url_env.as_str()) else {
                    return (Err("channel not configured".into()), 0);
                };
                match (self.secret)(variable) {
                    Some(url) if !url.is_empty() => {
                        webhook_post(&clients.http, &url, &message, self.pause).await
                    }
                    _ => (
                        Err(format!(
                            "environment variable {variable} (the webhook URL) is not set"
                        )),
                        0,
                    ),
                }
            }
            (ChannelKind::Sns, _) => {
                let message = match out {
                    Outgoing::One(e) => sns_message(e),
                    Outgoing::Digest { body, .. } => {
                        json!({"version": "1", "digest": true, "title": title, "text": body})
                    }
                };
                (self.publish(clients, &title, &message).await, 1)
            }
        }
    }

    async fn publish(&self, clients: &Clients, title: &str, message: &Value) -> Result<(), String> {
        let (Some(sns), Some(client)) = (&self.settings.exceptions.sns, &clients.sns) else {
            return Err("channel not configured".into());
        };
        let subject: String = title
            .chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .take(100)
            .collect();
        client
            .publish()
            .topic_arn(&sns.topic_arn)
            .subject(subject)
            .message(message.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| spa_core::aws::ApiError::new("Publish", &e).to_string())
    }
}

/// The clients of one delivery run, made once.
struct Clients {
    http: reqwest::Client,
    sns: Option<aws_sdk_sns::Client>,
}

fn sha_name(title: &str, body: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{title}\n{body}"));
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use spa_core::events::ExceptionLabel;

    use super::*;
    use crate::exceptions::classify::Candidate;

    fn exception(label: ExceptionLabel, time: i64, account: &str) -> Exception {
        Exception {
            candidate: Candidate {
                id: format!("{label}-{time}"),
                label,
                event_time: time,
                account_id: Some(account.into()),
                region: None,
                actor: None,
                source_ip: None,
                message: format!("{label} at {time}"),
                source_event_id: "e".into(),
                raw: None,
            },
            raised_at: 0,
            account: None,
            cost: None,
        }
    }

    /// A digest names every label's count and lists the most severe first, then by time, up to
    /// its limit, and says how many more there are.
    #[test]
    fn digests_put_the_most_severe_first() {
        let settings = spa_core::testing::shipped_settings();
        let list = [
            exception(ExceptionLabel::ConsoleLoginWithIamUser, 1, "300000000001"),
            exception(ExceptionLabel::FailedBuild, 3, "300000000002"),
            exception(ExceptionLabel::ConsoleLoginWithRoot, 4, "300000000003"),
            exception(ExceptionLabel::ConsoleLoginWithIamUser, 0, "300000000004"),
            exception(ExceptionLabel::BudgetAlert, 2, "300000000005"),
        ];
        let refs: Vec<&Exception> = list.iter().collect();
        let (title, body) = digest_text(&settings, &refs, 3);
        assert_eq!(
            title,
            "[spa-demo] 5 exceptions: 1 BudgetAlert, 2 ConsoleLoginWithIamUser, 1 ConsoleLoginWithRoot, 1 FailedBuild"
        );
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 4, "{body}");
        assert!(
            lines[0].starts_with("ConsoleLoginWithRoot 300000000003"),
            "{body}"
        );
        assert!(lines[1].starts_with("BudgetAlert 300000000005"), "{body}");
        assert!(lines[2].starts_with("FailedBuild 300000000002"), "{body}");
        assert!(lines[3].starts_with("... and 2 more"), "{body}");
    }
}
