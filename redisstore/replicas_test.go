package redisstore_test

// Integration tests: several replicas of a bridge — each its own deskie.Client,
// go-redis client and redisstore.Store — against one fake Deskie
// (deskietest) and one real Redis.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
	"github.com/deskie-go/deskie/redisstore"
	"github.com/redis/go-redis/v9"
)

// replica is one process of the bridge, as far as the SDK can tell: nothing is
// shared with the other replicas but Redis and the fake's URL.
type replica struct {
	name   string
	client *deskie.Client
	store  *redisstore.Store
	rdb    *redis.Client
	hook   *countHook
	rates  *rateLog
}

// countHook counts the commands a go-redis client sends and its round trips (a
// pipeline is one).
type countHook struct{ cmds, trips atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.cmds.Add(1)
		h.trips.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.cmds.Add(int64(len(cmds)))
		h.trips.Add(1)
		return next(ctx, cmds)
	}
}

// rateLog records, per answer from the fake, when it came and the rate headers
// it carried: the fake's request log has no times.
type rateLog struct {
	base http.RoundTripper
	mu   sync.Mutex
	log  []rateAnswer
}

type rateAnswer struct {
	at         time.Time
	status     int
	cost       int
	left       int           // api_calls_left; -1 when absent
	retryAfter time.Duration // retry_after; -1 when absent
}

func (l *rateLog) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	a := rateAnswer{at: time.Now(), status: resp.StatusCode, cost: 2, left: -1, retryAfter: -1}
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		a.cost = 1
	}
	if v, err := strconv.Atoi(resp.Header.Get("api_calls_left")); err == nil {
		a.left = v
	}
	if v, err := strconv.ParseFloat(resp.Header.Get("retry_after"), 64); err == nil {
		a.retryAfter = time.Duration(v * float64(time.Second))
	}
	l.mu.Lock()
	l.log = append(l.log, a)
	l.mu.Unlock()
	return resp, nil
}

func (l *rateLog) answers() []rateAnswer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]rateAnswer(nil), l.log...)
}

// replicaOptions are the client options every replica of a test uses.
func replicaOptions(srv *deskietest.Server, store deskie.Store, rates *rateLog) []deskie.Option {
	return []deskie.Option{
		deskie.WithBaseURL(srv.URL),
		deskie.WithStore(store),
		deskie.WithRetryWait(5*time.Millisecond, 50*time.Millisecond),
		deskie.WithHTTPClient(&http.Client{Transport: rates, Timeout: 30 * time.Second}),
	}
}

// newReplicas starts n replicas on the Redis at addr, under prefix.
func newReplicas(t *testing.T, n int, srv *deskietest.Server, redisOpts *redis.Options, prefix string, opts ...deskie.Option) []*replica {
	t.Helper()
	reps := make([]*replica, n)
	for i := range reps {
		o := *redisOpts
		rdb := redis.NewClient(&o)
		t.Cleanup(func() { _ = rdb.Close() })
		hook := &countHook{}
		rdb.AddHook(hook)
		store := redisstore.New(rdb, redisstore.WithPrefix(prefix), redisstore.WithTimeout(5*time.Second))
		rates := &rateLog{base: http.DefaultTransport.(*http.Transport).Clone()}
		client, err := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), append(replicaOptions(srv, store, rates), opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		reps[i] = &replica{name: fmt.Sprintf("replica-%d", i), client: client, store: store, rdb: rdb, hook: hook, rates: rates}
	}
	return reps
}

// sharedReplicas starts n replicas on the shared test Redis under a fresh prefix.
func sharedReplicas(t *testing.T, n int, srv *deskietest.Server, opts ...deskie.Option) []*replica {
	t.Helper()
	addr := redisstore.RedisAddr(t)
	admin := redisstore.DialRedis(t, addr)
	prefix := redisstore.UniquePrefix(t)
	t.Cleanup(func() { redisstore.DeletePrefix(t, admin, prefix) })
	return newReplicas(t, n, srv, &redis.Options{Addr: addr, ContextTimeoutEnabled: true}, prefix, opts...)
}

func custID(c int) string     { return fmt.Sprintf("cust-%02d", c) }
func msgText(c, m int) string { return fmt.Sprintf("customer %02d, message %d", c, m) }
func turnKey(ch, id string) string {
	return "turn:{" + url.QueryEscape(ch) + ":" + url.QueryEscape(id) + "}"
}

