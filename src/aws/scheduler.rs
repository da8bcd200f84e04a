//! EventBridge Scheduler: the deployment's schedule group and each user's start/stop schedules.
//!
//! A schedule is a universal target (Scheduler user guide, "Using universal targets"): Scheduler
//! itself calls `sagemaker:StartNotebookInstance` / `StopNotebookInstance` with the input
//! `{"NotebookInstanceName": "<user>-Notebook"}`, as the deployment's execution role
//! (`<s3 stack>-scheduler`, templates/s3-iam-config.yml), so nothing of ours runs at 8:00.
//! Names (names/deployment.rs): group `<s3 stack>-schedules`, schedules `<user>-start` and `<user>-stop` (botocore
//! `scheduler`: Name and ScheduleGroupName 1..=64 of `[0-9a-zA-Z-_.]`; a user has at most 54
//! characters, so `<user>-start` fits).

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, ScheduleState, Tag, Target};
use serde::Serialize;

use crate::aws::context::Context;
use crate::error::{has_code, AwsResultExt};

/// What a schedule does to the notebook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Start,
    Stop,
}

impl Action {
    pub const BOTH: [Action; 2] = [Action::Start, Action::Stop];

    pub fn word(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
        }
    }

    /// The universal target (Scheduler user guide: `arn:aws:scheduler:::aws-sdk:<service>:<apiAction>`,
    /// the action in camel case).
    pub fn target_arn(self) -> &'static str {
        match self {
            Action::Start => "arn:aws:scheduler:::aws-sdk:sagemaker:startNotebookInstance",
            Action::Stop => "arn:aws:scheduler:::aws-sdk:sagemaker:stopNotebookInstance",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// Who made a schedule: its owner (`schedule set`) or the deployment's default (`bootstrap
/// --default-*`). Kept in the schedule's Description, which Scheduler stores as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Own,
    Default,
}

const OWN: &str = "notebook-vend: set by its owner";
const DEFAULT: &str = "notebook-vend: deployment default";

pub fn schedule_name(user: &str, action: Action) -> String {
    crate::names::user::schedule_name(user, action.word())
}

/// Tags of the group that hold the deployment default (Scheduler tags: key 1..=128, value 1..=256
/// characters, botocore TagKey/TagValue; an expression has at most 256).
pub const TAG_DEFAULT_START: &str = "notebook-vend:default-start";
pub const TAG_DEFAULT_STOP: &str = "notebook-vend:default-stop";
pub const TAG_DEFAULT_TZ: &str = "notebook-vend:default-tz";

/// One schedule as Scheduler answers it.
#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub name: String,
    pub action: Action,
    pub expression: String,
    pub timezone: String,
    pub state: String,
    pub notebook: Option<String>,
    pub role_arn: Option<String>,
    pub origin: Origin,
    /// When a rate schedule started counting (StartDate, else CreationDate), epoch seconds.
    #[serde(skip)]
    pub started_epoch: Option<i64>,
}

/// What to write.
pub struct Spec<'a> {
    pub expression: &'a str,
    pub timezone: &'a str,
    pub notebook: &'a str,
    pub role_arn: &'a str,
    pub origin: Origin,
}

