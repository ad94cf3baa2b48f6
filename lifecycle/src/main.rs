//! `lifecycle`: drives sandbox accounts through on-boarding and maintenance from the state
//! kept in their tags.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

/// Operate the lifecycle of the sandbox accounts (state in the `<prefix>state` tag).
///
/// States: vanilla -> assigned (preparation build) -> released -> expired (purge build at the
/// maintenance window) -> assigned -> ... Every transition emits an event into the lake or
/// EventBridge.
///
/// Planned commands (issue #5):
///   plan            table of the transitions that are due; changes nothing
///   apply           carry out what plan shows
///   maintenance     expire the accounts that the maintenance window expires
///   release | reset release all accounts, or reset them to vanilla (need --yes)
///   check           tags valid and complete
///   show <account>  state, tags, merged settings and last events of one account
///
/// Status: not built yet. Today this command validates the settings and says so.
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Cli {
    /// The settings file; relative paths inside it resolve against its folder.
    #[arg(long, default_value = "settings.yaml", value_name = "FILE")]
    settings: PathBuf,
}

fn main() -> ExitCode {
    spa_core::cli::init_logging();
    let cli = Cli::parse();
    spa_core::cli::exit("lifecycle", run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let settings = spa_core::Settings::load(&cli.settings).context("settings")?;
    let managed = settings.organizational_units.len();
    eprintln!(
        "lifecycle: settings {} are valid ({managed} managed OUs, {} listed accounts); the lifecycle is not built yet (issue #5)",
        settings.file.display(),
        settings.accounts.len()
    );
    Ok(ExitCode::from(2))
}
