"""Which package installed an executable: dpkg's database read directly, rpm through its tool,
and flatpak, snap and AppImage recognised from where the program runs.

`PackageIndex.lookup_many(paths)` answers for several paths with one pass over dpkg's file
lists (/var/lib/dpkg/info/*.list, ≈ 7 MB and 20 ms on a desktop system), so a scan that meets
ten new executables pays once. Answers are remembered per path until dpkg's database changes
(the mtime of its info directory or of its status file). Versions come from the status file,
read once per change. A merged /usr (Debian 12: /bin -> /usr/bin) is handled by looking for
both spellings of a path. The rpm tool is asked only where dpkg does not know the file and an
rpm database exists. Nothing here raises: an unreadable database means "no package known".
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable

from portwatch.core.model import Package

log = logging.getLogger(__name__)

DPKG_DIR = "/var/lib/dpkg"
RPM_DATABASES = ("/var/lib/rpm", "/usr/lib/sysimage/rpm")
APPIMAGE_MOUNT = "/tmp/.mount_"  # noqa: S108 (where AppImages mount themselves; only compared)
_MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")  # /X is /usr/X on merged /usr
_MANY = 12  # looking for more paths than this at once, a file's lines go into a set


def _aliases(path: str) -> tuple[str, ...]:
    """The path and its other spelling on a merged /usr (/usr/bin/x and /bin/x)."""
    parts = path.split("/", 3)
    if len(parts) >= 3 and parts[1] == "usr" and parts[2] in _MERGED:
        return path, path[4:]
    if len(parts) >= 2 and parts[1] in _MERGED:
        return path, "/usr" + path
    return (path,)


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"not text: {value!r}")


def recognise_bundle(exe: str, root_file: str | None = None,
                     appimage: str | None = None) -> Package | None:
    """flatpak, snap or AppImage from the executable's path (as the process sees it),
    its /.flatpak-info (`root_file`, its text) and its $APPIMAGE."""
    if root_file is not None:
        name = version = None
        section = ""
        for line in root_file.splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Application]" and line.startswith("name="):
                name = line[5:]
            elif section == "[Instance]" and line.startswith("branch="):
                version = line[7:]
        if name:
            return Package("flatpak", name, version)
    parts = exe.split("/")
    if exe.startswith("/snap/") and len(parts) > 3:
        return Package("snap", parts[2], parts[3])  # /snap/NAME/REVISION/...
    if exe.startswith(APPIMAGE_MOUNT) or appimage:
        name = os.path.basename(appimage) if appimage else parts[2]
        return Package("appimage", name, None)
    return None


class PackageIndex:
    """path -> Package of the distribution's package manager, remembered per path."""

    def __init__(self, dpkg_dir: str = DPKG_DIR) -> None:
        self._dpkg = dpkg_dir
        self._memo: dict[str, Package | None] = {}
        self._versions: dict[str, str] | None = None
        self._stamp: tuple[int, int] | None = None
        self._rpm = shutil.which("rpm") if any(map(os.path.isdir, RPM_DATABASES)) else None

    def saved(self) -> dict:
        """What a later process may start from (`restore`): the answers and dpkg's stamp."""
        self._check_fresh()
        return {"stamp": list(self._stamp or ()), "paths": {
            path: [p.manager, p.name, p.version] if p else None
            for path, p in self._memo.items()}}

    def restore(self, saved: object) -> bool:
        """Start from answers an earlier process saved, if dpkg's database has not changed
        since; False (nothing restored) otherwise or when malformed."""
        self._check_fresh()
        try:
            if not isinstance(saved, dict) or tuple(saved["stamp"]) != self._stamp:
                return False
            memo = {str(path): Package(*map(_text, value)) if value else None
                    for path, value in saved["paths"].items()}
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        self._memo.update(memo)
        return True

    def lookup(self, path: str) -> Package | None:
        return self.lookup_many((path,)).get(path)

    def lookup_many(self, paths: Iterable[str]) -> dict[str, Package | None]:
        """The package of each path (None: no package knows it), one pass for all new ones."""
        self._check_fresh()
        memo = self._memo
        wanted = [path for path in dict.fromkeys(paths) if path not in memo]
        if wanted:
            found = self._search_dpkg(wanted)
            for path in wanted:
                package = found.get(path)
                if package is None and self._rpm is not None:
                    package = self._ask_rpm(path)
                memo[path] = package
        return {path: memo.get(path) for path in paths}

    # -- dpkg ------------------------------------------------------------------------------------

    def _check_fresh(self) -> None:
        """Forget everything when dpkg's database changed (a package was installed or removed)."""
        try:
            stamp = (os.stat(f"{self._dpkg}/info").st_mtime_ns,
                     os.stat(f"{self._dpkg}/status").st_mtime_ns)
        except OSError:
            stamp = (0, 0)
        if stamp != self._stamp:
            self._stamp = stamp
            self._memo.clear()
            self._versions = None

    def _search_dpkg(self, paths: list[str]) -> dict[str, Package]:
        needles: dict[bytes, list[str]] = {}
        for path in paths:
            for alias in _aliases(path):
                needles.setdefault(f"\n{alias}\n".encode(errors="surrogateescape"),
                                   []).append(path)
        found: dict[str, Package] = {}
        info = f"{self._dpkg}/info"
        try:
            names = [name for name in os.listdir(info) if name.endswith(".list")]
        except OSError:
            return found
        for name in sorted(names):
            try:
                with open(os.path.join(info, name), "rb") as handle:
                    data = b"\n" + handle.read()
            except OSError:
                continue
            # A few paths: a substring search per path is fastest; many: a set of the lines.
            lines = set(data.split(b"\n")) if len(needles) > _MANY else None
            for needle, owners in needles.items():
                if (needle[1:-1] in lines) if lines is not None else (needle in data):
                    package = name[:-5].split(":", 1)[0]  # "libc6:amd64.list" -> libc6
                    for path in owners:
                        found.setdefault(path, Package("dpkg", package, self._version(package)))
            if len(found) == len(paths):
                break
        return found

    def _version(self, package: str) -> str | None:
        if self._versions is None:
            self._versions = self._read_status()
        return self._versions.get(package)

    def _read_status(self) -> dict[str, str]:
        """Package -> version of the installed packages in dpkg's status file."""
        versions: dict[str, str] = {}
        try:
            with open(f"{self._dpkg}/status", encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            return versions
        for paragraph in text.split("\n\n"):
            fields: dict[str, str] = {}
            for line in paragraph.splitlines():
                key, sep, value = line.partition(": ")
                if sep and key in ("Package", "Version", "Status"):
                    fields[key] = value.strip()
            if "Package" in fields and "Version" in fields \
                    and fields.get("Status", "").endswith(" installed"):
                versions.setdefault(fields["Package"], fields["Version"])
        return versions

    # -- rpm -------------------------------------------------------------------------------------

    def _ask_rpm(self, path: str) -> Package | None:
        """rpm -qf, where an rpm database exists (not testable on this Debian machine)."""
        assert self._rpm is not None
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            answer = subprocess.run(
                [self._rpm, "-qf", "--queryformat", "%{NAME}\t%{VERSION}-%{RELEASE}\n", path],
                capture_output=True, text=True, timeout=10, check=False)
            line = answer.stdout.splitlines()[0] if answer.stdout else ""
            if answer.returncode == 0 and "\t" in line:
                name, version = line.split("\t", 1)
                return Package("rpm", name, version)
        return None
