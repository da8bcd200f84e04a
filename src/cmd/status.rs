//! `status --user U`: the user's provisioned product (with its last record and errors), notebook and
//! URL parameter side by side, and the one command that makes sense next.
//!
//! Exit status: 0 when the user has anything at all, broken or not (the report says what); 1 when
//! the user has nothing (the report is still printed, so `--output json` always parses) or when a
//! lookup failed. `if notebook-vend status -q --user U >/dev/null; then` tests for a notebook.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{anyhow, Result};
use aws_sdk_sagemaker::types::NotebookInstanceStatus as Nb;
use aws_sdk_servicecatalog::types::ProvisionedProductStatus as Pp;
use serde::Serialize;

use crate::aws::catalog;
use crate::aws::context::Context;
use crate::aws::notebook::{self, Notebook};
use crate::aws::stacks;
use crate::aws::urls::{self, Metadata};
use crate::cli::StatusArgs;
use crate::error::aws_error;
use crate::names::user;

#[derive(Debug, Serialize)]
pub struct Record {
    pub id: String,
    pub record_type: Option<String>,
    pub status: Option<String>,
    pub updated: Option<String>,
    pub errors: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub status: String,
    pub status_message: Option<String>,
    pub created: Option<String>,
    pub last_record: Option<Record>,
    /// The artifact (version) the product is on, and the product's newest active one.
    pub artifact_id: Option<String>,
    pub newest_artifact_id: String,
    /// The product template's parameter values in effect: its stack's, so after a failed update
    /// (TAINTED) the values it rolled back to. Empty when the stack is unreadable (see notes).
    pub parameters: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct Next {
    /// The command to run, or None when nothing needs doing.
    pub command: Option<String>,
    pub why: String,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub user: String,
    pub provisioned_product: Option<Product>,
    pub notebook: Option<Notebook>,
    pub parameter: Option<Metadata>,
    /// The user's start/stop schedules and their next runs.
    pub schedules: Vec<crate::cmd::schedule::Shown>,
    pub next: Next,
    /// What could not be looked up (e.g. the product is not deployed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        writeln!(f, "user                 {}", self.user)?;
        match &self.provisioned_product {
            Some(p) => {
                writeln!(f, "provisioned product  {} ({}) {}", p.name, p.id, p.status)?;
                if let Some(m) = &p.status_message {
                    writeln!(f, "  status message     {m}")?;
                }
                writeln!(f, "  created            {}", opt(&p.created))?;
                let outdated = p.artifact_id.as_deref() != Some(p.newest_artifact_id.as_str());
                writeln!(
                    f,
                    "  artifact           {}{}",
                    opt(&p.artifact_id),
                    if outdated {
                        format!(" (newest: {}; `notebook-vend update` moves it)", p.newest_artifact_id)
                    } else {
                        " (newest)".into()
                    }
                )?;
                if !p.parameters.is_empty() {
                    let values: Vec<String> = p.parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    writeln!(f, "  parameters         {}", values.join(" "))?;
                }
                if let Some(r) = &p.last_record {
                    writeln!(
                        f,
                        "  last record        {} {} {} (updated {})",
                        r.id,
                        opt(&r.record_type),
                        opt(&r.status),
                        opt(&r.updated)
                    )?;
                    for e in &r.errors {
                        writeln!(f, "  record error       {e}")?;
                    }
                }
            }
            None => writeln!(f, "provisioned product  (none)")?,
        }
        match &self.notebook {
            Some(n) => {
                writeln!(f, "notebook             {} {}", n.name, n.status)?;
                if let Some(r) = &n.failure_reason {
                    writeln!(f, "  failure reason     {r}")?;
                }
                writeln!(f, "  instance type      {}", opt(&n.instance_type))?;
                writeln!(f, "  created            {}", opt(&n.created))?;
                writeln!(f, "  last modified      {}", opt(&n.last_modified))?;
            }
            None => writeln!(f, "notebook             (none)")?,
        }
        match &self.parameter {
            Some(p) => {
                writeln!(f, "parameter            {} ({})", p.parameter, p.parameter_type)?;
                writeln!(f, "  stored at          {}", opt(&p.stored_at))?;
                writeln!(f, "  session expires    {}", opt(&p.session_expires))?;
            }
            None => writeln!(f, "parameter            (none)")?,
        }
        for s in &self.schedules {
            let next = s.next_run.as_deref().unwrap_or("none");
            writeln!(
                f,
                "schedule {:<11} {} {} (next {next})",
                s.schedule.action.word(),
                s.schedule.expression,
                s.schedule.timezone
            )?;
        }
        for n in &self.notes {
            writeln!(f, "note                 {n}")?;
        }
        match &self.next.command {
            Some(c) => write!(f, "next                 {c}\n  why                {}", self.next.why),
            None => write!(f, "next                 nothing to do: {}", self.next.why),
        }
    }
}

