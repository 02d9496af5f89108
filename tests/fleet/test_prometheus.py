"""Prometheus: `portwatch metrics` and `watch --textfile` produce text that the real `promtool`
accepts, label values survive hostile process names, and end to end a real node_exporter
(textfile collector) and a real prometheus (both on 127.0.0.1) fire the README's alert rule
when a process called dockerd listens on 0.0.0.0:2375 — inside a network namespace the test
made, so nothing is reachable from any network."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import urllib.request

import pytest
from fleet import (
    annotated,
    free_port,
    named_interpreter,
    need_root_and,
    portwatch_env,
    wait_until,
)

from portwatch.core.model import Risk
from portwatch.core.output.prometheus import render, write_textfile

LISTENER = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], int(sys.argv[2])))
    s.listen()
    print(s.getsockname()[1], flush=True)
    sys.stdin.read()
""")

# A process may call itself anything but "/" and NUL: these would break out of a label value
# if written unescaped, or are not UTF-8 at all.
HOSTILE = ['a"} 1\nportwatch_fake 1', "back\\slash\\", "line\nfeed", "bad\udcff\udcfebytes",
           "<img src=x>", "evil\u202etxt.exe", "tab\there"]

RULE = 'portwatch_listener_info{exposure!="loopback",risk="high"}'


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("needs promtool (Debian package prometheus, see .ci/system-packages)")
    return path


def check_metrics(text: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), "check", "metrics"], input=text.encode("utf-8"),
                          capture_output=True, timeout=60, check=False)


def parse_info(text: str) -> list[dict[str, str]]:
    """The label sets of portwatch_listener_info lines, unescaped as the format says."""
    found = []
    pair = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line.startswith("portwatch_listener_info{"):
            continue
        labels = line[len("portwatch_listener_info{"):line.rindex("}")]
        found.append({name: re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], value)
                      for name, value in pair.findall(labels)})
    return found


def row(name: str | None, port: int, risk: Risk | None = Risk.NONE,
        address: str = "127.0.0.1", pid: int = 100):
    return annotated(name, port, risk, address=address, pid=pid)


def test_hostile_names_are_escaped_and_promtool_accepts_them():
    rows = [row(name, 9000 + n, pid=100 + n) for n, name in enumerate(HOSTILE)]
    text = render(rows, taken_at=1.0e9, duration=0.01, unacknowledged=2)
    done = check_metrics(text)
    assert done.returncode == 0, done.stderr.decode() + done.stdout.decode()
    # No hostile name made a line of its own: every sample line belongs to a portwatch family.
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert all(line.startswith("portwatch_") for line in samples)
    assert not any(line.startswith("portwatch_fake") for line in samples)
    got = {labels["port"]: labels["process"] for labels in parse_info(text)}
    expected = {str(9000 + n): name.replace("\udcff", "\\xff").replace("\udcfe", "\\xfe")
                for n, name in enumerate(HOSTILE)}
    assert got == expected


def test_same_labels_are_one_series_and_totals_cover_every_combination():
    rows = [row("nginx", 80, Risk.LOW, "0.0.0.0", pid=1),
            row("nginx", 80, Risk.LOW, "0.0.0.0", pid=2),
            row(None, 22, None, "0.0.0.0")]
    text = render(rows, taken_at=1.0e9)
    assert check_metrics(text).returncode == 0
    assert ('portwatch_listener_info{proto="tcp",address="0.0.0.0",port="80",exposure='
            '"all-interfaces",process="nginx",unit="",container="",risk="low"} 2') in text
    assert 'process="(hidden)"' in text and 'risk="unknown"' in text
    assert 'portwatch_listeners{exposure="all-interfaces",risk="low"} 2' in text
    assert 'portwatch_listeners{exposure="loopback",risk="high"} 0' in text
    assert "portwatch_listeners_owner_hidden 1" in text
    assert "portwatch_alerts_unacknowledged" not in text  # not known to a one-shot scan


def test_metrics_command_prints_the_scan(listener_factory):
    child = listener_factory()
    done = subprocess.run([sys.executable, "-m", "portwatch", "metrics"], capture_output=True,
                          text=True, timeout=120, env=portwatch_env(), check=False)
    assert done.returncode == 0, done.stderr
    mine = [labels for labels in parse_info(done.stdout) if labels["port"] == str(child.port)]
    assert mine, done.stdout[-3000:]
    assert (mine[0]["address"], mine[0]["exposure"]) == ("127.0.0.1", "loopback"), mine
    checked = check_metrics(done.stdout)
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()


