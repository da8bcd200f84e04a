"""IAM: the policy evaluator, per-account enforcement, name limits, CloudFormation handlers."""
