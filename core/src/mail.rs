//! Sending an e-mail with the transport `mail.transport` names: `.eml` files in an outbox
//! folder, an SMTP relay (credentials from `SMTP_USERNAME` / `SMTP_PASSWORD`, never the
//! settings), or SES v2 raw messages. The cost reports and the exceptions both send through it.

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::Settings;
use crate::lake::Store;
use crate::settings::{SmtpTls, Transport};

/// A message that could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Settings lack something.
    #[error("{0}")]
    Settings(String),
    /// The transport failed.
    #[error("sending through {transport}: {message}")]
    Send {
        /// `outbox`, `smtp host:port`, `ses`.
        transport: String,
        /// What failed.
        message: String,
    },
}

/// Sends `message` with the transport of settings; `name` names the outbox file
/// (`<name>.eml`, replaced by a rerun). Returns where it went.
pub async fn send(settings: &Settings, message: &Message, name: &str) -> Result<String, MailError> {
    let failed = |transport: String| {
        move |e: String| MailError::Send {
            transport: transport.clone(),
            message: e,
        }
    };
    match settings.mail.transport {
        Transport::Outbox => {
            let outbox = Store::local(&settings.mail.outbox);
            let key = format!("{name}.eml");
            outbox
                .put(&key, message.formatted().into())
                .await
                .map_err(|e| failed("outbox".into())(e.to_string()))?;
            Ok(format!(
                "outbox {}",
                settings.mail.outbox.join(key).display()
            ))
        }
        Transport::Smtp => {
            let smtp = settings.mail.smtp.as_ref().ok_or_else(|| {
                MailError::Settings(format!(
                    "{}: mail.transport is smtp but mail.smtp is not set",
                    settings.file.display()
                ))
            })?;
            let label = format!("smtp {}:{}", smtp.host, smtp.port);
            let builder = match smtp.tls {
                SmtpTls::Starttls => {
                    AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                }
                SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host),
                SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                    &smtp.host,
                )),
            }
            .map_err(|e| failed(label.clone())(e.to_string()))?;
            let mut builder = builder.port(smtp.port);
            if let (Ok(user), Ok(password)) = (
                std::env::var("SMTP_USERNAME"),
                std::env::var("SMTP_PASSWORD"),
            ) {
                builder = builder.credentials(
                    lettre::transport::smtp::authentication::Credentials::new(user, password),
                );
            }
            builder
                .build()
                .send(message.clone())
                .await
                .map_err(|e| failed(label.clone())(e.to_string()))?;
            Ok(label)
        }
        Transport::Ses => {
            let config = crate::aws::sdk_config(settings).await;
            let client = aws_sdk_sesv2::Client::new(&config);
            let raw = aws_sdk_sesv2::types::RawMessage::builder()
                .data(aws_sdk_sesv2::primitives::Blob::new(message.formatted()))
                .build()
                .map_err(|e| failed("ses".into())(e.to_string()))?;
            let out = client
                .send_email()
                .content(
                    aws_sdk_sesv2::types::EmailContent::builder()
                        .raw(raw)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| {
                    use aws_sdk_sesv2::error::ProvideErrorMetadata;
                    failed("ses".into())(match e.as_service_error() {
                        Some(se) => format!(
                            "{}: {}",
                            se.code().unwrap_or("error"),
                            se.message().unwrap_or("no message")
                        ),
                        None => aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string(),
                    })
                })?;
            Ok(format!(
                "ses (message id {})",
                out.message_id().unwrap_or("unknown")
            ))
        }
    }
}
