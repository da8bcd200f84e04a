//! `--event`: one EventBridge event, SageMaker's own notebook state change (state.rs) or a
//! CloudTrail ProvisionProduct call in the shape the blog's rule delivered; the parser of
//! CloudTrail records shared with `--cloudtrail`; [`on_event`], which the Lambda function calls too.

use anyhow::{anyhow, Context as _, Result};
use serde::Serialize;
use serde_json::Value;

use super::state::{self, StateHandled, StateOutcome};
use super::{emit, handle, Handled, Outcome, Work};
use crate::aws::catalog::{self, Product};
use crate::aws::context::Context;
use crate::cli::WatchArgs;
use crate::error::{usage, Failure};
use crate::names::user;

/// A CloudTrail ProvisionProduct call, read by key.
#[derive(Debug)]
pub(super) struct ProvisionCall {
    pub(super) product_id: Option<String>,
    pub(super) product_name: Option<String>,
    /// `NotebookUserName` from the provisioning parameters, or why there is none.
    pub(super) user: std::result::Result<String, String>,
    /// A NotebookUserName value was given and is not a valid user name (not merely absent).
    pub(super) user_invalid: bool,
    pub(super) record_id: Option<String>,
    pub(super) provisioned_product: Option<String>,
    /// `errorCode: errorMessage` when the API call itself failed.
    pub(super) error: Option<String>,
}

impl ProvisionCall {
    pub(super) fn is_for(&self, product: &Product) -> bool {
        match (&self.product_id, &self.product_name) {
            (Some(id), _) => *id == product.id,
            (None, Some(name)) => *name == product.name,
            (None, None) => false,
        }
    }
}

