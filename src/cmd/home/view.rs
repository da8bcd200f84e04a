//! What the page shows (read through the aws layer) and its HTML. Every value that comes from
//! outside (names, states, AWS messages) goes through [`esc`]; the page has no inline script or
//! style, so the Content-Security-Policy needs no 'unsafe-inline'.

use std::fmt::Write as _;

use anyhow::Result;
use aws_sdk_sagemaker::types::NotebookInstanceStatus as Nb;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::jobs::{Job, Kind};
use crate::aws::catalog::{self, OtherProduct};
use crate::aws::context::Context;
use crate::aws::notebook::{self, Notebook};
use crate::names::user;

pub struct View {
    pub user: String,
    pub notebook: Option<Notebook>,
    /// The user has a provisioned product of this deployment's product.
    pub provisioned: bool,
    /// A notebook of that name belongs to another deployment's product (why: one line).
    pub foreign: Option<String>,
    pub version: Option<String>,
    pub newest: String,
    pub outdated: bool,
    pub job: Option<Job>,
    /// The user's start/stop schedules with their next runs (empty when none, or unreadable).
    pub schedules: Vec<crate::cmd::schedule::Shown>,
}

/// HTML-escape text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub async fn load(ctx: &Context, user: &str, job: Option<Job>) -> Result<View> {
    let product = catalog::resolve_product(ctx).await?;
    let name = user::notebook_name(user);
    let (pp, nb, versions, schedules) = tokio::join!(
        catalog::find_for_user(ctx, &product, user),
        notebook::describe(ctx, &name),
        catalog::versions(ctx, &product),
        crate::cmd::schedule::of_user(ctx, user)
    );
    let (pp, foreign) = match pp {
        Ok(pp) => (pp, None),
        Err(e) => match e.downcast_ref::<OtherProduct>() {
            Some(other) => (None, Some(other.0.clone())),
            None => return Err(e),
        },
    };
    let versions = versions.unwrap_or_default();
    let name_of = |id: &str| versions.iter().find(|a| a.id == id).map(|a| a.name.clone()).unwrap_or(id.to_owned());
    let artifact = pp.as_ref().and_then(|p| p.artifact_id.clone());
    Ok(View {
        user: user.to_owned(),
        notebook: if foreign.is_some() { None } else { nb? },
        provisioned: pp.is_some(),
        foreign,
        version: artifact.as_deref().map(name_of),
        newest: product.artifact_name.clone(),
        outdated: artifact.as_deref().is_some_and(|a| a != product.artifact_id),
        job,
        // The page works without them (a deployment made before schedules has no group).
        schedules: schedules.unwrap_or_else(|e| {
            tracing::warn!(user, "home page: schedules unreadable: {e:#}");
            Vec::new()
        }),
    })
}

/// A state the notebook leaves on its own (the page follows it), or a job running.
pub fn busy(state: Option<&Nb>, job: Option<&Job>) -> bool {
    job.is_some_and(|j| j.outcome.is_none())
        || matches!(
            state,
            Some(Nb::Pending | Nb::Stopping | Nb::Updating | Nb::Deleting | Nb::PendingMaintenance | Nb::InMaintenance)
        )
}

pub fn states(want: &[Nb]) -> String {
    want.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" or ")
}

/// The notices a redirect after a POST names (a fixed set: nothing from the query is echoed).
pub fn notice_of_query(query: &str) -> Option<&'static str> {
    match query.strip_prefix("done=")? {
        "start" => Some("Starting your notebook. This takes a few minutes."),
        "stop" => Some("Stopping your notebook. Your files stay on its volume."),
        "provision" => Some("Creating your notebook. This takes a few minutes."),
        "update" => Some("Updating your notebook to the newest version."),
        _ => None,
    }
}

fn head(title: &str, busy: bool) -> String {
    // Without JavaScript the page reloads itself while something is in progress.
    let refresh = if busy { r#"<noscript><meta http-equiv="refresh" content="5"></noscript>"# } else { "" };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/static/home.css\">{refresh}\
         <script src=\"/static/home.js\" defer></script></head>\n<body>",
        esc(title)
    )
}

fn button(action: &str, label: &str, primary: bool) -> String {
    let class = if primary { "btn primary" } else { "btn" };
    format!(
        "<form method=\"post\" action=\"/{action}\"><button class=\"{class}\" type=\"submit\" id=\"{action}\">{}</button></form>",
        esc(label)
    )
}

fn actions(v: &View, running: bool) -> String {
    if running {
        return String::new();
    }
    let mut out = String::new();
    match v.notebook.as_ref().map(Notebook::state) {
        Some(Nb::InService) => {
            out += &button("open", "Open", true);
            out += &button("stop", "Stop", false);
        }
        Some(Nb::Stopped) => out += &button("start", "Start", true),
        None if v.foreign.is_none() && !v.provisioned => out += &button("provision", "Create my notebook", true),
        _ => {}
    }
    // `update` keeps the notebook (it refuses a change that would replace it, and says why) and
    // brings a running one back to InService.
    if v.outdated && matches!(v.notebook.as_ref().map(Notebook::state), Some(Nb::InService | Nb::Stopped)) {
        out += &button("update", "Update", false);
    }
    out
}

