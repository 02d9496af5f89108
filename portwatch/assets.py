"""The one loader for shipped files: catalog data (data/) and icons (resources/).

Both directories sit at the top of the repository and are installed as the packages
portwatch.data and portwatch.resources, so they are found the same way in a checkout with an
editable install, in a wheel and in a PyInstaller bundle (a folder on disk: used as it is;
anything else through importlib.resources).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (≈ 4 ms of `lookup`)
if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


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
        module = importlib.import_module(package)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / checkout_dir
    # A package installed as a folder (a wheel, an editable install, PyInstaller's bundle) is
    # that folder: importlib.resources, which would say the same, costs `lookup` ≈ 10 ms of
    # imports (zipfile, tempfile …). Anything else (a zip) goes through importlib.resources.
    folders = list(getattr(module, "__path__", ()))
    if len(folders) == 1 and os.path.isdir(folders[0]):
        return Path(folders[0])
    from importlib import resources

    return resources.files(package)


def _child(root: Traversable, name: str) -> Traversable:
    node = root
    for part in name.split("/"):
        node = node.joinpath(part)
    return node