pub async fn run(args: &StatusArgs, ctx: &Context) -> Result<()> {
    let user = args.user.as_str();
    let name = user::notebook_name(user);
    let mut notes = Vec::new();
    let (pp, nb, param, schedules) = tokio::try_join!(
        provisioned(ctx, user, &mut notes),
        notebook::describe(ctx, &name),
        urls::metadata(ctx, user),
        crate::cmd::schedule::of_user(ctx, user)
    )?;
    let next = next_step(user, pp.as_ref(), nb.as_ref(), param.as_ref());
    let nothing = pp.is_none() && nb.is_none() && param.is_none();
    let report = Status {
        user: user.to_owned(),
        provisioned_product: pp,
        notebook: nb,
        parameter: param,
        schedules,
        next,
        notes,
    };
    crate::output::emit(ctx.output, &report)?;
    if nothing {
        return Err(anyhow!("user {user} has nothing: no provisioned product, notebook or URL parameter"));
    }
    Ok(())
}

async fn provisioned(ctx: &Context, user: &str, notes: &mut Vec<String>) -> Result<Option<Product>> {
    let product = match catalog::resolve_product(ctx).await {
        Ok(p) => p,
        // Not deployed or not visible: report the notebook and parameter anyway.
        Err(e) if aws_error(&e).is_none() => {
            notes.push(format!("{e:#}"));
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let Some(pp) = catalog::find_for_user(ctx, &product, user).await? else { return Ok(None) };
    // The stack is named by the last successful record: often the last record, already described.
    let mut stack = None;
    let last_record = match &pp.last_record_id {
        Some(id) => {
            let (d, outputs) = catalog::describe_record(ctx, id).await?;
            if pp.last_success_record_id.as_ref().is_none_or(|s| s == id) {
                stack = outputs.get(catalog::STACK_OUTPUT).cloned();
            }
            Some(Record {
                id: id.clone(),
                record_type: d.record_type().map(str::to_owned),
                status: d.status().map(|s| s.as_str().to_owned()),
                updated: d.updated_time().map(crate::text::rfc3339),
                errors: d
                    .record_errors()
                    .iter()
                    .map(|e| {
                        format!("{}: {}", e.code().unwrap_or("Error"), e.description().unwrap_or("no description"))
                    })
                    .collect(),
            })
        }
        None => None,
    };
    if stack.is_none() {
        stack = catalog::stack_of(ctx, &pp).await;
    }
    let parameters = match &stack {
        Some(arn) => match stacks::parameter_values(ctx, arn).await {
            Ok(values) => values.unwrap_or_default(),
            Err(e) => {
                notes.push(format!("parameter values in effect unreadable: {e:#}"));
                BTreeMap::new()
            }
        },
        None => BTreeMap::new(),
    };
    Ok(Some(Product {
        id: pp.id,
        name: pp.name,
        status: pp.status,
        status_message: pp.status_message,
        created: pp.created,
        last_record,
        artifact_id: pp.artifact_id,
        newest_artifact_id: product.artifact_id.clone(),
        parameters,
    }))
}

fn next_step(user: &str, pp: Option<&Product>, nb: Option<&Notebook>, param: Option<&Metadata>) -> Next {
    let cmd = |c: String, why: &str| Next { command: Some(c), why: why.to_owned() };
    let replace = format!("notebook-vend terminate --user {user} && notebook-vend provision --user {user}");
    let record_type = pp.and_then(|p| p.last_record.as_ref()).and_then(|r| r.record_type.as_deref());
    let pp_state = pp.map(|p| Pp::from(p.status.as_str()));
    let nb_state = nb.map(|n| (Nb::from(n.status.as_str()), n.status.as_str()));
    let follow_notebook = || match nb_state.as_ref() {
        None => cmd(replace.clone(), "the provisioned product has no notebook (deleted outside Service Catalog?)"),
        Some((state, text)) => notebook_step(user, state.clone(), text, param, &replace),
    };
    match (pp_state, nb_state.as_ref()) {
        (None, None) if param.is_some() => cmd(
            format!("notebook-vend terminate --user {user}"),
            "only the URL parameter is left (a stale credential); terminate removes it",
        ),
        (None, None) => cmd(format!("notebook-vend provision --user {user}"), "the user has no notebook"),
        (None, Some(_)) => Next {
            command: None,
            why: "the notebook exists but no provisioned product of this product owns it: it was not vended here"
                .into(),
        },
        (Some(Pp::UnderChange | Pp::PlanInProgress), _) if record_type == Some("TERMINATE_PROVISIONED_PRODUCT") => cmd(
            format!("notebook-vend terminate --user {user}"),
            "a termination is in progress; terminate waits for it and cleans up",
        ),
        (Some(Pp::UnderChange | Pp::PlanInProgress), _) => cmd(
            format!("notebook-vend provision --user {user}"),
            "provisioning is in progress; provision waits for it and stores the URL",
        ),
        (Some(Pp::Error), _) => cmd(replace.clone(), "the provisioned product is broken (see the record errors)"),
        // TAINTED: an update failed and was rolled back; the product is "stable, ready to perform
        // any operation" (botocore ProvisionedProductStatus). The notebook and its data are as
        // they were, so the advice follows the notebook (below), never terminate.
        (Some(Pp::Tainted), Some(_)) => cmd(
            format!("notebook-vend update --user {user}"),
            "the last update failed and was rolled back (see the record errors); the notebook is as it was, and update retries the move to the newest version",
        ),
        (Some(Pp::Available | Pp::Tainted), _) => follow_notebook(),
        // A state newer than this SDK (the enum is #[non_exhaustive]): the notebook tells.
        (Some(_), _) => follow_notebook(),
    }
}

/// The next step for a vended notebook in `state` (`text` as SageMaker spelled it).
fn notebook_step(user: &str, state: Nb, text: &str, param: Option<&Metadata>, replace: &str) -> Next {
    let cmd = |c: String, why: &str| Next { command: Some(c), why: why.to_owned() };
    match state {
        Nb::Failed => cmd(replace.to_owned(), "the notebook Failed (see the failure reason)"),
        Nb::Stopped => cmd(format!("notebook-vend start --user {user} --refresh"), "the notebook is stopped"),
        Nb::Pending => cmd(
            format!("notebook-vend refresh --user {user}"),
            "the notebook is starting; refresh waits for InService and stores a URL",
        ),
        Nb::Stopping => cmd(
            format!("notebook-vend start --user {user} --refresh"),
            "the notebook is stopping; start it again once it is Stopped",
        ),
        Nb::Deleting => cmd(format!("notebook-vend provision --user {user}"), "the notebook is being deleted"),
        Nb::InService if param.is_none() => {
            cmd(format!("notebook-vend refresh --user {user}"), "the notebook runs but no URL is stored")
        }
        Nb::InService if expired(param) => {
            cmd(format!("notebook-vend refresh --user {user}"), "the stored URL's session has expired")
        }
        Nb::InService => cmd(
            format!("notebook-vend url --user {user}"),
            "all is well; a presigned URL works 5 minutes, so url mints one on demand",
        ),
        // botocore NotebookInstanceStatus; SageMaker ends maintenance on its own. refresh waits for
        // InService (up to --timeout) and then stores a URL.
        Nb::PendingMaintenance | Nb::InMaintenance => cmd(
            format!("notebook-vend refresh --user {user}"),
            &format!("the notebook is in SageMaker maintenance ({text}); refresh waits for InService and stores a URL"),
        ),
        Nb::Updating => Next { command: None, why: format!("the notebook is {text}; check again shortly") },
        // A state newer than this SDK (the enum is #[non_exhaustive]).
        _ => Next { command: None, why: format!("the notebook is {text}; check again shortly") },
    }
}

/// True when the parameter's session end is in the past (RFC 3339 UTC strings compare as text).
fn expired(param: Option<&Metadata>) -> bool {
    let now = crate::text::rfc3339(&aws_smithy_types::DateTime::from(std::time::SystemTime::now()));
    param.and_then(|p| p.session_expires.as_deref()).is_some_and(|e| e < now.as_str())
}
