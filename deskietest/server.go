// Package deskietest is an in-memory fake Deskie (and Omnidesk) server that speaks
// the real wire protocol, so a custom-channel bridge can be tested end to end with
// no account and no network.
//
//	srv := deskietest.NewServer()
//	defer srv.Close()
//	ch := srv.AddChannel("App", deskietest.ChannelSync, appWebhookURL) // "cch1"
//	client, _ := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL))
//	// … the bridge writes through client.Chats.Send; agents answer with
//	srv.AgentReply(caseID, 7, "Hello!") // POSTs the webhook to appWebhookURL
//
// It serves, with the real shapes (root keys like {"case":{…}}, numbered-key lists
// with total_count, RFC1123Z dates and "-" for unset ones, {"error":"…"} codes, the
// lower-case rate-limit headers):
//
//	POST/GET /api/cases.json              GET/PUT /api/cases/{id}.json
//	POST/GET /api/cases/{id}/messages.json
//	GET      /api/custom_channels.json
//	POST/GET /api/users.json              GET /api/users/{id}.json
//	PUT      /api/users/{id}/link.json
//
// Domain rules follow the vendor's custom-channel article: users are found or
// created by (channel, user_custom_id) and the case answer carries user_id; an
// e-mail or phone given on create is linked unless already tied to another custom
// id of the same channel; a customer's message reopens a waiting case; an agent's
// reply sets it waiting and is POSTed to the channel's webhook (b_from_api=1 when
// it was added through the API). Where the real service is undocumented the fake
// makes a choice and says so on the method (see [Server.MergeCases] and the
// closed-case rule in [Server.CloseCase]).
//
// deskietest does not import the SDK: it is an independent implementation of the
// wire protocol, so an encoding mistake in the SDK fails a test instead of being
// mirrored here. It is safe for concurrent use.
package deskietest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
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

	srv *httptest.Server
	cfg config

	mu          sync.Mutex
	channels    []*Channel
	users       map[int64]*User
	cases       map[int64]*Case
	order       []*Case              // every case, sorted by (created_at, id): lists page through it without sorting
	messages    map[int64][]*Message // by case id
	merged      map[int64]int64      // merged-away case → the case it went into
	nextUser    int64
	nextCase    int64
	nextMessage int64
	requests    []*Request
	deliveries  []Delivery
	faults      []*fault
	rate        rateWindow
	background  sync.WaitGroup
}

type config struct {
	staffEmail string
	apiKey     string
	clock      func() time.Time
	zone       *time.Location
	rateLimit  int
	rateWindow time.Duration
	slowDelay  time.Duration
	webhook    *http.Client
	requestLog int
}

// Option configures [NewServer].
type Option func(*config)

// WithCredentials sets the staff e-mail and API key the server accepts (Basic
// auth). A wrong key is answered 401, a wrong e-mail 403, like the real service.
func WithCredentials(staffEmail, apiKey string) Option {
	return func(c *config) { c.staffEmail, c.apiKey = staffEmail, apiKey }
}

// WithClock sets the clock used for every date the server records (created_at,
// updated_at, …), for deterministic tests. The rate-limit window runs on real time,
// since clients wait on it.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithRateLimit sets the budget: limit units per window (a write costs 2, a read
// 1). The real window is a minute; a short one keeps tests fast. limit 0 turns
// rate limiting and its headers off.
func WithRateLimit(limit int, window time.Duration) Option {
	return func(c *config) {
		c.rateLimit = limit
		if window > 0 {
			c.rateWindow = window
		}
	}
}

// WithSlowDelay sets how long the [FaultSlow] fault holds an answer (default 2 s).
func WithSlowDelay(d time.Duration) Option { return func(c *config) { c.slowDelay = d } }

// WithRequestLog sets how many of the latest requests [Server.Requests] keeps
// (default 100,000; 0 keeps none), so a long soak or volume run stays in bounded
// memory.
func WithRequestLog(n int) Option { return func(c *config) { c.requestLog = max(n, 0) } }

// WithWebhookClient sets the client used to POST webhook deliveries.
func WithWebhookClient(hc *http.Client) Option { return func(c *config) { c.webhook = hc } }

// NewServer starts a fake on a loopback port. Close it when done.
func NewServer(opts ...Option) *Server {
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
		nextUser:    5654846848, // above 2^31, as real user ids are
		nextCase:    2000,
		nextMessage: 42577887,
	}
	for _, opt := range opts {
		opt(&s.cfg)
	}
	s.srv = httptest.NewServer(s.routes())
	s.URL = s.srv.URL
	return s
}

// Close waits for background webhook deliveries and shuts the server down.
func (s *Server) Close() {
	s.background.Wait()
	s.srv.Close()
}

// StaffEmail returns the staff e-mail the server accepts.
func (s *Server) StaffEmail() string { return s.cfg.staffEmail }

// APIKey returns the API key the server accepts.
func (s *Server) APIKey() string { return s.cfg.apiKey }

func (s *Server) now() time.Time { return s.cfg.clock().In(s.cfg.zone).Truncate(time.Second) }

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
// up to WithRequestLog).
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

// addCase stores a new case in the map and the ordered index; callers hold s.mu.
func (s *Server) addCase(c *Case) {
	s.cases[c.ID] = c
	i := len(s.order)
	for i > 0 && (s.order[i-1].CreatedAt.After(c.CreatedAt) || s.order[i-1].CreatedAt.Equal(c.CreatedAt) && s.order[i-1].ID > c.ID) {
		i-- // only an injected clock that goes back makes this loop run
	}
	s.order = slices.Insert(s.order, i, c)
}

// removeCase drops a case from the map and the index; callers hold s.mu.
func (s *Server) removeCase(id int64) {
	delete(s.cases, id)
	s.order = slices.DeleteFunc(s.order, func(c *Case) bool { return c.ID == id })
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

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/cases.json", s.createCase)
	mux.HandleFunc("GET /api/cases.json", s.listCases)
	mux.HandleFunc("GET /api/cases/{file}", s.getCase)
	mux.HandleFunc("PUT /api/cases/{file}", s.updateCase)
	mux.HandleFunc("POST /api/cases/{id}/messages.json", s.createMessage)
	mux.HandleFunc("GET /api/cases/{id}/messages.json", s.listMessages)
	mux.HandleFunc("GET /api/custom_channels.json", s.listChannels)
	mux.HandleFunc("GET /api/users.json", s.listUsers)
	mux.HandleFunc("POST /api/users.json", s.createUser)
	mux.HandleFunc("GET /api/users/{file}", s.getUser)
	mux.HandleFunc("PUT /api/users/{id}/link.json", s.linkUser)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found")
	})
	return s.middleware(mux)
}

// idFromFile reads "123.json".
func idFromFile(file string) (int64, bool) {
	idText, ok := strings.CutSuffix(file, ".json")
	if !ok {
		return 0, false
	}
	return parseID(idText)
}
