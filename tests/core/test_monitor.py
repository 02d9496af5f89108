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


def test_a_socket_that_another_process_holds_now_is_one_owner_change():
    """The server exits, the child it leaked the socket to keeps it (tests/core/test_holders.py
    does it with real processes): the table sees a close and an open (rows are keyed by pid),
    watch and history one `changed` event with the previous owner."""
    from portwatch.core.store.history_events import CHANGED, events_of

    def socket_of(pid, name, inode):
        return Listener(Proto.TCP, Family.IPV4, "127.0.0.1", 8080, Exposure.LOOPBACK,
                        ProcessInfo(pid, name), inode=inode)

    other = make(9000)
    monitor = Monitor(Scripted([socket_of(10, "server", 77), other],
                               [socket_of(11, "sleep", 77), other],
                               [socket_of(12, "server", 78), other]))
    monitor.poll()
    result = monitor.poll()
    assert len(result.opened) == len(result.closed) == 1
    (change,) = result.owner_changes
    assert change.row is result.opened[0] and change.previous is result.closed[0]
    assert change.previous.listener.process.name == "server"
    events = events_of(result)
    assert [(e.event, e.listener.pid, e.listeners) for e in events] == [(CHANGED, 11, 2)]
    # Another socket (a new inode) on the same port is a close and an open, not a change.
    result = monitor.poll()
    assert not result.owner_changes
    assert sorted(e.event for e in events_of(result)) == ["closed", "opened"]
