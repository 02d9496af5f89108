"""The window takes a field added by its declaration alone (portwatch.core.fields): the filter
finds a listener by its parent's name and the details pane shows the parent."""

from __future__ import annotations

from portwatch.core.model import AnnotatedListener, Exposure, Family, Listener, ProcessInfo, Proto
from portwatch.gui.models.filter_proxy import ListenerFilter, matches
from portwatch.gui.views import report


def owned(ppid: int, parent: str) -> AnnotatedListener:
    proc = ProcessInfo(4187, "nginx", "www-data", "/usr/sbin/nginx", ("nginx",), 1.0, ppid,
                       parent=parent)
    return AnnotatedListener(Listener(Proto.TCP, Family.IPV4, "0.0.0.0", 80,
                                      Exposure.ALL_INTERFACES, proc))


def test_the_filter_finds_a_listener_by_its_parent():
    assert matches(owned(4180, "supervisord"), ListenerFilter(text="SUPERVISORD"))
    assert not matches(owned(1, "systemd"), ListenerFilter(text="supervisord"))


def test_the_details_show_the_parent():
    text = report.to_text(report.listener_report(owned(4180, "supervisord"), pending=False))
    assert "supervisord (PID 4180)" in text
