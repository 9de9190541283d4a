package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/govs-lb/govs/balancer"
)

// Request body limits.
const (
	maxBody        = 1 << 20
	maxRestoreBody = 64 << 20
)

type server struct {
	b   Backend
	log *slog.Logger
}

// NewServer returns the control API's handler for b. log may be nil.
// Mutations are logged at Info, failures at Warn.
func NewServer(b Backend, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{b: b, log: log}
	mux := http.NewServeMux()
	const svc = "/v1/services/{proto}/{addr}/{port}"
	mux.HandleFunc("GET /v1/info", s.info)
	mux.HandleFunc("GET /v1/services", s.services)
	mux.HandleFunc("POST /v1/services", s.addService)
	mux.HandleFunc("DELETE /v1/services", s.clear)
	mux.HandleFunc("GET "+svc, s.service)
	mux.HandleFunc("PUT "+svc, s.editService)
	mux.HandleFunc("DELETE "+svc, s.delService)
	mux.HandleFunc("POST "+svc+"/dests", s.addDest)
	mux.HandleFunc("PUT "+svc+"/dests/{daddr}/{dport}", s.editDest)
	mux.HandleFunc("DELETE "+svc+"/dests/{daddr}/{dport}", s.delDest)
	mux.HandleFunc("GET /v1/conns", s.conns)
	mux.HandleFunc("POST /v1/zero", s.zero)
	mux.HandleFunc("GET /v1/timeouts", s.timeouts)
	mux.HandleFunc("PUT /v1/timeouts", s.setTimeouts)
	mux.HandleFunc("POST /v1/restore", s.restore)
	s.registerRole(mux)
	s.registerReload(mux)
	s.registerTakeover(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, NotFound("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// errorBody is the JSON of a failed request.
type errorBody struct {
	Error string `json:"error"`
	Op    int    `json:"op,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client is gone if this fails; nothing to do
}

func writeError(w http.ResponseWriter, err error) {
	body := errorBody{Error: err.Error()}
	var ce *Error
	if errors.As(err, &ce) {
		body.Op = ce.Op
	}
	writeJSON(w, StatusOf(err), body)
}

// decode reads a strict JSON body into v, which holds the defaults.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return BadRequest("empty request body")
		}
		if errors.Is(err, balancer.ErrInvalid) {
			return BadRequest("%v", err) // a word outside the vocabulary, said as Validate says it
		}
		return BadRequest("bad request body: %v", err)
	}
	if dec.More() {
		return BadRequest("bad request body: more than one JSON value")
	}
	return nil
}

// serviceKey reads {proto}/{addr}/{port} from the path.
func serviceKey(r *http.Request) (ServiceKey, error) {
	var k ServiceKey
	proto, protoErr := balancer.ParseProto(r.PathValue("proto"))
	a, err := netip.ParseAddr(r.PathValue("addr"))
	if err != nil {
		return k, BadRequest("invalid virtual address %q", r.PathValue("addr"))
	}
	k.Addr = a
	p, err := strconv.ParseUint(r.PathValue("port"), 10, 16)
	if err != nil {
		return k, BadRequest("invalid virtual port %q", r.PathValue("port"))
	}
	k.Port = uint16(p)
	if protoErr != nil {
		return k, BadRequest("%v", protoErr)
	}
	k.Protocol = proto
	if err := k.Validate(); err != nil {
		return k, BadRequest("%v", err)
	}
	return k, nil
}

func destKey(r *http.Request) (DestKey, error) {
	a, err := netip.ParseAddr(r.PathValue("daddr"))
	if err != nil || !a.Is4() {
		return DestKey{}, BadRequest("invalid real server address %q", r.PathValue("daddr"))
	}
	p, err := strconv.ParseUint(r.PathValue("dport"), 10, 16)
	if err != nil {
		return DestKey{}, BadRequest("invalid real server port %q", r.PathValue("dport"))
	}
	return DestKey{Addr: a, Port: uint16(p)}, nil
}

// newServiceSpec and newDestSpec hold the defaults a body may leave out.
func newServiceSpec() ServiceSpec {
	return ServiceSpec{Scheduler: balancer.DefaultScheduler, Netmask: DefaultNetmask}
}

func newDestSpec() DestSpec {
	return DestSpec{Method: balancer.MethodDR, Weight: balancer.DefaultWeight}
}

// done answers a mutation and logs it.
func (s *server) done(w http.ResponseWriter, r *http.Request, what string, err error) {
	if err != nil {
		s.log.Warn("control request failed", "method", r.Method, "path", r.URL.Path, "op", what, "err", err)
		writeError(w, err)
		return
	}
	s.log.Info("control", "op", what, "path", r.URL.Path)
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.b.Info())
}

func (s *server) services(w http.ResponseWriter, r *http.Request) {
	svcs := s.b.Services()
	if svcs == nil {
		svcs = []ServiceStatus{}
	}
	writeJSON(w, http.StatusOK, svcs)
}

func (s *server) service(w http.ResponseWriter, r *http.Request) {
	k, err := serviceKey(r)
	if err != nil {
		writeError(w, err)
		return
	}
	for _, st := range s.b.Services() {
		if st.ServiceKey == k {
			writeJSON(w, http.StatusOK, st)
			return
		}
	}
	writeError(w, NotFound("No such service"))
}

func (s *server) addService(w http.ResponseWriter, r *http.Request) {
	spec := newServiceSpec()
	err := decode(w, r, maxBody, &spec)
	if err == nil {
		spec = spec.WithDefaults()
		if err = spec.Validate(); err != nil {
			err = BadRequest("%v", err)
		}
	}
	if err == nil {
		err = s.b.AddService(spec)
	}
	s.done(w, r, "add-service", err)
}

func (s *server) editService(w http.ResponseWriter, r *http.Request) {
	k, err := serviceKey(r)
	spec := newServiceSpec()
	if err == nil {
		err = decode(w, r, maxBody, &spec)
	}
	if err == nil && spec.Addr.IsValid() && spec.ServiceKey != k {
		err = BadRequest("service %v in the body does not match %v in the path", spec.ServiceKey, k)
	}
	if err == nil {
		spec.ServiceKey = k
		spec = spec.WithDefaults()
		if err = spec.Validate(); err != nil {
			err = BadRequest("%v", err)
		}
	}
	if err == nil {
		err = s.b.EditService(spec)
	}
	s.done(w, r, "edit-service", err)
}

func (s *server) delService(w http.ResponseWriter, r *http.Request) {
	k, err := serviceKey(r)
	if err == nil {
		err = s.b.DelService(k)
	}
	s.done(w, r, "delete-service", err)
}

func (s *server) clear(w http.ResponseWriter, r *http.Request) {
	s.done(w, r, "clear", s.b.Clear())
}

func (s *server) addDest(w http.ResponseWriter, r *http.Request) {
	k, err := serviceKey(r)
	d := newDestSpec()
	if err == nil {
		err = decode(w, r, maxBody, &d)
	}
	if err == nil {
		if err = d.Validate(); err != nil {
			err = BadRequest("%v", err)
		}
	}
	if err == nil {
		err = s.b.AddDest(k, d)
	}
	s.done(w, r, "add-server", err)
}

func (s *server) editDest(w http.ResponseWriter, r *http.Request) {
	k, err := serviceKey(r)
	var dk DestKey
	if err == nil {
		dk, err = destKey(r)
	}
	d := newDestSpec()
	if err == nil {
		err = decode(w, r, maxBody, &d)
	}
	if err == nil && d.Addr.IsValid() && d.Key() != dk {
		err = BadRequest("real server %v in the body does not match %v in the path",
			netip.AddrPortFrom(d.Addr, d.Port), netip.AddrPortFrom(dk.Addr, dk.Port))
	}
	if err == nil {
		d.Addr, d.Port = dk.Addr, dk.Port
		if err = d.Validate(); err != nil {
			err = BadRequest("%v", err)
		}
	}
	if err == nil {
		err = s.b.EditDest(k, d)
	}
	s.done(w, r, "edit-server", err)
}

func (s *server) delDest(w http.ResponseWriter, r *http.Request) {
	k, err := serviceKey(r)
	var dk DestKey
	if err == nil {
		dk, err = destKey(r)
	}
	if err == nil {
		err = s.b.DelDest(k, dk)
	}
	s.done(w, r, "delete-server", err)
}

func (s *server) conns(w http.ResponseWriter, r *http.Request) {
	c := s.b.Conns()
	if c == nil {
		c = []ConnStatus{}
	}
	writeJSON(w, http.StatusOK, c)
}

// zeroRequest is POST /v1/zero's body: {} zeroes everything.
type zeroRequest struct {
	Service *ServiceKey `json:"service,omitempty"`
}

func (s *server) zero(w http.ResponseWriter, r *http.Request) {
	var req zeroRequest
	err := decode(w, r, maxBody, &req)
	if err == nil && req.Service != nil {
		if err = req.Service.Validate(); err != nil {
			err = BadRequest("%v", err)
		}
	}
	if err == nil {
		err = s.b.Zero(req.Service)
	}
	s.done(w, r, "zero", err)
}

func (s *server) timeouts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.b.Timeouts())
}

func (s *server) setTimeouts(w http.ResponseWriter, r *http.Request) {
	var t Timeouts
	err := decode(w, r, maxBody, &t)
	if err == nil {
		if err = t.Validate(); err != nil {
			err = BadRequest("%v", err)
		}
	}
	if err == nil {
		err = s.b.SetTimeouts(t)
	}
	s.done(w, r, "set", err)
}

func (s *server) restore(w http.ResponseWriter, r *http.Request) {
	var raw []json.RawMessage
	err := decode(w, r, maxRestoreBody, &raw)
	ops := make([]Op, 0, len(raw))
	for i := 0; err == nil && i < len(raw); i++ {
		op, derr := decodeOp(raw[i])
		if derr != nil {
			err = OpFailed(i, BadRequest("%v", derr))
			break
		}
		ops = append(ops, op)
	}
	if err == nil {
		err = s.b.Restore(ops)
	}
	s.done(w, r, fmt.Sprintf("restore (%d ops)", len(raw)), err)
}

// decodeOp decodes one op with the defaults of its kind filled in.
func decodeOp(raw json.RawMessage) (Op, error) {
	var kind struct {
		Kind OpKind `json:"op"`
	}
	if err := json.Unmarshal(raw, &kind); err != nil {
		return Op{}, err
	}
	op := Op{Kind: kind.Kind}
	switch op.Kind {
	case OpAddService, OpEditService:
		op.Service = newServiceSpec()
	case OpAddDest, OpEditDest:
		op.Dest = newDestSpec()
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&op); err != nil {
		return Op{}, err
	}
	switch op.Kind {
	case OpAddService, OpEditService:
		op.Service = op.Service.WithDefaults()
	}
	return op, op.Validate()
}
