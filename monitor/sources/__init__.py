"""Acquisition backends that produce the feature stack (see :mod:`models.feature_stack`)."""