// sendBursts sends, for each customer, a burst of messages at once (the app did
// not wait for one answer before the next message), each through a replica
// picked at random.
func sendBursts(ctx context.Context, t *testing.T, reps []*replica, ch string, customers, burst int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 42))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for c := range customers {
		for m := range burst {
			rep := reps[r.IntN(len(reps))]
			msg := &deskie.CustomerMessage{Channel: ch, UserCustomID: custID(c), Content: msgText(c, m)}
			wg.Go(func() {
				if _, err := rep.client.Chats.Send(ctx, msg); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %q: %w", rep.name, msg.Content, err))
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	for i, err := range errs {
		if i == 10 {
			t.Errorf("… and %d more", len(errs)-10)
			break
		}
		t.Error(err)
	}
}

// checkOneCaseEach checks that every customer has exactly one case holding each
// of their messages exactly once, and that no other customer message exists.
func checkOneCaseEach(t *testing.T, srv *deskietest.Server, ch string, customers, burst int) {
	t.Helper()
	cases := srv.Cases()
	if len(cases) != customers {
		t.Errorf("%d cases, want %d (one per customer)", len(cases), customers)
	}
	caseOf := map[int64]int64{} // user → case
	for _, c := range cases {
		if prev, dup := caseOf[c.UserID]; dup {
			t.Errorf("user %d has cases %d and %d", c.UserID, prev, c.ID)
		}
		caseOf[c.UserID] = c.ID
	}
	seen := map[string][]int64{} // content → cases it is in
	for _, m := range srv.AllMessages() {
		if m.StaffID == 0 {
			seen[m.Content] = append(seen[m.Content], m.CaseID)
		}
	}
	want := 0
	for c := range customers {
		u, ok := srv.UserByCustomID(ch, custID(c))
		if !ok {
			t.Errorf("no user for %s", custID(c))
			continue
		}
		for m := range burst {
			want++
			got := seen[msgText(c, m)]
			if len(got) != 1 || got[0] != caseOf[u.ID] {
				t.Errorf("%q is in cases %v, want once in %d", msgText(c, m), got, caseOf[u.ID])
			}
		}
	}
	if len(seen) != want {
		t.Errorf("%d distinct customer messages, want %d", len(seen), want)
	}
}

// logAround429 logs the answers every replica saw around each 429, in time
// order.
func logAround429(t *testing.T, reps []*replica, start time.Time) {
	type seen struct {
		rateAnswer
		rep string
	}
	var all []seen
	for _, rep := range reps {
		for _, a := range rep.rates.answers() {
			all = append(all, seen{a, rep.name})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
	for i, a := range all {
		if a.status != http.StatusTooManyRequests {
			continue
		}
		t.Logf("around the 429 at %v:", a.at.Sub(start))
		for _, b := range all[max(0, i-8):min(len(all), i+4)] {
			t.Logf("  %10v %s %d cost %d left %d retry_after %v", b.at.Sub(start).Round(time.Microsecond), b.rep, b.status, b.cost, b.left, b.retryAfter)
		}
	}
}

func count429(srv *deskietest.Server) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Status == http.StatusTooManyRequests {
			n++
		}
	}
	return n
}

// TestReplicasBurstsOpenOneCaseEach: 4 replicas, random routing, 50 customers
// each sending a burst of 5 messages, an account limit of 300 a minute: 50
// cases, every message once, and not one 429.
//
// The replicas know the limit (WithRateBudget). Left to learn it from a first
// answer, each replica sends one request while it is unknown, and those are not
// counted in the window the first answer starts: a burst that spends the whole
// window at once then overdraws it by a few units (429s at the start).
func TestReplicasBurstsOpenOneCaseEach(t *testing.T) {
	t.Parallel() // about two minutes of rate windows: run beside the other slow test
	srv := deskietest.NewServer(deskietest.WithRateLimit(300, time.Minute))
	t.Cleanup(srv.Close)
	ch := srv.AddChannel("App", deskietest.ChannelAsync, "")
	reps := sharedReplicas(t, 4, srv, deskie.WithRateBudget(300))

	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	start := time.Now()
	sendBursts(ctx, t, reps, ch, 50, 5, 1)
	checkOneCaseEach(t, srv, ch, 50, 5)
	if n := count429(srv); n != 0 {
		t.Errorf("the fake answered 429 %d times", n)
		logAround429(t, reps, start)
	}
	t.Logf("250 messages in %v, %d API requests", time.Since(start).Round(time.Millisecond), len(srv.Requests()))
}

// TestReplicasUseMostOfASmallBudget: 4 replicas share a small budget (60 units
// a minute) under more work than one window pays for: nothing is lost, no 429,
// and every window the work spans but the last is at least 80% used.
//
// The window is short (2 s, where the API's is a minute): the SDK follows the
// window end the server's retry_after tells.
func TestReplicasUseMostOfASmallBudget(t *testing.T) {
	const limit = 60
	srv := deskietest.NewServer(deskietest.WithRateLimit(limit, 2*time.Second))
	t.Cleanup(srv.Close)
	ch := srv.AddChannel("App", deskietest.ChannelAsync, "")
	reps := sharedReplicas(t, 4, srv, deskie.WithRateBudget(limit))

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	sendBursts(ctx, t, reps, ch, 12, 3, 2)
	checkOneCaseEach(t, srv, ch, 12, 3)
	if n := count429(srv); n != 0 {
		t.Errorf("the fake answered 429 %d times", n)
		logAround429(t, reps, start)
	}
	windows := usedPerWindow(reps, limit)
	if len(windows) < 2 {
		t.Fatalf("the work fit in %d window(s): it must need more than one", len(windows))
	}
	for i, used := range windows[:len(windows)-1] {
		if used < limit*8/10 {
			t.Errorf("window %d used %d of %d units, want at least 80%%", i+1, used, limit)
		}
	}
	t.Logf("36 messages in %v; units used per window: %v", time.Since(start).Round(time.Millisecond), windows)
}

// usedPerWindow tells, from the rate headers of every answer any replica got,
// how many units the fake's consecutive windows spent: answers are grouped by
// the end of their window (when they came + retry_after), and a window spent
// the limit minus the least api_calls_left it reported.
func usedPerWindow(reps []*replica, limit int) []int {
	var all []rateAnswer
	for _, rep := range reps {
		all = append(all, rep.rates.answers()...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
	var used []int
	var end time.Time
	for _, a := range all {
		if a.left < 0 || a.retryAfter < 0 {
			continue
		}
		// Consecutive windows end at least 2 s apart: an answer that took up to
		// 1.5 s to come back still counts in its own window.
		if e := a.at.Add(a.retryAfter); end.IsZero() || e.Sub(end) > 1500*time.Millisecond {
			end = e
			used = append(used, 0)
		}
		used[len(used)-1] = max(used[len(used)-1], limit-a.left)
	}
	return used
}

// TestReplicaKilledHoldingATurn: a replica that dies holding a customer's turn
// (it took it and never released it) holds up that customer's next Send, on
// another replica, for no longer than the lease.
func TestReplicaKilledHoldingATurn(t *testing.T) {
	srv := deskietest.NewServer()
	t.Cleanup(srv.Close)
	ch := srv.AddChannel("App", deskietest.ChannelAsync, "")
	reps := sharedReplicas(t, 2, srv)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	const lease = 500 * time.Millisecond
	before := time.Now()
	ok, _, err := reps[0].store.AcquireTurn(ctx, turnKey(ch, "cust-dead"), "the-replica-that-died", lease)
	if err != nil || !ok {
		t.Fatalf("taking the turn: %v, %v", ok, err)
	}
	// replica 0 "dies" here: it never renews or releases
	res, err := reps[1].client.Chats.Send(ctx, &deskie.CustomerMessage{Channel: ch, UserCustomID: "cust-dead", Content: "are you there?"})
	if err != nil {
		t.Fatalf("Send after the lease: %v", err)
	}
	if waited := time.Since(before); waited < lease {
		t.Errorf("Send went after %v, before the dead replica's lease (%v) ran out: it did not wait for the turn", waited, lease)
	}
	if res.Action != deskie.ActionCreatedCase || len(srv.Cases()) != 1 {
		t.Errorf("Send = %+v, %d cases; want one created case", res, len(srv.Cases()))
	}
}
