"""What is listening on this machine and who owns it: the only package that reads the OS.

The public face of the probe (the psutil way: this module, private backends beside it):

- `ListenerScanner` / `scan_listeners()`: the listening sockets with their owners, as an
  immutable `Snapshot`. On Linux from netlink sock_diag (`sockdiag`) and an inode → process map
  kept between scans (`fastpath`, `owners`), else from psutil (`scanner`); `hidden` says why
  an owner is hidden; `classify()` (`exposure`) says who can reach an address.
- `process_details()`, `sha256_running()`, `sha256_file()`, `terminate()` (`procinfo`): the
  details pane's facts about one process, the hash of its running image, stopping it safely;
  `peer_processes()` (`peers`): the processes at the other end of local connections.
- `ephemeral_port_range()`, `ip_forwarding()`, `legacy_iptables_tables()` (`kernel`),
  `age_text()`, `seconds_since_start()` (`process_age`): small kernel facts (the firewall
  verdict reads the middle two, in its namespace).

Beside them: `provenance` and `packages` (where an executable comes from), `connections`
(who is connected), `netns` and `nsenter` (other network namespaces), `units` (systemd),
`containers` and `origins` (container engines), read by the scanner and the commands; `remote`
runs portwatch on another machine through ssh (`--host`).

psutil is imported and /proc is read only inside this package. Every psutil and OS fault passes
one boundary (`errors.boundary`) and comes out as data — a row whose owner is unknown and why,
a snapshot marked partial, a problem sentence — never as an exception to the caller.

The names below load their module when first used (PEP 562), so `portwatch lookup`, which
reads only `kernel`, does not import psutil.
"""

from __future__ import annotations

from portwatch.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("address_key", "classify"), "exposure"),
    **dict.fromkeys(("ephemeral_port_range", "ip_forwarding", "legacy_iptables_tables",
                     "read_text"), "kernel"),
    **dict.fromkeys(("age_text", "seconds_since_start"), "process_age"),
    **dict.fromkeys(("FileDigest", "ProcessDetails", "ProcessSummary", "SocketSummary",
                     "TerminateOutcome", "TerminateResult", "process_details", "sha256_file",
                     "sha256_running", "terminate"), "procinfo"),
    **dict.fromkeys(("HIDDEN_NEEDS_PRIVILEGES", "HIDDEN_NO_PROCESS"), "hidden"),
    **dict.fromkeys(("PeerOwner", "peer_processes"), "peers"),
    **dict.fromkeys(("ListenerScanner", "scan_listeners"), "scanner"),
    "default_owner_cache": "owner_cache",
}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
