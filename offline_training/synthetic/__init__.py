"""Synthetic RGB-D data engine (paper 001 Sec. 3): scenes, rendering, BOP datasets, bags."""
