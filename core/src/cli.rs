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

/// Prints a failed run's error chain as `<binary>: <error>: <cause>...` and turns the result
/// into the process exit status.
pub fn exit(binary: &str, result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|err| {
        eprintln!("{binary}: {err:#}");
        ExitCode::FAILURE
    })
}
