package control

import (
	"errors"
	"fmt"
	"net/http"
)

// Backend is what the daemon implements and NewServer serves. Every method
// may be called from several goroutines at once. The server validates and
// fills defaults before calling the mutating methods, so a Backend sees
// only well-formed specs; it still decides everything that needs state
// (does the service exist, is a realserver address local).
//
// Errors should be *Error values carrying the HTTP status (use NotFound,
// Exists, BadRequest); any other error is answered 500. The messages that
// ipvsadm prints for the same conditions are the ones to use:
//
//	AddService   exists         "Service already exists"
//	EditService  not found      "No such service"
//	DelService   not found      "No such service"
//	Zero         not found      "No such service"
//	AddDest      no service     "Service not defined"
//	AddDest      exists         "Destination already exists"
//	EditDest     no service     "Service not defined"
//	EditDest     not found      "No such destination"
//	DelDest      no service     "Service not defined"
//	DelDest      not found      "No such destination"
type Backend interface {
	AddService(ServiceSpec) error
	EditService(ServiceSpec) error
	DelService(ServiceKey) error
	AddDest(ServiceKey, DestSpec) error
	EditDest(ServiceKey, DestSpec) error
	DelDest(ServiceKey, DestKey) error
	Clear() error
	// Services returns every service with its destinations, sorted by
	// protocol, address and port (ServiceKey.Compare); the destinations of
	// each sorted by address then port.
	Services() []ServiceStatus
	Conns() []ConnStatus
	// Zero zeroes the counters of one service (and its destinations), or
	// of everything when key is nil.
	Zero(key *ServiceKey) error
	// SetTimeouts sets the connection timeouts; a zero field is left as it is.
	SetTimeouts(Timeouts) error
	Timeouts() Timeouts
	// Restore applies ops in order, all or nothing: if one fails, the state
	// is as before the call. Wrap the failing op's error with OpFailed so
	// the command line can name the line that caused it.
	Restore(ops []Op) error
	Info() Info
}

// Error is an error with the HTTP status the control API answers it with.
// The Client returns the server's errors as *Error too.
type Error struct {
	Status  int    // http.StatusBadRequest, StatusNotFound, StatusConflict, ...
	Message string // one line, ipvsadm's wording where ipvsadm has one
	Op      int    // for Restore: the 1-based index of the op that failed; 0 otherwise
}

func (e *Error) Error() string { return e.Message }

// BadRequest is a 400 error: the request cannot be right in any state.
func BadRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// NotFound is a 404 error: the named service or destination does not exist.
func NotFound(format string, args ...any) error {
	return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf(format, args...)}
}

// Exists is a 409 error: the service or destination already exists.
func Exists(format string, args ...any) error {
	return &Error{Status: http.StatusConflict, Message: fmt.Sprintf(format, args...)}
}

// OpFailed marks err as caused by ops[i] (0-based) of a Restore. It keeps
// err's status when err is an *Error, and answers 400 otherwise.
func OpFailed(i int, err error) error {
	e := &Error{Status: http.StatusBadRequest, Message: err.Error(), Op: i + 1}
	var ce *Error
	if errors.As(err, &ce) {
		e.Status, e.Message = ce.Status, ce.Message
	}
	return e
}

// StatusOf returns the HTTP status for err: its *Error status, or 500.
func StatusOf(err error) int {
	var ce *Error
	if errors.As(err, &ce) && ce.Status >= 400 && ce.Status <= 599 {
		return ce.Status
	}
	return http.StatusInternalServerError
}
