"""S3: template URLs as CloudFormation and Service Catalog read them."""
