"""What a process's executable is and whether it deserves a second look (Linux, through /proc).

`fingerprint(pid)` is what exec() changes — the running executable's (st_dev, st_ino) and the
process name — read in two system calls, so a scanner can notice within one poll that a pid it
knows became another program (pid and start time stay the same across exec).

`ProvenanceReader.read(pid, name, exe, cmdline)` examines one process once: the executable
through /proc/<pid>/exe (the running image, even after its file was deleted or replaced; psutil
strips the " (deleted)" that readlink shows, and a link count of 0 says the same reliably), the
package that installed it (probe.packages) and these flags:

- `exe-deleted`: the file the process runs from was deleted or replaced since it started;
- `exe-in-temp-dir`: it runs from /tmp, /var/tmp, /dev/shm or another world-writable directory;
- `kernel-like-name`: a user process named like a kernel thread (`[kworker/0:1]`, `kworker/0:1`);
- `name-mismatch`: the process name is not its executable's (nor the name it was started by
  through a link, nor, for an interpreter, its script's): e.g. renamed with prctl(PR_SET_NAME).

`prefetch(pids)` looks up the packages of several new processes in one pass first. Nothing here
raises for a process that exited or may not be read: what cannot be seen stays None/empty.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

from portwatch.core.model import (
    EXE_DELETED,
    EXE_IN_TEMP_DIR,
    KERNEL_LIKE_NAME,
    NAME_MISMATCH,
    Package,
    Provenance,
)
from portwatch.core.probe.packages import APPIMAGE_MOUNT, PackageIndex, recognise_bundle

DELETED_SUFFIX = " (deleted)"
TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")  # noqa: S108 (names compared, nothing written)
COMM_LENGTH = 15  # the kernel keeps the first 15 bytes of a process name
_BIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_KERNEL_NAME = re.compile(
    r"^\[.*\]$|^(kworker|ksoftirqd|kthreadd|kswapd\d*|migration|rcu_\w+|cpuhp|idle_inject"
    r"|watchdog|irq|kcompactd\d*|khugepaged|kblockd|jbd2|kauditd|kdevtmpfs|oom_reaper"
    r"|writeback|ksmd|netns|kintegrityd|scsi_\w+)(/[\w:.-]*)?$")
_INTERPRETER = re.compile(
    r"^(python|pypy|perl|ruby|node|nodejs|deno|bun|php|java|bash|sh|dash|zsh|ksh|lua"
    r"|tclsh|Rscript|busybox|mono|dotnet|erl|beam)")

Fingerprint = tuple[tuple[int, int] | None, bytes | None]


def fingerprint(pid: int, proc: str = "/proc") -> Fingerprint:
    """(st_dev, st_ino) of the running executable and the raw name: both change on exec()."""
    try:
        st = os.stat(f"{proc}/{pid}/exe")
        image: tuple[int, int] | None = (st.st_dev, st.st_ino)
    except OSError:
        image = None
    try:  # os.open, not open(): read for every process in the table at every scan
        fd = os.open(f"{proc}/{pid}/comm", os.O_RDONLY | os.O_CLOEXEC)
        try:
            comm: bytes | None = os.read(fd, 64)  # the kernel's 15 bytes and a newline
        finally:
            os.close(fd)
    except OSError:
        comm = None
    return image, comm


def running_exe(pid: int, proc: str = "/proc") -> tuple[str | None, bool | None]:
    """(path of the running executable, whether that file was deleted); (None, None) when it
    cannot be read. The path is the one it was started from, without " (deleted)"."""
    try:
        link = os.readlink(f"{proc}/{pid}/exe")
    except OSError:
        return None, None
    try:
        deleted: bool | None = os.stat(f"{proc}/{pid}/exe").st_nlink == 0
    except OSError:
        deleted = None
    if link.endswith(DELETED_SUFFIX):
        link = link[:-len(DELETED_SUFFIX)]
        deleted = True if deleted is None else deleted
    return link, deleted


def _same_name(name: str, base: str) -> bool:
    """A process name is the file's name, or its first 15 bytes (the kernel cuts it there)."""
    return name == base or (len(name.encode(errors="surrogateescape")) >= COMM_LENGTH
                            and base.startswith(name))


def _started_through_link(argv0: str, exe: str) -> bool:
    """argv[0] names a link to the executable (python3 -> python3.11, busybox applets)."""
    if not argv0:
        return False
    candidates = [argv0] if "/" in argv0 else [os.path.join(d, argv0) for d in _BIN_DIRS]
    for path in candidates:
        try:
            if os.path.realpath(path) == exe:
                return True
        except (OSError, ValueError):
            continue
    return False


