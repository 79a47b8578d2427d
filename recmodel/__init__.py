"""fedrec's machine-learning core: data, DLRM, DP-SGD training, metrics.

Plain PyTorch / pandas code with no Flower imports; ``client/`` and ``server/``
translate Flower messages to and from it.
"""
