"""Notifications: events from the monitor and the relay service, a durable outbox, apprise delivery."""
