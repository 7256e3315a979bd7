"""Datasets and synthetic media."""
