package forward

// ParseError is why Parse refused a frame. Its values are small integers
// from 0 to NumParseErrors-1, so a worker counts drops by reason in an
// array without a map or an allocation:
//
//	var drops [forward.NumParseErrors]uint64
//	if err := forward.Parse(frame, &p); err != nil {
//		drops[err.(forward.ParseError)]++ // every error Parse returns is a ParseError
//	}
//
// Name gives each reason a snake_case name for metrics labels. A ParseError
// is an error: Error returns a sentence, and == or errors.Is compare it
// with the named values (ErrShort, ErrBadIHL, ...).
type ParseError uint8

// The reasons Parse refuses a frame.
const (
	// ErrShort: the frame ends before a header that it announces.
	ErrShort ParseError = iota
	// ErrEtherType: neither IPv4 nor ARP, or more than one 802.1Q tag.
	ErrEtherType
	// ErrBadVersion: the IP version field is not 4.
	ErrBadVersion
	// ErrBadIHL: the IPv4 header length is under 20 bytes.
	ErrBadIHL
	// ErrBadLength: the IPv4 total length is below the header length or
	// past the end of the frame.
	ErrBadLength
	// ErrBadDataOffset: the TCP data offset is under 20 bytes or past the
	// end of the IP packet.
	ErrBadDataOffset
	// ErrBadICMPQuote: an ICMP error whose quoted datagram is not an IPv4
	// header followed by at least 8 bytes.
	ErrBadICMPQuote

	// NumParseErrors is the number of ParseError values, the length of an
	// array indexed by them.
	NumParseErrors
)

var parseErrorNames = [NumParseErrors]string{
	ErrShort:         "short",
	ErrEtherType:     "ethertype",
	ErrBadVersion:    "bad_version",
	ErrBadIHL:        "bad_ihl",
	ErrBadLength:     "bad_length",
	ErrBadDataOffset: "bad_data_offset",
	ErrBadICMPQuote:  "bad_icmp_quote",
}

var parseErrorText = [NumParseErrors]string{
	ErrShort:         "forward: frame too short",
	ErrEtherType:     "forward: unsupported EtherType",
	ErrBadVersion:    "forward: IP version is not 4",
	ErrBadIHL:        "forward: bad IPv4 header length",
	ErrBadLength:     "forward: bad IPv4 total length",
	ErrBadDataOffset: "forward: bad TCP data offset",
	ErrBadICMPQuote:  "forward: bad datagram quoted in ICMP error",
}

// Name returns the reason's snake_case name ("short", "bad_ihl", ...), for
// metrics labels; "unknown" for a value outside the enumeration.
func (e ParseError) Name() string {
	if e < NumParseErrors {
		return parseErrorNames[e]
	}
	return "unknown"
}

// Error returns a sentence that names the reason.
func (e ParseError) Error() string {
	if e < NumParseErrors {
		return parseErrorText[e]
	}
	return "forward: unknown parse error"
}
