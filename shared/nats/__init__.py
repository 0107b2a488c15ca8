"""NATS plumbing every process shares: connecting, JetStream streams and publishing, the one typed durable
consumer, the registry of channels the AsyncAPI document is made from, and key-value buckets."""
