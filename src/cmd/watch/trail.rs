//! `--cloudtrail`: ProvisionProduct calls from CloudTrail LookupEvents, which carry the user given
//! at launch and speed up discovery (the scan still finds everything).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use super::event::{parse_detail, Parsed};
use super::Work;
use crate::aws::catalog::Product;
use crate::aws::context::Context;
use crate::aws::trail;

/// CloudTrail delivers events to LookupEvents minutes late: each poll looks back this far
/// (events already seen are skipped by id).
const TRAIL_OVERLAP: Duration = Duration::from_secs(20 * 60);
/// First CloudTrail poll: provisions of the last day.
const TRAIL_LOOKBACK: Duration = Duration::from_secs(24 * 3600);

pub(super) struct Trail {
    since: std::time::SystemTime,
    seen: HashMap<String, std::time::SystemTime>,
}

impl Trail {
    pub(super) fn new() -> Self {
        Trail { since: std::time::SystemTime::now() - TRAIL_LOOKBACK, seen: HashMap::new() }
    }

    /// New ProvisionProduct events of this product since the last poll.
    pub(super) async fn poll(&mut self, ctx: &Context, product: &Product) -> Result<Vec<Work>> {
        let started = std::time::SystemTime::now();
        let mut works = Vec::new();
        for ev in trail::provision_product_events(ctx, self.since).await? {
            let id = ev.id.as_str();
            if self.seen.contains_key(id) {
                continue;
            }
            self.seen.insert(id.to_owned(), started);
            let Some(raw) = ev.raw.as_deref() else { continue };
            let parsed = serde_json::from_str::<Value>(raw).map_err(|e| e.to_string()).and_then(|d| parse_detail(&d));
            match parsed {
                Ok(Parsed::Call(call)) if call.is_for(product) && call.error.is_none() => {
                    let Some(record_id) = call.record_id else { continue };
                    works.push(Work {
                        record_id,
                        provisioned_product: call.provisioned_product.unwrap_or_default(),
                        user_hint: call.user.ok(),
                        known: None,
                        check_cursor: true,
                        restarted: false,
                    });
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(event = id, "unreadable CloudTrail event: {e}"),
            }
        }
        self.since = started - TRAIL_OVERLAP;
        let horizon = self.since;
        self.seen.retain(|_, at| *at >= horizon - TRAIL_OVERLAP);
        Ok(works)
    }
}
