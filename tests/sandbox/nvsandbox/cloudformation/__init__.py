"""CloudFormation: template loading and failed creation, stack updates, takeover rules."""
