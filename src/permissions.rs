//! The one table of AWS calls each command makes, and the IAM permission each needs. `policy`
//! prints a role's least-privilege policy from it; the tests check it against the code: a unit
//! test finds every SDK call in src/ in the table, and an end-to-end test runs the commands
//! against the sandbox and requires every operation in its request log to be in the table for
//! that command.
//!
//! Roles:
//! - end-user: a data scientist's own notebook (provision, refresh --user, url, status, stop,
//!   start, update --user, terminate). Service Catalog calls on provisioned products and records are limited to
//!   the caller's own with `servicecatalog:userLevel = self`, as in AWS's managed policy
//!   AWSServiceCatalogEndUserFullAccess (Service Catalog admin guide, "Example policies for
//!   managing provisioned products").
//! - operator: everyone's notebooks (list, refresh --all, update --all, watch, cull, serve) and the per-user
//!   commands for any user: account-level access.
//! - bootstrap: deploys and removes the deployment (bootstrap, teardown, doctor), including what
//!   CloudFormation does with the caller's credentials for the resources of the two templates.

use serde::Serialize;
use serde_json::{json, Value};

use crate::names::deployment::Names;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// A data scientist with their own notebook
    EndUser,
    /// Runs the account-wide commands for every user's notebook
    Operator,
    /// Deploys, checks and removes the deployment
    Bootstrap,
    /// Held beside `bootstrap` by whoever deploys or removes serverless mode (`bootstrap
    /// --serverless`, `teardown` of a deployment that has it): what CloudFormation does with the
    /// caller's credentials for the functions, rule, queue and URL. A policy of its own because IAM
    /// caps a managed policy at 6,144 characters and `bootstrap` with these rows is over it.
    Serverless,
}

/// What a permission applies to; rendered into ARNs with the deployment's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Res {
    /// Needs no IAM permission (sts:GetCallerIdentity: "No permissions are required").
    NoPermission,
    /// The action has no resource-level permissions (or its resources are not known before the
    /// call, such as Service Catalog products and records): resource `*`.
    Any,
    /// Service Catalog provisioned products and records, the caller's own for an end user
    /// (`servicecatalog:userLevel = self`); account-wide for operators.
    Provisioned,
    /// The tool's notebook instances, `<user>-Notebook`, in both spellings of the ARN.
    Notebook,
    /// The URL parameters under the deployment's prefix.
    Parameter,
    /// The deployment's two stacks.
    Stacks,
    /// The bootstrap bucket (its name is generated from the s3-iam stack's name) and its objects.
    Bucket,
    /// IAM roles: the notebook role, the launch role and (GetRole) the caller's own role.
    Roles,
    /// The stacks Service Catalog launches for provisioned products (`SC-<account>-pp-<id>`): their
    /// `NotebookUserName` parameter names a notebook's user (Service Catalog returns no parameters).
    ProductStacks,
    /// Customer managed IAM policies: the blog sample's eight fixed-name ones, deleted by
    /// CloudFormation when `bootstrap --adopt` takes its deployment over.
    ManagedPolicies,
    /// The blog sample's two roles, kept by `bootstrap --adopt` under their own names (the sample's
    /// `SageMakerNotebookInstanceRoleName` default and its fixed `service-role/ServiceCatalogExecutionRole`)
    /// and updated in place by CloudFormation with the caller's credentials.
    AdoptedRoles,
    /// The log group the blog sample's catalog stack declares (`<stack>-NotebookCloudWatchLogGroup-*`,
    /// a name CloudFormation generates), kept by `bootstrap --adopt` and deleted by `teardown`; and
    /// serverless mode's two (`<catalog stack>-serverless-watch|serve`, named by the template).
    LogGroups,
    /// The user's own start/stop schedules in the deployment's schedule group: an end user's are
    /// `<group>/${aws:username}-*` (the schedule is named after the notebook's user, which is the
    /// caller's IAM user name when users sign in as IAM users); an operator's, every schedule of the group.
    Schedules,
    /// The deployment's schedule group (`<s3 stack>-schedules`).
    ScheduleGroup,
    /// The Scheduler execution role the s3-iam stack declares (`<s3 stack>-scheduler`), passed to
    /// Scheduler by CreateSchedule/UpdateSchedule (Scheduler user guide, "Set up the execution role":
    /// the caller needs iam:PassRole on it).
    SchedulerRole,
    /// Serverless mode's functions (`<stack>-watch`/`-serve`, named by the template), on-failure
    /// queue and rule (CloudFormation generates `<stack>-FailureQueue-*`, `<stack>-StateChangeRule-*`),
    /// `<stack>` the serverless stack: one statement, each action authorized on one of the three.
    /// (Its log groups, `<stack>-watch|serve`, are among `LogGroups`.)
    Serverless,
    /// The functions' execution roles, passed to Lambda only (iam:PassedToService).
    FunctionRoles,
    /// The IAM user or group `bootstrap --principal` names: CloudFormation's
    /// PortfolioPrincipalAssociation handler reads it (handlers.create/delete: iam:GetUser, iam:GetGroup).
    Principals,
}

/// One AWS call as the sandbox's request log names it (`operation`) and the IAM action it needs.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub operation: &'static str,
    pub action: &'static str,
    pub resource: Res,
}

const fn c(operation: &'static str, action: &'static str, resource: Res) -> Call {
    Call { operation, action, resource }
}

/// Permissions CloudFormation uses with the caller's credentials for a template's resources are
/// marked by an empty operation: the tool does not send them itself (CloudFormation resource
/// provider schemas of each type, `handlers.create/update/delete.permissions`).
const fn cfn(action: &'static str, resource: Res) -> Call {
    Call { operation: "", action, resource }
}

pub struct CommandCalls {
    pub command: &'static str,
    pub role: Role,
    /// The calls in groups, so that a sequence several commands share (RESOLVE, DELIVER) is
    /// written once; [`CommandCalls::calls`] flattens them.
    pub groups: &'static [&'static [Call]],
}

impl CommandCalls {
    /// Every call of the command, its groups flattened.
    pub fn calls(&self) -> impl Iterator<Item = &'static Call> {
        self.groups.iter().flat_map(|g| g.iter())
    }
}

use Res::*;

