"""The one loader for shipped files: catalog data (data/) and icons (resources/).

Both directories sit at the top of the repository and are installed as the packages
portwatch.data and portwatch.resources, so importlib.resources finds them the same way in a
checkout with an editable install, in a wheel and in a PyInstaller bundle.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path


def data_file(name: str) -> Traversable:
    """A file under data/ (e.g. "catalog.json" or "curated/databases.yaml")."""
    return _child(_package_root("portwatch.data", "data"), name)


def resource_file(name: str) -> Traversable:
    """A file under resources/ (e.g. "icons/portwatch.svg")."""
    return _child(_package_root("portwatch.resources", "resources"), name)


def _package_root(package: str, checkout_dir: str) -> Traversable:
    """The installed package's files; in a plain checkout on PYTHONPATH (nothing installed, so
    the package does not exist) the directory of the same name at the top of the repository."""
    try:
        return resources.files(package)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / checkout_dir


def _child(root: Traversable, name: str) -> Traversable:
    node = root
    for part in name.split("/"):
        node = node.joinpath(part)
    return node