#[derive(Debug)]
pub(super) enum Parsed {
    Call(ProvisionCall),
    /// A well-formed event that is not a ProvisionProduct call: why.
    Ignore(String),
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// An EventBridge event as the blog's rule delivers it; `Err` names what is malformed.
fn parse_event(ev: &Value) -> std::result::Result<Parsed, String> {
    if !ev.is_object() {
        return Err("the event is not a JSON object".into());
    }
    let detail_type = str_at(ev, "detail-type").ok_or("no \"detail-type\" string")?;
    if detail_type != "AWS API Call via CloudTrail" {
        return Ok(Parsed::Ignore(format!("detail-type {detail_type:?} is not \"AWS API Call via CloudTrail\"")));
    }
    let source = str_at(ev, "source").ok_or("no \"source\" string")?;
    if source != "aws.servicecatalog" {
        return Ok(Parsed::Ignore(format!("source {source:?} is not \"aws.servicecatalog\"")));
    }
    parse_detail(ev.get("detail").ok_or("no \"detail\" object")?)
}

/// A CloudTrail record (an EventBridge event's `detail`, or LookupEvents' `CloudTrailEvent`).
pub(super) fn parse_detail(d: &Value) -> std::result::Result<Parsed, String> {
    if !d.is_object() {
        return Err("\"detail\" is not an object".into());
    }
    if let Some(source) = str_at(d, "eventSource").filter(|s| *s != "servicecatalog.amazonaws.com") {
        return Ok(Parsed::Ignore(format!("detail.eventSource {source:?} is not servicecatalog.amazonaws.com")));
    }
    let name = str_at(d, "eventName").ok_or("no detail.eventName string")?;
    if name != "ProvisionProduct" {
        return Ok(Parsed::Ignore(format!("event {name} is not a ProvisionProduct call")));
    }
    let req = d.get("requestParameters").filter(|r| r.is_object()).ok_or("no detail.requestParameters object")?;
    let product_id = str_at(req, "productId").map(str::to_owned);
    let product_name = str_at(req, "productName").map(str::to_owned);
    if product_id.is_none() && product_name.is_none() {
        return Err("detail.requestParameters has neither productId nor productName".into());
    }
    let error = str_at(d, "errorCode").map(|c| format!("{c}: {}", str_at(d, "errorMessage").unwrap_or("no message")));
    let mut user_invalid = false;
    let user = match req.get("provisioningParameters") {
        None | Some(Value::Null) => Err("detail.requestParameters has no provisioningParameters".to_owned()),
        Some(Value::Array(items)) => {
            let mut user =
                Err("detail.requestParameters.provisioningParameters has no NotebookUserName key".to_owned());
            for (i, item) in items.iter().enumerate() {
                let key = str_at(item, "key").ok_or_else(|| {
                    format!(
                        "detail.requestParameters.provisioningParameters[{i}] is not a {{\"key\", \"value\"}} object"
                    )
                })?;
                if key == "NotebookUserName" {
                    user = match str_at(item, "value") {
                        Some(v) => user::validate_user(v).map(|()| v.to_owned()).inspect_err(|_| user_invalid = true),
                        None => Err(format!("detail.requestParameters.provisioningParameters[{i}] (NotebookUserName) has no string value")),
                    };
                }
            }
            user
        }
        Some(_) => return Err("detail.requestParameters.provisioningParameters is not a list".into()),
    };
    let record_id = d
        .get("responseElements")
        .and_then(|r| r.get("recordDetail"))
        .and_then(|r| str_at(r, "recordId"))
        .map(str::to_owned);
    if record_id.is_none() && error.is_none() {
        return Err("no detail.responseElements.recordDetail.recordId (and no errorCode)".into());
    }
    Ok(Parsed::Call(ProvisionCall {
        product_id,
        product_name,
        user,
        user_invalid,
        record_id,
        provisioned_product: str_at(req, "provisionedProductName").map(str::to_owned),
        error,
    }))
}

/// The largest event read: EventBridge's limit on an event entry is 256 KB ("The maximum size for
/// a PutEvents event entry is 256 KB", EventBridge API reference, PutEvents; the user guide's
/// "Calculating PutEvents event entry size"), and the delivered event adds its envelope (id,
/// account, time, region, resources) to that: 8 KiB of headroom for it. More is not an event the
/// rule could have delivered, and is not read further (stdin may be endless).
pub const MAX_EVENT_BYTES: u64 = 256 * 1024 + 8 * 1024;

/// The event's text, at most [`MAX_EVENT_BYTES`] read from stdin (`-`) or the file.
async fn read_event(source: &str) -> Result<String> {
    use tokio::io::AsyncReadExt as _;
    let what = if source == "-" { "the event on stdin".to_owned() } else { format!("event file {source}") };
    let mut bytes = Vec::new();
    let read = if source == "-" {
        tokio::io::stdin().take(MAX_EVENT_BYTES + 1).read_to_end(&mut bytes).await
    } else {
        match tokio::fs::File::open(source).await {
            Ok(f) => f.take(MAX_EVENT_BYTES + 1).read_to_end(&mut bytes).await,
            Err(e) => Err(e),
        }
    };
    read.map_err(|e| usage(format!("cannot read {what}: {e}")))?;
    if bytes.len() as u64 > MAX_EVENT_BYTES {
        return Err(usage(format!(
            "{what} is over {MAX_EVENT_BYTES} bytes (EventBridge events are at most 256 KB plus their envelope)"
        )));
    }
    String::from_utf8(bytes).map_err(|_| usage(format!("{what} is not UTF-8 text")))
}

/// What one EventBridge event led to: `watch --event` prints it, the Lambda function answers it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum EventAnswer {
    /// A ProvisionProduct call of this product (its outcome may be `failed`).
    Provision(Handled),
    /// A SageMaker notebook state change.
    State(StateHandled),
    /// Not an event this handler acts on (another event, another product): why.
    Ignored { result: &'static str, reason: String },
}

impl EventAnswer {
    fn ignored(reason: String) -> Self {
        EventAnswer::Ignored { result: "ignored", reason }
    }