/// GetSchedule, or None when there is no such schedule.
pub async fn get(ctx: &Context, group: &str, user: &str, action: Action) -> Result<Option<Schedule>> {
    let name = schedule_name(user, action);
    let out = ctx.scheduler.get_schedule().group_name(group).name(&name).send().await;
    match out.aws(|| format!("reading schedule {name} in group {group}")) {
        Ok(o) => {
            let target = o.target();
            let notebook = target
                .and_then(|t| t.input())
                .and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok())
                .and_then(|v| v["NotebookInstanceName"].as_str().map(str::to_owned));
            Ok(Some(Schedule {
                name,
                action,
                expression: o.schedule_expression().unwrap_or_default().to_owned(),
                timezone: o.schedule_expression_timezone().unwrap_or("UTC").to_owned(),
                state: o.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                notebook,
                role_arn: target.map(|t| t.role_arn().to_owned()),
                origin: if o.description() == Some(DEFAULT) { Origin::Default } else { Origin::Own },
                started_epoch: o.start_date().or(o.creation_date()).map(|d| d.secs()),
            }))
        }
        Err(e) if has_code(&e, &["ResourceNotFoundException"]) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Create the schedule, or update it when it exists (ConflictException): the result is the same
/// whether or not a run before was interrupted.
pub async fn put(ctx: &Context, group: &str, user: &str, action: Action, spec: &Spec<'_>) -> Result<()> {
    let name = schedule_name(user, action);
    let input = serde_json::json!({ "NotebookInstanceName": spec.notebook }).to_string();
    // A start or stop that could not run within the hour is dropped rather than retried for a day
    // (Scheduler's default RetryPolicy: 24 hours, 185 attempts): a notebook started at night
    // because 8:00's start kept failing is the cost this feature exists to avoid.
    let retry = RetryPolicy::builder().maximum_event_age_in_seconds(3600).maximum_retry_attempts(10).build();
    let target = Target::builder()
        .arn(action.target_arn())
        .role_arn(spec.role_arn)
        .input(input)
        .retry_policy(retry)
        .build()
        .context("building the schedule target")?;
    let window = FlexibleTimeWindow::builder()
        .mode(FlexibleTimeWindowMode::Off)
        .build()
        .context("building the schedule time window")?;
    let description = match spec.origin {
        Origin::Own => OWN,
        Origin::Default => DEFAULT,
    };
    let created = ctx
        .scheduler
        .create_schedule()
        .group_name(group)
        .name(&name)
        .schedule_expression(spec.expression)
        .schedule_expression_timezone(spec.timezone)
        .description(description)
        .state(ScheduleState::Enabled)
        .target(target.clone())
        .flexible_time_window(window.clone())
        .send()
        .await
        .aws(|| format!("creating schedule {name} in group {group}"));
    match created {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, &["ConflictException"]) => {
            ctx.scheduler
                .update_schedule()
                .group_name(group)
                .name(&name)
                .schedule_expression(spec.expression)
                .schedule_expression_timezone(spec.timezone)
                .description(description)
                .state(ScheduleState::Enabled)
                .target(target)
                .flexible_time_window(window)
                .send()
                .await
                .aws(|| format!("updating schedule {name} in group {group}"))?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// DeleteSchedule; false when there was none.
pub async fn delete(ctx: &Context, group: &str, user: &str, action: Action) -> Result<bool> {
    let name = schedule_name(user, action);
    let out = ctx.scheduler.delete_schedule().group_name(group).name(&name).send().await;
    match out.aws(|| format!("deleting schedule {name} in group {group}")) {
        Ok(_) => Ok(true),
        Err(e) if has_code(&e, &["ResourceNotFoundException"]) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The names of every schedule in the group (ListSchedules, paginated), or None without the group.
pub async fn list_names(ctx: &Context, group: &str) -> Result<Option<Vec<String>>> {
    let pages: Result<Vec<_>, _> =
        ctx.scheduler.list_schedules().group_name(group).into_paginator().send().try_collect().await;
    match pages.aws(|| format!("listing the schedules of group {group}")) {
        Ok(pages) => {
            Ok(Some(pages.iter().flat_map(|p| p.schedules()).filter_map(|s| s.name().map(str::to_owned)).collect()))
        }
        Err(e) if has_code(&e, &["ResourceNotFoundException"]) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The group's ARN and tags, or None when the group does not exist.
pub async fn group(ctx: &Context, group: &str) -> Result<Option<(String, BTreeMap<String, String>)>> {
    let out = ctx.scheduler.get_schedule_group().name(group).send().await;
    let arn = match out.aws(|| format!("reading schedule group {group}")) {
        Ok(o) => o.arn().unwrap_or_default().to_owned(),
        Err(e) if has_code(&e, &["ResourceNotFoundException"]) => return Ok(None),
        Err(e) => return Err(e),
    };
    let tags = ctx
        .scheduler
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .aws(|| format!("reading the tags of schedule group {group}"))?;
    let tags = tags.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
    Ok(Some((arn, tags)))
}

fn tag_list(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().context("building a schedule group tag")).collect()
}

/// Create the group with these tags, or (when it exists) set them on it; returns its ARN.
pub async fn ensure_group(ctx: &Context, group: &str, tags: &BTreeMap<String, String>) -> Result<String> {
    let created = ctx.scheduler.create_schedule_group().name(group).set_tags(Some(tag_list(tags)?)).send().await;
    match created.aws(|| format!("creating schedule group {group}")) {
        Ok(o) => Ok(o.schedule_group_arn().to_owned()),
        Err(e) if has_code(&e, &["ConflictException"]) => {
            let (arn, _) =
                self::group(ctx, group).await?.with_context(|| format!("schedule group {group} vanished"))?;
            ctx.scheduler
                .tag_resource()
                .resource_arn(&arn)
                .set_tags(Some(tag_list(tags)?))
                .send()
                .await
                .aws(|| format!("tagging schedule group {group}"))?;
            Ok(arn)
        }
        Err(e) => Err(e),
    }
}

/// Remove tags from the group (the default it no longer has).
pub async fn untag_group(ctx: &Context, arn: &str, group: &str, keys: &[&str]) -> Result<()> {
    ctx.scheduler
        .untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.iter().map(|k| (*k).to_owned()).collect()))
        .send()
        .await
        .aws(|| format!("removing tags from schedule group {group}"))?;
    Ok(())
}

/// DeleteScheduleGroup (Scheduler deletes the group's schedules with it); false when there was none.
pub async fn delete_group(ctx: &Context, group: &str) -> Result<bool> {
    let out = ctx.scheduler.delete_schedule_group().name(group).send().await;
    match out.aws(|| format!("deleting schedule group {group}")) {
        Ok(_) => Ok(true),
        Err(e) if has_code(&e, &["ResourceNotFoundException"]) => Ok(false),
        Err(e) => Err(e),
    }
}