const IDENTITY: Call = c("GetCallerIdentity", "sts:GetCallerIdentity", NoPermission);
const SEARCH_PRODUCTS: Call = c("SearchProducts", "servicecatalog:SearchProducts", Any);
const DESCRIBE_PRODUCT: Call = c("DescribeProduct", "servicecatalog:DescribeProduct", Any);
const DESCRIBE_PP: Call = c("DescribeProvisionedProduct", "servicecatalog:DescribeProvisionedProduct", Provisioned);
const SEARCH_PP: Call = c("SearchProvisionedProducts", "servicecatalog:SearchProvisionedProducts", Provisioned);
const DESCRIBE_RECORD: Call = c("DescribeRecord", "servicecatalog:DescribeRecord", Provisioned);
const TERMINATE_PP: Call = c("TerminateProvisionedProduct", "servicecatalog:TerminateProvisionedProduct", Provisioned);
const DESCRIBE_NB: Call = c("DescribeNotebookInstance", "sagemaker:DescribeNotebookInstance", Notebook);
const PRESIGN: Call = c("CreatePresignedNotebookInstanceUrl", "sagemaker:CreatePresignedNotebookInstanceUrl", Notebook);
const START_NB: Call = c("StartNotebookInstance", "sagemaker:StartNotebookInstance", Notebook);
const STOP_NB: Call = c("StopNotebookInstance", "sagemaker:StopNotebookInstance", Notebook);
// The owner tag of notebooks vended before the product template set it (owner_tags.rs): read, and
// added by operators (watch) and bootstrap --adopt; never an end user's (a user who could tag a
// notebook could give themselves anyone's).
const LIST_TAGS_NB: Call = c("ListTags", "sagemaker:ListTags", Notebook);
// No resource-level permissions (Service Authorization Reference, SageMaker: ListNotebookInstances
// on "*"): the notebooks' states and ARNs in pages of 100.
const LIST_NB: Call = c("ListNotebookInstances", "sagemaker:ListNotebookInstances", Any);
const TAG_NB: Call = c("AddTags", "sagemaker:AddTags", Notebook);
// ssm:DescribeParameters has no resource-level permissions (Service Authorization Reference).
const DESCRIBE_PARAMS: Call = c("DescribeParameters", "ssm:DescribeParameters", Any);
const PUT_PARAM: Call = c("PutParameter", "ssm:PutParameter", Parameter);
const TAG_PARAM: Call = c("AddTagsToResource", "ssm:AddTagsToResource", Parameter);
const LIST_TAGS_PARAM: Call = c("ListTagsForResource", "ssm:ListTagsForResource", Parameter);
const GET_PARAM: Call = c("GetParameter", "ssm:GetParameter", Parameter);
const DELETE_PARAM: Call = c("DeleteParameter", "ssm:DeleteParameter", Parameter);
// DeleteParameters is authorized against its own action, not ssm:DeleteParameter (AWS CLI reference,
// `ssm delete-parameter`: "Denying that action alone doesn't restrict DeleteParameters, which is
// authorized against its own action"; Systems Manager user guide, "Restricting access to
// Parameter Store parameters using IAM policies").
const DELETE_PARAMS: Call = c("DeleteParameters", "ssm:DeleteParameters", Parameter);
const DESCRIBE_STACKS: Call = c("DescribeStacks", "cloudformation:DescribeStacks", Stacks);
const STACK_EVENTS: Call = c("DescribeStackEvents", "cloudformation:DescribeStackEvents", Stacks);
const GET_TEMPLATE: Call = c("GetTemplate", "cloudformation:GetTemplate", Stacks);
/// The user of a provisioned product: its stack's `NotebookUserName` parameter.
const PRODUCT_STACK: Call = c("DescribeStacks", "cloudformation:DescribeStacks", ProductStacks);
/// A permission the service checks on the caller for a call the tool sends under another name
/// (iam:PassRole when CreateSchedule/UpdateSchedule hands Scheduler its execution role).
const fn implied(action: &'static str, resource: Res) -> Call {
    Call { operation: "", action, resource }
}
const GET_SCHEDULE: Call = c("GetSchedule", "scheduler:GetSchedule", Schedules);
const DELETE_SCHEDULE: Call = c("DeleteSchedule", "scheduler:DeleteSchedule", Schedules);
const CREATE_SCHEDULE: Call = c("CreateSchedule", "scheduler:CreateSchedule", Schedules);
const UPDATE_SCHEDULE: Call = c("UpdateSchedule", "scheduler:UpdateSchedule", Schedules);
/// The deployment default is kept in the group's tags (cmd/schedule.rs deployment_default).
const GET_GROUP: Call = c("GetScheduleGroup", "scheduler:GetScheduleGroup", ScheduleGroup);
const GROUP_TAGS: Call = c("ListTagsForResource", "scheduler:ListTagsForResource", ScheduleGroup);
/// Giving a notebook the deployment default (cmd/schedule.rs apply_default).
const PASS_SCHEDULER_ROLE: Call = implied("iam:PassRole", SchedulerRole);
const DEFAULT_SCHEDULE: [Call; 7] =
    [GET_GROUP, GROUP_TAGS, GET_SCHEDULE, CREATE_SCHEDULE, UPDATE_SCHEDULE, DELETE_SCHEDULE, PASS_SCHEDULER_ROLE];
// ListSchedules has no resource-level permissions (Service Authorization Reference, EventBridge
// Scheduler: resource "*").
const LIST_SCHEDULES: Call = c("ListSchedules", "scheduler:ListSchedules", Any);
/// The next start and stop of each user (schedule::next_runs): the group's schedules, then each
/// one's expression.
const NEXT_RUNS: [Call; 2] = [LIST_SCHEDULES, GET_SCHEDULE];
// HeadObject is authorized as s3:GetObject.
const HEAD_OBJECT: Call = c("HeadObject", "s3:GetObject", Bucket);

/// What CloudFormation does with the caller's credentials for templates/serverless.yml (`bootstrap
/// --serverless`): the handlers.create/update permissions of each resource type's provider schema
/// (AWS::Lambda::Function, Url, EventInvokeConfig, Permission; AWS::Events::Rule; AWS::SQS::Queue;
/// AWS::Logs::LogGroup; the roles are AWS::IAM::Role, under `Roles`), limited to what the template's
/// properties use: no VPC (ec2:Describe*), no KMS key, no EFS, no layers, no code signing, no
/// runtime management or recursion setting, no published version, no log delivery, and no tag
/// removal (the stack's one tag never changes). The stack's tag is propagated to every taggable
/// resource (TagResource/TagQueue). The function roles are passed to Lambda only.
/// Wildcards name a family of actions (`lambda:*Function`: Create, Delete, Get, Invoke;
/// `events:*Rule`: Describe, Put, Delete, Enable, Disable, ListTargetsBy; `*Targets`) whose
/// every member the Service Authorization Reference authorizes on the same resource type
/// (parliament checks it): the whole `policy bootstrap` must stay within IAM's 6,144-character
/// managed policy. They reach only this stack's own resources.
const SERVERLESS_DEPLOY: &[Call] = &[
    cfn("lambda:*Function", Serverless),
    cfn("lambda:UpdateFunctionCode", Serverless),
    cfn("lambda:UpdateFunctionConfiguration", Serverless),
    cfn("lambda:*FunctionConcurrency", Serverless),
    cfn("lambda:TagResource", Serverless),
    cfn("lambda:*FunctionUrlConfig", Serverless),
    cfn("lambda:*FunctionEventInvokeConfig", Serverless),
    cfn("lambda:AddPermission", Serverless),
    cfn("lambda:RemovePermission", Serverless),
    cfn("iam:PassRole", FunctionRoles),
    // The package is read from the bootstrap bucket with the caller's credentials: s3:GetObject,
    // already granted on `Bucket` (no S3ObjectVersion in the template, so no GetObjectVersion).
    cfn("events:*Rule", Serverless),
    cfn("events:*Targets", Serverless),
    cfn("events:TagResource", Serverless),
    cfn("sqs:CreateQueue", Serverless),
    cfn("sqs:*QueueAttributes", Serverless),
    cfn("sqs:TagQueue", Serverless),
    // The groups are named `<stack>-watch|serve`, under the deployment's `LogGroups`.
    cfn("logs:CreateLogGroup", LogGroups),
    cfn("logs:PutRetentionPolicy", LogGroups),
    cfn("logs:TagResource", LogGroups),
];

/// The delete handlers of the same resource types (teardown; a failed creation rolled back).
const SERVERLESS_DELETE: &[Call] = &[
    cfn("lambda:*Function", Serverless),
    cfn("lambda:*FunctionUrlConfig", Serverless),
    cfn("lambda:*FunctionEventInvokeConfig", Serverless),
    cfn("lambda:RemovePermission", Serverless),
    cfn("events:*Rule", Serverless),
    cfn("events:*Targets", Serverless),
    cfn("sqs:DeleteQueue", Serverless),
    cfn("sqs:*QueueAttributes", Serverless),
    cfn("logs:DeleteLogGroup", LogGroups),
    cfn("logs:DescribeLogGroups", Any),
];

/// Resolve the product and its launch path: end-user calls only (no ListProvisioningArtifacts).
const RESOLVE: [Call; 2] = [SEARCH_PRODUCTS, DESCRIBE_PRODUCT];
/// Deliver a URL (provision, refresh, start --refresh, serve, watch): the tags are checked when the
/// parameter already existed (ListTagsForResource), a plaintext String parameter is deleted before
/// it becomes a SecureString, and a URL stored for a notebook that went away meanwhile is deleted.
const DELIVER: [Call; 8] =
    [DESCRIBE_NB, PRESIGN, START_NB, DESCRIBE_PARAMS, PUT_PARAM, TAG_PARAM, LIST_TAGS_PARAM, DELETE_PARAM];

