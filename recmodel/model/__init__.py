"""DLRM recommender decomposed like torchrec: Sparse/Dense/Interaction/Over arches."""
