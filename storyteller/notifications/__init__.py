"""Telling people when their videos end: events, the outbox, webhooks, delivery."""
