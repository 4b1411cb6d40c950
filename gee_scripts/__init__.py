"""Earth Engine side of the monitor: the only package that imports ``ee``."""
