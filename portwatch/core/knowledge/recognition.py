"""Which program a listening process is: its executable first, never a substring, and whether
its process name can be believed.

Evidence, strongest first (`Recognition.by`):

1. ``executable``: the file name of the process's executable (/proc/PID/exe), compared whole
   with a software's `executables` (``redis-server``; a version suffix is ignored, so
   ``php-fpm8.2`` is ``php-fpm``). When the program was started through a link to that file
   (argv[0] is an absolute path that resolves to the executable and gave the process its name:
   /usr/sbin/mysqld -> mariadbd), the link's name counts as the executable's: it is the name
   the kernel gave the process, not one the program chose.
2. ``script``: when the executable is an interpreter (python, node, java, ruby, perl, sh ...),
   the program it runs: the script's file name without its extension (``jupyter-lab``,
   ``vite.js``), a Python module (``-m http.server``), a Java main class or jar.
3. ``package``: the package that owns the executable (dpkg), when the caller knows it.
4. ``process name``: only when the executable cannot be seen (another user's process).
5. ``command line``: the words of the whole command line, for the patterns of the port's own
   known uses only, and only patterns of 5 characters or more (``tor``, ``ray``, ``ssh``, ``obs``
   never match by chance in a path).

Patterns always match whole words: letters and digits around a pattern end it, so ``obs`` is
not in ``jobs`` and ``ssh`` is not in ``sshd`` (a trailing version number is allowed:
``python3``, ``apache2``; so is a daemon's "d" after a pattern of 5 characters or more:
``minidlna`` is ``minidlnad``).

A process name is chosen by the program (prctl, setproctitle): one that names a known program
while the executable is something else (python calling itself ``sshd``) is flagged
``name-mismatch`` and recognises nothing. Two more trust flags come from the executable's path:
``exe-deleted`` (the file was removed or replaced after start) and ``exe-in-temp-dir``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from portwatch.core.knowledge.software_index import VERSION, SoftwareIndex, stem
from portwatch.core.model import (
    EXE_DELETED,
    EXE_IN_TEMP_DIR,
    NAME_MISMATCH,
    KnownUse,
    ProcessInfo,
    Software,
)

MAX_CMDLINE_CHARS = 4096  # of the command line (joined by spaces) that patterns see
MIN_ARGUMENT_PATTERN = 5  # shorter patterns are compared with program names only
COMM_LEN = 15  # Linux keeps 15 characters of a process name

TEMP_DIRS = ("/tmp/", "/var/tmp/", "/dev/shm/")  # noqa: S108 - compared with, not used
_DELETED = " (deleted)"

INTERPRETERS = frozenset({
    "python", "pypy", "node", "nodejs", "deno", "bun", "java", "ruby", "perl", "php", "bash",
    "sh", "dash", "zsh", "ksh", "lua", "luajit", "rscript", "dotnet", "mono", "tclsh", "gjs",
    "beam.smp", "erl", "elixir", "julia", "uv", "uvx", "npx", "pnpm", "yarn",
})
# Multi-call programs: their process name is the applet they run (busybox httpd), so a name
# that differs from the executable is expected.
MULTI_CALL = frozenset({"busybox", "toybox"})
# Options that take a value, so the word after them is not the script
_VALUE_OPTIONS = frozenset({
    "-W", "-X", "-Q", "-cp", "-classpath", "--class-path", "-p", "--module-path", "-r",
    "--require", "--loader", "--import", "-I", "-e", "-C", "--add-opens", "--add-modules",
    "--env-file", "--inspect-port", "-jar",
})


@dataclass(frozen=True, slots=True)
class ProcessNames:
    """What a process says about itself, lower-cased: see module docstring."""

    exe: str  # the executable's file name ("" when unknown)
    program: str  # the executable's name, or the script/module/class it runs ("" if none)
    program_by: str  # "executable" or "script" ("" when there is no program name)
    comm: str  # the process name
    args: str  # the command line, words joined by spaces (first 4 KB)
    flags: tuple[str, ...]  # exe-deleted, exe-in-temp-dir


@dataclass(frozen=True, slots=True)
class Recognition:
    """Which software a process is, how portwatch knows, and what it cannot believe."""

    software: Software | None = None
    by: str = ""  # executable | script | package | process name | command line ("": none)
    uses: tuple[KnownUse, ...] = ()  # the port's known uses the process is
    flags: tuple[str, ...] = ()
    claimed: str | None = None  # the software a mismatched process name claims to be
    exe: str = ""  # the executable's file name, for reasons
    names: tuple[str, ...] = ()  # the program names portwatch believes, for note patterns
    usual: bool = False  # the port lists this program among its known uses
    held_for: str | None = None  # a forwarder: what it holds the port for (see FORWARDERS)

    @property
    def name(self) -> str | None:
        """The recognised program's name (software, else first known use)."""
        if self.software is not None:
            return self.software.name
        return self.uses[0].software if self.uses else None


