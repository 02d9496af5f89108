"""Names a package exports but loads only when first used (PEP 562), for the packages whose
public face is their `__init__` (core.model, core.probe): `list` and `lookup` start faster when
a name's module is imported only by the code that needs it.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (≈ 4 ms of `lookup`)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def lazy_exports(package: str, exports: dict[str, str],
                 namespace: dict[str, Any]) -> Callable[[str], Any]:
    """The package's module-level `__getattr__`: `exports` maps each name to the module of
    `package` that defines it; a name once loaded is kept in `namespace` (the package's
    globals), so its next use is a plain lookup."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    return __getattr__
