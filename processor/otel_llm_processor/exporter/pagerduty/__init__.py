"""``pagerduty`` notifier: PagerDuty Events API v2 (trigger / acknowledge / resolve)."""
