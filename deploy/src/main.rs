//! `deploy`: the system's CloudFormation templates from settings.yaml.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use spa_core::process::SettingsArg;

/// Install the sandbox accounts system in an AWS organization from settings.yaml.
///
/// First step: `render` writes the automation account's template (the lake bucket, the ingest and
/// alert queues, the central event bus and its rules, the schedules, the three Lambda functions
/// and their roles, the exceptions topic, the sender identity, the Athena work group). The same
/// settings always give the same bytes.
///
///   cargo run -p deploy -- render --out /tmp/templates
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    settings: SettingsArg,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Write every template into --out (JSON, sorted keys).
    Render {
        /// The folder to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    spa_core::process::init_logging();
    let cli = Cli::parse();
    spa_core::process::exit("deploy", run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.settings.load()?;
    match &cli.command {
        Command::Render { out } => {
            for path in deploy::write(&deploy::render(&settings), out)? {
                println!("{}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
