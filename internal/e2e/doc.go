// Package e2e holds govs's end-to-end tests: the real govs binary runs as
// the director in a network-namespace lab (internal/lab), configured
// through its ipvsadm-compatible CLI, and real TCP and UDP clients and
// servers talk through it. The tests need root; without it they skip.
package e2e
