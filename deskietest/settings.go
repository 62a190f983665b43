package deskietest

// MessageOrder is the order of a message list whose request does not ask for one
// with order=asc or order=desc (an order asked for is always followed). The real
// service's default is not documented: a client should cope with both.
type MessageOrder string

// The message orders.
const (
	// OldestFirst lists a case's messages oldest first (the default, and what
	// third-party clients document).
	OldestFirst MessageOrder = "oldest_first"
	// NewestFirst lists them newest first: page 1 holds the latest messages.
	NewestFirst MessageOrder = "newest_first"
)

// SetMessageOrder sets the order of message lists whose request does not ask for
// one. Any value other than [NewestFirst] means [OldestFirst].
func (s *Server) SetMessageOrder(o MessageOrder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messageOrder = o
	s.changed()
}
