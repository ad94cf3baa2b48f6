//! Delivery of exceptions against real parts: Teams and Slack webhooks served by a local HTTP
//! server that records payloads and answers 429, 500 and 400; e-mail into the outbox, read back
//! with a MIME parser and the attached workbook with calamine; the ledger making reruns send
//! nothing twice and retry what failed; and the storm digest.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use calamine::{Reader, Xlsx};
use ingest::exceptions::Exception;
use ingest::exceptions::deliver::{Deliverer, ledger};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::Value;
use spa_core::Settings;
use spa_core::lake::Lake;
use spa_core::period::Day;

/// A webhook server: per path, the statuses to answer in turn (then 200), and every body
/// received.
struct Server {
    url: String,
    received: Arc<Mutex<Vec<(String, Value)>>>,
}

fn server(script: BTreeMap<&'static str, Vec<u16>>) -> Server {
    let http = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", http.server_addr().to_ip().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let mut script: BTreeMap<String, std::collections::VecDeque<u16>> = script
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    std::thread::spawn(move || {
        for mut request in http.incoming_requests() {
            let mut body = String::new();
            std::io::Read::read_to_string(request.as_reader(), &mut body).unwrap();
            let path = request.url().to_string();
            log.lock().unwrap().push((
                path.clone(),
                serde_json::from_str(&body).unwrap_or(Value::Null),
            ));
            let status = script
                .get_mut(&path)
                .and_then(|s| s.pop_front())
                .unwrap_or(200);
            let mut answer = tiny_http::Response::from_string("x").with_status_code(status);
            if status == 429 {
                answer = answer.with_header("Retry-After: 0".parse::<tiny_http::Header>().unwrap());
            }
            let _ = request.respond(answer);
        }
    });
    Server { url, received }
}

/// Shipped settings in `dir` with the exceptions section `section` (YAML, indented by two).
fn settings(dir: &std::path::Path, section: &str) -> Settings {
    let path = spa_core::testing::settings_in(dir, |yaml| {
        let start = yaml.find("\nexceptions:").unwrap();
        let end = start + yaml[start + 1..].find("\n\n").unwrap() + 1;
        format!("{}\nexceptions:\n{section}{}", &yaml[..start], &yaml[end..])
    });
    Settings::load(path).unwrap()
}

/// The fixture month swept into a fresh lake; its stored exceptions.
async fn stored(settings: &Settings) -> (Lake, Vec<Exception>) {
    let lake = Lake::open(settings).await;
    let first = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
    let last = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    ingest::seed::fill(
        settings,
        &lake,
        Some("2026-10".parse().unwrap()),
        first,
        last,
    )
    .await
    .unwrap();
    ingest::exceptions::sweep(&lake, settings, Day::of(first), Day::of(last), 1)
        .await
        .unwrap();
    let mut all = Vec::new();
    let mut date = first;
    while date <= last {
        all.extend(
            ingest::exceptions::store::read(&lake, Day::of(date))
                .await
                .unwrap(),
        );
        date = date.succ_opt().unwrap();
    }
    (lake, all)
}

