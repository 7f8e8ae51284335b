"""``webhook`` notifier: a JSON POST of every alert transition."""