/// What each Lambda function of templates/serverless.yml calls: the user's product found, then
/// DELIVER without StartNotebookInstance (a function never starts a notebook).
const LAMBDA_CALLS: &[&[Call]] = &[
    &[IDENTITY],
    &RESOLVE,
    &[DESCRIBE_PP, SEARCH_PP, DESCRIBE_RECORD, PRODUCT_STACK],
    &[DESCRIBE_NB, PRESIGN, DESCRIBE_PARAMS, PUT_PARAM, TAG_PARAM, LIST_TAGS_PARAM, DELETE_PARAM],
];

pub const TABLE: &[CommandCalls] = &[
    CommandCalls {
        command: "provision",
        role: Role::EndUser,
        groups: &[
            &[IDENTITY],
            &RESOLVE,
            &[
                c("DescribeProvisioningParameters", "servicecatalog:DescribeProvisioningParameters", Any),
                DESCRIBE_PP,
                SEARCH_PP,
                // Whether the caller may write the user's parameter, before ProvisionProduct (urls::check_access).
                GET_PARAM,
                c("ProvisionProduct", "servicecatalog:ProvisionProduct", Any),
                DESCRIBE_RECORD,
                PRODUCT_STACK,
            ],
            &DELIVER,
            // The deployment's default schedule for the new notebook, unless the user has their own.
            &DEFAULT_SCHEDULE,
        ],
    },
    CommandCalls {
        command: "refresh",
        role: Role::EndUser,
        // `refresh --user` checks the notebook is of this deployment's product first.
        groups: &[&[IDENTITY], &RESOLVE, &[DESCRIBE_PP, SEARCH_PP, PRODUCT_STACK], &DELIVER],
    },
    CommandCalls {
        command: "url",
        role: Role::EndUser,
        // The notebook must be of this deployment's product (find_for_user).
        groups: &[&[IDENTITY], &RESOLVE, &[DESCRIBE_PP, SEARCH_PP, PRODUCT_STACK, DESCRIBE_NB, PRESIGN, GET_PARAM]],
    },
    CommandCalls {
        command: "status",
        role: Role::EndUser,
        groups: &[
            &[IDENTITY],
            &RESOLVE,
            &[DESCRIBE_PP, SEARCH_PP, DESCRIBE_RECORD, PRODUCT_STACK, DESCRIBE_NB, DESCRIBE_PARAMS],
            // The user's start/stop schedules and their next runs.
            &[GET_SCHEDULE],
        ],
    },
    CommandCalls {
        // `update --user` on the caller's own notebook. The versions come from DescribeProduct
        // (RESOLVE), not ListProvisioningArtifacts; the replacement analysis reads the deployed
        // template of the product's SC-* stack (GetTemplate) and, for a version move, the new
        // version's template (below). AWS's managed AWSServiceCatalogEndUserFullAccess grants none
        // of these reads: with it, updates are refused (cmd/update.rs): what a change does to the
        // notebook is only in the templates.
        command: "update",
        role: Role::EndUser,
        groups: &[
            &[IDENTITY],
            &RESOLVE,
            &[
                c("DescribeProvisioningParameters", "servicecatalog:DescribeProvisioningParameters", Any),
                DESCRIBE_PP,
                SEARCH_PP,
                PRODUCT_STACK,
                c("GetTemplate", "cloudformation:GetTemplate", ProductStacks),
                // A version move reads the new version's template (its URL, then the object in the
                // bootstrap bucket) to see whether it replaces the notebook; without them the move is
                // refused. Neither is in AWS's end-user managed policy; both are read-only.
                c("DescribeProvisioningArtifact", "servicecatalog:DescribeProvisioningArtifact", Any),
                c("GetObject", "s3:GetObject", Bucket),
                c("UpdateProvisionedProduct", "servicecatalog:UpdateProvisionedProduct", Provisioned),
                // --replace-notebook-losing-its-data: terminate, then provision again.
                TERMINATE_PP,
                c("ProvisionProduct", "servicecatalog:ProvisionProduct", Any),
                DESCRIBE_RECORD,
            ],
            &DELIVER,
        ],
    },
    CommandCalls {
        // `update --all`: every user's notebook (account-wide search and update).
        command: "update --all",
        role: Role::Operator,
        groups: &[
            &[IDENTITY],
            &RESOLVE,
            &[
                c("DescribeProvisioningArtifact", "servicecatalog:DescribeProvisioningArtifact", Any),
                c("GetObject", "s3:GetObject", Bucket),
                c("DescribeProvisioningParameters", "servicecatalog:DescribeProvisioningParameters", Any),
                DESCRIBE_PP,
                SEARCH_PP,
                PRODUCT_STACK,
                DESCRIBE_PARAMS,
                c("GetTemplate", "cloudformation:GetTemplate", ProductStacks),
                c("UpdateProvisionedProduct", "servicecatalog:UpdateProvisionedProduct", Provisioned),
                DESCRIBE_RECORD,
            ],
            &DELIVER,
        ],
    },
    CommandCalls { command: "stop", role: Role::EndUser, groups: &[&[IDENTITY, DESCRIBE_NB, STOP_NB]] },
    CommandCalls { command: "start", role: Role::EndUser, groups: &[&[IDENTITY], &DELIVER] },
    CommandCalls {
        command: "terminate",
        role: Role::EndUser,
        groups: &[
            &[IDENTITY],
            &RESOLVE,
            &[DESCRIBE_PP, SEARCH_PP, TERMINATE_PP, DESCRIBE_RECORD, DESCRIBE_NB, DESCRIBE_PARAMS, DELETE_PARAM],
            // The user's start/stop schedules go with the notebook.
            &[DELETE_SCHEDULE],
        ],
    },
    CommandCalls {
        command: "schedule set",
        role: Role::EndUser,
        // The notebook must exist (a schedule for none would fail at every run); the execution
        // role's ARN is built from the caller's account.
        groups: &[&[IDENTITY, DESCRIBE_NB, CREATE_SCHEDULE, UPDATE_SCHEDULE, GET_SCHEDULE, PASS_SCHEDULER_ROLE]],
    },
    CommandCalls { command: "schedule show", role: Role::EndUser, groups: &[&[GET_SCHEDULE]] },
    CommandCalls {
        command: "schedule clear",
        role: Role::EndUser,
        // Clearing one's own schedule puts the deployment default back, if there is one.
        groups: &[&[IDENTITY], &DEFAULT_SCHEDULE],
    },
    CommandCalls {
        command: "list",
        role: Role::Operator,
        groups: &[
            &[IDENTITY],
            &RESOLVE,
            &[SEARCH_PP, DESCRIBE_RECORD, PRODUCT_STACK, DESCRIBE_NB, DESCRIBE_PARAMS],
            &NEXT_RUNS,
        ],
    },
    CommandCalls {
        command: "refresh --all",
        role: Role::Operator,
        groups: &[
            &[IDENTITY],
            &RESOLVE,
            &[
                SEARCH_PP,
                // The notebooks' states in a batch (vend::deliver_all).
                LIST_NB,
                DESCRIBE_RECORD,
                PRODUCT_STACK,
            ],
            &DELIVER,
        ],
    },
    CommandCalls {
        command: "watch",
        role: Role::Operator,
        // A SageMaker state change event: the notebook's user must have a provisioned product of
        // the product (by its conventional name first: DescribeProvisionedProduct).
        groups: &[
            &[IDENTITY],
            &RESOLVE,
            &[
                DESCRIBE_PP,
                SEARCH_PP,
                DESCRIBE_RECORD,
                PRODUCT_STACK,
                c("LookupEvents", "cloudtrail:LookupEvents", Any),
                // Owner tags back-filled on notebooks vended earlier (owner_tags::backfill); the
                // native state-change event describes its notebook.
                DESCRIBE_NB,
                LIST_NB,
                LIST_TAGS_NB,
                TAG_NB,
            ],
            &DELIVER,
            // A notebook provisioned elsewhere gets the deployment's default schedule.
            &DEFAULT_SCHEDULE,
        ],
    },
    CommandCalls {
        command: "cull",
        role: Role::Operator,
        groups: &[
            &[IDENTITY],
            &RESOLVE,
            &[
                SEARCH_PP,
                DESCRIBE_RECORD,
                PRODUCT_STACK,
                // The owners the URL parameters name for their stacks (catalog::list_provisioned).
                DESCRIBE_PARAMS,
                DESCRIBE_NB,
                STOP_NB,
            ],
            // When a start schedule restarts a culled notebook.
            &NEXT_RUNS,
        ],
    },
    CommandCalls {
        command: "serve",
        role: Role::Operator,
        // Each request checks the notebook is of this deployment's product first.
        groups: &[&[IDENTITY], &RESOLVE, &[DESCRIBE_PP, SEARCH_PP, PRODUCT_STACK], &DELIVER],
    },
    CommandCalls {
        // The home page (`serve --alb-arn`): each signed-in user's own notebook. The page reads the
        // notebook, its product and versions; Start/Stop/Open act on the notebook (Open mints a URL
        // and stores nothing); "Create my notebook" and Update run `provision` / `update --user`.
        command: "serve --alb-arn",
        role: Role::Operator,
        groups: &[
            &[IDENTITY],
            &RESOLVE,
            &[DESCRIBE_PP, SEARCH_PP, PRODUCT_STACK, DESCRIBE_RECORD, STOP_NB, START_NB],
            &[
                c("DescribeProvisioningParameters", "servicecatalog:DescribeProvisioningParameters", Any),
                GET_PARAM,
                c("ProvisionProduct", "servicecatalog:ProvisionProduct", Any),
                c("GetTemplate", "cloudformation:GetTemplate", ProductStacks),
                c("DescribeProvisioningArtifact", "servicecatalog:DescribeProvisioningArtifact", Any),
                c("GetObject", "s3:GetObject", Bucket),
                c("UpdateProvisionedProduct", "servicecatalog:UpdateProvisionedProduct", Provisioned),
            ],
            &DELIVER,
            // The user's start/stop schedules shown on the page; a notebook the page creates gets
            // the deployment's default (as `provision` does).
            &DEFAULT_SCHEDULE,
        ],
    },
    // The two Lambda functions of templates/serverless.yml (the binary in Lambda mode), as their
    // execution roles allow them; a test holds the template's role policies to these rows.
    CommandCalls { command: "lambda watch", role: Role::Operator, groups: LAMBDA_CALLS },
    CommandCalls { command: "lambda serve", role: Role::Operator, groups: LAMBDA_CALLS },
    CommandCalls {
        command: "doctor",
        role: Role::Bootstrap,
        groups: &[
            &[IDENTITY, DESCRIBE_STACKS, GET_TEMPLATE, HEAD_OBJECT],
            // The serverless stack's resources (cmd/shared/serverless.rs::doctor).
            &[c("ListStackResources", "cloudformation:ListStackResources", Stacks)],
            &RESOLVE,
            &[
                DESCRIBE_PARAMS,
                // Notebooks without their owner tag.
                LIST_NB,
                LIST_TAGS_NB,
            ],
        ],
    },
    CommandCalls {
        command: "bootstrap",
        role: Role::Bootstrap,
        groups: &[
            &[
                IDENTITY,
                c("GetRole", "iam:GetRole", Roles),
                DESCRIBE_STACKS,
                STACK_EVENTS,
                GET_TEMPLATE,
                c("CreateStack", "cloudformation:CreateStack", Stacks),
                c("UpdateStack", "cloudformation:UpdateStack", Stacks),
                HEAD_OBJECT,
                c("PutObject", "s3:PutObject", Bucket),
                // The deployed version made current for new launches, earlier ones DEPRECATED
                // (catalog::set_current_version).
                c("UpdateProvisioningArtifact", "servicecatalog:UpdateProvisioningArtifact", Any),
            ],
            // The deployment's schedule group, the default schedule its tags hold (cmd/schedule.rs)
            // and that default given to every notebook whose owner has no schedule of their own.
            &[
                c("CreateScheduleGroup", "scheduler:CreateScheduleGroup", ScheduleGroup),
                c("TagResource", "scheduler:TagResource", ScheduleGroup),
                c("UntagResource", "scheduler:UntagResource", ScheduleGroup),
            ],
            &DEFAULT_SCHEDULE,
            &RESOLVE,
            &[
                // bootstrap --adopt, read-only phase (plan/adopt/): the deployed resources, exports and
                // who imports them, the product (name, versions and their template URLs), the
                // portfolio (name, principals), and the notebooks of the product with their users.
                // ListExports and ListImports have no resource-level permissions (Service
                // Authorization Reference, AWS CloudFormation: resource "*").
                c("ListStackResources", "cloudformation:ListStackResources", Stacks),
                c("ListExports", "cloudformation:ListExports", Any),
                c("ListImports", "cloudformation:ListImports", Any),
                c("DescribeProductAsAdmin", "servicecatalog:DescribeProductAsAdmin", Any),
                c("ListProvisioningArtifacts", "servicecatalog:ListProvisioningArtifacts", Any),
                c("DescribeProvisioningArtifact", "servicecatalog:DescribeProvisioningArtifact", Any),
                c("DescribePortfolio", "servicecatalog:DescribePortfolio", Any),
                c("ListPrincipalsForPortfolio", "servicecatalog:ListPrincipalsForPortfolio", Any),
                SEARCH_PP,
                DESCRIBE_PARAMS,
                DESCRIBE_RECORD,
                PRODUCT_STACK,
                // Who else holds the sample's managed policies (adopt stops rather than delete them
                // from under another principal); CloudFormation's delete handler calls it too.
                c("ListEntitiesForPolicy", "iam:ListEntitiesForPolicy", ManagedPolicies),
                // The adopted notebooks get their owner tag (owner_tags::backfill).
                LIST_NB,
                LIST_TAGS_NB,
                TAG_NB,
                // What CloudFormation does with the caller's credentials for bootstrap --adopt: the
                // sample's managed policies deleted (schema AWS::IAM::ManagedPolicy,
                // handlers.delete.permissions), the kept roles updated in place (AWS::IAM::Role
                // handlers.update.permissions).
                cfn("iam:GetPolicy", ManagedPolicies),
                cfn("iam:ListPolicyVersions", ManagedPolicies),
                cfn("iam:DeletePolicyVersion", ManagedPolicies),
                cfn("iam:DeletePolicy", ManagedPolicies),
                // Detaching acts on the role (Service Authorization Reference, IAM: DetachRolePolicy's
                // resource is `role`), so it is granted on the roles the policies are attached to.
                cfn("iam:DetachRolePolicy", AdoptedRoles),
                cfn("iam:UpdateRole", Roles),
                cfn("iam:UpdateRoleDescription", Roles),
                cfn("iam:UntagRole", Roles),
                // The kept roles, updated in place (AWS::IAM::Role handlers.update.permissions; the
                // permissions-boundary ones are left out: neither flavour sets a boundary).
                cfn("iam:UpdateRole", AdoptedRoles),
                cfn("iam:UpdateRoleDescription", AdoptedRoles),
                cfn("iam:UpdateAssumeRolePolicy", AdoptedRoles),
                cfn("iam:AttachRolePolicy", AdoptedRoles),
                cfn("iam:PutRolePolicy", AdoptedRoles),
                cfn("iam:DeleteRolePolicy", AdoptedRoles),
                cfn("iam:GetRolePolicy", AdoptedRoles),
                cfn("iam:ListRolePolicies", AdoptedRoles),
                cfn("iam:ListAttachedRolePolicies", AdoptedRoles),
                cfn("iam:TagRole", AdoptedRoles),
                cfn("iam:UntagRole", AdoptedRoles),
                // The launch constraint and the notebooks' stacks keep using the kept roles.
                cfn("iam:PassRole", AdoptedRoles),
                // The stack tags UpdateStack adds are propagated to the kept log group
                // (AWS::Logs::LogGroup handlers.update.permissions).
                cfn("logs:TagResource", LogGroups),
                cfn("logs:UntagResource", LogGroups),
                cfn("logs:ListTagsForResource", LogGroups),
                cfn("logs:DescribeLogGroups", Any),
                // The public logs resource provider's handlers still tag through the older log-group
                // API, and the schema's read/update handlers list the data-protection and resource
                // policy reads (AWS::Logs::LogGroup handlers.read/update.permissions).
                // DescribeResourcePolicies has no resource type (Service Authorization Reference,
                // CloudWatch Logs): `*`.
                cfn("logs:ListTagsLogGroup", LogGroups),
                cfn("logs:TagLogGroup", LogGroups),
                cfn("logs:UntagLogGroup", LogGroups),
                cfn("logs:GetDataProtectionPolicy", LogGroups),
                cfn("logs:DescribeResourcePolicies", Any),
                // What CloudFormation does with the caller's credentials (s3-iam-config.yml,
                // service-catalog.yml): AWS::S3::Bucket, AWS::S3::BucketPolicy, AWS::IAM::Role,
                // AWS::ServiceCatalog::Portfolio, CloudFormationProduct, PortfolioPrincipalAssociation,
                // PortfolioProductAssociation, LaunchRoleConstraint.
                cfn("s3:CreateBucket", Bucket),
                cfn("s3:PutBucketTagging", Bucket),
                cfn("s3:PutEncryptionConfiguration", Bucket),
                cfn("s3:PutBucketPublicAccessBlock", Bucket),
                cfn("s3:PutBucketVersioning", Bucket),
                cfn("s3:PutBucketOwnershipControls", Bucket),
                cfn("s3:PutBucketPolicy", Bucket),
                cfn("s3:GetBucketPolicy", Bucket),
                cfn("s3:ListBucket", Bucket),
                cfn("iam:CreateRole", Roles),
                cfn("iam:UpdateAssumeRolePolicy", Roles),
                cfn("iam:PutRolePolicy", Roles),
                cfn("iam:GetRolePolicy", Roles),
                cfn("iam:DeleteRolePolicy", Roles),
                cfn("iam:AttachRolePolicy", Roles),
                cfn("iam:DetachRolePolicy", Roles),
                cfn("iam:ListRolePolicies", Roles),
                cfn("iam:ListAttachedRolePolicies", Roles),
                cfn("iam:TagRole", Roles),
                cfn("iam:PassRole", Roles),
                cfn("servicecatalog:CreatePortfolio", Any),
                cfn("servicecatalog:UpdatePortfolio", Any),
                cfn("servicecatalog:DescribePortfolio", Any),
                cfn("servicecatalog:CreateProduct", Any),
                cfn("servicecatalog:UpdateProduct", Any),
                cfn("servicecatalog:DescribeProductAsAdmin", Any),
                cfn("servicecatalog:CreateProvisioningArtifact", Any),
                cfn("servicecatalog:UpdateProvisioningArtifact", Any),
                cfn("servicecatalog:ListProvisioningArtifacts", Any),
                cfn("servicecatalog:DescribeProvisioningArtifact", Any),
                cfn("servicecatalog:AssociatePrincipalWithPortfolio", Any),
                cfn("servicecatalog:ListPrincipalsForPortfolio", Any),
                cfn("servicecatalog:AssociateProductWithPortfolio", Any),
                cfn("servicecatalog:ListPortfoliosForProduct", Any),
                cfn("servicecatalog:CreateConstraint", Any),
                cfn("servicecatalog:UpdateConstraint", Any),
                cfn("servicecatalog:DescribeConstraint", Any),
                cfn("servicecatalog:TagResource", Any),
                // AWS::ServiceCatalog::Portfolio and CloudFormationProduct handlers.create/update.
                // permissions: tags are read and removed, and a product version no longer in the
                // template is deleted (with the service actions associated with it).
                cfn("servicecatalog:ListTagsForResource", Any),
                cfn("servicecatalog:UntagResource", Any),
                cfn("servicecatalog:DeleteProvisioningArtifact", Any),
                cfn("servicecatalog:ListServiceActionsForProvisioningArtifact", Any),
                cfn("servicecatalog:DisassociateServiceActionFromProvisioningArtifact", Any),
                // AWS::ServiceCatalog::PortfolioPrincipalAssociation handlers.create.permissions.
                cfn("iam:GetUser", Principals),
                cfn("iam:GetGroup", Principals),
                // Service Catalog reads the product template from the bucket with the caller's
                // credentials when the product (or a new version) is created.
                cfn("s3:GetObject", Bucket),
                cfn("cloudformation:ValidateTemplate", Any),
                cfn("cloudformation:GetTemplateSummary", Any),
            ],
        ],
    },
    // The serverless stack's resource handlers, run by CloudFormation with the caller's
    // credentials: a deploy may roll back, so it needs the delete handlers too.
    CommandCalls {
        command: "bootstrap --serverless",
        role: Role::Serverless,
        groups: &[SERVERLESS_DEPLOY, SERVERLESS_DELETE],
    },
    CommandCalls { command: "teardown (serverless stack)", role: Role::Serverless, groups: &[SERVERLESS_DELETE] },
    CommandCalls {
        command: "teardown",
        role: Role::Bootstrap,
        groups: &[
            &[
                IDENTITY,
                DESCRIBE_STACKS,
                STACK_EVENTS,
                c("DeleteStack", "cloudformation:DeleteStack", Stacks),
                c("ListObjectVersions", "s3:ListBucketVersions", Bucket),
                c("DeleteObjects", "s3:DeleteObject", Bucket),
                // DeleteObjects of a versioned bucket removes versions too.
                cfn("s3:DeleteObjectVersion", Bucket),
            ],
            // The schedule group, and with it every schedule in it (DeleteScheduleGroup); the
            // schedules of each user terminated first (terminate_one).
            &[c("DeleteScheduleGroup", "scheduler:DeleteScheduleGroup", ScheduleGroup), DELETE_SCHEDULE],
            &RESOLVE,
            &[
                SEARCH_PP,
                DESCRIBE_RECORD,
                TERMINATE_PP,
                DESCRIBE_NB,
                DESCRIBE_PARAMS,
                DELETE_PARAMS,
                DELETE_PARAM,
                // CloudFormation deleting the two stacks' resources.
                cfn("s3:DeleteBucket", Bucket),
                cfn("s3:DeleteBucketPolicy", Bucket),
                cfn("iam:DeleteRole", Roles),
                cfn("iam:DeleteRolePolicy", Roles),
                cfn("iam:DetachRolePolicy", Roles),
                cfn("iam:ListRolePolicies", Roles),
                cfn("iam:ListAttachedRolePolicies", Roles),
                cfn("iam:ListInstanceProfilesForRole", Roles),
                cfn("servicecatalog:DeleteConstraint", Any),
                cfn("servicecatalog:DisassociateProductFromPortfolio", Any),
                cfn("servicecatalog:DisassociatePrincipalFromPortfolio", Any),
                cfn("servicecatalog:DeleteProduct", Any),
                cfn("servicecatalog:DeletePortfolio", Any),
                cfn("iam:GetUser", Principals),
                cfn("iam:GetGroup", Principals),
                // An adopted deployment: its kept roles and log group go with the stacks
                // (AWS::IAM::Role and AWS::Logs::LogGroup handlers.delete.permissions).
                cfn("iam:DeleteRole", AdoptedRoles),
                cfn("iam:DeleteRolePolicy", AdoptedRoles),
                cfn("iam:DetachRolePolicy", AdoptedRoles),
                cfn("iam:GetRole", AdoptedRoles),
                cfn("iam:ListRolePolicies", AdoptedRoles),
                cfn("iam:ListAttachedRolePolicies", AdoptedRoles),
                cfn("logs:DeleteLogGroup", LogGroups),
                cfn("logs:DescribeLogGroups", Any),
            ],
        ],
    },
];

