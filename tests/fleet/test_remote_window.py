"""The window's remote hosts, end to end: the real window (offscreen) adds a host through File >
Add host… (a hostile destination is refused first), polls it over ssh in its worker thread
against a real sshd in a network namespace (sshd_machine.py), shows its listeners in the Host
column, filters by machine, names the host in the details, the alert and the history, keeps
a host whose alerts are off from alerting, and shows why a host that cannot be reached is
unreachable."""

from __future__ import annotations

import yaml
from PySide6.QtWidgets import QDialogButtonBox
from sshd_machine import HOST, end

from portwatch.core.files import paths
from portwatch.core.store.history import HistoryReader
from portwatch.core.store.history_events import CLOSED, OPENED, PRESENT
from portwatch.core.store.settings import Settings, load_settings
from portwatch.gui.app import PortwatchGui, build_monitor, history_hooks
from portwatch.gui.models.filter_proxy import THIS_MACHINE
from portwatch.gui.models.listener_model import ROW_ROLE, Column

DEADLINE_MS = 60_000  # an ssh login and a remote scan on a loaded 2-core machine
NOBODY = "pwtest-nobody-home"  # in the machine's ssh_config: nothing answers there
STRANGER = "pwtest-wrong-key"  # the same sshd, with a key it does not accept


def remote_rows(window, host: str = HOST) -> dict[int, object]:
    model = window.model
    return {item.listener.port: item for item in model.items() if item.listener.host == host}


def shown_ports(window, host: str) -> set[int]:
    proxy = window.proxy
    found = set()
    for row in range(proxy.rowCount()):
        item = proxy.index(row, 0).data(ROW_ROLE)
        if item.listener.host == host:
            found.add(item.listener.port)
    return found


def host_status(window, host: str):
    return next((s for s in window.status.hosts_statuses if s.host == host), None)


