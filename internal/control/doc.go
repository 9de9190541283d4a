// Package control is govs's control API: HTTP and JSON over a Unix socket.
//
// The daemon ("govs run") serves it and the ipvsadm-compatible command line
// talks to it. Its vocabulary is IPVS's, one to one: a virtual service
// (ServiceSpec, keyed by ServiceKey) has destinations, or realservers
// (DestSpec, keyed by DestKey), each forwarded by direct routing ("dr",
// ipvsadm -g), IPIP tunnelling ("tun", -i), masquerading ("masq", -m) or to
// the director itself ("local").
//
// The daemon side implements Backend and serves it:
//
//	ln, err := control.Listen(control.DefaultSocket) // mode 0600, refuses to steal a live socket
//	if err != nil { ... }
//	go http.Serve(ln, control.NewServer(backend, logger))
//
// The command line side uses a Client:
//
//	c := control.NewClient(control.SocketPath(""))
//	svcs, err := c.Services(ctx)
//
// Anything that speaks HTTP over a Unix socket works too:
//
//	curl --unix-socket /run/govs.sock http://govs/v1/services
//
// Routes (the body and the response are JSON; a failed request answers
// {"error": "message"} with 400, 404, 409 or 500):
//
//	GET    /v1/info                                   Info
//	GET    /v1/services                               []ServiceStatus, sorted by protocol, address, port
//	POST   /v1/services                               add a ServiceSpec
//	DELETE /v1/services                               clear everything (ipvsadm -C)
//	GET    /v1/services/{proto}/{addr}/{port}         one ServiceStatus
//	PUT    /v1/services/{proto}/{addr}/{port}         edit with a ServiceSpec
//	DELETE /v1/services/{proto}/{addr}/{port}         delete
//	POST   /v1/services/{proto}/{addr}/{port}/dests   add a DestSpec
//	PUT    /v1/services/{proto}/{addr}/{port}/dests/{daddr}/{dport}   edit with a DestSpec
//	DELETE /v1/services/{proto}/{addr}/{port}/dests/{daddr}/{dport}   delete
//	GET    /v1/conns                                  []ConnStatus
//	POST   /v1/zero                                   zero counters: body {} for all or a ServiceKey
//	GET    /v1/timeouts                               Timeouts
//	PUT    /v1/timeouts                               set Timeouts
//	POST   /v1/restore                                apply []Op, all or nothing
//
// Bodies are decoded strictly (unknown fields are an error). Fields left
// out of a ServiceSpec take ipvsadm's defaults (scheduler wlc, persistence
// timeout 360 when persistent, netmask 255.255.255.255); a DestSpec's
// method defaults to "dr" and its weight to 1.
package control
