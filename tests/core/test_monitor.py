from portwatch.core.model import Exposure, Family, Listener, ProcessInfo, Proto, Snapshot
from portwatch.core.monitor import Monitor


def make(port, pid=10):
    return Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(pid, "srv"))


class Scripted:
    def __init__(self, *scans):
        self.scans = list(scans)

    def __call__(self):
        return Snapshot(0.0, tuple(self.scans.pop(0)))


class CountingAnnotator:
    def __init__(self):
        self.calls = []

    def annotate(self, listener):
        from portwatch.core.model import AnnotatedListener

        self.calls.append(listener.port)
        return AnnotatedListener(listener)


def test_poll_reports_first_then_differences_and_annotates_only_new():
    annotator = CountingAnnotator()
    monitor = Monitor(Scripted([make(1), make(2)], [make(2), make(3)], [make(2), make(3)]),
                      annotator)
    first = monitor.poll()
    assert first.first and [r.listener.port for r in first.opened] == [1, 2]
    second = monitor.poll()
    assert not second.first
    assert [r.listener.port for r in second.opened] == [3]
    assert [r.listener.port for r in second.closed] == [1]
    third = monitor.poll()
    assert not third.opened and not third.closed
    assert [r.listener.port for r in third.rows] == [2, 3]
    assert annotator.calls == [1, 2, 3]


def test_broken_alert_rules_and_history_do_not_stop_polling():
    class Broken:
        def evaluate(self, result):
            raise RuntimeError("bug")

        def record(self, result):
            raise OSError("disk full")

    monitor = Monitor(Scripted([make(1)]), alert_rules=Broken(), history=Broken())
    result = monitor.poll()
    assert result.alerts == ()
    assert any("history not saved: disk full" in p for p in result.problems)


def test_unchanged_scan_tuple_skips_the_diff_and_keeps_rows():
    same = (make(1), make(2))

    class SameTuple:
        def __call__(self):
            return Snapshot(0.0, same)

    annotator = CountingAnnotator()
    monitor = Monitor(SameTuple(), annotator)
    first = monitor.poll()
    second = monitor.poll()
    assert second.rows is first.rows
    assert not (second.opened or second.closed or second.changed or second.first)
    assert annotator.calls == [1, 2]


def test_other_namespaces_stay_in_the_table_but_out_of_alerts_and_history():
    import dataclasses

    class Seen:
        def __init__(self):
            self.results = []

        def evaluate(self, result):
            self.results.append(result)
            return ()

        def record(self, result):
            self.results.append(result)

    inside = dataclasses.replace(make(80, pid=11), netns="pwtest-a")
    rules, history = Seen(), Seen()
    monitor = Monitor(Scripted([make(1)], [make(1), inside], [make(1)]), alert_rules=rules,
                      history=history)
    monitor.poll()
    opened = monitor.poll()
    assert [r.listener.port for r in opened.rows] == [1, 80]  # the table has both
    assert [r.listener.port for r in opened.opened] == [80]
    closed = monitor.poll()
    assert [r.listener.port for r in closed.closed] == [80]
    for seen in (rules, history):
        assert [[r.listener.port for r in res.rows] for res in seen.results] == [[1]] * 3
        assert all(not res.opened or res.first for res in seen.results[1:])
        assert not any(res.closed for res in seen.results)