/// The commands a role's policy covers. An operator also runs every end-user command for any
/// user; bootstrap also runs the operator's account-wide reads it needs (teardown terminates).
pub fn commands_of(role: Role) -> Vec<&'static CommandCalls> {
    let included = |r: Role| match role {
        Role::EndUser => r == Role::EndUser,
        Role::Operator => r == Role::EndUser || r == Role::Operator,
        Role::Bootstrap => r == Role::Bootstrap,
        Role::Serverless => r == Role::Serverless,
    };
    TABLE.iter().filter(|c| included(c.role)).collect()
}

/// The table's calls for one command, or None for a command not in the table.
pub fn calls_of(command: &str) -> Option<Vec<Call>> {
    TABLE.iter().find(|c| c.command == command).map(|c| c.calls().copied().collect())
}

/// Where the policy applies: `*` when not given (the policy is then valid in any region/account).
#[derive(Debug, Clone)]
pub struct Scope {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl Default for Scope {
    fn default() -> Self {
        Scope { partition: "aws".into(), region: "*".into(), account: "*".into() }
    }
}

fn arns(res: Res, names: &Names, s: &Scope) -> Vec<String> {
    let (p, r, a) = (&s.partition, &s.region, &s.account);
    match res {
        NoPermission => vec![],
        Any | Provisioned => vec!["*".into()],
        // SageMaker answers its ARNs in lower case (e.g. boto/boto3#4606), but AWS does not say
        // whether IAM authorizes the name as given (`<user>-Notebook`) or lower-cased: both
        // spellings, so the policy holds either way (the sandbox requires both; projects have
        // needed the same, e.g. aws-solutions/research-service-workbench-on-aws#1048).
        Notebook => vec![
            format!("arn:{p}:sagemaker:{r}:{a}:notebook-instance/*-notebook"),
            format!("arn:{p}:sagemaker:{r}:{a}:notebook-instance/*-Notebook"),
        ],
        Parameter => vec![format!("arn:{p}:ssm:{r}:{a}:parameter{}*", names.ssm_prefix)],
        Stacks => vec![
            format!("arn:{p}:cloudformation:{r}:{a}:stack/{}/*", names.s3_stack),
            format!("arn:{p}:cloudformation:{r}:{a}:stack/{}/*", names.catalog_stack),
            format!("arn:{p}:cloudformation:{r}:{a}:stack/{}/*", names.serverless_stack()),
        ],
        Serverless => {
            let stack = names.serverless_stack();
            vec![
                format!("arn:{p}:lambda:{r}:{a}:function:{stack}-*"),
                format!("arn:{p}:sqs:{r}:{a}:{stack}-*"),
                format!("arn:{p}:events:{r}:{a}:rule/{stack}-*"),
            ]
        }
        // CloudFormation names a role `<stack>-<logical id>-<suffix>`.
        FunctionRoles => vec![format!("arn:{p}:iam::{a}:role/{}-*", names.serverless_stack())],
        // CloudFormation generates the bucket's name from the stack's, in lower case.
        Bucket => vec![
            format!("arn:{p}:s3:::{}-*", names.s3_stack.to_ascii_lowercase()),
            format!("arn:{p}:s3:::{}-*/*", names.s3_stack.to_ascii_lowercase()),
        ],
        // Roles the stacks create are named after the stacks; GetRole reads the caller's own.
        ProductStacks => vec![format!("arn:{p}:cloudformation:{r}:{a}:stack/SC-*")],
        // The blog sample's names (templates s3-iam-config.yml and service-catalog.yml).
        ManagedPolicies => vec![
            format!("arn:{p}:iam::{a}:policy/SMNotebookEC2Policy"),
            format!("arn:{p}:iam::{a}:policy/SMNotebookPolicy"),
            format!("arn:{p}:iam::{a}:policy/SVC*ExecutionPolicy"),
        ],
        AdoptedRoles => vec![
            format!("arn:{p}:iam::{a}:role/SageMakerNotebookInstanceRole"),
            format!("arn:{p}:iam::{a}:role/service-role/ServiceCatalogExecutionRole"),
        ],
        LogGroups => vec![format!("arn:{p}:logs:{r}:{a}:log-group:{}-*", names.catalog_stack)],
        Principals => vec![format!("arn:{p}:iam::{a}:user/*"), format!("arn:{p}:iam::{a}:group/*")],
        Schedules => {
            vec![format!("arn:{p}:scheduler:{r}:{a}:schedule/{}/*", names.schedule_group())]
        }
        ScheduleGroup => {
            vec![format!("arn:{p}:scheduler:{r}:{a}:schedule-group/{}", names.schedule_group())]
        }
        SchedulerRole => vec![format!("arn:{p}:iam::{a}:role/{}", names.scheduler_role())],
        Roles => vec![
            format!("arn:{p}:iam::{a}:role/{}-*", names.s3_stack),
            format!("arn:{p}:iam::{a}:role/{}-*", names.catalog_stack),
            format!("arn:{p}:iam::{a}:role/*"),
        ],
    }
}

#[derive(Debug, Serialize)]
pub struct Policy(pub Value);

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string_pretty(&self.0).map_err(|_| std::fmt::Error)?)
    }
}

