"""process_age: the process's own start time, read from /proc/self/stat (Linux)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from portwatch.core.probe.process_age import age_text, seconds_since_start

linux_only = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")


@linux_only
def test_a_fresh_interpreter_is_young_and_ages_with_the_clock():
    code = ("import time; from portwatch.core.probe.process_age import seconds_since_start as s;"
            " a = s(); time.sleep(0.3); print(a, s())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    first, later = float(out[0]), float(out[1])
    assert 0 <= first < 10  # interpreter start-up, on a busy machine too
    assert 0.25 <= later - first <= 1.0  # ticks are 1/100 s


@linux_only
def test_this_process_is_older_than_a_moment_ago():
    before = seconds_since_start()
    time.sleep(0.05)
    assert before is not None and seconds_since_start() >= before
    assert age_text().endswith(" s after start")


@pytest.mark.skipif(not hasattr(time, "CLOCK_BOOTTIME"), reason="Linux clock")
def test_a_name_with_spaces_and_parentheses(tmp_path):
    stat = tmp_path / "stat"
    # pid (comm) state ppid ... field 22 is starttime; the name may hold ") (" itself.
    fields = ["S"] + ["0"] * 18 + ["0"] + ["0"] * 10
    stat.write_bytes(b"42 (a) b (c) " + " ".join(fields).encode())
    age = seconds_since_start(str(stat))
    assert age is not None and abs(age - time.clock_gettime(time.CLOCK_BOOTTIME)) < 1


def test_unknown_without_proc(tmp_path):
    assert seconds_since_start(str(tmp_path / "missing")) is None
    (tmp_path / "short").write_bytes(b"42 (x) S 1")
    assert seconds_since_start(str(tmp_path / "short")) is None
