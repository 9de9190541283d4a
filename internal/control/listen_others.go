//go:build !unix

package control

import "net"

// listenPrivate has no umask to set here; Listen chmods the socket after.
func listenPrivate(path string) (net.Listener, error) {
	return net.Listen("unix", path)
}