UNKNOWN = Recognition()

# Programs that hold a port on behalf of another one, by process name or executable file name
# (lower case, without ".exe"), with the words the reason uses for them.
_CONTAINER = "a container's published port"
_ON_DEMAND = "a port the service manager opens for a service it starts on demand"
_FORWARD = "a forwarded port"
_VM = "a virtual machine's forwarded port"
_WINDOWS = "a port held by a shared Windows process"
FORWARDERS: dict[str, str] = {
    **dict.fromkeys(("docker-proxy", "rootlessport", "rootlesskit", "slirp4netns", "pasta",
                     "pasta.avx2", "gvproxy", "vpnkit", "com.docker.backend",
                     "com.docker.proxy", "conmon"), _CONTAINER),
    **dict.fromkeys(("systemd", "launchd", "inetd", "xinetd"), _ON_DEMAND),
    **dict.fromkeys(("ssh", "kubectl", "socat", "wslrelay", "wslhost"), _FORWARD),
    **dict.fromkeys(("vboxheadless", "virtualboxvm", "virtualbox", "qemu-kvm", "vmnat",
                     "vmware-natd"), _VM),
    **dict.fromkeys(("system", "svchost"), _WINDOWS),
}
_FORWARDER_PREFIXES = (("qemu-system-", _VM),)


def forwarder(process: ProcessInfo | None) -> str | None:
    """What the process is when it only holds the port for another program ("a container's
    published port"); None for an ordinary program or an unknown owner."""
    if process is None:
        return None
    for name in (process.name, base_name(process.exe)):
        name = name.lower().removesuffix(".exe") if name else ""
        if not name:
            continue
        label = FORWARDERS.get(name)
        if label is None:
            label = next((label for prefix, label in _FORWARDER_PREFIXES
                          if name.startswith(prefix)), None)
        if label is not None:
            return label
    return None


def base_name(path: str | None) -> str:
    return (path or "").replace("\\", "/").removesuffix(_DELETED).rsplit("/", 1)[-1].lower()


def is_interpreter(exe_name: str) -> bool:
    return stem(exe_name) in INTERPRETERS or exe_name in INTERPRETERS


def script_of(cmdline: Sequence[str]) -> str:
    """The program an interpreter runs: a script's file name, "-m module", a Java main class
    or jar; "" for `-c code` or nothing."""
    args = list(cmdline[1:])
    index = 0
    while index < len(args):
        word = args[index]
        if word in ("-m", "--module") and index + 1 < len(args):
            return args[index + 1].lower()
        if word == "-jar" and index + 1 < len(args):
            return base_name(args[index + 1])
        if word in ("-c", "--eval", "-e"):
            return ""
        if word in _VALUE_OPTIONS:
            index += 2
            continue
        if word.startswith("-"):
            index += 1
            continue
        return base_name(word)
    return ""


def process_names(process: ProcessInfo) -> ProcessNames:
    exe = base_name(process.exe)
    flags = []
    raw_exe = process.exe or ""
    if raw_exe.endswith(_DELETED) or EXE_DELETED in _extra_flags(process):
        flags.append(EXE_DELETED)
    if raw_exe.startswith(TEMP_DIRS) or EXE_IN_TEMP_DIR in _extra_flags(process):
        flags.append(EXE_IN_TEMP_DIR)
    flags.extend(flag for flag in _extra_flags(process) if flag not in flags)
    program, program_by = "", ""
    launched = _launched_as(process, exe)
    if launched and not is_interpreter(launched):
        program, program_by = launched, "executable"
    elif exe and not is_interpreter(exe):
        program, program_by = exe, "executable"
    elif exe or (process.cmdline and is_interpreter(base_name(process.cmdline[0]))):
        program = script_of(process.cmdline)
        program_by = "script" if program else ""
    args = " ".join(process.cmdline)[:MAX_CMDLINE_CHARS].lower()
    return ProcessNames(exe, program, program_by, (process.name or "").lower(), args,
                        tuple(flags))


def _launched_as(process: ProcessInfo, exe: str) -> str:
    """The file name the program was started by, when that is a link to its executable
    (/usr/sbin/mysqld -> mariadbd, a packaged python script's interpreter link): the name the
    kernel gave the process. "" when it is not (a renamed process, or no absolute path)."""
    argv0 = process.cmdline[0] if process.cmdline else ""
    name = base_name(argv0)
    if not (exe and argv0.startswith("/") and name != exe
            and name[:COMM_LEN] == (process.name or "").lower()):
        return ""
    try:
        same = os.path.realpath(argv0) == os.path.realpath(
            (process.exe or "").removesuffix(_DELETED))
    except (OSError, ValueError):
        return ""
    return name if same else ""