def test_window_adds_a_host_and_shows_its_listeners(machine, qtbot, qapp, monkeypatch,
                                                    isolated_dirs):
    config, _ = isolated_dirs
    monkeypatch.setenv("PORTWATCH_SSH_COMMAND", f"ssh -F {machine.folder / 'ssh_config'}")
    settings_path = config / "settings.yaml"
    # no rate limit: a second listener of the same program alerts at once, unless muted
    settings = Settings(poll_interval=0.5, alert_min_polls=0, alert_rate_limit=0.0,
                        notifications=False)
    monitor, catalog, _ = build_monitor()
    from portwatch.core.alerts.rules import AlertRules
    from portwatch.gui.alerts.alerting import MonitorAlertMemory

    monitor.alert_rules = AlertRules.from_settings(settings, MonitorAlertMemory(monitor))
    setup, teardown = history_hooks(monitor, settings)
    gui = PortwatchGui(settings, monitor, catalog, settings_path=settings_path,
                       min_interval=0.2, setup=setup, teardown=teardown, host_interval=0.5)
    window = gui.window
    qtbot.addWidget(window)
    alerts = []
    gui.worker.polled.connect(lambda result: alerts.extend(result.alerts))
    remote = muted = None
    try:
        gui.start()
        qtbot.waitUntil(lambda: window.model.rowCount() > 0, timeout=DEADLINE_MS)
        assert window.table.isColumnHidden(Column.HOST)  # no hosts yet: no Host column

        # File > Add host…: an ssh option is refused with a sentence, a destination is taken
        dialog = window.host_actions.open_add_dialog()
        ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
        dialog.edit.setText("-oProxyCommand=touch /tmp/pwned")
        assert not ok.isEnabled()
        assert "is not an ssh destination" in dialog.problem.text()
        dialog.edit.setText("web1; rm -rf ~")
        assert not ok.isEnabled() and "is not an ssh destination" in dialog.problem.text()
        dialog.edit.setText(HOST)
        assert ok.isEnabled() and not dialog.problem.isVisible()
        ok.click()
        assert load_settings(settings_path)[0].hosts == (HOST,)  # remembered
        assert not window.table.isColumnHidden(Column.HOST)

        # Its listeners (sshd on the namespace's address) join the table, with their host
        qtbot.waitUntil(lambda: 22 in remote_rows(window), timeout=DEADLINE_MS)
        sshd = remote_rows(window)[22]
        assert sshd.listener.address == machine.address
        assert sshd.listener.process.name == "sshd"
        row = window.model.row_of(sshd.key)
        assert window.model.index(row, Column.HOST).data() == HOST
        assert host_status(window, HOST).state == "ok"
        assert window.status.hosts.text().startswith(f"hosts: {HOST} ")

        # A listener opened there alerts, naming the host, and is recorded with it
        remote, port = machine.listener()
        qtbot.waitUntil(lambda: port in remote_rows(window), timeout=DEADLINE_MS)
        assert remote_rows(window)[port].listener.pid == remote.pid
        qtbot.waitUntil(lambda: any(f"{port}/tcp on {HOST}" in a.title for a in alerts),
                        timeout=DEADLINE_MS)
        assert not any(f"/tcp on {HOST}" in a.title and f"{port}/" not in a.title
                       for a in alerts)  # the host's baseline was learnt silently

        # File > Alerts from host, unticked: what it opens joins the table and alerts no one
        window.host_actions.set_alerts(HOST, False)
        assert load_settings(settings_path)[0].hosts_without_alerts == (HOST,)
        muted, muted_port = machine.listener()
        qtbot.waitUntil(lambda: muted_port in remote_rows(window), timeout=DEADLINE_MS)
        answered = host_status(window, HOST).checked_at  # and one more answer after it
        qtbot.waitUntil(lambda: host_status(window, HOST).checked_at != answered,
                        timeout=DEADLINE_MS)
        assert not any(f"{muted_port}/tcp" in a.title for a in alerts)
        assert not host_status(window, HOST).alerts  # from the worker: the status bar says so
        assert f"{HOST} " in window.status.hosts.text() and "(alerts off)" in \
            window.status.hosts.text()

        # The machine filter: this host's rows only, then this machine's only
        window.filter_bar.machine.setCurrentIndex(window.filter_bar.machine.findData(HOST))
        assert shown_ports(window, HOST) >= {22, port}
        assert window.proxy.rowCount() == len(shown_ports(window, HOST))
        window.filter_bar.machine.setCurrentIndex(
            window.filter_bar.machine.findData(THIS_MACHINE))
        assert not shown_ports(window, HOST) and window.proxy.rowCount() > 0
        window.clear_filter()

        # The details name the host and offer nothing that acts on this machine's processes
        assert window.select_listener(sshd.key)
        text = window.details.view.toPlainText()
        assert text.startswith(f"sshd on TCP {machine.address}:22 of {HOST}\n")
        assert f"\nHost\n{HOST}\nread over ssh" in text
        assert not window.details.terminate_button.isEnabled()
        assert not window.details.folder_button.isEnabled()

        # A host where nothing answers: unreachable, with ssh's reason, and no rows
        window.host_actions.add_host(NOBODY)
        qtbot.waitUntil(lambda: getattr(host_status(window, NOBODY), "state", "")
                        == "unreachable", timeout=DEADLINE_MS)
        status = host_status(window, NOBODY)
        assert f"cannot reach {NOBODY} with ssh" in status.reason
        assert f"{NOBODY} unreachable" in window.status.hosts.text()
        assert f"cannot reach {NOBODY} with ssh" in window.status.hosts.toolTip()
        assert not remote_rows(window, NOBODY)

        # A login that fails: unreachable, with ssh's "Permission denied"
        window.host_actions.add_host(STRANGER)
        qtbot.waitUntil(lambda: getattr(host_status(window, STRANGER), "state", "")
                        == "unreachable", timeout=DEADLINE_MS)
        assert "Permission denied (publickey" in host_status(window, STRANGER).reason

        # The host drops (portwatch gone from it): unreachable with why, its rows leave the
        # table; once it answers again they come back (tried again after 1, 2, 4 … s)
        (machine.bin_dir / "portwatch").rename(machine.bin_dir / "portwatch.away")
        qtbot.waitUntil(lambda: getattr(host_status(window, HOST), "state", "")
                        == "unreachable", timeout=DEADLINE_MS)
        assert f"portwatch is not installed on {HOST}" in host_status(window, HOST).reason
        assert "pipx install portwatch" in host_status(window, HOST).reason
        qtbot.waitUntil(lambda: not remote_rows(window), timeout=DEADLINE_MS)
        (machine.bin_dir / "portwatch.away").rename(machine.bin_dir / "portwatch")
        qtbot.waitUntil(lambda: port in remote_rows(window), timeout=DEADLINE_MS)
        assert host_status(window, HOST).state == "ok"

        # File > Remove host: its rows leave the table, the setting forgets it
        window.host_actions.remove_host(HOST)
        qtbot.waitUntil(lambda: not remote_rows(window), timeout=DEADLINE_MS)
        assert yaml.safe_load(settings_path.read_text())["hosts"] == [NOBODY, STRANGER]
    finally:
        for proc in (remote, muted):
            if proc is not None:
                end(proc)
        gui.shutdown()
    with HistoryReader(paths.history_file()) as reader:
        events = [e for e in reader.events() if e.listener.host == HOST]
    assert any(e.event == PRESENT and e.listener.port == 22 for e in events)
    assert any(e.event == OPENED and e.listener.port == port for e in events)
    # dropping out recorded no "closed"; coming back is a new baseline of `present` events
    assert not any(e.event == CLOSED for e in events)
    assert [e.event for e in events if e.listener.port == port] == [OPENED, PRESENT]
    # our ssh children ended with the window: no login session is left on the machine
    qtbot.waitUntil(lambda: not machine.sessions(), timeout=DEADLINE_MS)
