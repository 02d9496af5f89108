"""The one loader for shipped files: catalog data (data/) and icons (resources/).

Both directories sit at the top of the repository and are installed as the packages
portwatch.data and portwatch.resources, so importlib.resources finds them the same way in a
checkout with an editable install, in a wheel and in a PyInstaller bundle.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable


def data_file(name: str) -> Traversable:
    """A file under data/ (e.g. "catalog.json" or "curated/databases.yaml")."""
    return _child(resources.files("portwatch.data"), name)


def resource_file(name: str) -> Traversable:
    """A file under resources/ (e.g. "icons/portwatch.svg")."""
    return _child(resources.files("portwatch.resources"), name)


def _child(root: Traversable, name: str) -> Traversable:
    node = root
    for part in name.split("/"):
        node = node.joinpath(part)
    return node