def test_textfile_is_replaced_whole(tmp_path):
    tmp_path = tmp_path / "textfile"
    tmp_path.mkdir()
    first = write_textfile(tmp_path, "a 1\n")
    inode = first.stat().st_ino
    write_textfile(tmp_path, "a 2\n")
    assert first.read_text() == "a 2\n" and first.stat().st_ino != inode  # a rename, no rewrite
    assert oct(first.stat().st_mode & 0o777) == "0o644"
    assert os.listdir(tmp_path) == ["portwatch.prom"]  # no temp file left behind


# -- end to end ---------------------------------------------------------------------------------


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our loopback
        return json.load(response)


def firing(prom_port: int) -> list[dict]:
    try:
        alerts = get_json(f"http://127.0.0.1:{prom_port}/api/v1/alerts")["data"]["alerts"]
    except OSError:
        return []
    return [alert for alert in alerts if alert["state"] == "firing"]


def target_up(prom, prom_port: int) -> bool:
    assert prom.alive(), prom.log()
    try:
        targets = get_json(f"http://127.0.0.1:{prom_port}/api/v1/targets")["data"]
    except OSError:
        return False
    return [target["health"] for target in targets["activeTargets"]] == ["up"]


def test_node_exporter_and_prometheus_fire_the_alert(tmp_path, netns, daemons):
    need_root_and("prometheus", "prometheus-node-exporter", "promtool")
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    exporter_port, prom_port = free_port(), free_port()
    daemons(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{exporter_port}",
             "--collector.disable-defaults", "--collector.textfile",
             f"--collector.textfile.directory={textfiles}"], tmp_path / "exporter.log")
    rules = tmp_path / "rules.yml"
    rules.write_text(textwrap.dedent(f"""\
        groups:
          - name: portwatch
            rules:
              - alert: PortwatchExposedHighRisk
                expr: '{RULE}'
                labels: {{severity: critical}}
                annotations:
                  summary: '{{{{ $labels.process }}}} on port {{{{ $labels.port }}}}'
        """))
    config = tmp_path / "prometheus.yml"
    config.write_text(textwrap.dedent(f"""\
        global: {{scrape_interval: 1s, evaluation_interval: 1s}}
        rule_files: ['{rules}']
        scrape_configs:
          - job_name: node
            static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]
        """))
    for what in (["check", "rules", str(rules)], ["check", "config", str(config)]):
        done = subprocess.run([promtool(), *what], capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    prom = daemons(["prometheus", f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}"], tmp_path / "prometheus.log")
    # portwatch and the listener run inside the namespace; the textfile is shared.
    watch = daemons(["ip", "netns", "exec", netns, sys.executable, "-m", "portwatch", "watch",
                     "--interval", "0.5", "--no-history", "--textfile", str(textfiles)],
                    tmp_path / "watch.log", env=portwatch_env())
    prom_file = textfiles / "portwatch.prom"
    wait_until(prom_file.exists, "portwatch.prom")
    wait_until(lambda: target_up(prom, prom_port), "prometheus to scrape node_exporter")
    assert firing(prom_port) == []
    dockerd = named_interpreter(tmp_path, "dockerd")
    listener = subprocess.Popen(["ip", "netns", "exec", netns, dockerd, "-c", LISTENER,
                                 "0.0.0.0", "2375"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == "2375"
        alerts = wait_until(lambda: firing(prom_port), "the alert to fire", timeout=60)
        labels = alerts[0]["labels"]
        assert labels["alertname"] == "PortwatchExposedHighRisk"
        assert (labels["process"], labels["port"], labels["address"], labels["exposure"],
                labels["risk"]) == ("dockerd", "2375", "0.0.0.0", "all-interfaces", "high")
        assert "portwatch_alerts_unacknowledged 1" in wait_until(
            lambda: "alerts_unacknowledged 1" in prom_file.read_text() and prom_file.read_text(),
            "the alert to be counted")
    finally:
        listener.kill()
        listener.wait(10)
        listener.stdin.close()
        listener.stdout.close()
    wait_until(lambda: 'port="2375"' not in prom_file.read_text(), "the closed listener to go")
    assert watch.alive(), watch.log()
    assert check_metrics(prom_file.read_text()).returncode == 0
