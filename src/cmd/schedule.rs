//! `schedule set|show|clear --user U`: a notebook's working hours as two EventBridge Scheduler
//! schedules, `<user>-start` and `<user>-stop`, in the deployment's schedule group. Expressions and
//! zones were checked by the parser (cli/schedule_expr.rs): a bad one never reaches this file.
//!
//! `set` needs the user's notebook (a schedule for a notebook that does not exist would fail at
//! every run, silently) and the group `bootstrap` creates. `clear` of a deployment with a default
//! (`bootstrap --default-stop`) puts the default back: it applies unless the owner set their own.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use crate::aws::context::Context;
use crate::aws::notebook;
use crate::aws::scheduler::{self, Action, Origin, Schedule, Spec};
use crate::cli::schedule_expr;
use crate::cli::{ScheduleAction, ScheduleArgs, ScheduleClearArgs, ScheduleSetArgs, ScheduleShowArgs};
use crate::error::has_code;
use crate::names::deployment::Names;
use crate::names::user;

pub async fn run(args: &ScheduleArgs, ctx: &Context) -> Result<()> {
    match &args.action {
        ScheduleAction::Set(a) => set(a, ctx).await,
        ScheduleAction::Show(a) => show(a, ctx).await,
        ScheduleAction::Clear(a) => clear(a, ctx).await,
    }
}

/// One schedule and when it runs next.
#[derive(Debug, Serialize)]
pub struct Shown {
    #[serde(flatten)]
    pub schedule: Schedule,
    /// Next run, UTC (RFC 3339); null when it never runs again.
    pub next_run: Option<String>,
    /// The same instant in the schedule's time zone.
    pub next_run_local: Option<String>,
}

/// A user's schedules after the command.
#[derive(Debug, Serialize)]
pub struct UserSchedules {
    pub user: String,
    pub notebook: String,
    pub group: String,
    pub schedules: Vec<Shown>,
    /// Schedules the command removed (clear).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    pub message: String,
}

impl fmt::Display for UserSchedules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "user      {}", self.user)?;
        writeln!(f, "notebook  {}", self.notebook)?;
        writeln!(f, "group     {}", self.group)?;
        for s in &self.schedules {
            let origin = match s.schedule.origin {
                Origin::Own => "",
                Origin::Default => " (deployment default)",
            };
            let next = match (&s.next_run_local, &s.next_run) {
                (Some(local), Some(utc)) => format!("next {local} ({utc}){origin}"),
                _ => format!("no next run{origin}"),
            };
            writeln!(
                f,
                "{:<9} {} {} [{}] {next}",
                s.schedule.action.word(),
                s.schedule.expression,
                s.schedule.timezone,
                s.schedule.state
            )?;
        }
        for r in &self.removed {
            writeln!(f, "removed   {r}")?;
        }
        write!(f, "{}", self.message)
    }
}

/// The schedule's next run, now.
pub fn shown(schedule: Schedule, now_epoch: i64) -> Shown {
    let next = schedule_expr::next_run(&schedule.expression, &schedule.timezone, now_epoch, schedule.started_epoch);
    let (next_run, next_run_local) = match next {
        Some((utc, local)) => (Some(utc), Some(local)),
        None => (None, None),
    };
    Shown { schedule, next_run, next_run_local }
}

pub fn now_epoch() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The execution role of the deployment, from the caller's account and partition.
pub async fn role_arn(ctx: &Context) -> Result<String> {
    let caller = ctx.caller().await?;
    let partition = caller.arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws");
    Ok(format!("arn:{partition}:iam::{}:role/{}", caller.account, ctx.names.scheduler_role()))
}

/// A missing group means the deployment predates schedules (or is gone): bootstrap makes it.
fn no_group(e: anyhow::Error, group: &str) -> anyhow::Error {
    if has_code(&e, &["ResourceNotFoundException"]) {
        e.context(format!(
            "the deployment's schedule group {group} does not exist: run `notebook-vend bootstrap` (it creates the group \
             and the Scheduler execution role)"
        ))
    } else {
        e
    }
}

