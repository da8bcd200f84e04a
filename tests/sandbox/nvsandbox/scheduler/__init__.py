"""EventBridge Scheduler: rules moto skips (schedules.py, expressions.py) and the fire-schedule control."""
