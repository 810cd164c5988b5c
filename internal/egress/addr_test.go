package egress

import (
	"net/netip"
	"testing"
)

func TestIsPublic(t *testing.T) {
	blocked := []string{
		"127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "10.0.0.5", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "100.64.0.1", "169.254.169.254", "192.0.0.1", "192.0.2.1", "198.18.0.1",
		"198.51.100.7", "203.0.113.9", "224.0.0.1", "240.0.0.1", "255.255.255.255",
		"::", "::1", "fe80::1", "fd00::1", "fc00::1", "fec0::1", "ff02::1",
		"::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:a9fe:a9fe", "::169.254.169.254",
		"64:ff9b::a9fe:a9fe", "64:ff9b:1::1", "2002:a9fe:a9fe::", "2001::1", "2001:db8::1", "100::1",
		// Outside 2000::/3, in no deny list: unallocated or reserved space
		// that only an allow list refuses.
		"4000::1", "1::1", "8000::1", "e000::1", "fb00::1", "::2:1",
	}
	for _, s := range blocked {
		if IsPublic(netip.MustParseAddr(s)) {
			t.Errorf("%s counted as public", s)
		}
	}
	public := []string{"8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8"}
	for _, s := range public {
		if !IsPublic(netip.MustParseAddr(s)) {
			t.Errorf("%s counted as not public", s)
		}
	}
	if IsPublic(netip.MustParseAddr("fe80::1%eth0")) || IsPublic(netip.Addr{}) {
		t.Error("zoned or invalid address counted as public")
	}
}

func TestBlockedNames(t *testing.T) {
	for _, h := range []string{"localhost", "LOCALHOST.", "a.localhost", "metadata", "metadata.google.internal", "metadata.google.internal.", "x.internal", "printer.local"} {
		if !blockedName(h) {
			t.Errorf("%q not refused by name", h)
		}
	}
	for _, h := range []string{"example.com", "localhost.example.com", "internal.example.com"} {
		if blockedName(h) {
			t.Errorf("%q refused by name", h)
		}
	}
}

// A refusal's class names the kind of address an attacker aimed at.
func TestAddrClass(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1": "loopback", "::1": "loopback", "0.0.0.0": "loopback", "::ffff:127.0.0.1": "loopback",
		"169.254.169.254": "metadata", "fd00:ec2::254": "metadata", "169.254.1.1": "link_local", "fe80::1": "link_local",
		"10.1.2.3": "private", "192.168.0.1": "private", "172.16.0.1": "private", "100.64.0.1": "private", "fd12::1": "private",
		"240.0.0.1": "reserved", "192.0.2.1": "reserved",
	} {
		if got := AddrClass(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: %s, want %s", addr, got, want)
		}
	}
	for host, want := range map[string]string{"localhost": "loopback", "a.LOCALHOST.": "loopback", "metadata.google.internal": "metadata",
		"metadata": "metadata", "db.internal": "name", "printer.local": "name"} {
		if got := nameClass(host); got != want {
			t.Errorf("%s: %s, want %s", host, got, want)
		}
	}
}
