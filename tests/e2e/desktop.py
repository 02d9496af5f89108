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
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from children import end_child

REQUIRED = ("Xvfb", "dbus-daemon", "dunst", "dunstctl", "trayer", "xdotool", "xwininfo")
FIRST_DISPLAY = 170
LAST_DISPLAY = 199

DUNST_CONFIG = """[global]
    history_length = 2000
"""

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
  <!-- the limits of the standard session bus (session.conf), not the system bus's -->
  <limit name="max_replies_per_connection">50000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
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
            end_child(proc, 5)
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
        env["QT_QPA_PLATFORM"] = "xcb"  # a real window, not the test run's offscreen one
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
            end_child(proc, 5)  # lost a race for this display number: try the next one
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
        config = self.workdir / "dunstrc"
        config.write_text(DUNST_CONFIG)
        self._spawn("dunst", ["dunst", "-config", str(config)])
        _wait_for(self.notifications_ready, 10, "dunst")

    def stop_dunst(self) -> None:
        for name, proc in list(self._procs):
            if name == "dunst":
                end_child(proc, 5)
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
        """The X window id of trayer's panel (WM_CLASS "panel", "trayer"), or None."""
        for line in self._tree():
            if '("panel" "trayer")' in line:
                return line.split()[0]
        return None

    def tray_icons(self) -> list[str]:
        """Names of the windows embedded in trayer's panel: the tray icons (a Qt tray icon's
        window is named after the application)."""
        lines = self._tree()
        for index, line in enumerate(lines):
            if '("panel" "trayer")' in line:
                depth = len(line) - len(line.lstrip())
                names = []
                for child in lines[index + 1:]:
                    if child.strip() and len(child) - len(child.lstrip()) <= depth:
                        break
                    if child.strip().startswith("0x") and '"' in child.split(":")[0]:
                        names.append(child.split('"')[1])
                return names
        return []

    def click_tray_icon(self, name: str = "portwatch", button: int = 3) -> None:
        """Click the tray icon of `name` (3: the right button, which opens its menu). The
        panel is raised first: without a window manager a window may cover it."""
        panel = self.trayer_window()
        if panel is None:
            raise AssertionError("no trayer panel")
        subprocess.run(["xdotool", "windowraise", panel], env=self.env, check=True, timeout=5)
        lines = self._tree()
        start = next(i for i, line in enumerate(lines) if '("panel" "trayer")' in line)
        for line in lines[start + 1:]:
            match = re.search(r'"([^"]*)":.*\s(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(-?\d+)\+(-?\d+)\s*$',
                              line)
            if match and match.group(1) == name:
                width, height, x, y = (int(value) for value in match.groups()[1:])
                subprocess.run(["xdotool", "mousemove", str(x + width // 2),
                                str(y + height // 2), "click", str(button)],
                               env=self.env, check=True, timeout=5)
                return
        raise AssertionError(f"no tray icon named {name!r}")

    def keys(self, *names: str) -> None:
        """Press keys (xdotool names) in whatever has the keyboard."""
        subprocess.run(["xdotool", "key", *names], env=self.env, check=True, timeout=5)

    def _tree(self) -> list[str]:
        result = subprocess.run(["xwininfo", "-root", "-tree"], env=self.env,
                                capture_output=True, text=True, timeout=5)
        return result.stdout.splitlines()

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

    def watch_bus(self) -> BusWatcher:
        """Start watching notification traffic on this session's bus (stop() it after)."""
        return BusWatcher(self.bus_address)

    def window_ids(self, name: str) -> list[str]:
        result = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", name],
                                env=self.env, capture_output=True, text=True, timeout=5)
        return result.stdout.split()


class BusWatcher:
    """Everything said to and by org.freedesktop.Notifications on a bus, seen as a monitor
    (org.freedesktop.DBus.Monitoring.BecomeMonitor) and decoded by jeepney: the exact
    arguments of each Notify call, the id the server answered, the signals it sent.

    Test code only: a plain thread reads the monitor connection until `stop()`."""

    RULES = (
        "type='method_call',interface='org.freedesktop.Notifications'",
        "type='method_return'",
        "type='error'",
        "type='signal',interface='org.freedesktop.Notifications'",
    )

    def __init__(self, bus_address: str) -> None:
        import threading

        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        self._conn = open_dbus_connection(bus_address)
        monitoring = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus",
                                 interface="org.freedesktop.DBus.Monitoring")
        reply = self._conn.send_and_get_reply(
            new_method_call(monitoring, "BecomeMonitor", "asu", (list(self.RULES), 0)), timeout=5)
        if reply.header.message_type.name == "error":
            raise RuntimeError(f"BecomeMonitor failed: {reply.body}")
        self.messages: list[tuple[float, object]] = []
        self._lock = threading.Lock()
        self._running = True
        self._thread = threading.Thread(target=self._read, name="bus-watcher", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._running:
            try:
                message = self._conn.receive(timeout=0.2)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.messages.append((time.monotonic(), message))

    def stop(self) -> None:
        self._running = False
        self._thread.join(5)
        self._conn.close()

    def notify_calls(self) -> list[dict]:
        """Each Notify call: time (monotonic), app, icon, summary, body, actions, hints, and
        the server's id once it answered (None before, or when it refused)."""
        from jeepney import HeaderFields, MessageType

        with self._lock:
            messages = list(self.messages)
        calls: dict[tuple[str, int], dict] = {}
        for when, message in messages:
            fields = message.header.fields
            kind = message.header.message_type
            if kind is MessageType.method_call and fields.get(HeaderFields.member) == "Notify":
                app, _replaces, icon, summary, body, actions, hints, timeout = message.body
                calls[(fields.get(HeaderFields.sender), message.header.serial)] = {
                    "time": when, "app": app, "icon": icon, "summary": summary, "body": body,
                    "actions": list(actions), "hints": dict(hints), "timeout": timeout,
                    "id": None}
            elif kind is MessageType.method_return:
                key = (fields.get(HeaderFields.destination), fields.get(HeaderFields.reply_serial))
                if key in calls and message.body:
                    calls[key]["id"] = message.body[0]
                    calls[key]["answered"] = when
        return sorted(calls.values(), key=lambda call: call["time"])


# A deadline only bounds a failure: a condition that holds returns at once. On a loaded 2-core
# machine a real program under Xvfb can take many times its quiet-machine time (a notification
# "not seen within 15 s" was a busy machine, not a bug), so no wait is shorter than this.
MIN_DEADLINE = 60.0


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll `predicate` until it returns something true (returned) or fail after `timeout`
    seconds, or MIN_DEADLINE if that is longer."""
    timeout = max(timeout, MIN_DEADLINE)
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout} s")
        time.sleep(interval)


class PortwatchProcess:
    """The real program (`python -m portwatch --debug`) on a DesktopSession, output to a file."""

    def __init__(self, session: DesktopSession, log_path: Path,
                 argv: list[str] | None = None) -> None:
        self.session = session
        self.log_path = log_path
        self.argv = argv or [sys.executable, "-m", "portwatch", "--debug"]
        self.proc: subprocess.Popen | None = None

    def start(self) -> PortwatchProcess:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.session.env)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_until_watching(self, timeout: float = 30, window: bool = True) -> None:
        """Until the first poll (the baseline) is done and, with `window`, the window shows."""
        def ready() -> bool:
            if not self.running():
                raise AssertionError(f"portwatch ended early:\n{self.log()}")
            shown = not window or bool(self.session.window_ids("portwatch"))
            return shown and "first poll:" in self.log()
        try:
            wait_until(ready, timeout, "portwatch window and first poll")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- portwatch output:\n{self.log()}") from None

    def stop(self) -> None:
        if self.proc is not None:
            end_child(self.proc, 5)
