from portwatch.core.diff import diff
from portwatch.core.model import Exposure, Family, Listener, ProcessInfo, Proto
from portwatch.core.text import visible


def make(port, pid=10, cmd=("srv",)):
    return Listener(Proto.TCP, Family.IPV4, "127.0.0.1", port, Exposure.LOOPBACK,
                    ProcessInfo(pid, "srv", cmdline=cmd))


def test_diff_opened_closed_changed():
    a, b, c = make(1), make(2), make(3)
    c2 = make(3, cmd=("srv", "--new"))
    result = diff([a, b, c], [b, c2, make(4)])
    assert [x.port for x in result.opened] == [4]
    assert [x.port for x in result.closed] == [1]
    assert result.changed == (c2,)
    assert diff([a], [a]).empty


def test_same_port_new_pid_is_close_and_open():
    result = diff([make(80, pid=1)], [make(80, pid=2)])
    assert [x.pid for x in result.opened] == [2]
    assert [x.pid for x in result.closed] == [1]


def test_visible_escapes_controls_and_bidi():
    assert visible("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert visible("a\x1b[31mred") == "a\\x1b[31mred"
    assert visible("tab\there") == "tab\\x09here"
    assert visible("<b>x</b> ok") == "<b>x</b> ok"  # markup is not ours to strip: shown as is
    assert visible("é 日本") == "é 日本"
    assert visible("x" * 50, 10) == "x" * 9 + "…"
    assert visible(None) == ""
