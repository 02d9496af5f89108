"""The window's table model (filter_proxy.ListenerFilterProxy): after many incremental polls
its rows are exactly a full sort of the filtered store, for each column and order; a poll
reaches the view as ranged inserts, removals and moves (checked by qtmodeltester), and the
selected listener stays selected while rows arrive, leave and move around it."""

from __future__ import annotations

import dataclasses
import random

import pytest
from gui_rows import ScriptedMonitor, catalog, listener
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QTableView

from portwatch.core import fields
from portwatch.gui.models.filter_proxy import ListenerFilter, ListenerFilterProxy, matches
from portwatch.gui.models.listener_model import ROW_ROLE, Column, ListenerModel
from portwatch.gui.models.sorted_rows import SortedRows


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def expected(model: ListenerModel, column: int, descending: bool,
             wanted: ListenerFilter) -> list:
    """A full, stable sort of the store's shown rows (arrival order breaks ties, in either
    order), computed from the field declarations, not from the table's caches."""
    rows = [model.row_object(r) for r in range(model.rowCount())]
    rows = [row for row in rows if matches(row.item, wanted)]
    if column < len(fields.TABLE):
        value = fields.TABLE[column].sort
        rows.sort(key=lambda row: value(row.item), reverse=descending)
    else:
        rows.sort(key=lambda row: row.first_seen, reverse=descending)
    return [row.key for row in rows]


def shown(proxy: ListenerFilterProxy) -> list:
    return [proxy.index(r, 0).data(ROW_ROLE).key for r in range(proxy.rowCount())]


class Churn:
    """Random polls: listeners open (TCP and UDP, IPv4 and IPv6, in other namespaces too),
    close, reopen while still red, and change user and process name (values that sort)."""

    def __init__(self, seed: int, size: int) -> None:
        self.rng = random.Random(seed)
        self.next_pid = 1000
        self.current = [self.fresh() for _ in range(size)]

    def fresh(self):
        rng = self.rng
        self.next_pid += 1
        address = rng.choice(["127.0.0.1", "127.0.2.3", "127.0.2.20", "10.0.0.9", "10.0.0.10",
                              "0.0.0.0", "::1", "::", "fe80::2"])
        item = listener(rng.choice([22, 53, 80, 443, 3389, 8080, rng.randrange(1024, 65535)]),
                        proto=rng.choice(["tcp", "tcp", "udp"]), address=address,
                        pid=self.next_pid if rng.random() > 0.05 else None,
                        name=rng.choice(["sshd", "nginx", "Jenkins", "redis", "a", "b"]),
                        user=rng.choice(["root", "alice", "bob", "ci"]))
        if rng.random() < 0.1:
            item = dataclasses.replace(item, netns=rng.choice(["pwtest-a", "pwtest-b"]))
        return item

    def step(self, closed_recently: list) -> list:
        rng = self.rng
        now = list(self.current)
        for _ in range(rng.randrange(0, 6)):  # closes
            if now:
                closed_recently.append(now.pop(rng.randrange(len(now))))
        for _ in range(rng.randrange(0, 6)):  # changes that move rows in a sorted table
            if now:
                i = rng.randrange(len(now))
                item = now[i]
                if item.process is not None:
                    process = dataclasses.replace(item.process,
                                                  user=rng.choice(["root", "zed", "alice"]),
                                                  name=rng.choice(["sshd", "zz", "A"]))
                    now[i] = dataclasses.replace(item, process=process)
        for _ in range(rng.randrange(0, 6)):  # opens
            now.append(self.fresh())
        if closed_recently and rng.random() < 0.3:  # one comes back while still red
            back = closed_recently.pop()
            if back.key not in {item.key for item in now}:
                now.append(back)
        self.current = now
        return now


SORTS = [(Column.PORT, False), (Column.ADDRESS, False), (Column.ADDRESS, True),
         (Column.USER, False), (Column.PROCESS, True), (Column.RISK, False),
         (Column.FIRST_SEEN, True), (Column.PID, False)]


