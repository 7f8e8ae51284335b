"""``slack`` notifier: Slack incoming-webhook messages (text + blocks)."""
