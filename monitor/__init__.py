"""Landslide monitor: daily detection of new landslides from Sentinel-1/2 change features."""

__version__ = "0.1.0"