def _extra_flags(process: ProcessInfo) -> tuple[str, ...]:
    """The trust flags the provenance probe found (core/probe/provenance.py), if it ran."""
    provenance = getattr(process, "provenance", None)
    return tuple(provenance.flags) if provenance is not None else ()


@lru_cache(maxsize=4096)
def _word(pattern: str) -> re.Pattern[str]:
    # A long name may also appear as its daemon ("minidlna" -> "minidlnad")
    daemon = "d?" if len(pattern) >= MIN_ARGUMENT_PATTERN and pattern[-1].isalnum() else ""
    return re.compile(r"(?<![a-z0-9])" + re.escape(pattern) + daemon
                      + r"(?:\d[\d.]*)?(?![a-z0-9])")


def word_match(pattern: str, text: str) -> bool:
    """Whether `pattern` occurs in `text` as whole words (see module docstring)."""
    return bool(text) and _word(pattern).search(text) is not None


def name_is(name: str, candidates: Iterable[str]) -> bool:
    """Whether a program name is one of `candidates`, whole (or without suffix/version)."""
    if not name:
        return False
    forms = {name, stem(name), VERSION.sub("", name)}
    return any(c in forms for c in candidates)


def _uses_matching(uses: Iterable[KnownUse], names: Iterable[str], args: str) -> list[KnownUse]:
    names = [n for n in names if n]
    found = []
    for use in uses:
        for pattern in use.match:
            if any(word_match(pattern, n) for n in names) or (
                    len(pattern) >= MIN_ARGUMENT_PATTERN and word_match(pattern, args)):
                found.append(use)
                break
    return found


EMPTY_INDEX = SoftwareIndex(())


def recognise(process: ProcessInfo | None, uses: Sequence[KnownUse] = (),
              index: SoftwareIndex = EMPTY_INDEX, package: str | None = None) -> Recognition:
    """Which software `process` is (None: unknown owner), among `index` on any port and the
    port's own known `uses`. `package` is the name of the package owning the executable when a
    probe knows it."""
    if process is None or not (process.name or process.exe or process.cmdline):
        return UNKNOWN
    names = process_names(process)
    held_for = forwarder(process)
    if held_for is not None:  # it holds the port for a program it does not name
        return Recognition(flags=names.flags, exe=names.exe, held_for=held_for)
    software, by = None, ""
    if names.program:
        software = index.by_name(names.program)
        by = names.program_by if software else ""
    if software is None and (found := index.by_package(package)) is not None:
        software, by = found, "package"
    program_names = [names.program] + ([stem(names.exe)] if names.program_by == "script" else [])
    port_uses = _uses_matching(uses, [names.program], "") if names.program else []
    if port_uses and not by:
        by = names.program_by
    # The process name: believed when the executable is unknown or agrees with it
    claimed = _claimed(names, uses, index)
    flags = list(names.flags)
    mismatch = claimed is not None and names.exe and not _agrees(names, claimed, software,
                                                                  port_uses)
    if mismatch and NAME_MISMATCH not in flags:
        flags.append(NAME_MISMATCH)
    elif not names.exe and software is None and not port_uses:
        software = index.by_name(names.comm)
        port_uses = _uses_matching(uses, [names.comm], "")
        if software is not None or port_uses:
            by = "process name"
    if software is None and not port_uses and not mismatch:
        port_uses = _uses_matching(uses, [names.comm, *program_names], names.args)
        if port_uses:
            by = "command line"
    usual = bool(port_uses)
    if software is not None:  # the same name on every port; the port's own words when it has
        usual = any(use.software == software.name or any(
            name_is(p, software.executables) for p in use.match) for use in uses)
        port_uses = [next((use for use in uses if use.software == software.name),
                          software.as_use())]
    believed = [names.program] if names.program else []
    if not names.exe and names.comm:
        believed.append(names.comm)
    return Recognition(software, by if (software or port_uses) else "", tuple(port_uses),
                       tuple(flags), claimed if mismatch else None, names.exe,
                       tuple(dict.fromkeys(believed)), usual)


def _claimed(names: ProcessNames, uses: Sequence[KnownUse], index: SoftwareIndex) -> str | None:
    """The program the process name says it is, when it names one (not an interpreter)."""
    comm = names.comm
    if not comm or is_interpreter(comm) or names.exe in MULTI_CALL:
        return None
    found = index.by_name(comm)
    if found is not None:
        return found.name
    claimed = _uses_matching(uses, [comm], "")
    return claimed[0].software if claimed else None


def _agrees(names: ProcessNames, claimed: str, software: Software | None,
            port_uses: list[KnownUse]) -> bool:
    """Whether the process name fits the executable: the same file name (Linux cuts names to
    15 characters), the script an interpreter runs, or the same software."""
    comm = names.comm
    for name in (names.exe, names.program):
        if name and (name[:COMM_LEN] == comm or stem(name) == stem(comm)):
            return True
    if software is not None and software.name == claimed:
        return True
    return any(use.software == claimed for use in port_uses)
