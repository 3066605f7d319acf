"""nftables over netlink: a pure builder, a thin executor, and the backend on top.

``NftablesBackend`` is the FirewallBackend; ``check_prefix`` is the prefix policy
the decisions stage applies before a ban reaches any backend.
"""

from journalban.firewall.nftables.backend import NftablesBackend
from journalban.firewall.nftables.builder import NftOptions
from journalban.firewall.nftables.prefixes import check_prefix

__all__ = ["NftOptions", "NftablesBackend", "check_prefix"]
