"""SageMaker notebook instances: states, presigned URLs, CloudFormation hooks."""
