"""Flower ClientApp: translates Messages to and from ``recmodel``."""