async fn read_user(ctx: &Context, group: &str, user: &str) -> Result<Vec<Shown>> {
    let now = now_epoch();
    let mut out = Vec::new();
    for action in Action::BOTH {
        if let Some(s) = scheduler::get(ctx, group, user, action).await? {
            out.push(shown(s, now));
        }
    }
    Ok(out)
}

async fn set(args: &ScheduleSetArgs, ctx: &Context) -> Result<()> {
    let user = &args.user;
    let nb = user::notebook_name(user);
    let group = ctx.names.schedule_group();
    if notebook::describe(ctx, &nb).await?.is_none() {
        bail!("{user} has no notebook ({nb}): provision it first (`notebook-vend provision --user {user}`)");
    }
    let role = role_arn(ctx).await?;
    for (action, expression) in [(Action::Start, &args.start), (Action::Stop, &args.stop)] {
        let Some(expression) = expression else { continue };
        let spec = Spec { expression, timezone: &args.tz, notebook: &nb, role_arn: &role, origin: Origin::Own };
        scheduler::put(ctx, &group, user, action, &spec).await.map_err(|e| no_group(e, &group))?;
    }
    let schedules = read_user(ctx, &group, user).await?;
    let message = format!("{user}'s schedules are set; Scheduler starts and stops {nb} on its own from now on");
    crate::output::emit(
        ctx.output,
        &UserSchedules { user: user.clone(), notebook: nb, group, schedules, removed: vec![], message },
    )
}

async fn show(args: &ScheduleShowArgs, ctx: &Context) -> Result<()> {
    let user = &args.user;
    let group = ctx.names.schedule_group();
    let schedules = read_user(ctx, &group, user).await.map_err(|e| no_group(e, &group))?;
    let message = if schedules.is_empty() {
        format!("{user} has no schedule; set one with `notebook-vend schedule set --user {user} --stop EXPR`")
    } else {
        String::new()
    };
    let out = UserSchedules {
        user: user.clone(),
        notebook: user::notebook_name(user),
        group,
        schedules,
        removed: vec![],
        message,
    };
    crate::output::emit(ctx.output, &out)
}

async fn clear(args: &ScheduleClearArgs, ctx: &Context) -> Result<()> {
    let user = &args.user;
    let group = ctx.names.schedule_group();
    let which: Vec<Action> = match (args.start, args.stop) {
        (true, _) => vec![Action::Start],
        (_, true) => vec![Action::Stop],
        _ => Action::BOTH.to_vec(),
    };
    let mut removed = Vec::new();
    for action in which {
        if scheduler::delete(ctx, &group, user, action).await.map_err(|e| no_group(e, &group))? {
            removed.push(scheduler::schedule_name(user, action));
        }
    }
    // The default applies unless the owner set their own: clearing one's own puts it back.
    let mut message = if removed.is_empty() { format!("{user} had no such schedule") } else { String::new() };
    if !removed.is_empty() {
        if let Some(default) = deployment_default(ctx).await? {
            let role = role_arn(ctx).await?;
            if !apply_default(ctx, &default, user, &role).await?.is_empty() {
                message = format!("the deployment default applies to {user} again");
            }
        }
    }
    let schedules = read_user(ctx, &group, user).await.context("reading the schedules left")?;
    let out =
        UserSchedules { user: user.clone(), notebook: user::notebook_name(user), group, schedules, removed, message };
    crate::output::emit(ctx.output, &out)
}

/// The deployment default `bootstrap --default-stop/--default-start --tz` keeps on the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentDefault {
    pub start: Option<String>,
    pub stop: Option<String>,
    pub timezone: String,
}

