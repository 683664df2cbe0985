"""Signed webhooks: endpoints, the outbox of deliveries, signing, and sending."""
