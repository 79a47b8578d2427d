"""Deployment tooling: credentials for a real federation, partner node config, and a loopback federation demo."""
