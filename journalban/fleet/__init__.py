"""Ban sharing across hosts over NATS JetStream (the ``fleet:`` section)."""
