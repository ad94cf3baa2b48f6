//! The system's CloudFormation templates, rendered from `settings.yaml`: deterministic (the same
//! settings give the same bytes), named from `environment_identifier` so that two environments
//! can live in one account.
//!
//! The automation account's stack ([`automation`]), the member accounts' stack ([`members`]) and
//! the management account's ([`management`], which deploys the member stack as a StackSet).
//! [`package`] builds the Lambda zips, [`stacks`] plans and applies change sets, [`deployment`]
//! says which stack goes where with which parameters.

pub mod automation;
pub mod cfn;
pub mod dashboard;
pub mod deployment;
pub mod glue;
pub mod management;
pub mod members;
pub mod names;
pub mod operations;
pub mod package;
pub mod stacks;

use std::path::{Path, PathBuf};

use serde_json::Value;
use spa_core::Settings;
use spa_core::organization::Organization;

/// One rendered template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// File name (`automation.json`).
    pub file: String,
    /// The CloudFormation document.
    pub body: Value,
}

impl Template {
    /// The document as written: pretty JSON with sorted keys and a final newline.
    pub fn text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.body).expect("JSON values serialize");
        text.push('\n');
        text
    }
}

/// What rendering could not do.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The guardrails of the settings do not fit Organizations' limits.
    #[error("{}: {source}", file.display())]
    Guardrails {
        /// The settings file.
        file: PathBuf,
        /// What does not fit.
        source: spa_core::guardrails::GuardrailError,
    },
    /// Writing a template.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Every template of the system for `settings` and the accounts of `organization` (the
/// management stack has an alarm per managed account, and the guardrails).
pub fn render(
    settings: &Settings,
    organization: &Organization,
) -> Result<Vec<Template>, RenderError> {
    let members = members::template(settings);
    let policies = policies(settings)?;
    let management = management::template(settings, organization, &members, &policies);
    Ok(vec![automation::template(settings), members, management])
}

/// The guardrails of `settings` (see `spa_core::guardrails`), or why they do not fit.
pub fn policies(settings: &Settings) -> Result<Vec<spa_core::guardrails::Policy>, RenderError> {
    spa_core::guardrails::policies(settings).map_err(|source| RenderError::Guardrails {
        file: settings.file.clone(),
        source,
    })
}

/// Writes each service control policy of `policies` into `dir/scp/<name>.json`, minified as
/// Organizations stores it (the folder is created if missing, and emptied of `.json` files
/// first, so that a policy no longer rendered leaves no file behind); returns the files
/// written.
pub fn write_policies(
    policies: &[spa_core::guardrails::Policy],
    dir: &Path,
) -> Result<Vec<PathBuf>, RenderError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RenderError::Io { path, source }
    };
    let scp = dir.join("scp");
    std::fs::create_dir_all(&scp).map_err(io(&scp))?;
    for entry in std::fs::read_dir(&scp).map_err(io(&scp))? {
        let path = entry.map_err(io(&scp))?.path();
        if path.extension().is_some_and(|e| e == "json") {
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
    }
    let mut out = Vec::new();
    for p in policies {
        // Names are the environment's identifier, a kind and OU ids: safe file names.
        let path = scp.join(format!("{}.json", p.name));
        std::fs::write(&path, p.content()).map_err(io(&path))?;
        out.push(path);
    }
    Ok(out)
}

/// Writes `templates` into `dir` (created if missing); returns the files written.
pub fn write(templates: &[Template], dir: &Path) -> Result<Vec<PathBuf>, RenderError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RenderError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut out = Vec::new();
    for t in templates {
        let path = dir.join(&t.file);
        std::fs::write(&path, t.text()).map_err(io(&path))?;
        out.push(path);
    }
    Ok(out)
}
