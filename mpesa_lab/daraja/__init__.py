"""The merchant side: what a developer writes to talk to Daraja."""