/// How an end user's statement is confined to the caller's own notebook: once with the IAM user's
/// name, once with the role session's owner tag (see crate::names::identity). A request context has one of
/// the two: aws:username exists only for IAM users, and an IAM user carries no session tag (an
/// administrator could tag an IAM user with the owner key; that tag, which only iam:TagUser can set,
/// then names the user too). A variable AWS cannot resolve makes its statement not apply (IAM user
/// guide, "IAM policy elements: Variables and tags": "If AWS cannot resolve a variable this might
/// cause the entire statement to be invalid"; aws:username "is not present" for role sessions, AWS
/// global condition context keys), so each statement applies to its kind of caller only.
pub const OWNER_VARIABLES: [&str; 2] = ["${aws:username}", "${aws:PrincipalTag/notebook-vend:user}"];

/// The statement groups of one call: (resources, condition) pairs.
fn grants(role: Role, call: &Call, names: &Names, scope: &Scope) -> Vec<(Vec<String>, Option<Value>)> {
    let resources = arns(call.resource, names, scope);
    if resources.is_empty() {
        return vec![];
    }
    // Bootstrap's roles: only GetRole reads any role (the caller's own).
    let resources = match (call.resource, call.action) {
        (Roles, "iam:GetRole") if call.operation == "GetRole" => vec![resources[2].clone()],
        (Roles, _) => resources[..2].to_vec(),
        _ => resources,
    };
    if call.resource == SchedulerRole {
        // The execution role may be passed to Scheduler only (IAM user guide, "Granting a user
        // permissions to pass a role": the iam:PassedToService condition key).
        return vec![(resources, Some(json!({"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}})))];
    }
    if call.resource == FunctionRoles {
        // The execution roles go to Lambda and nowhere else (IAM user guide, "Granting a user
        // permissions to pass a role": the iam:PassedToService condition key).
        return vec![(resources, Some(json!({"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}})))];
    }
    if role != Role::EndUser {
        return vec![(resources, None)];
    }
    match call.resource {
        // Service Catalog limits an end user to their own provisioned products and records with
        // servicecatalog:userLevel = self (AWSServiceCatalogEndUserFullAccess).
        Provisioned => vec![(resources, Some(json!({"StringEquals": {"servicecatalog:userLevel": "self"}})))],
        // The notebook's owner tag against the caller. SageMaker notebook instances support
        // aws:ResourceTag/${TagKey} (Service Authorization Reference, Amazon SageMaker, resource type
        // notebook-instance: condition keys aws:ResourceTag/${TagKey}, sagemaker:ResourceTag/${TagKey};
        // actions DescribeNotebookInstance, CreatePresignedNotebookInstanceUrl, StartNotebookInstance,
        // StopNotebookInstance act on notebook-instance*). The name cannot carry the check: SageMaker
        // answers the ARN in lower case while aws:username keeps its case.
        Notebook => OWNER_VARIABLES
            .iter()
            .map(|v| {
                let mut equals = serde_json::Map::new();
                equals.insert(format!("aws:ResourceTag/{}", crate::names::identity::OWNER_TAG), json!(v));
                (resources.clone(), Some(json!({ "StringEquals": Value::Object(equals) })))
            })
            .collect(),
        // The parameter's name embeds its user, and a policy variable may stand in a Resource
        // element (IAM user guide, "Policy variables": "You can use policy variables in the Resource
        // element"): the caller's own parameter by ARN, which also holds for a PutParameter that
        // creates it (no tag to match yet). Systems Manager parameter ARNs are
        // parameter/<name without its leading slash> (Service Authorization Reference, AWS Systems
        // Manager, resource type parameter).
        Parameter => OWNER_VARIABLES
            .iter()
            .map(|v| {
                let (p, r, a) = (&scope.partition, &scope.region, &scope.account);
                let name = crate::names::user::parameter_name(&names.ssm_prefix, v);
                (vec![format!("arn:{p}:ssm:{r}:{a}:parameter{name}")], None)
            })
            .collect(),
        // The caller's own start and stop schedules, by name (`<user>-start`, `<user>-stop`:
        // names::user::schedule_name), with the same variables as the parameter above: Scheduler's
        // schedule ARN is schedule/<group>/<name> (Service Authorization Reference, Amazon
        // EventBridge Scheduler, resource type schedule). Exact names, not `<user>-*`, which would
        // reach the schedules of a user whose name extends the caller's with a hyphen.
        Schedules => OWNER_VARIABLES
            .iter()
            .map(|v| {
                let (p, r, a) = (&scope.partition, &scope.region, &scope.account);
                let group = names.schedule_group();
                let arns = crate::names::user::SCHEDULE_ACTIONS
                    .iter()
                    .map(|w| {
                        format!(
                            "arn:{p}:scheduler:{r}:{a}:schedule/{group}/{}",
                            crate::names::user::schedule_name(v, w)
                        )
                    })
                    .collect();
                (arns, None)
            })
            .collect(),
        _ => vec![(resources, None)],
    }
}

/// The least-privilege IAM policy document of a role, from the table.
pub fn policy(role: Role, names: &Names, scope: &Scope) -> Policy {
    use std::collections::{BTreeMap, BTreeSet};
    // (resources, condition) -> actions; the condition as JSON text to order the groups.
    let mut groups: BTreeMap<(Vec<String>, String), BTreeSet<&str>> = BTreeMap::new();
    for command in commands_of(role) {
        for call in command.calls() {
            for (resources, condition) in grants(role, call, names, scope) {
                let condition = condition.map(|c| c.to_string()).unwrap_or_default();
                groups.entry((resources, condition)).or_default().insert(call.action);
            }
        }
    }
    let statements: Vec<Value> = groups
        .into_iter()
        .enumerate()
        .map(|(i, ((resources, condition), actions))| {
            let mut st = json!({
                "Sid": format!("NotebookVend{i}"),
                "Effect": "Allow",
                "Action": actions.into_iter().collect::<Vec<_>>(),
                "Resource": if resources.len() == 1 { json!(resources[0]) } else { json!(resources) },
            });
            if !condition.is_empty() {
                st["Condition"] = serde_json::from_str(&condition).expect("written above as JSON");
            }
            st
        })
        .collect();
    Policy(json!({"Version": "2012-10-17", "Statement": statements}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::DeploymentArgs;

    fn names() -> Names {
        DeploymentArgs { name: None, s3_stack: None, catalog_stack: None, product_name: None, ssm_prefix: None }
            .resolve()
    }

    fn pascal(snake: &str) -> String {
        snake
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
            })
            .collect()
    }

    /// Every SDK call in src/ (`.<client>.<operation>()`) is in the table: a call added without
    /// its permission fails here.
    /// The functions' roles in templates/serverless.yml grant exactly the rows' actions (plus what
    /// Lambda itself needs: the log stream, and for watch the on-failure queue).
    #[test]
    fn serverless_roles_match_their_rows() {
        let template = crate::plan::template::parse(include_str!("../templates/serverless.yml")).unwrap();
        for (role, command, extra) in [
            ("WatchRole", "lambda watch", &["logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage"][..]),
            ("ServeRole", "lambda serve", &["logs:CreateLogStream", "logs:PutLogEvents"][..]),
        ] {
            let props = template.resources[role].properties.as_ref().unwrap();
            let mut granted = std::collections::BTreeSet::new();
            for policy in props["Policies"].as_array().unwrap() {
                for st in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                    match &st["Action"] {
                        Value::String(a) => {
                            granted.insert(a.clone());
                        }
                        Value::Array(list) => granted.extend(list.iter().map(|a| a.as_str().unwrap().to_owned())),
                        other => panic!("{role}: Action {other}"),
                    }
                }
            }
            let mut wanted: std::collections::BTreeSet<String> = calls_of(command)
                .unwrap()
                .iter()
                .filter(|c| c.resource != Res::NoPermission)
                .map(|c| c.action.to_owned())
                .collect();
            wanted.extend(extra.iter().map(|a| (*a).to_owned()));
            assert_eq!(granted, wanted, "{role} vs the {command:?} rows");
        }
    }

    #[test]
    fn every_sdk_call_in_the_code_is_in_the_table() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![root.clone()];
        let mut sources = Vec::new();
        while let Some(p) = files.pop() {
            for e in std::fs::read_dir(&p).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    files.push(path);
                } else if path.extension().is_some_and(|x| x == "rs") && !path.ends_with("aws/fake_aws.rs") {
                    sources.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        let known: std::collections::BTreeSet<&str> =
            TABLE.iter().flat_map(|c| c.calls().map(|c| c.operation)).collect();
        let clients = ["cfn", "s3", "sts", "catalog", "sagemaker", "ssm", "cloudtrail", "iam", "scheduler"];
        let mut missing = Vec::new();
        let mut found = 0;
        for (path, text) in &sources {
            // Code under #[cfg(test)] builds its own clients; only the shipped code counts.
            let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
            let squashed: String = text.split_whitespace().collect::<Vec<_>>().join("");
            for client in clients {
                for (i, _) in squashed.match_indices(&format!(".{client}.")) {
                    let rest = &squashed[i + client.len() + 2..];
                    let op: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                    if !op.is_empty() && rest[op.len()..].starts_with("()") {
                        found += 1;
                        if !known.contains(pascal(&op).as_str()) {
                            missing.push(format!("{}: {client}.{op}", path.display()));
                        }
                    }
                }
            }
        }
        assert!(found > 25, "the scan found only {found} calls");
        assert!(missing.is_empty(), "SDK calls missing from permissions::TABLE: {missing:?}");
    }

    #[test]
    fn end_user_policy_passes_only_the_scheduler_role_and_reaches_only_own_schedules() {
        let p = policy(Role::EndUser, &names(), &Scope::default()).0;
        let text = p.to_string();
        // IAM: only passing the deployment's Scheduler execution role, to Scheduler.
        let iam: Vec<&Value> = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Action"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().starts_with("iam:")))
            .collect();
        assert_eq!(iam.len(), 1, "{text}");
        assert_eq!(iam[0]["Action"], json!(["iam:PassRole"]), "{text}");
        assert_eq!(iam[0]["Resource"], "arn:aws:iam::*:role/s3-iam-config-scheduler", "{text}");
        assert_eq!(iam[0]["Condition"]["StringEquals"]["iam:PassedToService"], "scheduler.amazonaws.com");
        // Schedules: the caller's own two (named after the user) in the deployment's group, once per
        // owner variable; an operator's, every schedule of the group.
        let group = "arn:aws:scheduler:*:*:schedule/s3-iam-config-schedules";
        for v in OWNER_VARIABLES {
            let own = json!([format!("{group}/{v}-start"), format!("{group}/{v}-stop")]);
            for action in ["scheduler:CreateSchedule", "scheduler:GetSchedule", "scheduler:DeleteSchedule"] {
                assert!(
                    p["Statement"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|s| s["Resource"] == own && s["Action"].as_array().unwrap().iter().any(|a| a == action)),
                    "{action} on {own}: {text}"
                );
            }
        }
        assert!(!text.contains(&format!("{group}/*")), "{text}");
        let operator = policy(Role::Operator, &names(), &Scope::default()).0;
        assert_eq!(statements_with(&operator, "scheduler:GetSchedule")["Resource"], format!("{group}/*"));
    }

    #[test]
    fn end_user_policy_is_limited_to_own_products_and_has_no_admin_calls() {
        let p = policy(Role::EndUser, &names(), &Scope::default()).0;
        let text = p.to_string();
        for absent in [
            "ListProvisioningArtifacts",
            "servicecatalog:Create",
            "sagemaker:AddTags",
            "ssm:DeleteParameters",
            "scheduler:CreateScheduleGroup",
            "scheduler:ListSchedules",
        ] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
        // CloudFormation: only reading the user's product stack parameters (the user of a
        // provisioned product is its stack's NotebookUserName parameter), nothing else.
        let actions: Vec<&str> = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap().iter().filter_map(|a| a.as_str()))
            .collect();
        let cfn: Vec<&&str> = actions.iter().filter(|a| a.starts_with("cloudformation:")).collect();
        // and (update --user) its deployed template for the replacement analysis.
        assert!(
            cfn.iter().all(|a| ["cloudformation:DescribeStacks", "cloudformation:GetTemplate"].contains(*a)),
            "{text}"
        );
        // S3: reading the product template for `update`'s replacement analysis, nothing else.
        let s3: Vec<&&str> = actions.iter().filter(|a| a.starts_with("s3:")).collect();
        assert_eq!(s3, [&"s3:GetObject"], "{text}");
        let update = statements_with(&p, "servicecatalog:UpdateProvisionedProduct");
        assert_eq!(update["Condition"]["StringEquals"]["servicecatalog:userLevel"], "self", "{text}");
        let template = statements_with(&p, "cloudformation:GetTemplate");
        assert_eq!(template["Resource"], "arn:aws:cloudformation:*:*:stack/SC-*", "{text}");
        let statements = p["Statement"].as_array().unwrap();
        let own = statements
            .iter()
            .find(|s| s["Action"].as_array().unwrap().iter().any(|a| a == "servicecatalog:TerminateProvisionedProduct"))
            .unwrap();
        assert_eq!(own["Condition"]["StringEquals"]["servicecatalog:userLevel"], "self");
        let dp = statements
            .iter()
            .find(|s| s["Action"].as_array().unwrap().iter().any(|a| a == "ssm:DescribeParameters"))
            .unwrap();
        assert_eq!(dp["Resource"], "*");
        assert!(!text.contains("arn:aws:ssm:*:*:parameter/SageMaker/Notebooks/*"), "{text}");
        for v in OWNER_VARIABLES {
            let own = format!("arn:aws:ssm:*:*:parameter/SageMaker/Notebooks/{v}-Notebook");
            for action in ["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter", "ssm:AddTagsToResource"] {
                assert!(
                    p["Statement"].as_array().unwrap().iter().any(|s| s["Resource"] == own.as_str()
                        && s["Action"].as_array().unwrap().iter().any(|a| a == action)
                        && s.get("Condition").is_none()),
                    "{action} on {own}: {text}"
                );
            }
        }
        // Every SageMaker action on a notebook is conditioned on its owner tag, once per variable.
        let notebook_statements: Vec<&Value> = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Action"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().starts_with("sagemaker:")))
            .collect();
        assert_eq!(notebook_statements.len(), 2, "{text}");
        let matched: std::collections::BTreeSet<&str> = notebook_statements
            .iter()
            .filter_map(|st| st["Condition"]["StringEquals"]["aws:ResourceTag/notebook-vend:user"].as_str())
            .collect();
        assert_eq!(matched, OWNER_VARIABLES.into_iter().collect(), "{text}");
        for st in &notebook_statements {
            for action in [
                "sagemaker:CreatePresignedNotebookInstanceUrl",
                "sagemaker:DescribeNotebookInstance",
                "sagemaker:StartNotebookInstance",
                "sagemaker:StopNotebookInstance",
            ] {
                assert!(st["Action"].as_array().unwrap().iter().any(|a| a == action), "{action}: {text}");
            }
        }
    }

    fn statements_with<'a>(p: &'a Value, action: &str) -> &'a Value {
        p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Action"].as_array().unwrap().iter().any(|a| a == action))
            .unwrap_or_else(|| panic!("no statement grants {action}: {p}"))
    }

    #[test]
    fn operator_policy_has_account_wide_catalog_access() {
        let p = policy(Role::Operator, &names(), &Scope::default()).0;
        assert!(!p.to_string().contains("userLevel"));
        // Operators act for anyone: no owner condition, parameters under the whole prefix.
        assert!(!p.to_string().contains("ResourceTag") && !p.to_string().contains("${aws:"), "{p}");
        assert!(p.to_string().contains("arn:aws:ssm:*:*:parameter/SageMaker/Notebooks/*"), "{p}");
        assert!(p.to_string().contains("servicecatalog:SearchProvisionedProducts"));
        assert!(p.to_string().contains("sagemaker:StopNotebookInstance"));
        // update --all, and the new version's template for an operator's version move.
        statements_with(&p, "servicecatalog:DescribeProvisioningArtifact");
        statements_with(&p, "servicecatalog:UpdateProvisionedProduct");
    }

    /// The resources of every statement granting `action` in a policy document.
    fn resources_of(p: &Value, action: &str) -> Vec<String> {
        let mut out = Vec::new();
        for st in p["Statement"].as_array().unwrap() {
            if st["Action"].as_array().unwrap().iter().any(|a| a == action) {
                match &st["Resource"] {
                    Value::String(r) => out.push(r.clone()),
                    Value::Array(rs) => out.extend(rs.iter().map(|r| r.as_str().unwrap().to_owned())),
                    _ => {}
                }
            }
        }
        out
    }

    /// `bootstrap --adopt` makes CloudFormation update the blog sample's roles (their own names,
    /// not ours) and delete its managed policies with the caller's credentials; `teardown` then
    /// deletes those roles and the kept log group. Found by parliament ("No resources match":
    /// DetachRolePolicy was granted on policies, where IAM authorizes it on the role).
    #[test]
    fn bootstrap_policy_covers_the_adopted_deployment_by_name() {
        let p = policy(Role::Bootstrap, &names(), &Scope { account: "123456789012".into(), ..Scope::default() }).0;
        let sample_role = "arn:aws:iam::123456789012:role/SageMakerNotebookInstanceRole";
        let launch_role = "arn:aws:iam::123456789012:role/service-role/ServiceCatalogExecutionRole";
        for action in
            ["iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DetachRolePolicy", "iam:TagRole", "iam:DeleteRole"]
        {
            let r = resources_of(&p, action);
            assert!(r.iter().any(|r| r == sample_role) && r.iter().any(|r| r == launch_role), "{action}: {r:?}");
        }
        for action in ["iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:ListEntitiesForPolicy"] {
            let r = resources_of(&p, action);
            assert!(
                !r.is_empty() && r.iter().all(|r| r.contains(":policy/S")),
                "{action} beyond the sample's policies: {r:?}"
            );
        }
        assert!(resources_of(&p, "iam:DetachRolePolicy").iter().all(|r| r.contains(":role/")));
        let logs = resources_of(&p, "logs:DeleteLogGroup");
        assert_eq!(logs, ["arn:aws:logs:*:123456789012:log-group:service-catalog-config-*"]);
        // The kept log group's update: both tag families and the handler's reads, on that log group.
        for action in [
            "logs:TagResource",
            "logs:UntagResource",
            "logs:ListTagsForResource",
            "logs:TagLogGroup",
            "logs:UntagLogGroup",
            "logs:ListTagsLogGroup",
            "logs:GetDataProtectionPolicy",
        ] {
            assert_eq!(resources_of(&p, action), logs, "{action}");
        }
        assert_eq!(resources_of(&p, "logs:DescribeResourcePolicies"), ["*"]);
        assert!(!resources_of(&p, "iam:GetGroup").is_empty(), "a group as --principal");
    }
}
