"""AWS Lambda: the CloudFormation resource types moto lacks (cfn_resources.py) and Lambda's
deployment package limits (package_limits.py)."""
