// Package netnstest gives tests of packages below the lab (arp, nftin) a
// pair of network namespaces joined by a veth, and a way to run code inside
// one. Tests that need whole topologies use internal/lab instead.
package netnstest
