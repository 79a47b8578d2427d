"""Behaviour-log data: schema, synthetic generator, split, partition, features."""
