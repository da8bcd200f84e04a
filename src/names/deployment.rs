//! The names of one deployment (stacks, product, portfolio, SSM prefix), derived from `--name` or
//! the blog's, with explicit names winning. Per-user names are in names/user.rs.

/// The resolved names of the deployment a command works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub s3_stack: String,
    pub catalog_stack: String,
    pub product_name: String,
    /// Only with --name: otherwise the parameter file (or the template default) names it.
    pub portfolio_name: Option<String>,
    pub ssm_prefix: String,
}

impl Names {
    /// The serverless stack (`bootstrap --serverless`), named after the catalog stack so that each
    /// deployment (`--name`, `--catalog-stack`) has its own.
    pub fn serverless_stack(&self) -> String {
        format!("{}-serverless", self.catalog_stack)
    }

    /// Explicit names win; the rest derive from `name`, else are the blog's.
    pub fn resolve(
        name: Option<&str>,
        s3_stack: Option<String>,
        catalog_stack: Option<String>,
        product_name: Option<String>,
        ssm_prefix: Option<String>,
    ) -> Names {
        let derived = match name {
            Some(n) => Names {
                s3_stack: format!("{n}-s3-iam-config"),
                catalog_stack: format!("{n}-service-catalog-config"),
                product_name: format!("SageMaker Notebook ({n})"),
                portfolio_name: Some(format!("{n}-Portfolio")),
                ssm_prefix: format!("/SageMaker/Notebooks/{n}/"),
            },
            None => Names {
                s3_stack: "s3-iam-config".into(),
                catalog_stack: "service-catalog-config".into(),
                product_name: "SageMaker Notebook".into(),
                portfolio_name: None,
                ssm_prefix: "/SageMaker/Notebooks/".into(),
            },
        };
        Names {
            s3_stack: s3_stack.unwrap_or(derived.s3_stack),
            catalog_stack: catalog_stack.unwrap_or(derived.catalog_stack),
            product_name: product_name.unwrap_or(derived.product_name),
            portfolio_name: derived.portfolio_name,
            ssm_prefix: ssm_prefix.unwrap_or(derived.ssm_prefix),
        }
    }

    /// The deployment's EventBridge Scheduler group, which holds every user's start/stop schedules.
    pub fn schedule_group(&self) -> String {
        format!("{}-schedules", self.s3_stack)
    }

    /// The Scheduler execution role the s3-iam stack declares (RoleName `${AWS::StackName}-scheduler`).
    pub fn scheduler_role(&self) -> String {
        format!("{}-scheduler", self.s3_stack)
    }
}