impl DeploymentDefault {
    /// The default the group's tags hold, if any.
    pub fn from_tags(tags: &BTreeMap<String, String>) -> Option<Self> {
        let start = tags.get(scheduler::TAG_DEFAULT_START).cloned();
        let stop = tags.get(scheduler::TAG_DEFAULT_STOP).cloned();
        if start.is_none() && stop.is_none() {
            return None;
        }
        let timezone = tags.get(scheduler::TAG_DEFAULT_TZ).cloned().unwrap_or_else(|| "UTC".into());
        Some(DeploymentDefault { start, stop, timezone })
    }

    pub fn expression(&self, action: Action) -> Option<&str> {
        match action {
            Action::Start => self.start.as_deref(),
            Action::Stop => self.stop.as_deref(),
        }
    }
}

/// The tags the deployment's group carries: who made it, for which deployment, and its default.
pub fn group_tags(names: &Names, default: Option<&DeploymentDefault>) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::from([
        ("ManagedBy".to_owned(), "notebook-vend".to_owned()),
        ("Deployment".to_owned(), names.s3_stack.clone()),
    ]);
    if let Some(d) = default {
        for (key, value) in [(scheduler::TAG_DEFAULT_START, &d.start), (scheduler::TAG_DEFAULT_STOP, &d.stop)] {
            if let Some(v) = value {
                tags.insert(key.to_owned(), v.clone());
            }
        }
        tags.insert(scheduler::TAG_DEFAULT_TZ.to_owned(), d.timezone.clone());
    }
    tags
}

/// What bootstrap did to the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupChange {
    Created,
    Updated,
    Unchanged,
}

impl GroupChange {
    pub fn word(self) -> &'static str {
        match self {
            GroupChange::Created => "created",
            GroupChange::Updated => "updated",
            GroupChange::Unchanged => "unchanged",
        }
    }
}

/// Make the deployment's group exist with its tags; with `default` None the default it has is kept.
/// Reads first, so a bootstrap with nothing to change writes nothing. Returns the change and the
/// default now in force.
pub async fn sync_group(
    ctx: &Context,
    default: Option<&DeploymentDefault>,
    dry_run: bool,
) -> Result<(GroupChange, Option<DeploymentDefault>)> {
    let group = ctx.names.schedule_group();
    let current = scheduler::group(ctx, &group).await?;
    let kept = current.as_ref().and_then(|(_, tags)| DeploymentDefault::from_tags(tags));
    let effective = default.cloned().or(kept);
    let wanted = group_tags(&ctx.names, effective.as_ref());
    let change = match &current {
        None => GroupChange::Created,
        Some((_, tags)) if wanted.iter().all(|(k, v)| tags.get(k) == Some(v)) && default_keys_match(tags, &wanted) => {
            GroupChange::Unchanged
        }
        Some(_) => GroupChange::Updated,
    };
    if !dry_run && change != GroupChange::Unchanged {
        let arn = scheduler::ensure_group(ctx, &group, &wanted).await?;
        // A default without a start (or stop) drops the one the group had.
        if let Some((_, tags)) = &current {
            let stale: Vec<&str> = [scheduler::TAG_DEFAULT_START, scheduler::TAG_DEFAULT_STOP]
                .into_iter()
                .filter(|k| tags.contains_key(*k) && !wanted.contains_key(*k))
                .collect();
            if !stale.is_empty() {
                scheduler::untag_group(ctx, &arn, &group, &stale).await?;
            }
        }
    }
    Ok((change, effective))
}

fn default_keys_match(have: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>) -> bool {
    [scheduler::TAG_DEFAULT_START, scheduler::TAG_DEFAULT_STOP]
        .iter()
        .all(|k| have.contains_key(*k) == wanted.contains_key(*k))
}

