"""Notifications: what a batch's end sends, and where (e-mail, webhooks)."""
