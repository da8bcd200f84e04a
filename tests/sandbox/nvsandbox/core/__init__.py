"""What every service of the sandbox shares: settings and logs (common), the WSGI middleware (account
isolation, request log, faults), request-rate quotas, and the /_sandbox/set-state control."""
