"""Words for what started a listener — its systemd unit, container and network namespace —
for the table's "Started by" cell, the details pane and the search field.

The unit label is probe.origins' ("nginx.service", or "user@1000.service/app-x.scope" for a
user manager's unit, stopped with `systemctl --user`). Every value here comes from other
programs (unit, container and namespace names): callers show it as plain text.
"""

from __future__ import annotations

from portwatch.core.model import Listener

_ACTIVATOR = "systemd-socket-activate"


def _unit_parts(label: str) -> tuple[str, bool]:
    """(unit name, is a user manager's unit) from a unit label."""
    manager, _, name = label.partition("/")
    if name and manager.startswith("user@"):
        return name, True
    return label, False


def origin_label(listener: Listener) -> str:
    """One short cell: "nginx.service", "podman web (httpd)", "netns pwtest-a"; "" when none."""
    parts: list[str] = []
    container = listener.container
    if container is not None:
        name = container.name or (container.id or "")[:12] or "unknown container"
        inner = f" ({container.inner_process})" if container.inner_process else ""
        parts.append(f"{container.engine} {name}{inner}")
    if listener.unit:
        parts.append(listener.unit)
    if listener.netns:
        parts.append(f"netns {listener.netns}")
    return " · ".join(parts)


def origin_facts(listener: Listener) -> list[tuple[str, str]]:
    """(label, sentence) pairs for the details: what started it and how to stop it."""
    facts: list[tuple[str, str]] = []
    proc = listener.process
    if listener.unit:
        name, user = _unit_parts(listener.unit)
        ctl = "systemctl --user" if user else "systemctl"
        if name.endswith(".socket"):
            from portwatch.core.probe.units import service_of_socket

            how = (f"socket activation: the service manager holds the port and starts"
                   f" {service_of_socket(name)} on the first connection. Stop it with"
                   f" `{ctl} stop {name}`; `{ctl} disable {name}` keeps it from listening"
                   " after the next boot")
        elif name.endswith(".scope"):
            how = (f"a scope, started by a program rather than at boot: `{ctl} stop {name}`"
                   " stops it; there is nothing to disable")
        else:
            how = (f"stop it with `{ctl} stop {name}`; `{ctl} disable {name}` keeps it from"
                   " starting at the next boot")
        facts.append(("Unit", f"{listener.unit} — {how}"))
    if proc is not None and proc.name == _ACTIVATOR:
        from portwatch.core.probe.units import activated_command

        command = " ".join(activated_command(proc.cmdline)) or "unknown"
        facts.append(("Activates", f"systemd-socket-activate holds the port and starts"
                                   f" `{command}` on the first connection"))
    container = listener.container
    if container is not None:
        name = container.name or container.id
        if name:
            text = (f"{name} ({container.engine}, id {(container.id or '?')[:12]}, image"
                    f" {container.image or 'unknown'}); stop it with"
                    f" `{container.engine} stop {name}`")
        else:
            text = (f"a {container.engine} container whose details its engine did not give"
                    " (its API socket is not reachable: start `podman system service` or"
                    " dockerd, or run portwatch as the user that owns the containers)")
        facts.append(("Container", text))
        facts.append(("Answers inside", container.inner_process or
                      "unknown: entering the container's network namespace needs root"))
    if listener.netns:
        facts.append(("Network namespace",
                      f"{listener.netns}: not the host's; who can reach it is judged by that"
                      " namespace's own interfaces"))
    return facts
