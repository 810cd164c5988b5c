package egress

import (
	"net/netip"
	"slices"
	"strings"
)

// nonPublic lists every special-purpose range that must never be reached from a
// rendered page: the IANA IPv4 and IPv6 special-purpose registries plus the
// transition prefixes that embed an IPv4 address (NAT64, 6to4, Teredo,
// IPv4-compatible), so an internal IPv4 address cannot hide inside IPv6.
// net.IP.IsPrivate covers only RFC 1918 and fc00::/7, which is why this table exists.
var nonPublic = mustPrefixes(
	// IPv4
	"0.0.0.0/8",          // "this network"; 0.0.0.0 reaches localhost on Linux
	"10.0.0.0/8",         // RFC 1918
	"100.64.0.0/10",      // carrier-grade NAT
	"127.0.0.0/8",        // loopback
	"169.254.0.0/16",     // link-local, the metadata server
	"172.16.0.0/12",      // RFC 1918
	"192.0.0.0/24",       // IETF protocol assignments
	"192.0.2.0/24",       // TEST-NET-1
	"192.31.196.0/24",    // AS112
	"192.52.193.0/24",    // AMT
	"192.88.99.0/24",     // 6to4 relay anycast
	"192.168.0.0/16",     // RFC 1918
	"192.175.48.0/24",    // AS112 direct delegation
	"198.18.0.0/15",      // benchmarking
	"198.51.100.0/24",    // TEST-NET-2
	"203.0.113.0/24",     // TEST-NET-3
	"224.0.0.0/4",        // multicast
	"240.0.0.0/4",        // reserved, and broadcast
	"255.255.255.255/32", // limited broadcast
	// IPv6
	"::/128",         // unspecified
	"::1/128",        // loopback
	"::/96",          // IPv4-compatible (deprecated)
	"::ffff:0:0/96",  // IPv4-mapped, in case a caller did not unmap
	"64:ff9b::/96",   // NAT64
	"64:ff9b:1::/48", // local-use NAT64
	"100::/64",       // discard-only
	"2001::/23",      // IETF protocol assignments, Teredo (2001::/32) among them
	"2001:db8::/32",  // documentation
	"2002::/16",      // 6to4
	"3fff::/20",      // documentation
	"5f00::/16",      // SRv6 SIDs
	"fc00::/7",       // unique local
	"fe80::/10",      // link-local
	"fec0::/10",      // site-local (deprecated)
	"ff00::/8",       // multicast
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// globalUnicast6 is the only IPv6 space allocated for global unicast: an
// allow list, so a range IANA assigns for a special purpose later is refused
// until it is public here, not the other way round. The deny list above
// still carves the special ranges out of it.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// IsPublic reports whether a is a globally routable unicast address. IPv4-mapped
// IPv6 addresses are unmapped first, so [::ffff:127.0.0.1] is loopback.
func IsPublic(a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" {
		return false
	}
	a = a.Unmap()
	if a.Is6() && !globalUnicast6.Contains(a) {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// metadataAddrs are the cloud metadata servers' addresses (GCE, AWS IPv6).
var metadataAddrs = []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254")}

// AddrClass names the kind of non-public address a is, for the count of
// refusals: metadata, loopback, link_local, private, or reserved (every
// other special range).
func AddrClass(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case slices.Contains(metadataAddrs, a):
		return "metadata"
	case a.IsLoopback() || a.IsUnspecified():
		return "loopback"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return "link_local"
	case a.IsPrivate() || cgnat.Contains(a):
		return "private"
	}
	return "reserved"
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// nameClass is AddrClass for a name blockedName refuses.
func nameClass(host string) string {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	switch {
	case h == "localhost" || strings.HasSuffix(h, ".localhost"):
		return "loopback"
	case h == "metadata" || h == "metadata.google.internal":
		return "metadata"
	}
	return "name"
}

// blockedName reports names that are refused before any lookup: they name the
// machine itself or the metadata server, whatever a resolver would answer.
func blockedName(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	switch {
	case h == "localhost", strings.HasSuffix(h, ".localhost"),
		h == "metadata", h == "metadata.google.internal",
		strings.HasSuffix(h, ".internal"), strings.HasSuffix(h, ".local"):
		return true
	}
	return false
}
