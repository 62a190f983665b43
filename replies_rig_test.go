package deskie_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
	"github.com/stretchr/testify/require"
)

// The tests of Replies.Watch run against the fake on a clock they move by hand:
// every event happens at its own second (the API's dates have one-second
// resolution), and Watch polls every few milliseconds. Nothing waits on a sleep:
// a test waits for what Watch delivered, or for the polls the fake has seen.

const (
	watchPoll  = 2 * time.Millisecond
	watchToken = "watch-webhook-token"
)

// watchRig is the fake on a hand-moved clock, a client on it, and an app whose
// fn records what reached it.
type watchRig struct {
	t      *testing.T
	srv    *deskietest.Server
	clock  *deskietest.Clock
	store  *deskie.MemoryStore
	ch     string
	client *deskie.Client

	mu    sync.Mutex
	calls map[int64]int // fn calls per message id
	got   []*deskie.AgentReply
	fail  error // what fn returns (the app is down)
	panic bool  // fn panics once
	seen  chan struct{}
}

func newWatchRig(t *testing.T, srvOpts ...deskietest.Option) *watchRig {
	t.Helper()
	r := &watchRig{t: t, clock: deskietest.NewClock(time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC)),
		store: deskie.NewMemoryStore(), calls: map[int64]int{}, seen: make(chan struct{}, 1)}
	opts := append([]deskietest.Option{deskietest.WithClock(r.clock.Now), deskietest.WithRateLimit(1_000_000, time.Minute)}, srvOpts...)
	r.srv = deskietest.Start(t, opts...)
	r.ch = r.srv.AddChannel("App", deskietest.ChannelSync, "")
	r.client = r.newClient(r.store)
	return r
}

// newClient is one process of the app: a client on the fake with its own Store
// (a shared one models replicas, or a process that restarts on a durable Store).
func (r *watchRig) newClient(store deskie.Store, opts ...deskie.Option) *deskie.Client {
	c, err := deskie.NewClient("", r.srv.StaffEmail(), r.srv.APIKey(), append([]deskie.Option{deskie.WithBaseURL(r.srv.URL), deskie.WithStore(store),
		deskie.WithHTTPClient(&http.Client{Transport: fakeDate{clock: r.clock, base: http.DefaultTransport.(*http.Transport).Clone()}}),
		deskie.WithRetryWait(time.Millisecond, 2*time.Millisecond)}, opts...)...)
	require.NoError(r.t, err)
	return c
}

// fakeDate sets each answer's Date header from the fake's clock, as a real
// server's Date follows the clock its dates come from (Watch reads the service's
// time there).
type fakeDate struct {
	clock *deskietest.Clock
	base  *http.Transport
}

func (d fakeDate) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.base.RoundTrip(req)
	if resp != nil {
		resp.Header.Set("Date", d.clock.Now().UTC().Format(http.TimeFormat))
	}
	return resp, err
}

// fn is the app's function: it records a reply, or fails while the app is down.
func (r *watchRig) fn(_ context.Context, reply *deskie.AgentReply) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	if r.panic {
		r.panic = false
		panic("app bug")
	}
	r.calls[reply.MessageID]++
	r.got = append(r.got, reply)
	select {
	case r.seen <- struct{}{}:
	default:
	}
	return nil
}

func (r *watchRig) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

func (r *watchRig) received() []*deskie.AgentReply {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*deskie.AgentReply(nil), r.got...)
}

// waitReplies waits until fn has received n replies in all. It first moves the
// clock past the few seconds Watch leaves a fresh agent reply alone (it could be
// one the integration itself is adding through the API).
func (r *watchRig) waitReplies(n int) []*deskie.AgentReply {
	r.t.Helper()
	r.clock.Advance(15 * time.Second)
	deadline := time.After(30 * time.Second)
	for {
		if got := r.received(); len(got) >= n {
			return got
		}
		select {
		case <-r.seen:
		case <-deadline:
			r.t.Fatalf("waited for %d replies, got %d", n, len(r.received()))
		}
	}
}