def name_mismatch(name: str, exe: str | None, cmdline: Sequence[str]) -> bool:
    """True when the process name is neither its executable's, nor that of the link it was
    started by, nor (for an interpreter) its script's."""
    if not exe or not name:
        return False
    base = os.path.basename(exe)
    if _same_name(name, base):
        return False
    argv0 = os.path.basename(cmdline[0]) if cmdline else ""
    if argv0 and _same_name(name, argv0) and _started_through_link(cmdline[0], exe):
        return False
    script = _script(cmdline) if _INTERPRETER.match(base) else None
    return not (script and _same_name(name, os.path.basename(script)))


def _script(cmdline: Sequence[str]) -> str | None:
    """The script an interpreter runs: its first argument that is not an option, unless code
    comes from the command line (-c, -e) or a module (-m)."""
    for arg in cmdline[1:]:
        if arg in ("-c", "-e", "-m"):
            return None
        if arg and not arg.startswith("-"):
            return arg
    return None


def kernel_like(name: str, cmdline: Sequence[str]) -> bool:
    """A name that looks like a kernel thread's ([kworker/0:1]) — on a process with an
    executable, which a kernel thread never has."""
    return any(_KERNEL_NAME.match(text) for text in (name, cmdline[0] if cmdline else "")
               if text)


def in_temp_dir(exe: str, root: str | None = None) -> bool:
    """The executable lies in a temporary or world-writable directory (as the process sees
    it: `root` is its /proc/<pid>/root when readable)."""
    folder = os.path.dirname(exe)
    if any(folder == top or folder.startswith(top + "/") for top in TEMP_DIRS):
        return True
    for where in ([f"{root}{folder}"] if root else []) + [folder]:
        try:
            return bool(os.stat(where).st_mode & 0o002)
        except OSError:
            continue
    return False


class ProvenanceReader:
    """Examines processes (one `read` per new process) with a shared, remembered package index.

    `proc=None` reads nothing from /proc: the flags are judged from the name, path and command
    line given (for processes that are not this system's, as a scripted psutil's in tests)."""

    def __init__(self, proc: str | None = "/proc", packages: PackageIndex | None = None) -> None:
        self._proc = proc
        self.packages = packages if packages is not None else PackageIndex()

    def prefetch(self, pids: Iterable[int]) -> None:
        """Look up the packages of these processes' executables in one pass."""
        if self._proc is None:
            return
        paths = []
        for pid in pids:
            exe, _ = running_exe(pid, self._proc)
            if exe:
                paths.append(exe)
        if paths:
            self.packages.lookup_many(paths)

    def read(self, pid: int, name: str, exe: str | None,
             cmdline: Sequence[str]) -> Provenance:
        running, deleted = running_exe(pid, self._proc) if self._proc else (None, None)
        path = running or exe
        flags: list[str] = []
        package: Package | None = None
        if path:
            package = self._bundle(pid, path)
            if deleted:
                flags.append(EXE_DELETED)
            root = f"{self._proc}/{pid}/root" if self._proc else None
            if (package is None or package.manager != "appimage") and in_temp_dir(path, root):
                flags.append(EXE_IN_TEMP_DIR)
            if kernel_like(name, cmdline):
                flags.append(KERNEL_LIKE_NAME)
            if name_mismatch(name, path, cmdline):
                flags.append(NAME_MISMATCH)
            if package is None:
                package = self.packages.lookup(path)
        return Provenance(exe_deleted=deleted, package=package, flags=tuple(flags))

    def _bundle(self, pid: int, exe: str) -> Package | None:
        """flatpak (its /.flatpak-info), snap (/snap/...) or AppImage (its FUSE mount)."""
        if self._proc is None:
            return recognise_bundle(exe)
        info = None
        try:
            with open(f"{self._proc}/{pid}/root/.flatpak-info", encoding="utf-8",
                      errors="replace") as handle:
                info = handle.read(65536)
        except OSError:
            pass
        appimage = None
        if exe.startswith(APPIMAGE_MOUNT):
            appimage = self._environ(pid).get("APPIMAGE")
        return recognise_bundle(exe, info, appimage)

    def _environ(self, pid: int) -> dict[str, str]:
        try:
            with open(f"{self._proc}/{pid}/environ", "rb") as handle:
                data = handle.read(1 << 20)
        except OSError:
            return {}
        pairs = (item.split(b"=", 1) for item in data.split(b"\0") if b"=" in item)
        return {key.decode(errors="replace"): value.decode(errors="surrogateescape")
                for key, value in pairs}
