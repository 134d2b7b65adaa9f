"""The package version, importable from any layer."""

__version__ = "0.1.0"


def engine_build() -> str:
    """``compiled`` when the header engine is installed as mypyc extensions (setup.py),
    ``python`` when it runs from its source. Looks, without importing the engine."""
    from importlib.util import find_spec

    spec = find_spec("imagedeid.dicom.engine")
    origin = spec.origin if spec is not None else None
    return "python" if origin is None or origin.endswith(".py") else "compiled"
