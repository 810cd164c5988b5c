// Package egresstest has what tests of the egress guard share: a resolver
// with scripted answers and a pair of loopback listeners on one port.
package egresstest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
)

// Resolver answers from a table. A name with several answers gives them in
// turn, one per lookup, then keeps the last: a rebinding name.
type Resolver struct {
	mu      sync.Mutex
	answers map[string][]string
	asked   map[string]int
}

// NewResolver returns a resolver for answers (name to addresses in turn).
func NewResolver(answers map[string][]string) *Resolver {
	return &Resolver{answers: answers, asked: map[string]int{}}
}

// LookupNetIP implements egress.Resolver.
func (r *Resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq, ok := r.answers[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	n := r.asked[host]
	r.asked[host] = n + 1
	return []netip.Addr{netip.MustParseAddr(seq[min(n, len(seq)-1)])}, nil
}

// Asked is how many times host was looked up.
func (r *Resolver) Asked(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.asked[host]
}

// SamePortPair listens on 127.0.0.2:P and 127.0.0.1:P for one free P: an
// allowed server and a secret one that a rebinding name can swap.
func SamePortPair() (allowed, secret net.Listener, err error) {
	for range 50 {
		a, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			return nil, nil, errors.New("127.0.0.2 is not usable: " + err.Error())
		}
		b, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(a.Addr().(*net.TCPAddr).Port))
		if err == nil {
			return a, b, nil
		}
		a.Close()
	}
	return nil, nil, errors.New("no port free on both loopback addresses")
}
