//! `deploy`: the system's CloudFormation templates from settings.yaml.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use spa_core::process::SettingsArg;

/// Install the sandbox accounts system in an AWS organization from settings.yaml.
///
/// `render` writes the templates: automation.json (the automation account: the lake bucket, the
/// ingest and alert queues, the central event bus and its rules, the schedules, the three Lambda
/// functions and their roles, the exceptions topic, the sender identity, the Athena work group
/// and tables), members.json (every managed member account) and management.json (the
/// management account, in us-east-1: the organization role, a billing alarm per managed account,
/// the StackSet of the member stack). It reads the organization (organization.adapter) to know
/// the managed accounts. The same settings and organization always give the same bytes.
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
            // The organization says which accounts get a billing alarm.
            let runtime = spa_core::process::runtime(Some(2), None)?;
            let organization = runtime.block_on(async {
                spa_core::organization::Source::open(&settings, 8)
                    .await?
                    .read()
                    .await
            })?;
            for path in deploy::write(&deploy::render(&settings, &organization), out)? {
                println!("{}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
