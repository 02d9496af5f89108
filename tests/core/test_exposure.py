import pytest

from portwatch.core.model import Exposure
from portwatch.core.probe.exposure import classify


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", Exposure.LOOPBACK),
        ("127.0.0.53", Exposure.LOOPBACK),
        ("127.255.255.254", Exposure.LOOPBACK),
        ("::1", Exposure.LOOPBACK),
        ("::ffff:127.0.0.1", Exposure.LOOPBACK),
        ("[::1]", Exposure.LOOPBACK),
        ("0.0.0.0", Exposure.ALL_INTERFACES),
        ("::", Exposure.ALL_INTERFACES),
        ("::ffff:0.0.0.0", Exposure.ALL_INTERFACES),
        ("192.168.1.20", Exposure.LOCAL_NETWORK),
        ("10.0.0.5", Exposure.LOCAL_NETWORK),
        ("203.0.113.7", Exposure.LOCAL_NETWORK),
        ("fe80::1%eth0", Exposure.LOCAL_NETWORK),
        ("2001:db8::1", Exposure.LOCAL_NETWORK),
        ("128.0.0.1", Exposure.LOCAL_NETWORK),  # not loopback despite the look
        ("not an address", Exposure.LOCAL_NETWORK),  # never claimed safe
    ],
)
def test_classify(address, expected):
    assert classify(address) is expected


def test_labels_and_order():
    assert Exposure.ALL_INTERFACES.label == "all interfaces"
    assert Exposure.LOOPBACK.rank < Exposure.LOCAL_NETWORK.rank < Exposure.ALL_INTERFACES.rank
