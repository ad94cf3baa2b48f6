//! The cost e-mail through each transport: the outbox's `.eml` and the SMTP sink's copy parsed
//! back with mail-parser (recipients, subject, bodies, attachments equal to the files written);
//! SES v2 on moto, refused until the sender is verified.

mod common;

use common::month_lake_with;
use mail_parser::{MessageParser, MimeHeaders};
use reports::engine::Datasets;
use reports::report::Written;
use spa_core::Settings;

/// The month's cost reports of the hand-checked month, written under `dir/out`.
async fn month(
    dir: &std::path::Path,
    edit: impl Fn(String) -> String,
) -> (Settings, reports::mail::Summary, Vec<Written>) {
    let (settings, lake, _) = month_lake_with(dir, edit).await;
    let (list, summary) = reports::cost_reports(
        &settings,
        &Datasets::local(&lake),
        "2026-10".parse().unwrap(),
    )
    .await
    .unwrap();
    let out = spa_core::lake::Store::local(dir.join("out"));
    let files = reports::write(&settings, &out, &list).await.unwrap();
    (settings, summary, files)
}

/// Checks a received message against the files written.
fn check(bytes: &[u8], to: &str, files: &[Written]) {
    let message = MessageParser::default().parse(bytes).unwrap();
    // 20.425 rounds half away from zero to 20.43.
    assert_eq!(
        message.subject(),
        Some("Sandbox accounts: costs for 2026-10, 20.43 USD")
    );
    assert_eq!(
        message.from().unwrap().first().unwrap().address(),
        Some("sandboxes@example.com")
    );
    let recipients: Vec<&str> = message
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(recipients, [to]);
    let text = message.body_text(0).unwrap();
    assert!(text.contains("Total: 20.43 USD"), "{text}");
    // Alpha 14.175 against 5: +9.175 (+183.5%), the largest cost center first.
    let alpha = text.lines().find(|l| l.contains("Alpha")).unwrap();
    assert!(
        alpha.contains("14.18 USD") && alpha.contains("+9.18 (+183.5%)"),
        "{alpha}"
    );
    assert!(text.find("Alpha").unwrap() < text.find("Beta").unwrap());
    let html = message.body_html(0).unwrap();
    assert!(html.contains("<td>Alpha</td>"), "{html}");
    // The short report: the forecast beside the total, the main chart inline as a PNG by its
    // Content-ID, the full page named.
    assert!(html.contains("Month-end forecast"), "{html}");
    assert!(html.contains("2026-10-all-costs.html</b> (open it in a browser)"));
    let cid = format!("cid:{}", reports::mail::CHART_ID);
    assert!(html.contains(&format!("<img src=\"{cid}\"")), "{html}");
    let image = message
        .parts
        .iter()
        .find(|p| p.content_id() == Some(reports::mail::CHART_ID))
        .expect("the inline chart");
    let kind = image.content_type().unwrap();
    assert_eq!((kind.ctype(), kind.subtype()), ("image", Some("png")));
    let decoder = png::Decoder::new(std::io::Cursor::new(image.contents().to_vec()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (950, 300));
    // Alpha, the largest cost center, is the first series: its colour (#0072B2) fills its
    // columns and its legend swatch; Beta's (#E69F00) too.
    let count = |rgb: [u8; 3]| pixels.chunks(3).filter(|p| *p == rgb).count();
    assert!(count([0, 114, 178]) > 2_000, "{}", count([0, 114, 178]));
    assert!(count([230, 159, 0]) > 500, "{}", count([230, 159, 0]));
    // The legend's names are drawn (the embedded font): dark pixels right of the swatches,
    // where nothing else is drawn.
    let legend_text = (0..300usize)
        .flat_map(|y| (782..950usize).map(move |x| (y * 950 + x) * 3))
        .filter(|i| pixels[*i..*i + 3].iter().all(|c| *c < 100))
        .count();
    assert!(legend_text > 100, "{legend_text}");
    let attached: Vec<(String, Vec<u8>)> = message
        .attachments()
        .filter(|a| a.attachment_name().is_some())
        .map(|a| {
            (
                a.attachment_name().unwrap().to_string(),
                a.contents().to_vec(),
            )
        })
        .collect();
    let names: Vec<&str> = attached.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "2026-10-all-costs.xlsx",
            "2026-10-all-costs.html",
            "2026-10-all-cost-centers.csv",
            "2026-10-all-summary.csv",
            "2026-10-all-charges.csv",
            "2026-10-all-forecast.csv"
        ]
    );
    let page = message
        .attachments()
        .find(|a| a.attachment_name() == Some("2026-10-all-costs.html"))
        .unwrap();
    assert_eq!(
        page.content_type().map(|c| (c.ctype(), c.subtype())),
        Some(("text", Some("html")))
    );
    for (name, contents) in &attached {
        let written = files
            .iter()
            .find(|f| f.key.ends_with(&format!("/{name}")))
            .unwrap();
        assert!(
            written.bytes.as_ref() == contents.as_slice(),
            "{name} differs"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn outbox_eml_parses_back_and_a_rerun_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let (settings, summary, files) = month(dir.path(), |y| {
        y.replace("outbox: ./outbox", &format!("outbox: {}", outbox.display()))
    })
    .await;
    let message =
        reports::mail::compose(&settings, &summary, &files, "lake/reports/costs").unwrap();
    for _ in 0..2 {
        let via = reports::mail::send(&settings, &message, "2026-10-costs")
            .await
            .unwrap();
        assert!(via.ends_with("2026-10-costs.eml"), "{via}");
    }
    let entries: Vec<_> = std::fs::read_dir(&outbox).unwrap().collect();
    assert_eq!(entries.len(), 1, "a rerun replaces the message");
    let bytes = std::fs::read(outbox.join("2026-10-costs.eml")).unwrap();
    check(&bytes, "finops@example.com", &files);
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_sink_receives_it() {
    let address = std::env::var("SPA_TEST_SMTP")
        .expect("SPA_TEST_SMTP is not set: run the tests with .ci/run, which starts aiosmtpd");
    let maildir =
        std::env::var("SPA_TEST_SMTP_MAILDIR").expect("SPA_TEST_SMTP_MAILDIR is set by .ci/run");
    let (host, port) = address.split_once(':').unwrap();
    let to = format!(
        "finops+{}-{}@example.com",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let (settings, summary, files) = month(dir.path(), |y| {
        y.replace("transport: outbox", "transport: smtp")
            .replace(
                "  # smtp: { host: smtp.example.com, port: 587, tls: starttls }",
                &format!("  smtp: {{ host: {host}, port: {port}, tls: none }}"),
            )
            .replace("    - finops@example.com", &format!("    - {to}"))
    })
    .await;
    let message =
        reports::mail::compose(&settings, &summary, &files, "lake/reports/costs").unwrap();
    let via = reports::mail::send(&settings, &message, "2026-10-costs")
        .await
        .unwrap();
    assert_eq!(via, format!("smtp {host}:{port}"));
    let received = std::fs::read_dir(std::path::Path::new(&maildir).join("new"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .find(|m| String::from_utf8_lossy(m).contains(&to))
        .expect("the sink received the message");
    check(&received, &to, &files);
}

#[tokio::test(flavor = "multi_thread")]
async fn ses_on_moto_needs_a_verified_sender() {
    let endpoint = spa_core::testing::moto_endpoint();
    let dir = tempfile::tempdir().unwrap();
    let (settings, summary, files) = month(dir.path(), |y| {
        y.replace("transport: outbox", "transport: ses")
            .replace(
                "  # endpoint_url: http://127.0.0.1:5000",
                &format!("  endpoint_url: {endpoint}"),
            )
            .replace(
                "origin_email: sandboxes@example.com",
                &format!("origin_email: reports-{}@example.com", std::process::id()),
            )
    })
    .await;
    let message =
        reports::mail::compose(&settings, &summary, &files, "lake/reports/costs").unwrap();
    let err = reports::mail::send(&settings, &message, "2026-10-costs")
        .await
        .unwrap_err()
        .to_string();
    // SES says "MessageRejected: Email address is not verified", moto "... did not have authority".
    assert!(
        err.starts_with("sending through ses: MessageRejected: "),
        "{err}"
    );

    let config = spa_core::aws::sdk_config(&settings).await;
    aws_sdk_sesv2::Client::new(&config)
        .create_email_identity()
        .email_identity(settings.features.origin_email.as_ref().unwrap().as_str())
        .send()
        .await
        .unwrap();
    let via = reports::mail::send(&settings, &message, "2026-10-costs")
        .await
        .unwrap();
    assert!(via.starts_with("ses (message id "), "{via}");
}
