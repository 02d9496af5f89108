"""Readers of the operating system: sockets, processes, cgroups, namespaces, container engines."""