// waitPolls waits until Watch has started n more polls than when it was called
// (each poll starts with one case list), so the poll before the last has ended.
func (r *watchRig) waitPolls(n int) {
	r.t.Helper()
	start := r.srv.CountRequests("GET", "/api/cases.json")
	require.Eventually(r.t, func() bool { return r.srv.CountRequests("GET", "/api/cases.json") >= start+n }, 30*time.Second, time.Millisecond)
}

// watch runs Watch on client until the test ends (or stop is called).
func (r *watchRig) watch(client *deskie.Client, opts ...deskie.WebhookOption) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	opts = append([]deskie.WebhookOption{deskie.WithPollInterval(watchPoll), deskie.WithBudgetShare(1)}, opts...)
	go func() { done <- client.Replies.Watch(ctx, r.ch, r.fn, opts...) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	r.t.Cleanup(func() { _ = stop() })
	return stop
}

// tick moves the fake's clock to the next second: each event gets its own.
func (r *watchRig) tick() { r.clock.Advance(time.Second) }

// customers opens one case for each of n customers, with their first message.
func (r *watchRig) customers(n int) (cases []int64) {
	r.t.Helper()
	for i := range n {
		r.tick()
		ids, err := r.srv.SeedCases(r.ch, fmt.Sprintf("app-user-%d", i), 1)
		require.NoError(r.t, err)
		cases = append(cases, ids...)
	}
	return cases
}

// reply has an agent answer, at the next second.
func (r *watchRig) reply(caseID int64, text string) int64 {
	r.t.Helper()
	r.tick()
	id, err := r.srv.AgentReply(caseID, 7, text)
	require.NoError(r.t, err)
	return id
}

// wantReply is what a reply to case's customer i carries, as a webhook delivery
// would.
func (r *watchRig) wantReply(msgID, caseID int64, customer, text string) *deskie.AgentReply {
	u, ok := r.srv.UserByCustomID(r.ch, customer)
	require.True(r.t, ok)
	return &deskie.AgentReply{Type: deskie.EventMessageNew, MessageID: msgID, CaseID: caseID, StaffID: 7,
		UserID: u.ID, UserCustomID: customer, Content: text}
}

// received0User is the case's customer.
func (r *watchRig) received0User(caseID int64) int64 {
	c, ok := r.srv.Case(caseID)
	require.True(r.t, ok)
	return c.UserID
}

// pollRequests splits the fake's request log into polls: each starts with the
// case list.
func pollRequests(reqs []deskietest.Request) [][]deskietest.Request {
	var polls [][]deskietest.Request
	for _, req := range reqs {
		if req.Method == "GET" && req.Path == "/api/cases.json" {
			polls = append(polls, nil)
		}
		if len(polls) > 0 {
			polls[len(polls)-1] = append(polls[len(polls)-1], req)
		}
	}
	return polls
}

// flakyStore is a Store that can be made unreachable.
type flakyStore struct {
	*deskie.MemoryStore
	down atomic.Bool
}

var errStoreDown = errors.New("store unreachable")

func (s *flakyStore) GetRecord(ctx context.Context, key string) ([]byte, error) {
	if s.down.Load() {
		return nil, errStoreDown
	}
	return s.MemoryStore.GetRecord(ctx, key)
}

func (s *flakyStore) PutRecord(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if s.down.Load() {
		return errStoreDown
	}
	return s.MemoryStore.PutRecord(ctx, key, value, ttl)
}

func (s *flakyStore) Claim(ctx context.Context, key, token string, ttl time.Duration) (deskie.ClaimState, error) {
	if s.down.Load() {
		return 0, errStoreDown
	}
	return s.MemoryStore.Claim(ctx, key, token, ttl)
}

// goroutines counts the program's goroutines, as a stack dump lists them (the
// runtime's own, which runtime.NumGoroutine may count as they come and go, are
// left out).
func goroutines() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "\ngoroutine ") + 1
}
