//! `policy end-user|operator|bootstrap|serverless`: the least-privilege IAM policy of a role, from
//! permissions::TABLE (the table the tests check the code's calls against). No AWS call.

use anyhow::Result;

use crate::cli::{OutputFormat, PolicyArgs};
use crate::names::deployment::Names;
use crate::permissions::{self, Scope};

pub fn run(args: &PolicyArgs, names: &Names, region: Option<&str>, output: OutputFormat) -> Result<()> {
    let scope = Scope {
        partition: args.partition.clone(),
        region: region.unwrap_or("*").to_owned(),
        account: args.account.clone().unwrap_or_else(|| "*".into()),
    };
    // The document is JSON either way: that is what IAM takes.
    crate::output::emit(output, &permissions::policy(args.role, names, &scope))
}
