"""A private desktop for tests: Xvfb, a D-Bus session bus, dunst and trayer, ended by their PIDs.

`DesktopSession.start()` starts each program as our own child and waits until it is ready:
Xvfb on a free display from :170 (`-nolisten tcp`: only its Unix socket), a dbus-daemon with a
config of our own (a Unix socket in a temp dir, no service activation, so nothing else is
started behind our back), dunst (the notification server) and trayer (an XEmbed tray host).
`stop()` terminates exactly those PIDs. `env` holds DISPLAY and DBUS_SESSION_BUS_ADDRESS for
programs that should live on that desktop.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

REQUIRED = ("Xvfb", "dbus-daemon", "dunst", "dunstctl", "trayer", "xdotool", "xwininfo")
FIRST_DISPLAY = 170
LAST_DISPLAY = 199

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def missing_programs() -> list[str]:
    """The programs a desktop session needs that are not installed."""
    return [name for name in REQUIRED if shutil.which(name) is None]


def _wait_for(predicate, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout} s")


class DesktopSession:
    """Xvfb + private dbus-daemon + dunst (+ trayer) for one test module or test."""

    def __init__(self, *, tray: bool = True, notifications: bool = True,
                 size: str = "1280x800x24") -> None:
        self.tray = tray
        self.notifications = notifications
        self.size = size
        self.workdir = Path(tempfile.mkdtemp(prefix="pw-desktop-"))
        self.display = ""
        self.bus_address = ""
        self._procs: list[tuple[str, subprocess.Popen]] = []

    # -- lifetime ----------------------------------------------------------------------------

    def start(self) -> DesktopSession:
        try:
            self._start_xvfb()
            self._start_bus()
            if self.notifications:
                self.start_dunst()
            if self.tray:
                self._start_trayer()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """End every program we started, by its PID, newest first."""
        for _name, proc in reversed(self._procs):
            _end(proc)
        self._procs.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> DesktopSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def env(self) -> dict[str, str]:
        """os.environ for a program on this desktop (no other bus, no other display)."""
        env = dict(os.environ)
        env.pop("WAYLAND_DISPLAY", None)
        env.pop("XAUTHORITY", None)
        env["DISPLAY"] = self.display
        env["DBUS_SESSION_BUS_ADDRESS"] = self.bus_address
        return env

    def pid_of(self, name: str) -> int | None:
        for each, proc in self._procs:
            if each == name and proc.poll() is None:
                return proc.pid
        return None

    # -- programs ----------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], **kwargs) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        try:
            proc = subprocess.Popen(argv, stdout=kwargs.pop("stdout", log), stderr=log,
                                    stdin=subprocess.DEVNULL, env=kwargs.pop("env", self.env),
                                    **kwargs)
        finally:
            log.close()
        self._procs.append((name, proc))
        return proc

    def _start_xvfb(self) -> None:
        for number in range(FIRST_DISPLAY, LAST_DISPLAY + 1):
            if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
                continue
            self.display = f":{number}"
            proc = self._spawn("xvfb", ["Xvfb", self.display, "-screen", "0", self.size,
                                        "-nolisten", "tcp", "-nolisten", "local"],
                               env=dict(os.environ))
            socket_path = Path(f"/tmp/.X11-unix/X{number}")
            with contextlib.suppress(TimeoutError):
                _wait_for(lambda p=proc, s=socket_path: p.poll() is not None or self._x_ok(),
                          10, f"Xvfb {self.display}")
            if proc.poll() is None and socket_path.exists():
                return
            self._procs.remove(("xvfb", proc))
            _end(proc)  # lost a race for this display number: try the next one
        raise RuntimeError(f"no free X display in :{FIRST_DISPLAY}-:{LAST_DISPLAY}")

    def _x_ok(self) -> bool:
        result = subprocess.run(["xdotool", "getdisplaygeometry"], env=self.env,
                                capture_output=True, timeout=5)
        return result.returncode == 0

    def _start_bus(self) -> None:
        config = self.workdir / "bus.conf"
        bus_dir = self.workdir / "bus"
        bus_dir.mkdir()
        config.write_text(BUS_CONFIG.format(dir=bus_dir))
        proc = self._spawn("dbus", ["dbus-daemon", f"--config-file={config}", "--nofork",
                                    "--print-address"], stdout=subprocess.PIPE)
        line = proc.stdout.readline().decode().strip()
        proc.stdout.close()
        if not line:
            raise RuntimeError(f"dbus-daemon did not start: {self.log('dbus')}")
        self.bus_address = line

    def start_dunst(self) -> None:
        """Start (or restart) the notification server and wait until it owns its name."""
        self._spawn("dunst", ["dunst", "-config", "/dev/null"])
        _wait_for(self.notifications_ready, 10, "dunst")

    def stop_dunst(self) -> None:
        for name, proc in list(self._procs):
            if name == "dunst":
                _end(proc)
                self._procs.remove((name, proc))

    def notifications_ready(self) -> bool:
        result = subprocess.run(["dunstctl", "is-paused"], env=self.env, capture_output=True,
                                timeout=5)
        return result.returncode == 0

    def _start_trayer(self) -> None:
        self._spawn("trayer", ["trayer", "--edge", "top", "--align", "right", "--widthtype",
                               "pixel", "--width", "160", "--heighttype", "pixel", "--height",
                               "24", "--SetDockType", "true", "--expand", "true"])
        _wait_for(lambda: self.trayer_window() is not None, 10, "trayer")

    # -- observing ---------------------------------------------------------------------------

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def trayer_window(self) -> str | None:
        """The X window id of trayer's panel, or None."""
        result = subprocess.run(["xdotool", "search", "--class", "trayer"], env=self.env,
                                capture_output=True, text=True, timeout=5)
        ids = result.stdout.split()
        return ids[0] if ids else None

    def tray_icons(self) -> list[str]:
        """Lines of `xwininfo -tree` for the windows embedded in trayer's panel (tray icons)."""
        panel = self.trayer_window()
        if panel is None:
            return []
        result = subprocess.run(["xwininfo", "-tree", "-id", panel], env=self.env,
                                capture_output=True, text=True, timeout=5)
        lines = [line.strip() for line in result.stdout.splitlines()]
        return [line for line in lines if line.startswith("0x")]

    def notification_history(self) -> list[dict[str, str]]:
        """Notifications dunst has shown and closed or still shows: [{summary, body, appname,
        urgency, id}], oldest first. Displayed ones are moved to history first (`dunstctl
        close-all`), so call it once per check."""
        subprocess.run(["dunstctl", "close-all"], env=self.env, capture_output=True, timeout=5)
        result = subprocess.run(["dunstctl", "history"], env=self.env, capture_output=True,
                                text=True, timeout=5)
        if result.returncode != 0 or not result.stdout.strip():
            return []
        data = json.loads(result.stdout)
        items = []
        for entry in data.get("data", [[]])[0]:
            items.append({key: value.get("data") for key, value in entry.items()
                          if isinstance(value, dict)})
        return sorted(items, key=lambda item: item.get("id", 0))

    def window_ids(self, name: str) -> list[str]:
        result = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", name],
                                env=self.env, capture_output=True, text=True, timeout=5)
        return result.stdout.split()


def _end(proc: subprocess.Popen) -> None:
    """Terminate one child we started, by its PID; kill it if it does not go."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
