"""dockaudit: a static configuration auditor for container deployments."""

__version__ = "0.1.0"
