//! CloudTrail: the ProvisionProduct calls `watch --cloudtrail` reads. The only module that calls the
//! CloudTrail client.

use std::time::SystemTime;

use anyhow::Result;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_smithy_types::DateTime;

use crate::aws::context::Context;
use crate::error::AwsResultExt;

/// LookupEvents allows 2 calls per second per account (CloudTrail API reference, LookupEvents):
/// read a bounded number of pages per poll.
const MAX_PAGES: usize = 20;

/// One CloudTrail event: its id and the raw `CloudTrailEvent` JSON.
pub struct Event {
    pub id: String,
    pub raw: Option<String>,
}

/// ProvisionProduct events since `since`, newest first, at most [`MAX_PAGES`] pages of 50.
pub async fn provision_product_events(ctx: &Context, since: SystemTime) -> Result<Vec<Event>> {
    let mut pages = ctx
        .cloudtrail
        .lookup_events()
        .lookup_attributes(
            LookupAttribute::builder()
                .attribute_key(LookupAttributeKey::EventName)
                .attribute_value("ProvisionProduct")
                .build()?,
        )
        .start_time(DateTime::from(since))
        .max_results(50)
        .into_paginator()
        .send();
    let mut events = Vec::new();
    for _ in 0..MAX_PAGES {
        let Some(page) = pages.next().await else { break };
        let out = page.aws(|| "looking up ProvisionProduct events in CloudTrail")?;
        events.extend(out.events().iter().filter_map(|ev| {
            ev.event_id().map(|id| Event { id: id.to_owned(), raw: ev.cloud_trail_event().map(str::to_owned) })
        }));
    }
    Ok(events)
}