#[tokio::test]
async fn each_channel_once_with_retries_a_ledger_and_digests() {
    let web = server(BTreeMap::from([
        ("/teams", vec![429]),
        ("/slack", vec![500]),
        ("/broken", vec![400, 400, 400, 400, 400, 400]),
    ]));
    let (teams, slack) = ("SPA_TEAMS_WEBHOOK", "SPA_SLACK_WEBHOOK");
    let secrets = Mutex::new(BTreeMap::from([
        (teams.to_string(), format!("{}/teams", web.url)),
        (slack.to_string(), format!("{}/slack", web.url)),
    ]));
    let secret = |name: &str| secrets.lock().unwrap().get(name).cloned();
    let dir = tempfile::tempdir().unwrap();
    let section = format!(
        "  email:\n    to: [sre@example.com]\n  teams: {{ url_env: {teams} }}\n  slack: {{ url_env: {slack} }}\n  labels:\n    ConsoleLoginWithRoot: {{ holder: true }}\n  digest_after: 3\n"
    );
    let settings = settings(dir.path(), &section);
    let (lake, all) = stored(&settings).await;
    let root = all
        .iter()
        .find(|e| {
            e.label() == spa_core::events::ExceptionLabel::ConsoleLoginWithRoot
                && e.candidate.account_id.as_deref() == Some("300028282828")
        })
        .unwrap()
        .clone();
    // Two more that do not tell their holder.
    let others: Vec<Exception> = all
        .iter()
        .filter(|e| e.label() == spa_core::events::ExceptionLabel::ConsoleLoginWithIamUser)
        .take(2)
        .cloned()
        .collect();
    let three: Vec<Exception> = std::iter::once(root.clone()).chain(others).collect();
    let deliverer = Deliverer {
        settings: &settings,
        lake: &lake,
        pause: Duration::from_millis(10),
        secret: &secret,
    };

    let first = deliverer.deliver(&three, 10).await.unwrap();
    assert_eq!(first.failed().count(), 0, "{:?}", first.lines());
    // 3 exceptions x (email, teams, slack) + the root's holder.
    assert_eq!(first.outcomes.len(), 10, "{:?}", first.outcomes);
    let attempts = |channel: &str| -> Vec<u32> {
        first
            .outcomes
            .iter()
            .filter(|d| d.channel == channel)
            .map(|d| d.attempts)
            .collect()
    };
    assert_eq!(
        attempts("teams"),
        [2, 1, 1],
        "a 429 is retried after Retry-After"
    );
    assert_eq!(attempts("slack"), [2, 1, 1], "a 500 is retried");
    let received = web.received.lock().unwrap().clone();
    let card = &received.iter().find(|(p, _)| p == "/teams").unwrap().1;
    assert_eq!(card["type"], "message");
    let attachment = &card["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let content = &attachment["content"];
    assert_eq!(content["type"], "AdaptiveCard");
    let facts: Vec<&str> = content["body"][2]["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    for title in ["Account", "Holder", "Cost center", "OU", "Cost this month"] {
        assert!(facts.contains(&title), "{title}: {facts:?}");
    }
    assert_eq!(content["actions"][0]["type"], "Action.OpenUrl");
    let slack_message = &received.iter().find(|(p, _)| p == "/slack").unwrap().1;
    assert!(
        slack_message["text"]
            .as_str()
            .unwrap()
            .contains("ConsoleLoginWithRoot")
    );
    let blocks = slack_message["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[1]["type"], "section");
    assert!(blocks[2]["fields"].as_array().unwrap().len() <= 10);

    // The e-mail to the holder: the message and the month-to-date workbook, whose total is the
    // stored cost.
    let outbox = settings.mail.outbox.clone();
    let holder_mail = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("beatriz"))
        .expect("the holder's e-mail");
    let bytes = std::fs::read(holder_mail).unwrap();
    let message = MessageParser::default().parse(&bytes).unwrap();
    assert!(
        message
            .subject()
            .unwrap()
            .contains("critical ConsoleLoginWithRoot: 300028282828 (sandbox-beatriz)")
    );
    assert!(message.body_text(0).unwrap().contains("Cost this month: "));
    let workbook = message
        .attachments()
        .find(|a| a.attachment_name().is_some_and(|n| n.ends_with(".xlsx")))
        .unwrap();
    let mut xlsx: Xlsx<_> = Xlsx::new(Cursor::new(workbook.contents().to_vec())).unwrap();
    let range = xlsx.worksheet_range("Month to date").unwrap();
    let last = range.rows().next_back().unwrap();
    assert_eq!(last[0].to_string(), "Total");
    let total = ingest::exceptions::context::decimal(root.cost.as_ref().unwrap().total);
    let cell: f64 = last[1].to_string().parse().unwrap();
    assert!(
        (cell - f64::try_from(total).unwrap()).abs() < 1e-9,
        "{cell} vs {total}"
    );

    // A rerun sends nothing: every pair is in the ledger.
    let calls = web.received.lock().unwrap().len();
    let again = deliverer.deliver(&three, 20).await.unwrap();
    assert!(again.outcomes.is_empty());
    assert_eq!(again.already, 10);
    assert_eq!(
        web.received.lock().unwrap().len(),
        calls,
        "nothing posted again"
    );

    // A webhook that answers 400: recorded as failed after one attempt, tried again next run.
    secrets
        .lock()
        .unwrap()
        .insert(teams.into(), format!("{}/broken", web.url));
    let fresh: Vec<Exception> = all
        .iter()
        .filter(|e| !three.iter().any(|t| t.candidate.id == e.candidate.id))
        .take(1)
        .cloned()
        .collect();
    let broken = deliverer.deliver(&fresh, 30).await.unwrap();
    let failed: Vec<_> = broken.failed().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].channel, "teams");
    assert_eq!(failed[0].attempts, 1, "a 400 is not retried");
    assert!(failed[0].result.as_ref().unwrap_err().contains("HTTP 400"));
    let retried = deliverer.deliver(&fresh, 40).await.unwrap();
    assert_eq!(retried.failed().count(), 1, "tried again, failed again");
    assert!(
        !ledger(&lake)
            .await
            .unwrap()
            .contains(&(fresh[0].candidate.id.clone(), "teams".into()))
    );

    // A storm: more than digest_after for a channel become one message listing the first ones.
    secrets
        .lock()
        .unwrap()
        .insert(teams.into(), format!("{}/teams", web.url));
    let storm: Vec<Exception> = all
        .iter()
        .filter(|e| {
            !three
                .iter()
                .chain(&fresh)
                .any(|t| t.candidate.id == e.candidate.id)
        })
        .take(5)
        .cloned()
        .collect();
    let before = web.received.lock().unwrap().len();
    let digest = deliverer.deliver(&storm, 50).await.unwrap();
    assert_eq!(digest.failed().count(), 0);
    let posted: Vec<(String, Value)> = web.received.lock().unwrap()[before..].to_vec();
    assert_eq!(
        posted.len(),
        2,
        "one digest per webhook channel: {posted:?}"
    );
    let slack_digest = posted
        .iter()
        .find(|(p, _)| p == "/slack")
        .unwrap()
        .1
        .to_string();
    assert!(
        slack_digest.contains("5 exceptions") && slack_digest.contains("and 2 more"),
        "{slack_digest}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runs_at_once_send_each_pair_once_and_a_dead_runs_claim_expires() {
    let web = server(BTreeMap::new());
    let secret = |_: &str| Some(format!("{}/teams", web.url));
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(
        dir.path(),
        "  teams: { url_env: SPA_TEAMS_WEBHOOK }\n  digest_after: 100\n",
    );
    let (lake, all) = stored(&settings).await;
    let deliverer = Deliverer {
        settings: &settings,
        lake: &lake,
        pause: Duration::from_millis(10),
        secret: &secret,
    };
    let batch: Vec<Exception> = all.iter().take(12).cloned().collect();
    // Two invocations handed the same exceptions at the same moment.
    let (a, b) = tokio::join!(deliverer.deliver(&batch, 10), deliverer.deliver(&batch, 10));
    let (a, b) = (a.unwrap(), b.unwrap());
    let posted: Vec<String> = web
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, card)| card.to_string())
        .collect();
    assert_eq!(posted.len(), 12, "each exception posted once");
    assert_eq!(a.outcomes.len() + b.outcomes.len(), 12);
    assert_eq!(
        a.elsewhere + a.already + b.elsewhere + b.already,
        12,
        "what one run sent, the other skipped"
    );
    for e in &batch {
        assert_eq!(
            posted
                .iter()
                .filter(|c| c.contains(&e.candidate.id))
                .count(),
            1,
            "{}",
            e.candidate.id
        );
    }

    // A run that claimed a pair and died before sending: the pair waits for the lease, then
    // the next run sends it.
    let late = all[12].clone();
    let name = format!("deliveries/{}/teams", late.candidate.id);
    let minute = 60_000_000;
    lake.claim(
        &name,
        "a run that died",
        100 * minute,
        ingest::exceptions::deliver::CLAIM_LEASE,
    )
    .await
    .unwrap()
    .expect("claimed");
    let waiting = deliverer
        .deliver(std::slice::from_ref(&late), 101 * minute)
        .await
        .unwrap();
    assert_eq!((waiting.outcomes.len(), waiting.elsewhere), (0, 1));
    let after = deliverer
        .deliver(std::slice::from_ref(&late), 116 * minute)
        .await
        .unwrap();
    assert_eq!(after.outcomes.len(), 1);
    assert!(after.outcomes[0].result.is_ok());
    assert_eq!(web.received.lock().unwrap().len(), 13);
}