@pytest.mark.parametrize(("column", "descending"), SORTS)
def test_many_polls_leave_the_table_exactly_sorted_and_filtered(qtbot, column, descending):
    clock = Clock()
    model = ListenerModel(highlight_seconds=3.0, clock=clock)
    proxy = ListenerFilterProxy()
    proxy.setSourceModel(model)
    order = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
    proxy.sort(column, order)
    scripted = ScriptedMonitor()
    churn = Churn(seed=int(column) * 10 + descending, size=60)
    model.apply(scripted.poll(churn.current))
    filters = [ListenerFilter(), ListenerFilter(all_netns=True), ListenerFilter(udp=False),
               ListenerFilter(text="root", all_netns=True), ListenerFilter(network_only=True)]
    closed: list = []
    for poll in range(120):
        if poll % 30 == 29:  # the user changes the filter now and then
            proxy.set_filter(filters[(poll // 30 + 1) % len(filters)])
        model.apply(scripted.poll(churn.step(closed)))
        clock.now += 1.0
        if poll % 3 == 0:
            model.expire_highlights()  # red rows leave, green rows turn normal
        assert shown(proxy) == expected(model, column, descending, proxy.listener_filter), poll
        assert proxy.rowCount() <= model.rowCount()
    for r in range(proxy.rowCount()):  # the mapping both ways agrees with the rows
        source = proxy.mapToSource(proxy.index(r, 2))
        assert source.column() == 2
        assert model.item_at(source.row()) is proxy.index(r, 0).data(ROW_ROLE)
        assert proxy.mapFromSource(source).row() == r


def test_the_table_passes_qtmodeltester_through_inserts_moves_removals_and_filters(
        qtbot, qtmodeltester):
    clock = Clock()
    model = ListenerModel(highlight_seconds=3.0, clock=clock)
    proxy = ListenerFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.USER, Qt.SortOrder.DescendingOrder)
    scripted = ScriptedMonitor()
    churn = Churn(seed=2, size=25)
    model.apply(scripted.poll(churn.current))
    qtmodeltester.check(proxy)  # and keeps checking every signal from here on
    closed: list = []
    for poll in range(16):
        if poll == 8:
            proxy.set_filter(ListenerFilter(text="root", all_netns=True))
        model.apply(scripted.poll(churn.step(closed)))
        clock.now += 1.5
        model.expire_highlights()
    proxy.sort(Column.ADDRESS, Qt.SortOrder.AscendingOrder)
    proxy.set_filter(ListenerFilter())
    qtmodeltester.check(proxy)
    assert shown(proxy) == expected(model, Column.ADDRESS, False, ListenerFilter())


def test_sorting_again_by_another_column_is_a_full_sort(qtbot):
    model = ListenerModel(highlight_seconds=0.0)
    proxy = ListenerFilterProxy()
    proxy.setSourceModel(model)
    scripted = ScriptedMonitor()
    churn = Churn(seed=5, size=200)
    model.apply(scripted.poll(churn.current))
    for _ in range(20):
        model.apply(scripted.poll(churn.step([])))
    arrival = [model.row_object(r) for r in range(model.rowCount())]
    assert shown(proxy) == [row.key for row in arrival if matches(row.item, ListenerFilter())]
    for column in Column:
        for descending in (False, True):
            proxy.sort(column, Qt.SortOrder.DescendingOrder if descending
                       else Qt.SortOrder.AscendingOrder)
            assert shown(proxy) == expected(model, column, descending, ListenerFilter())


def view_on(qtbot, model: ListenerModel, column: Column) -> tuple[QTableView, ListenerFilterProxy]:
    proxy = ListenerFilterProxy()
    proxy.setSourceModel(model)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(column, Qt.SortOrder.AscendingOrder)
    return view, proxy


def select(view: QTableView, row: int) -> None:
    view.selectionModel().setCurrentIndex(
        view.model().index(row, 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)


def test_selection_stays_on_its_listener_through_polls_moves_sorts_and_filters(qtbot):
    clock = Clock()
    model = ListenerModel(highlight_seconds=3.0, clock=clock)
    scripted = ScriptedMonitor()
    base = [listener(1000 + i, pid=100 + i, user=f"user{i:03}") for i in range(300)]
    model.apply(scripted.poll(base))
    view, proxy = view_on(qtbot, model, Column.USER)
    chosen = base[150]
    select(view, 150)
    assert view.currentIndex().data(ROW_ROLE).key == chosen.key

    def selected_key():
        rows = view.selectionModel().selectedRows()
        assert len(rows) == 1
        assert rows[0].row() == view.currentIndex().row()
        return view.currentIndex().data(ROW_ROLE).key

    now = list(base)
    rng = random.Random(3)
    for step in range(40):
        now = [item for item in now if item.key == chosen.key or rng.random() > 0.02]
        now.append(listener(5000 + step, pid=900 + step, user=f"user{rng.randrange(300):03}x"))
        if step % 5 == 0:  # the chosen listener's user changes: its row moves
            i = next(i for i, item in enumerate(now) if item.key == chosen.key)
            process = dataclasses.replace(now[i].process, user=f"user{rng.randrange(300):03}y")
            now[i] = dataclasses.replace(now[i], process=process)
        model.apply(scripted.poll(now))
        clock.now += 2
        model.expire_highlights()
        assert selected_key() == chosen.key, step
    view.sortByColumn(Column.PORT, Qt.SortOrder.DescendingOrder)
    assert selected_key() == chosen.key
    proxy.set_filter(ListenerFilter(text="user"))  # still shown
    assert selected_key() == chosen.key
    assert [proxy.index(r, 0).data(ROW_ROLE).key for r in range(proxy.rowCount())] == \
        expected(model, Column.PORT, True, ListenerFilter(text="user"))


class Recorder:
    """sorted_rows.Signals that replays every announced change on a plain list, to check
    that the announcements alone lead to the same order."""

    def __init__(self, rows: SortedRows) -> None:
        self.rows = rows
        self.mirror = rows.rows()
        self.pending: tuple = ()

    def begin_insert(self, first: int, last: int) -> None:
        self.pending = ("insert", first, last)

    def end_insert(self) -> None:
        _kind, first, last = self.pending
        self.mirror[first:first] = [self.rows.at(r) for r in range(first, last + 1)]

    def begin_remove(self, first: int, last: int) -> None:
        del self.mirror[first:last + 1]

    def end_remove(self) -> None:
        pass

    def begin_move(self, row: int, destination: int) -> None:
        assert destination not in (row, row + 1)  # Qt refuses a move that moves nothing
        moved = self.mirror.pop(row)
        self.mirror.insert(destination if destination < row else destination - 1, moved)

    def end_move(self) -> None:
        pass


@pytest.mark.parametrize("descending", [False, True])
def test_sorted_rows_announce_exactly_the_changes_they_make(descending):
    from portwatch.gui.models.listener_cells import Row, RowState

    rng = random.Random(11)
    rows = SortedRows(int(Column.PORT), descending)
    recorder = Recorder(rows)
    live: list[Row] = []
    for _ in range(300):
        batch = [Row(catalog().annotate(listener(rng.randrange(1, 60),
                                                 pid=rng.randrange(1, 10**6))),
                     RowState.NORMAL, 0.0) for _ in range(rng.randrange(0, 4))]
        rows.insert(batch, recorder)
        live += batch
        gone = rng.sample(live, min(len(live), rng.randrange(0, 4)))
        rows.remove(gone, recorder)
        live = [row for row in live if row not in gone]
        for row in rng.sample(live, min(len(live), 2)):
            moved = dataclasses.replace(row.item.listener, port=rng.randrange(1, 60))
            row.replace(dataclasses.replace(row.item, listener=moved))
            rows.update(row, True, recorder)
        assert recorder.mirror == rows.rows()
        assert [row.sort_value(Column.PORT) for row in rows.rows()] == sorted(
            (row.sort_value(Column.PORT) for row in live), reverse=descending)


def test_a_poll_reaches_the_view_as_its_own_rows_only(qtbot):
    """1% churn on 10,000 rows sorted by user: the table tells the view of 50 inserted and 50
    removed rows, moves only the rows whose user changed, and never resets or lays out the
    whole table (work that grows with the table would show here as counts)."""
    model = ListenerModel(highlight_seconds=0.0)
    proxy = ListenerFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.USER, Qt.SortOrder.AscendingOrder)
    scripted = ScriptedMonitor()
    base = [listener(1024 + i, pid=10_000 + i, user=f"user{i:05}") for i in range(10_000)]
    model.apply(scripted.poll(base))
    now = [item for i, item in enumerate(base) if i % 200 != 7]  # 50 closed
    renamed = {i for i in range(0, len(now), 190)}
    now = [dataclasses.replace(x, process=dataclasses.replace(x.process, user=f"zed{i}"))
           if i in renamed else x for i, x in enumerate(now)]
    now += [listener(30_000 + i, pid=40_000 + i, user=f"user{i * 97:05}b") for i in range(50)]
    told = {"inserted": 0, "removed": 0, "moved": 0, "changed": 0, "resets": 0, "layouts": 0}

    def count(name, amount=1):
        told[name] += amount

    proxy.rowsInserted.connect(lambda _parent, first, last: count("inserted", last - first + 1))
    proxy.rowsRemoved.connect(lambda _parent, first, last: count("removed", last - first + 1))
    proxy.rowsMoved.connect(lambda *_args: count("moved"))
    proxy.dataChanged.connect(lambda top, bottom, _roles=(): count(
        "changed", bottom.row() - top.row() + 1))
    proxy.modelReset.connect(lambda: count("resets"))
    proxy.layoutChanged.connect(lambda *_args: count("layouts"))
    model.apply(scripted.poll(now))
    model.apply(scripted.poll(now))  # the closed rows (highlight 0 s) leave at the next poll
    assert (told["inserted"], told["removed"]) == (50, 50)
    assert told["moved"] == told["changed"] == len(renamed)  # each to its new place, once
    assert told["resets"] == told["layouts"] == 0
    assert shown(proxy) == expected(model, Column.USER, False, ListenerFilter())
