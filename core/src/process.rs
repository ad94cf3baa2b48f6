//! What every binary does around its work: the `--settings` argument, logging, the async
//! runtime and the exit status.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::Settings;

/// The `--settings FILE` argument every command line takes.
#[derive(Debug, Clone, clap::Args)]
pub struct SettingsArg {
    /// The settings file; relative paths inside it resolve against its folder.
    #[arg(
        long = "settings",
        global = true,
        default_value = "settings.yaml",
        value_name = "FILE"
    )]
    pub path: PathBuf,
}

impl SettingsArg {
    /// Loads and checks the file.
    pub fn load(&self) -> anyhow::Result<Settings> {
        Settings::load(&self.path).context("settings")
    }
}

/// A multi-threaded Tokio runtime with `workers` worker threads (default: one per core) and at
/// most `blocking` blocking threads (default: Tokio's).
pub fn runtime(
    workers: Option<usize>,
    blocking: Option<usize>,
) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    if let Some(n) = blocking {
        builder.max_blocking_threads(n);
    }
    builder
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Logs to stderr with `tracing`, filtered by `RUST_LOG` (default: warnings and errors).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Prints a failed run's error chain as `<binary>: <error>: <cause>...` (a cause whose text the
/// message already holds is not repeated) and turns the result into the process exit status.
pub fn exit(binary: &str, result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|err| {
        eprintln!("{binary}: {}", chain(&err));
        ExitCode::FAILURE
    })
}

fn chain(err: &anyhow::Error) -> String {
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

/// Logs JSON lines to stdout, as CloudWatch Logs reads them from a Lambda function.
pub fn init_lambda_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time()
        .init();
}

/// The settings file of a Lambda function: `$SPA_SETTINGS`, else `settings.yaml` beside the
/// function's code.
pub fn lambda_settings_path() -> std::path::PathBuf {
    std::env::var_os("SPA_SETTINGS").map_or_else(|| "settings.yaml".into(), Into::into)
}

/// A Lambda function's settings: `$SPA_SETTINGS` is a file, or an `s3://` URL whose settings and
/// CSV overlays are copied into a temporary folder first (read with the function's own
/// credentials and region; see [`crate::settings::remote`]).
pub async fn lambda_settings() -> anyhow::Result<crate::Settings> {
    let path = lambda_settings_path();
    let text = path.to_string_lossy().into_owned();
    if crate::settings::remote::s3_url(&text).is_none() {
        return Ok(crate::Settings::load(&path)?);
    }
    let client = crate::aws::default_s3_client().await;
    // Kept for the process's life: relative paths in the settings resolve against it.
    let dir = tempfile::Builder::new()
        .prefix("spa-settings-")
        .tempdir()?
        .keep();
    Ok(crate::settings::remote::load_s3(&client, &text, &dir).await?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn causes_are_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let err = anyhow::Error::new(crate::settings::SettingsError::Io {
            file: "s.yaml".into(),
            source: io,
        })
        .context("settings");
        assert_eq!(
            super::chain(&err),
            "settings: s.yaml: cannot read: No such file"
        );
    }
}