    /// Why the event counts as failed (Lambda answers an error, `watch --event` exits 1), if it does.
    pub fn failure(&self) -> Option<String> {
        match self {
            EventAnswer::Provision(h) if h.result == Outcome::Failed => Some(format!(
                "record {} of user {}: {}",
                if h.record_id.is_empty() { "(none)" } else { &h.record_id },
                h.user.as_deref().unwrap_or("?"),
                h.reason.as_deref().unwrap_or("failed")
            )),
            _ => None,
        }
    }
}

pub(super) async fn run(args: &WatchArgs, ctx: &Context, source: &str) -> Result<()> {
    let text = read_event(source).await?;
    let what = if source == "-" { "the event on stdin".to_owned() } else { format!("event {source}") };
    let value: Value = serde_json::from_str(&text).map_err(|e| usage(format!("{what} is not JSON: {e}")))?;
    let answer = tokio::select! {
        answer = on_event(args, ctx, &value, &what) => answer?,
        signal = crate::cmd::shared::signal::shutdown_signal() => {
            return Err(Failure::Interrupted(format!("interrupted by {signal}: nothing was stored; run the same command again")).into());
        }
    };
    match &answer {
        EventAnswer::Ignored { reason, .. } => ctx.progress.line(format!("watch: ignored {what}: {reason}")),
        EventAnswer::Provision(h) if h.result == Outcome::Ignored => {
            ctx.progress.line(format!("watch: ignored {what}: {}", h.reason.as_deref().unwrap_or("")))
        }
        EventAnswer::State(h) if h.result == StateOutcome::Ignored => {
            ctx.progress.line(format!("watch: ignored {what}: {}", h.reason.as_deref().unwrap_or("")))
        }
        EventAnswer::Provision(h) => emit(ctx.output, h),
        EventAnswer::State(h) => emit(ctx.output, h),
    }
    match answer.failure() {
        Some(why) => Err(anyhow!("{why}")).with_context(|| format!("handling {what}")),
        None => Ok(()),
    }
}

/// One EventBridge event, as JSON: a SageMaker notebook state change (state.rs) or a CloudTrail
/// ProvisionProduct call in the shape the blog's rule delivered. `what` names it in messages. A
/// malformed event is a usage error (nothing was sent); an AWS failure is an error; a provision
/// that failed is an answer whose [`EventAnswer::failure`] says why.
pub async fn on_event(args: &WatchArgs, ctx: &Context, value: &Value, what: &str) -> Result<EventAnswer> {
    if state::is_state_change(value) {
        let change = state::parse(value).map_err(|e| usage(format!("malformed {what}: {e}")))?;
        tracing::info!(notebook = %change.notebook, status = %change.status, "handling {what}");
        return Ok(EventAnswer::State(state::handle(args, ctx, &change).await?));
    }
    let call = match parse_event(value).map_err(|e| usage(format!("malformed {what}: {e}")))? {
        Parsed::Call(call) => call,
        Parsed::Ignore(why) => return Ok(EventAnswer::ignored(why)),
    };
    // A user name no product of ours accepts is bad input, refused before any request (which
    // product the call was for does not matter). A call without the key may be another product's.
    if call.error.is_none() && call.user_invalid {
        if let Err(e) = &call.user {
            return Err(usage(format!("malformed {what}: {e}")));
        }
    }
    let product = catalog::resolve_product(ctx).await?;
    if !call.is_for(&product) {
        let other = call.product_id.as_deref().or(call.product_name.as_deref()).unwrap_or("?");
        return Ok(EventAnswer::ignored(format!(
            "a provision of product {other}, not {} ({})",
            product.name, product.id
        )));
    }
    let work = Work {
        record_id: call.record_id.clone().unwrap_or_default(),
        provisioned_product: call.provisioned_product.clone().unwrap_or_default(),
        user_hint: call.user.as_ref().ok().cloned(),
        known: None,
        check_cursor: true,
        restarted: false,
    };
    if let Some(error) = &call.error {
        return Ok(EventAnswer::Provision(Handled::new(
            Outcome::Failed,
            &work,
            work.user_hint.clone(),
            Some(format!("the ProvisionProduct call failed: {error}")),
        )));
    }
    let user = call.user.map_err(|e| usage(format!("malformed {what}: {e}")))?;
    tracing::info!(user, record = %work.record_id, "handling {what}");
    Ok(EventAnswer::Provision(handle(ctx, args, &product, work).await))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(detail: Value) -> Value {
        json!({"version": "0", "id": "e", "detail-type": "AWS API Call via CloudTrail", "source": "aws.servicecatalog",
               "account": "123456789012", "region": "us-east-1", "resources": [], "detail": detail})
    }

    fn provision(params: Value) -> Value {
        json!({"eventSource": "servicecatalog.amazonaws.com", "eventName": "ProvisionProduct",
               "requestParameters": {"productId": "prod-1", "provisionedProductName": "bob-Notebook", "provisioningParameters": params},
               "responseElements": {"recordDetail": {"recordId": "rec-1"}}})
    }

    #[test]
    fn reads_the_user_by_key_not_position() {
        let params = json!([{"key": "NotebookInstanceType", "value": "ml.t3.medium"},
                            {"key": "S3IAMConfigStackName", "value": "s3-iam-config"},
                            {"key": "NotebookUserName", "value": "bob"}]);
        let Parsed::Call(c) = parse_event(&event(provision(params))).unwrap() else { panic!("not a call") };
        assert_eq!(c.user, Ok("bob".into()));
        assert_eq!(c.record_id.as_deref(), Some("rec-1"));
        assert_eq!(c.product_id.as_deref(), Some("prod-1"));
    }

    #[test]
    fn ignores_other_events() {
        let mut d = provision(json!([]));
        d["eventName"] = json!("TerminateProvisionedProduct");
        assert!(
            matches!(parse_event(&event(d)).unwrap(), Parsed::Ignore(m) if m.contains("TerminateProvisionedProduct"))
        );
        let mut ev = event(provision(json!([])));
        ev["detail-type"] = json!("SageMaker Notebook Instance State Change");
        assert!(matches!(parse_event(&ev).unwrap(), Parsed::Ignore(_)));
    }

    #[test]
    fn names_what_is_malformed() {
        assert!(parse_event(&json!([])).unwrap_err().contains("not a JSON object"));
        let mut ev = event(provision(json!([])));
        ev.as_object_mut().unwrap().remove("detail");
        assert!(parse_event(&ev).unwrap_err().contains("detail"));
        assert!(parse_event(&event(provision(json!({"a": 1})))).unwrap_err().contains("not a list"));
        assert!(parse_event(&event(provision(json!(["x"])))).unwrap_err().contains("provisioningParameters[0]"));
        let mut d = provision(json!([]));
        d["responseElements"] = Value::Null;
        assert!(parse_event(&event(d)).unwrap_err().contains("recordId"));
        // No NotebookUserName, or an invalid one: reported once the product is known to be ours.
        let Parsed::Call(c) = parse_event(&event(provision(json!([])))).unwrap() else { panic!() };
        assert!(c.user.unwrap_err().contains("NotebookUserName"));
        let Parsed::Call(c) =
            parse_event(&event(provision(json!([{"key": "NotebookUserName", "value": "../x"}])))).unwrap()
        else {
            panic!()
        };
        assert!(c.user.is_err());
    }

    #[test]
    fn a_failed_call_has_no_record() {
        let mut d = provision(json!([{"key": "NotebookUserName", "value": "bob"}]));
        d["responseElements"] = Value::Null;
        d["errorCode"] = json!("InvalidParametersException");
        d["errorMessage"] = json!("bad");
        let Parsed::Call(c) = parse_event(&event(d)).unwrap() else { panic!() };
        assert_eq!(c.error.as_deref(), Some("InvalidParametersException: bad"));
    }
}