/// The next start and stop (UTC, RFC 3339) of each of `users` that has schedules: one ListSchedules
/// of the group, then GetSchedule for the schedules it names (the summaries carry no expression).
/// A deployment without a group has none.
pub async fn next_runs(ctx: &Context, users: &[String]) -> Result<BTreeMap<String, (Option<String>, Option<String>)>> {
    use futures::stream::{self, StreamExt};
    let group = ctx.names.schedule_group();
    let Some(names) = scheduler::list_names(ctx, &group).await? else { return Ok(BTreeMap::new()) };
    let names: std::collections::BTreeSet<String> = names.into_iter().collect();
    let wanted: Vec<(String, Action)> = users
        .iter()
        .flat_map(|u| Action::BOTH.map(|a| (u.clone(), a)))
        .filter(|(u, a)| names.contains(&scheduler::schedule_name(u, *a)))
        .collect();
    let now = now_epoch();
    let group = &group;
    let found: Vec<Result<(String, Action, Option<String>)>> = stream::iter(wanted)
        .map(|(user, action)| async move {
            let s = scheduler::get(ctx, group, &user, action).await?;
            Ok((user, action, s.and_then(|s| shown(s, now).next_run)))
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut out: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for f in found {
        let (user, action, next) = f?;
        let entry = out.entry(user).or_default();
        match action {
            Action::Start => entry.0 = next,
            Action::Stop => entry.1 = next,
        }
    }
    Ok(out)
}

/// A user's schedules as `status` shows them (none without a group).
pub async fn of_user(ctx: &Context, user: &str) -> Result<Vec<Shown>> {
    read_user(ctx, &ctx.names.schedule_group(), user).await
}

/// The deployment default the group's tags hold, or None (no default, or no group).
pub async fn deployment_default(ctx: &Context) -> Result<Option<DeploymentDefault>> {
    let group = ctx.names.schedule_group();
    Ok(scheduler::group(ctx, &group).await?.and_then(|(_, tags)| DeploymentDefault::from_tags(&tags)))
}

/// A notebook just vended (`provision`, or `watch` for a provision made elsewhere) gets the
/// deployment's default unless its owner has their own. The notebook is there and its URL stored
/// whatever happens here: a failure is a warning naming the command that applies it later.
pub async fn give_new_notebook_the_default(ctx: &Context, user: &str) {
    let given = async {
        let Some(default) = deployment_default(ctx).await? else { return Ok(Vec::new()) };
        let role = role_arn(ctx).await?;
        apply_default(ctx, &default, user, &role).await
    };
    match given.await {
        Ok(written) if !written.is_empty() => {
            ctx.progress.line(format!("deployment default schedule: {}", written.join(", ")))
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(
            "{user}'s notebook did not get the deployment's default schedule ({e:#}); `notebook-vend bootstrap` applies it"
        ),
    }
}

/// Give `user`'s notebook the deployment default wherever its owner has set nothing of their own:
/// a missing or outdated default schedule is written, one the default no longer has is deleted.
/// Returns the schedules written or deleted (none when everything already matches).
pub async fn apply_default(ctx: &Context, default: &DeploymentDefault, user: &str, role: &str) -> Result<Vec<String>> {
    let group = ctx.names.schedule_group();
    let nb = user::notebook_name(user);
    let mut changed = Vec::new();
    for action in Action::BOTH {
        let current = scheduler::get(ctx, &group, user, action).await?;
        if current.as_ref().is_some_and(|s| s.origin == Origin::Own) {
            continue;
        }
        match default.expression(action) {
            Some(expression) => {
                let same = current.as_ref().is_some_and(|s| {
                    s.expression == expression && s.timezone == default.timezone && s.notebook.as_deref() == Some(&nb)
                });
                if !same {
                    let timezone = &default.timezone;
                    let spec = Spec { expression, timezone, notebook: &nb, role_arn: role, origin: Origin::Default };
                    scheduler::put(ctx, &group, user, action, &spec).await?;
                    changed.push(scheduler::schedule_name(user, action));
                }
            }
            None if current.is_some() => {
                scheduler::delete(ctx, &group, user, action).await?;
                changed.push(scheduler::schedule_name(user, action));
            }
            None => {}
        }
    }
    Ok(changed)
}
