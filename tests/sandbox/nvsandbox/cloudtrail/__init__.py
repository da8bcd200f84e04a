"""CloudTrail LookupEvents over the Service Catalog calls served."""
