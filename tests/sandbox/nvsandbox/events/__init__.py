"""EventBridge: rules deliver to Lambda targets (delivery.py)."""
