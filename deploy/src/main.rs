//! `deploy`: the system's CloudFormation templates from settings.yaml, packaged, planned and
//! applied.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use deploy::deployment::{Deployment, MANAGEMENT_REGION, Options, StackKind, Step};
use spa_core::process::SettingsArg;

/// Install the sandbox accounts system in an AWS organization from settings.yaml.
///
/// `render` writes the templates: automation.json (the automation account: the lake bucket, the
/// ingest and alert queues, the central event bus and its rules, the schedules, the three Lambda
/// functions and their roles, the exceptions topic, the sender identity, the Athena work group
/// and tables), members.json (every managed member account) and management.json (the
/// management account, in us-east-1: the organization role, a billing alarm per managed account,
/// the guardrails (service control policies on the managed OUs), the StackSet of the member
/// stack), and each guardrail policy minified as scp/<name>.json, for review. It reads the
/// organization (organization.adapter) to know the managed accounts. The same settings and
/// organization always give the same bytes.
///
/// `package` builds the three Lambda zips with cargo-lambda (release, arm64). `plan` shows, per
/// stack and resource by resource, what `apply` would change; `apply` uploads the zips (and the
/// settings on the first install), then creates and executes each stack's change set and waits
/// for it. Credentials come from the usual AWS chain: the automation account's for its stack,
/// --management-profile's for the management stack.
///
///   cargo run -p deploy -- render --out /tmp/templates
///   cargo run -p deploy -- package --out target/deploy
///   cargo run -p deploy -- plan --artifact-bucket my-artifacts
///   cargo run -p deploy -- apply --artifact-bucket my-artifacts --management-profile mgmt
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
    /// Write every template into --out (JSON, sorted keys), and the guardrails into --out/scp.
    Render {
        /// The folder to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Build the Lambda zips (cargo-lambda, release, arm64) into --out, with manifest.json.
    Package {
        /// The folder to write into (created if missing).
        #[arg(long, value_name = "DIR", default_value = "target/deploy")]
        out: PathBuf,
    },
    /// Show what apply would change, stack by stack, resource by resource; change nothing.
    Plan(Target),
    /// Upload the zips (and the settings on the first install), then create, show and execute
    /// each stack's change set and wait for it; a failure lists the resources that failed.
    Apply {
        #[command(flatten)]
        target: Target,
        /// Replace the settings already in S3 with the local ones (by default a redeploy keeps
        /// them: FinOps and security edit their CSV files there).
        #[arg(long)]
        upload_settings: bool,
        /// Longest wait for one stack, in minutes.
        #[arg(long, default_value_t = 60, value_name = "MINUTES")]
        timeout: u64,
    },
}

/// Where and what to deploy.
#[derive(Debug, clap::Args)]
struct Target {
    /// The bucket (in the automation account's region) for the Lambda zips, large templates and
    /// the settings.
    #[arg(long, env = "SPA_ARTIFACT_BUCKET", value_name = "BUCKET")]
    artifact_bucket: String,
    /// The folder `package` wrote.
    #[arg(long, value_name = "DIR", default_value = "target/deploy")]
    artifacts: PathBuf,
    /// Where the functions read their settings [s3://<artifact bucket>/<env>/settings/settings.yaml].
    #[arg(long, value_name = "S3_URL")]
    settings_url: Option<String>,
    /// The organization's id (o-…) [asked of AWS Organizations].
    #[arg(long, env = "SPA_ORGANIZATION_ID", value_name = "ID")]
    organization_id: Option<String>,
    /// The AWS profile of the management account [the default credentials].
    #[arg(long, value_name = "PROFILE")]
    management_profile: Option<String>,
    /// The stacks [all: automation, then management].
    #[arg(long = "stack", value_enum, value_name = "STACK")]
    stacks: Vec<StackKind>,
    /// Most ingest invocations at once.
    #[arg(long, default_value_t = 10)]
    ingest_concurrency: u32,
}

fn main() -> ExitCode {
    spa_core::process::init_logging();
    let cli = Cli::parse();
    spa_core::process::exit("deploy", run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.settings.load()?;
    let runtime = spa_core::process::runtime(Some(2), None)?;
    match &cli.command {
        Command::Render { out } => {
            for path in deploy::write(&runtime.block_on(templates(&settings))?, out)? {
                println!("{}", path.display());
            }
            let policies = deploy::policies(&settings)?;
            for path in deploy::write_policies(&policies, out)? {
                println!("{}", path.display());
            }
        }
        Command::Package { out } => {
            let started = std::time::Instant::now();
            let files = deploy::package::build(Path::new("."), out)?;
            for file in files.values() {
                let size = std::fs::metadata(out.join(file))?.len();
                println!("{}  {:.1} MB", out.join(file).display(), size as f64 / 1e6);
            }
            println!("built in {:.0?}", started.elapsed());
        }
        Command::Plan(target) => {
            let deployment = runtime.block_on(deployment(&cli.settings.path, settings, target))?;
            for plan in runtime.block_on(deployment.plan())? {
                print!("{plan}");
            }
        }
        Command::Apply {
            target,
            upload_settings,
            timeout,
        } => {
            let deployment = runtime.block_on(deployment(&cli.settings.path, settings, target))?;
            let timeout = std::time::Duration::from_secs(timeout * 60);
            let outcomes = runtime.block_on(deployment.apply(
                *upload_settings,
                timeout,
                |step| match step {
                    Step::Uploaded(url) => println!("uploaded {url}"),
                    Step::SettingsKept(url) => {
                        println!("settings kept at {url} (--upload-settings replaces them)")
                    }
                    Step::Planned(plan) => print!("{plan}"),
                    Step::Applied(outcome) => {
                        println!("stack {}: {}", outcome.stack, outcome.status);
                        for (key, value) in &outcome.outputs {
                            println!("  {key} = {value}");
                        }
                    }
                },
            ))?;
            tracing::info!(stacks = outcomes.len(), "applied");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The templates of `settings`; the organization says which accounts get a billing alarm.
async fn templates(settings: &spa_core::Settings) -> anyhow::Result<Vec<deploy::Template>> {
    let organization = spa_core::organization::Source::open(settings, 8)
        .await?
        .read()
        .await?;
    Ok(deploy::render(settings, &organization)?)
}

async fn deployment(
    settings_file: &Path,
    settings: spa_core::Settings,
    target: &Target,
) -> anyhow::Result<Deployment> {
    let automation =
        spa_core::aws::sdk_config_in(&settings, settings.automation.region.as_str(), None).await;
    let management = spa_core::aws::sdk_config_in(
        &settings,
        MANAGEMENT_REGION,
        target.management_profile.as_deref(),
    )
    .await;
    let organization_id = match &target.organization_id {
        Some(id) => id.clone(),
        None => deploy::deployment::organization_id(&automation).await?,
    };
    let mut kinds = target.stacks.clone();
    if kinds.is_empty() {
        kinds = vec![StackKind::Automation, StackKind::Management];
    }
    kinds.sort();
    kinds.dedup();
    Ok(Deployment {
        templates: templates(&settings).await?,
        settings,
        options: Options {
            settings_file: settings_file.to_path_buf(),
            artifact_bucket: target.artifact_bucket.clone(),
            artifacts: target.artifacts.clone(),
            settings_url: target.settings_url.clone(),
            organization_id,
            ingest_concurrency: target.ingest_concurrency,
        },
        kinds,
        automation,
        management,
        poll: std::time::Duration::from_secs(5),
    })
}
