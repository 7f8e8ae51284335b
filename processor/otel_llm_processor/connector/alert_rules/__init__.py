"""Connector ``alert_rules``: rules on derived metrics and anomalies -> alert transitions."""
