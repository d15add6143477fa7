"""The admin's view of the service: the figures of the dashboard and of /metrics."""
