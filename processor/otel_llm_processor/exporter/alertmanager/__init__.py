"""``alertmanager`` notifier: Prometheus Alertmanager API v2 (``POST /api/v2/alerts``)."""
