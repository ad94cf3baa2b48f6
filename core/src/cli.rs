//! What every binary does around its work: logging set-up and the exit status.

use std::process::ExitCode;

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
