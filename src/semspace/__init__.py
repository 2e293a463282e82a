"""semspace: five experiments on the shared meaning space of images and language."""

__version__ = "0.1.0"
