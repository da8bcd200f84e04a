"""STS: session tags on AssumeRole, and a presigned GetCallerIdentity answered as STS does."""
