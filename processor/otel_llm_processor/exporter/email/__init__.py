"""``email`` notifier: SMTP (optional STARTTLS or implicit TLS, optional auth)."""
