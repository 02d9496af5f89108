"""Real listener processes whose name, command line and executable path are hostile text.

The name comes from a symlink to the real interpreter binary named with the hostile text (the
kernel's comm keeps 15 bytes, and psutil's name() takes the longer command-line basename when
comm is cut); an executable path with undecodable bytes is a hard link (or copy) of the
interpreter in a directory whose name is not UTF-8. Every process listens on 127.0.0.1 only
and is ended by its pid.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from portwatch.core.text import visible

# The listener body; the extra argv words are only there to be hostile.
LISTENER = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM if sys.argv[1]=='udp' else"
    " socket.SOCK_STREAM)\n"
    "import os\n"
    "s.bind(('127.0.0.1',int(os.environ.get('HOSTILE_PORT','0'))))\n"
    "sys.argv[1]=='udp' or s.listen()\n"
    "print(s.getsockname()[1],flush=True)\n"
    "sys.stdin.read()\n"
)

ESC_CLEAR = "\x1b[2J\x1b[H"
RLO = "\u202e"
BAD_BYTES = b"\xff\xfe"  # not UTF-8: Python reads them as the surrogates \udcff\udcfe

# Names (file names: any byte but "/" and NUL). Each is what the process will be called.
HOSTILE_NAMES: dict[str, bytes] = {
    "html-img": b"<img src=x onerror=alert(1)>",
    "html-short": b"<img src=x>",
    "bold-tag": b"<b>bold<\\b>",
    "rlo": "evil\u202etxt.exe".encode(),
    "escape": b"\x1b[2J\x1b[31mred",
    "bell-cr-lf": b"bell\x07cr\rlf\nend",
    "formula": b"=HYPERLINK(1)",
    "undecodable": b"bad" + BAD_BYTES + b"name",
    "zero-width": "zero\u200bwidth\u2066iso".encode(),
}

# Extra command-line words (any byte but NUL).
HOSTILE_ARGS: dict[str, bytes] = {
    "html-bold": b"<b>x</b>",
    "html-img": b"<img src=x onerror=alert(1)>",
    "script": b"<script>alert(1)</script>",
    "rlo": "\u202edoc.pdf".encode(),
    "escape": ESC_CLEAR.encode(),
    "bell": b"\x07",
    "cr": b"\r",
    "lf": b"line1\nline2",
    "formula-eq": b"=1+1",
    "formula-at": b"@SUM(A1)",
    "formula-plus": b"+cmd|' /C calc'!A0",
    "formula-tab": b"\t=1",
    "undecodable": b"arg" + BAD_BYTES,
    "huge": b"A" * (100 * 1024),
}


@dataclass
class HostileProcess:
    label: str
    proc: subprocess.Popen
    port: int
    proto: str
    argv: list[str]  # as Python (psutil) reads it: surrogate escapes for undecodable bytes
    exe: str  # the path the kernel reports, as Python reads it

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # our own child, by its pid
            self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream:
                stream.close()


def real_interpreter() -> str:
    return os.path.realpath(sys.executable)


def _start(label: str, program: bytes, args: list[bytes], proto: str, port: int = 0
           ) -> HostileProcess:
    argv = [program, b"-c", LISTENER.encode(), proto.encode(), *args]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ,
                                                            "HOSTILE_PORT": str(port)})
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        proc.wait(5)
        raise OSError(f"hostile listener {label!r} did not start")
    return HostileProcess(label, proc, int(line), proto, [os.fsdecode(a) for a in argv],
                          os.fsdecode(os.readlink(f"/proc/{proc.pid}/exe"))
                          if os.path.exists(f"/proc/{proc.pid}/exe") else "")


def start_named(folder: Path, label: str, name: bytes, proto: str = "tcp",
                args: list[bytes] = (), port: int = 0) -> HostileProcess:
    """A listener whose program (argv[0], and so its name) is `name`: a symlink to the real
    interpreter binary. It listens on 127.0.0.1:`port` (0: any free port)."""
    link = os.path.join(os.fsencode(folder), name)
    if not os.path.lexists(link):
        os.symlink(real_interpreter(), link)
    return _start(label, link, list(args), proto, port)


def start_with_args(folder: Path, label: str, args: list[bytes], proto: str = "tcp"
                    ) -> HostileProcess:
    return _start(label, os.fsencode(real_interpreter()), args, proto)


def start_undecodable_exe(folder: Path, proto: str = "tcp") -> HostileProcess:
    """A listener whose executable path itself holds undecodable bytes: a hard link (or a
    copy) of the interpreter binary in a directory named with them."""
    directory = os.path.join(os.fsencode(folder), b"dir" + BAD_BYTES)
    os.makedirs(directory, exist_ok=True)
    program = os.path.join(directory, b"py" + BAD_BYTES)
    if not os.path.lexists(program):
        try:
            os.link(real_interpreter(), program)
        except OSError:
            shutil.copy2(real_interpreter(), program)
    return _start("undecodable-exe", program, [], proto)


def shown(text: str) -> str:
    """How a hostile string must look wherever portwatch shows it to a person."""
    return visible(text)


def raw_dangers(text: str) -> list[str]:
    """Characters that must never reach a screen as they are: control characters (but the
    newlines a caller put between lines), bidi controls, lone surrogates."""
    bad = []
    for ch in text:
        code = ord(ch)
        control = code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0
        bidi = code in (0x200E, 0x200F, 0x061C) or 0x202A <= code <= 0x202E \
            or 0x2066 <= code <= 0x2069
        surrogate = 0xD800 <= code <= 0xDFFF
        if ch != "\n" and (control or bidi or surrogate):
            bad.append(ch)
    return bad