fn details(v: &View) -> String {
    let mut out = String::from("<dl class=\"facts\">");
    let mut row = |k: &str, val: &str| {
        let _ = write!(out, "<div><dt>{}</dt><dd>{}</dd></div>", esc(k), esc(val));
    };
    if let Some(nb) = &v.notebook {
        row("Notebook", &nb.name);
        row("Instance type", nb.instance_type.as_deref().unwrap_or("-"));
        if let Some(r) = &nb.failure_reason {
            row("Failure", r);
        }
    }
    if let Some(ver) = &v.version {
        let text = if v.outdated { format!("{ver} (newest: {})", v.newest) } else { format!("{ver} (newest)") };
        row("Version", &text);
    }
    out.push_str("</dl>");
    out += &schedules(v);
    out
}

/// `2026-12-04T08:00:00+01:00` -> `2026-12-04 08:00`.
fn local_minute(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time}"),
        _ => rfc3339.to_owned(),
    }
}

fn schedules(v: &View) -> String {
    if v.schedules.is_empty() {
        return String::new();
    }
    let mut out = String::from("<h3>Schedule</h3><ul class=\"schedule\">");
    for s in &v.schedules {
        let what = if s.schedule.action.word() == "start" { "Starts" } else { "Stops" };
        let next = match &s.next_run_local {
            Some(local) => format!("next {} ({})", local_minute(local), s.schedule.timezone),
            None => "no next run".to_owned(),
        };
        let _ = write!(
            out,
            "<li><strong>{what}</strong> {}<br><code>{}</code></li>",
            esc(&next),
            esc(&s.schedule.expression)
        );
    }
    out.push_str("</ul>");
    out
}

fn card(v: &View) -> String {
    let state = v.notebook.as_ref().map(Notebook::state);
    let running = v.job.as_ref().is_some_and(|j| j.outcome.is_none());
    let busy = busy(state.as_ref(), v.job.as_ref());
    let status = match (&v.notebook, &v.job) {
        (_, Some(j)) if j.outcome.is_none() => j.kind.doing().to_owned(),
        (Some(nb), _) => nb.status.clone(),
        (None, _) => "No notebook yet".to_owned(),
    };
    let class = status.to_ascii_lowercase().replace(' ', "-");
    let mut out = format!(
        "<section id=\"card\" class=\"card\" data-busy=\"{busy}\" aria-live=\"polite\">\
         <h2>Your notebook</h2><p class=\"state\"><span class=\"dot {}\" aria-hidden=\"true\"></span>\
         <span id=\"status\">{}</span>{}</p>",
        esc(&class),
        esc(&status),
        if busy { "<span class=\"spinner\" aria-hidden=\"true\"></span>" } else { "" }
    );
    out += &details(v);
    if let Some(why) = &v.foreign {
        let _ = write!(out, "<p class=\"error\">{}</p>", esc(why));
    }
    if let Some(Job { kind, outcome: Some(Err(why)), .. }) = &v.job {
        let what = if *kind == Kind::Provision { "Creating your notebook" } else { "The update" };
        let _ = write!(out, "<p class=\"error\" role=\"alert\">{} failed: {}</p>", what, esc(why));
    }
    if v.outdated && !running {
        out += "<p class=\"hint\">A newer version is available: Update moves your notebook to it, keeping your \
                files (it restarts the notebook).</p>";
    }
    let _ = write!(out, "<div class=\"actions\">{}</div></section>", actions(v, running));
    out
}

pub fn page(v: &View, notice: Option<&str>) -> Html<String> {
    let busy = busy(v.notebook.as_ref().map(Notebook::state).as_ref(), v.job.as_ref());
    let mut out = head("My notebook", busy);
    let _ = write!(
        out,
        "<header class=\"top\"><h1>Notebooks</h1><p class=\"who\">Signed in as <strong>{}</strong></p></header><main>",
        esc(&v.user)
    );
    if let Some(n) = notice {
        let _ = write!(out, "<p class=\"notice\" role=\"status\">{}</p>", esc(n));
    }
    out += &card(v);
    out += "<p class=\"foot\">Open signs you in to Jupyter with a link made for this click; it is not stored. \
            Stop your notebook when you are done: a stopped notebook costs only its storage.</p></main></body></html>";
    Html(out)
}

/// A short page for refusals and failures, with its status.
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let mut out = head(title, false);
    let _ = write!(
        out,
        "<main><section class=\"card\"><h2>{}</h2><p>{}</p><p><a href=\"/\">Back to my notebook</a></p></section></main></body></html>",
        esc(title),
        esc(text)
    );
    (status, Html(out)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(esc("<script>\"a\"&'b'</script>"), "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;");
        assert_eq!(notice_of_query("done=<b>"), None);
    }
}
