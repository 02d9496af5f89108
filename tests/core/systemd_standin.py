"""A stand-in for systemd's D-Bus API on a private bus, for tests: systemd is not PID 1 on the
test machines, so nothing real answers `org.freedesktop.systemd1` there. It serves the two calls
portwatch makes — Manager.ListUnitsByPatterns and Properties.Get(Socket, "Listen") — for one
socket unit, with the same signatures as systemd 252.

    python systemd_standin.py BUS_ADDRESS UNIT LISTEN   (e.g. pwtest.socket 127.0.0.1:8123)
"""

from __future__ import annotations

import sys

from jeepney import MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

UNIT_PATH = "/org/freedesktop/systemd1/unit/pwtest_2esocket"


def main() -> int:
    address, unit, listen = sys.argv[1:4]
    conn = open_dbus_connection(bus=address)
    conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.systemd1"))
    print("ready", flush=True)
    while True:
        msg = conn.receive()
        if msg.header.message_type is not MessageType.method_call:
            continue
        member = msg.header.fields.get(3)
        if member == "ListUnitsByPatterns":
            row = (unit, "stand-in socket", "loaded", "active", "listening", "", UNIT_PATH,
                   0, "", "/")
            conn.send(new_method_return(msg, "a(ssssssouso)", ([row],)))
        elif member == "Get" and msg.body == ("org.freedesktop.systemd1.Socket", "Listen"):
            conn.send(new_method_return(msg, "v", (("a(ss)", [("Stream", listen)]),)))
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))


if __name__ == "__main__":
    sys.exit(main())
