"""Who is who: users and roles, API keys, browser sign-ins, quotas and the audit log."""
