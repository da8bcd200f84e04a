"""SSM Parameter Store: tiers, types, page sizes."""
