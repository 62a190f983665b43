package deskietest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Defaults for [NewServer].
const (
	DefaultStaffEmail = "agent@example.com"
	DefaultAPIKey     = "deskietest-api-key" //nolint:gosec // G101: the fake's well-known test key
	// DefaultRateLimit is the default budget per window (the Pro plan's cap).
	DefaultRateLimit = 1500
)

// Server is a running fake. URL is its origin, to pass to deskie.WithBaseURL.
type Server struct {
	// URL is the origin, e.g. http://127.0.0.1:41234.
	URL string

	srv     *httptest.Server
	cfg     config
	handler http.Handler

	mu           sync.Mutex
	channels     []*Channel
	users        map[int64]*User
	cases        map[int64]*Case
	byCreated    caseIndex            // every case, by (created_at, id): lists page through it without sorting
	byUpdated    caseIndex            // every case, by (updated_at, id)
	messages     map[int64][]*Message // by case id
	merged       map[int64]int64      // merged-away case → the case it went into
	nextUser     int64
	nextCase     int64
	nextMessage  int64
	requests     []*Request
	deliveries   []Delivery
	attempts     map[int64]int // webhook POSTs made so far, by message id
	faults       []*fault
	rate         rateWindow
	redelivery   []time.Duration // the schedule; empty: a failed delivery is not tried again
	pending      []*redelivery   // redeliveries waiting for their time
	inflight     int             // webhook deliveries being sent
	closed       bool
	generation   int // moves on Reset, so a delivery begun before it is not recorded after it
	messageOrder MessageOrder
	version      int64         // moves on every change of the state, for the console
	changedCh    chan struct{} // closed and cleared on a change, when someone waits for one
}

// NewServer starts a fake on a loopback port. Close it when done.
func NewServer(opts ...Option) *Server {
	s := newServer(opts)
	s.srv = httptest.NewServer(s.handler)
	s.URL = s.srv.URL
	return s
}

// NewServerOn starts a fake that serves on l, for a fake on a chosen address
// (deskie fake --addr 127.0.0.1:8025): the caller opens the listener and so sees
// its error. URL is "http://" followed by l's address. Close it when done; that
// closes l.
func NewServerOn(l net.Listener, opts ...Option) *Server {
	s := newServer(opts)
	s.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}}
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// Start starts a fake like [NewServer] and closes it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

func newServer(opts []Option) *Server {
	s := &Server{
		cfg: config{
			staffEmail: DefaultStaffEmail,
			apiKey:     DefaultAPIKey,
			clock:      time.Now,
			zone:       time.FixedZone("MSK", 3*3600),
			rateLimit:  DefaultRateLimit,
			rateWindow: time.Minute,
			slowDelay:  2 * time.Second,
			webhook:    &http.Client{Timeout: 10 * time.Second},
			requestLog: 100000,
		},
		users:       map[int64]*User{},
		cases:       map[int64]*Case{},
		messages:    map[int64][]*Message{},
		merged:      map[int64]int64{},
		attempts:    map[int64]int{},
		byCreated:   caseIndex{key: func(c *Case) time.Time { return c.CreatedAt }},
		byUpdated:   caseIndex{key: func(c *Case) time.Time { return c.UpdatedAt }},
		nextUser:    5654846848, // above 2^31, as real user ids are
		nextCase:    2000,
		nextMessage: 42577887,
	}
	for _, opt := range opts {
		opt(&s.cfg)
	}
	s.redelivery = s.cfg.redelivery
	s.messageOrder = s.cfg.messageOrder
	s.handler = s.routes()
	return s
}

// Handler returns everything the server serves (the API under /api/, the control
// API under /_fake/ and the console at /console), to mount on another server.
// The state is the Server's own: the URL field keeps naming the address the
// Server listens on, and file URLs in messages use it.
func (s *Server) Handler() http.Handler { return s.handler }

// Close drops the redeliveries still waiting, waits for webhook deliveries being
// sent and shuts the server down.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.dropPending()
	s.mu.Unlock()
	_ = s.waitDeliveries(context.Background())
	s.srv.Close()
}

// StaffEmail returns the staff e-mail the server accepts.
func (s *Server) StaffEmail() string { return s.cfg.staffEmail }

// APIKey returns the API key the server accepts.
func (s *Server) APIKey() string { return s.cfg.apiKey }

// now is the time recorded in dates: the clock's, to the second, in the account's zone.
func (s *Server) now() time.Time { return s.cfg.clock().In(s.cfg.zone).Truncate(time.Second) }

// changed records a change of the state and wakes whoever waits for one; callers
// hold s.mu.
func (s *Server) changed() {
	s.version++
	if s.changedCh != nil {
		close(s.changedCh)
		s.changedCh = nil
	}
}

// changes returns a channel closed at the next change; callers hold s.mu.
func (s *Server) changes() <-chan struct{} {
	if s.changedCh == nil {
		s.changedCh = make(chan struct{})
	}
	return s.changedCh
}

// waitUntil waits until done, called with s.mu held, reports true, or until ctx
// is done.
func (s *Server) waitUntil(ctx context.Context, done func() bool) error {
	for {
		s.mu.Lock()
		if done() {
			s.mu.Unlock()
			return nil
		}
		ch := s.changes()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Request is one API request the server received.
type Request struct {
	Method string
	Path   string
	Query  string
	Body   []byte
	// Status is what the server answered (0 when the connection was dropped).
	Status int
}

// Requests returns the API requests received so far, in order (the latest ones,
// up to WithRequestLog). Requests to the control API and the console are not API
// requests and are not recorded.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = *r
	}
	return out
}

// logRequest records a request, dropping the older half of the log when full;
// callers hold s.mu.
func (s *Server) logRequest(r *Request) {
	if s.cfg.requestLog == 0 {
		return
	}
	if len(s.requests) >= s.cfg.requestLog {
		keep := s.cfg.requestLog / 2
		s.requests = append(s.requests[:0:0], s.requests[len(s.requests)-keep:]...)
	}
	s.requests = append(s.requests, r)
}

// CountRequests returns how many requests matched method and path ("" matches any).
func (s *Server) CountRequests(method, path string) int {
	n := 0
	for _, r := range s.Requests() {
		if (method == "" || r.Method == method) && (path == "" || r.Path == path) {
			n++
		}
	}
	return n
}
