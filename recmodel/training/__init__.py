"""Local training, with or without DP-SGD."""