/// One exception of the fixture month, e-mailed through the SMTP sink (aiosmtpd) and published
/// to an SNS topic on moto, read back through an SQS subscription: the documented JSON.
#[tokio::test(flavor = "multi_thread")]
async fn smtp_and_sns_receive_them() {
    let address = std::env::var("SPA_TEST_SMTP")
        .expect("SPA_TEST_SMTP is not set: run the tests with .ci/run, which starts aiosmtpd");
    let maildir =
        std::env::var("SPA_TEST_SMTP_MAILDIR").expect("SPA_TEST_SMTP_MAILDIR is set by .ci/run");
    let (host, port) = address.split_once(':').unwrap();
    let endpoint = spa_core::testing::moto_endpoint();
    let to = format!(
        "sre+{}-{}@example.com",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap()
    );
    // A topic with a queue subscribed (raw delivery: the queue holds the message itself).
    let probe = spa_core::testing::settings_with_endpoint(&endpoint, |y| y);
    let config = spa_core::aws::sdk_config(&probe).await;
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let name = format!("spa-exceptions-{}", std::process::id());
    let topic = sns
        .create_topic()
        .name(&name)
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let queue = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let section = format!("  email:\n    to: [{to}]\n  sns: {{ topic_arn: \"{topic}\" }}\n");
    let path = spa_core::testing::settings_in(dir.path(), |yaml| {
        let start = yaml.find("\nexceptions:").unwrap();
        let end = start + yaml[start + 1..].find("\n\n").unwrap() + 1;
        format!("{}\nexceptions:\n{section}{}", &yaml[..start], &yaml[end..])
            .replace("transport: outbox", "transport: smtp")
            .replace(
                "  # smtp: { host: smtp.example.com, port: 587, tls: starttls }",
                &format!("  smtp: {{ host: {host}, port: {port}, tls: none }}"),
            )
            .replace(
                "  # endpoint_url: http://127.0.0.1:5000",
                &format!("  endpoint_url: {endpoint}"),
            )
    });
    let settings = Settings::load(path).unwrap();
    let (lake, all) = stored(&settings).await;
    let one: Vec<Exception> = all
        .iter()
        .filter(|e| e.label() == spa_core::events::ExceptionLabel::FailedBuild)
        .cloned()
        .collect();
    assert_eq!(one.len(), 1);
    let deliverer = Deliverer {
        settings: &settings,
        lake: &lake,
        pause: Duration::from_millis(10),
        secret: &|_: &str| None,
    };
    let done = deliverer.deliver(&one, 1).await.unwrap();
    assert_eq!(done.failed().count(), 0, "{:?}", done.lines());
    assert_eq!(done.outcomes.len(), 2);

    let received = std::fs::read_dir(std::path::Path::new(&maildir).join("new"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .find(|m| String::from_utf8_lossy(m).contains(&to))
        .expect("the sink received the message");
    let message = MessageParser::default().parse(&received).unwrap();
    assert!(
        message.subject().unwrap().contains("high FailedBuild"),
        "{:?}",
        message.subject()
    );
    assert!(message.body_text(0).unwrap().contains("purge build"));

    let got = sqs
        .receive_message()
        .queue_url(&queue)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(got.messages()[0].body().unwrap()).unwrap();
    let e = &one[0];
    assert_eq!(body["version"], "1");
    assert_eq!(body["id"], e.candidate.id.as_str());
    assert_eq!(body["label"], "FailedBuild");
    assert_eq!(body["severity"], "high");
    assert_eq!(
        body["account"]["id"],
        e.candidate.account_id.as_deref().unwrap()
    );
    assert_eq!(
        body["source_event_id"],
        e.candidate.source_event_id.as_str()
    );
    let cost = e.cost.as_ref().unwrap();
    assert_eq!(
        body["cost"]["month_to_date"]
            .as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap(),
        ingest::exceptions::context::decimal(cost.total)
    );
}
