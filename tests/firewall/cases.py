"""The rulesets of the firewall ground truth, each with what it is written to do.

`expect` lists the outcomes that differ from `default` ("tcp/22" → "accept" …; "tcp6/22" for
IPv6 probes when `v6` is set). The lab checks the real attempt against it (so a ruleset that
does not do what its name says fails loudly), and portwatch's verdict against the real attempt.
Kinds: "nft" (nft -f), "ipt" (iptables-nft-restore), "legacy" (iptables-legacy-restore),
"legacy+nft" (both, split by a line "---"), "ufw" (real ufw commands), "firewalld" (real
firewalld with firewall-cmd arguments, one call a line).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    text: str
    default: str
    expect: dict[str, str] = field(default_factory=dict)
    v6: bool = False
    unknown: frozenset[str] = frozenset()  # probes where portwatch must answer "unknown"


def _inet(body: str, policy: str = "drop", extra: str = "") -> str:
    return (f"table inet pwtest {{\n chain input {{ type filter hook input priority 0; "
            f"policy {policy};\n{body}\n }}\n{extra}\n}}\n")


_IPT_HEAD = "*filter\n:INPUT {policy} [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"

_DOCKER_NAT = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 10.88.0.0/24 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 10.88.0.2/32 -d 10.88.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.88.0.2:80
COMMIT
"""
_DOCKER_FILTER = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 10.88.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
{user}-A DOCKER-USER -j RETURN
COMMIT
"""

_FIREWALLD = """table inet firewalld {
 chain filter_PREROUTING { type filter hook prerouting priority filter + 10; policy accept;
  icmpv6 type { nd-router-advert, nd-neighbor-solicit } accept
  meta nfproto ipv6 fib saddr . mark . iif oif missing drop
 }
 chain filter_INPUT { type filter hook input priority filter + 10; policy accept;
  ct state { established, related } accept
  ct status dnat accept
  iifname "lo" accept
  ct state invalid drop
  jump filter_INPUT_ZONES
  reject with icmpx admin-prohibited
 }
 chain filter_INPUT_ZONES {
  iifname "eth0" goto filter_IN_public
  goto filter_IN_public
 }
 chain filter_IN_public {
  jump filter_IN_public_pre
  jump filter_IN_public_log
  jump filter_IN_public_deny
  jump filter_IN_public_allow
  jump filter_IN_public_post
  meta l4proto { icmp, ipv6-icmp } accept
 }
 chain filter_IN_public_pre { }
 chain filter_IN_public_log { }
 chain filter_IN_public_deny { ip saddr 192.168.99.0/24 drop; }
 chain filter_IN_public_allow {
  tcp dport 22 ct state { new, untracked } accept
  ip6 daddr fe80::/64 udp dport 546 ct state { new, untracked } accept
  udp dport 5353 ct state { new, untracked } accept
 }
 chain filter_IN_public_post { }
}
"""

CASES = [
    # -- hand-written nftables ----------------------------------------------------------------
    Case("no-firewall", "nft", "", "accept"),
    Case("inet-policy-drop", "nft", _inet(""), "drop"),
    Case("allow-ssh-dns", "nft", _inet(" tcp dport 22 accept\n udp dport 53 accept"), "drop",
         {"tcp/22": "accept", "udp/53": "accept"}),
    Case("deny-some", "nft",
         _inet(" tcp dport 5000 drop\n tcp dport 9000 reject\n udp dport 9000 reject",
               "accept"), "accept",
         {"tcp/5000": "drop", "tcp/9000": "reject", "udp/9000": "reject"}),
    Case("anonymous-set-range", "nft", _inet(" tcp dport { 22, 80-443 } accept"), "drop",
         {"tcp/22": "accept", "tcp/80": "accept", "tcp/443": "accept"}),
    Case("named-interval-set", "nft",
         _inet(" tcp dport @web accept",
               extra=" set web { type inet_service; flags interval; elements = { 80, 440-450 } }"),
         "drop", {"tcp/80": "accept", "tcp/443": "accept"}),
    Case("saddr-prefix", "nft",
         _inet(" ip saddr 10.77.0.0/24 tcp dport 22 accept\n"
               " ip saddr 192.168.50.0/24 tcp dport 80 accept"), "drop", {"tcp/22": "accept"}),
    Case("saddr-blocklist-set", "nft",
         _inet(" ip saddr @blocked drop", "accept",
               " set blocked { type ipv4_addr; elements = { 10.77.0.2, 10.77.0.9 } }"), "drop"),
    Case("saddr-range-not-client", "nft",
         _inet(" ip saddr 10.77.0.100-10.77.0.200 drop", "accept"), "accept"),
    Case("iifname", "nft",
         _inet(' iifname "eth0" tcp dport 22 accept\n iifname "docker0" accept'), "drop",
         {"tcp/22": "accept"}),
    Case("iif-lo-only", "nft", _inet(' iif "lo" accept'), "drop"),
    Case("vmap-jump", "nft",
         _inet(" tcp dport vmap { 22 : accept, 80 : drop, 443 : jump web }\n"
               " udp dport vmap { 53 : accept }",
               extra=" chain web { reject with tcp reset; }"), "drop",
         {"tcp/22": "accept", "tcp/443": "reject", "udp/53": "accept"}),
    Case("jump-return", "nft",
         _inet(" tcp dport 5000 jump check\n tcp dport 5000 accept",
               extra=" chain check {\n  ip saddr 10.77.0.2 return\n  drop\n }"), "drop",
         {"tcp/5000": "accept"}),
    Case("jump-drop", "nft",
         _inet(" tcp dport 5000 jump check\n tcp dport 5000 accept",
               extra=" chain check {\n  ip saddr 10.77.0.99 return\n  drop\n }"), "drop"),
    Case("goto-falls-to-policy", "nft",
         _inet(" meta l4proto tcp goto svc\n udp dport 53 accept",
               extra=" chain svc { tcp dport 443 accept; }"), "drop",
         {"tcp/443": "accept", "udp/53": "accept"}),
    Case("ct-state", "nft",
         _inet(" ct state established,related accept\n ct state invalid drop\n"
               " ct state new tcp dport 80 accept"), "drop", {"tcp/80": "accept"}),
    Case("ct-new-drop-except", "nft",
         _inet(" ct state new tcp dport != 22 drop", "accept"), "drop",
         {"tcp/22": "accept", "udp/53": "accept", "udp/5353": "accept", "udp/9000": "accept"}),
    Case("l4proto-th-dport", "nft", _inet(" meta l4proto { tcp, udp } th dport 9000 accept"),
         "drop", {"tcp/9000": "accept", "udp/9000": "accept"}),
    Case("two-tables-priorities", "nft",
         "table inet pwtesta { chain input { type filter hook input priority -10; "
         "policy accept; tcp dport 22 accept;\n }\n}\n"
         "table inet pwtestb { chain input { type filter hook input priority 10; "
         "policy drop; tcp dport 80 accept;\n }\n}\n", "drop", {"tcp/80": "accept"}),
    Case("raw-prerouting-drop", "nft",
         "table ip pwtest { chain pre { type filter hook prerouting priority -300; "
         "tcp dport 443 drop;\n }\n}\n", "accept", {"tcp/443": "drop"}),
    Case("netdev-ingress", "nft",
         'table netdev pwtest { chain ing { type filter hook ingress device "eth0" priority 0; '
         "tcp dport 80 drop; udp dport 53 drop;\n }\n}\n", "accept",
         {"tcp/80": "drop", "udp/53": "drop"}),
    Case("concat-set", "nft",
         _inet(" ip saddr . tcp dport @pairs accept",
               extra=" set pairs { type ipv4_addr . inet_service; "
                     "elements = { 10.77.0.2 . 22, 10.77.0.9 . 80 } }"), "drop",
         {"tcp/22": "accept"}),
    Case("mark-from-prerouting", "nft",
         _inet(" meta mark 0x1 accept",
               extra=" chain pre { type filter hook prerouting priority -150; "
                     "tcp dport 8080 meta mark set 0x1; }"), "drop", {"tcp/8080": "accept:host"}),
    Case("fib-daddr-local", "nft", _inet(" fib daddr type local tcp dport 443 accept"), "drop",
         {"tcp/443": "accept"}),
    Case("reject-kinds", "nft",
         _inet(" tcp dport 22 reject with tcp reset\n"
               " udp dport 53 reject with icmpx type admin-prohibited", "accept"), "accept",
         {"tcp/22": "reject", "udp/53": "reject"}),
    Case("limit-log-is-not-a-fork", "nft",
         _inet(' tcp dport 80 limit rate 1/second log prefix "pw "\n tcp dport 22 accept'),
         "drop", {"tcp/22": "accept"}),
    Case("limit-accept-is-unknown", "nft", _inet(" tcp dport 22 limit rate 100/second accept"),
         "drop", {"tcp/22": "accept"}, unknown=frozenset({"tcp/22"})),
    Case("ipv6-and-ipv4", "nft",
         _inet(" meta l4proto ipv6-icmp accept\n ip6 saddr fd77::/64 tcp dport 22 accept\n"
               " meta nfproto ipv4 tcp dport 80 accept"),
         "drop", {"tcp/80": "accept", "tcp6/22": "accept"}, v6=True),
    Case("redirect-to-listener", "nft",
         "table ip pwtest { chain pre { type nat hook prerouting priority dstnat; "
         "tcp dport 9000 redirect to :22;\n }\n}\n" + _inet(" tcp dport 22 accept"), "drop",
         {"tcp/22": "accept", "tcp/9000": "accept"}),
    Case("firewalld-style", "nft", _FIREWALLD, "reject",
         {"tcp/22": "accept", "udp/5353": "accept", "tcp6/22": "accept", "udp6/5353": "accept"},
         v6=True),
    Case("firewalld-real", "firewalld",
         "--add-port=5000/tcp\n--add-service=http\n"
         "--add-rich-rule='rule family=ipv4 source address=10.77.0.0/24 port port=9000 "
         "protocol=udp accept'\n"
         "--add-rich-rule='rule family=ipv4 port port=443 protocol=tcp reject'\n"
         "--add-rich-rule='rule family=ipv4 source address=192.168.9.0/24 port port=8080 "
         "protocol=tcp accept'", "reject",
         {"tcp/22": "accept", "tcp/80": "accept", "tcp/5000": "accept", "udp/9000": "accept",
          "tcp6/22": "accept", "tcp6/80": "accept", "tcp6/5000": "accept"}, v6=True),
    Case("firewalld-drop-zone", "firewalld",
         "--set-default-zone=drop\n--zone=drop --add-port=22/tcp", "drop", {"tcp/22": "accept"}),
    # -- iptables-nft (what ufw, Docker and most scripts produce) ----------------------------
    Case("ipt-basic", "ipt", _IPT_HEAD.format(policy="DROP")
         + "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
           "-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n", "drop", {"tcp/22": "accept"}),
    Case("ipt-multiport-comment", "ipt", _IPT_HEAD.format(policy="DROP")
         + '-A INPUT -p tcp -m multiport --dports 80,443 -m comment --comment "web" -j ACCEPT\n'
           "-A INPUT -p udp -m state --state NEW -m udp --dport 5353 -j ACCEPT\nCOMMIT\n",
         "drop", {"tcp/80": "accept", "tcp/443": "accept", "udp/5353": "accept"}),
    Case("ipt-user-chains", "ipt", _IPT_HEAD.format(policy="ACCEPT")
         + ":pw-in - [0:0]\n:pw-svc - [0:0]\n-A INPUT -j pw-in\n"
           "-A pw-in -p tcp --dport 5000 -g pw-svc\n-A pw-in -p tcp --dport 9000 -j DROP\n"
           "-A pw-in -j RETURN\n-A pw-svc -s 10.77.0.0/24 -j RETURN\n-A pw-svc -j DROP\nCOMMIT\n",
         "accept", {"tcp/9000": "drop"}),
    Case("ipt-reject-with", "ipt", _IPT_HEAD.format(policy="ACCEPT")
         + "-A INPUT -p tcp --dport 443 -j REJECT --reject-with tcp-reset\n"
           "-A INPUT -p udp --dport 53 -j REJECT --reject-with icmp-port-unreachable\n"
           "-A INPUT -p tcp -m tcp --dport 5000 -j REJECT\nCOMMIT\n", "accept",
         {"tcp/443": "reject", "udp/53": "reject", "tcp/5000": "reject"}),
    Case("ipt-addrtype-iprange", "ipt", _IPT_HEAD.format(policy="DROP")
         + "-A INPUT -m addrtype --dst-type LOCAL -p tcp --dport 80 -j ACCEPT\n"
           "-A INPUT -m iprange --src-range 10.77.0.1-10.77.0.5 -p udp --dport 53 -j ACCEPT\n"
           "-A INPUT -m iprange --src-range 10.77.0.50-10.77.0.60 -p udp -j ACCEPT\nCOMMIT\n",
         "drop", {"tcp/80": "accept", "udp/53": "accept"}),
    Case("ipt-mangle-mark", "ipt", "*mangle\n:PREROUTING ACCEPT [0:0]\n"
         "-A PREROUTING -p tcp --dport 8080 -j MARK --set-mark 7\nCOMMIT\n"
         + _IPT_HEAD.format(policy="DROP") + "-A INPUT -m mark --mark 7 -j ACCEPT\nCOMMIT\n",
         "drop", {"tcp/8080": "accept:host"}),
    Case("ipt-negations", "ipt", _IPT_HEAD.format(policy="ACCEPT")
         + "-A INPUT ! -s 10.77.0.0/24 -j DROP\n-A INPUT -p tcp ! --dport 22 -j DROP\nCOMMIT\n",
         "accept", {f"tcp/{p}": "drop" for p in (80, 443, 5000, 8080, 9000)}),
    # -- iptables-legacy, alone and next to nftables ------------------------------------------
    Case("legacy-basic", "legacy", _IPT_HEAD.format(policy="DROP")
         + "-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -p udp --dport 53 -j ACCEPT\nCOMMIT\n",
         "drop", {"tcp/22": "accept", "udp/53": "accept"}),
    Case("legacy-and-nft", "legacy+nft", _IPT_HEAD.format(policy="ACCEPT")
         + "-A INPUT -p tcp --dport 5000 -j DROP\n"
           "-A INPUT -p udp --dport 9000 -j REJECT\nCOMMIT\n---\n"
         + _inet(" tcp dport 443 drop", "accept"), "accept",
         {"tcp/5000": "drop", "udp/9000": "reject", "tcp/443": "drop"}),
    Case("legacy-ip6tables", "legacy6", _IPT_HEAD.format(policy="DROP")
         + "-A INPUT -p ipv6-icmp -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\n"
           "-A INPUT -p udp --dport 53 -j REJECT\nCOMMIT\n", "accept",
         {**{f"tcp6/{p}": "drop" for p in (80, 443, 5000, 8080, 9000)},
          **{f"udp6/{p}": "drop" for p in (5353, 9000)}, "udp6/53": "reject"}, v6=True),
    # -- real ufw -------------------------------------------------------------------------------
    Case("ufw-defaults-and-rules", "ufw",
         "ufw allow 22/tcp\nufw deny 5000/tcp\nufw reject 9000\n"
         "ufw allow from 10.77.0.0/24 to any port 80 proto tcp\n"
         "ufw allow from 192.168.50.0/24 to any port 443 proto tcp\nufw allow 53/udp",
         "drop", {"tcp/22": "accept", "tcp/80": "accept", "udp/53": "accept",
                  "tcp/9000": "reject", "udp/9000": "reject"}),
    Case("ufw-allow-incoming", "ufw",
         "ufw default allow incoming\nufw deny 443/tcp\nufw reject 53/udp", "accept",
         {"tcp/443": "drop", "udp/53": "reject"}),
    # -- Docker-style published port: DNAT in PREROUTING, then FORWARD -------------------------
    Case("docker-published", "ipt", _DOCKER_NAT + _DOCKER_FILTER.format(user=""), "drop",
         {"tcp/22": "accept", "tcp/8080": "accept:ctr"}),
    Case("docker-user-drop", "ipt", _DOCKER_NAT + _DOCKER_FILTER.format(
         user="-A DOCKER-USER -i eth0 -p tcp -m tcp --dport 80 -j DROP\n"), "drop",
         {"tcp/22": "accept"}),
    Case("docker-no-forwarding", "ipt+noforward", _DOCKER_NAT + _DOCKER_FILTER.format(user=""),
         "drop", {"tcp/22": "accept"}),
    Case("nft-dnat-forward", "nft",
         "table ip pwtestnat { chain pre { type nat hook prerouting priority dstnat; "
         "fib daddr type local tcp dport 8080 dnat to 10.88.0.2:80;\n }\n}\n"
         + _inet(" ct state established,related accept",
                 extra=" chain forwarding { type filter hook forward priority 0; policy drop;\n"
                       "  ct state established,related accept\n  ct status dnat accept\n }"),
         "drop", {"tcp/8080": "accept:ctr"}),
]
