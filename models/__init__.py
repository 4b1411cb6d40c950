"""The heterogeneous segmentation ensemble (Ganerød et al.). Importing this package is cheap:
torch is imported by the submodules that need it, not here."""
