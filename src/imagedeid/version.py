"""The package version, importable from any layer."""

__version__ = "0.1.0"


def engine_build() -> str:
    """``compiled`` when the header engine is installed as mypyc extensions (setup.py),
    ``python`` when it runs from its source. Looks, without importing the engine."""
    from importlib.util import find_spec

    spec = find_spec("imagedeid.dicom.engine")
    origin = spec.origin if spec is not None else None
    return "python" if origin is None or origin.endswith(".py") else "compiled"


def distribution_version(name: str) -> str:
    """The installed version of distribution ``name``, for reports. Reads it from the
    ``<name>-<version>.dist-info`` folder beside the package (a directory listing, where
    importlib.metadata would first load the email and zipfile modules, ~15 ms per run)."""
    import os
    from importlib.util import find_spec

    try:
        spec = find_spec(name)
        if spec is not None and spec.origin:
            site = os.path.dirname(os.path.dirname(spec.origin))
            prefix = f"{name.replace('-', '_').lower()}-"
            found = [
                entry[len(prefix) : -len(".dist-info")]
                for entry in os.listdir(site)
                if entry.lower().startswith(prefix) and entry.endswith(".dist-info")
            ]
            if len(found) == 1:  # several (a stale install): ask importlib.metadata
                return found[0]
    except (OSError, ImportError, ValueError):
        pass
    from importlib.metadata import version

    return version(name)
