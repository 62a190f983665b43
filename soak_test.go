package deskie_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultInjector is a transport that, before forwarding a request, now and then
// (seeded, so a run can be replayed as far as goroutine scheduling allows) makes
// the fake fail exactly that request's method and path once, with a random kind.
type faultInjector struct {
	next http.RoundTripper
	srv  *deskietest.Server
	rate float64

	mu    sync.Mutex
	rnd   *rand.Rand
	kinds []deskietest.Fault
	added map[deskietest.Fault]int
	log   []string // "METHOD /path kind", in the order injected
}

func (f *faultInjector) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	var kind deskietest.Fault
	if f.rnd.Float64() < f.rate {
		kind = f.kinds[f.rnd.IntN(len(f.kinds))]
		f.added[kind]++
		f.log = append(f.log, req.Method+" "+req.URL.Path+" "+string(kind))
	}
	f.mu.Unlock()
	if kind != "" {
		f.srv.Fail(req.Method+" "+req.URL.Path, 1, kind)
	}
	return f.next.RoundTrip(req)
}

// TestSoakFaultMatrix (issue 11.15): 100 customers each send a burst of 5 messages
// at first contact (all five with no ids saved yet), all at once, through one
// Client, against a small rate budget, while about one request in eight fails in
// one of the ways the fake can fail (before or after acting, dropped, unreadable,
// refused, slow). Every tenth customer types the same text five times ("ok"), the
// hardest case for telling one's own message from another's. Each caller repeats
// a failed Send with the same IdempotencyKey until it succeeds. In the end every
// message is stored exactly once, each customer has one case, one Send of each
// burst created it, and each result names a message of its own.
func TestSoakFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("soak")
	}
	const (
		customers  = 100
		burst      = 5
		seed       = 11_15
		maxAttempt = 30
		budget     = 150 // units per 200 ms window: the requests are paced
	)
	srv := deskietest.NewServer(
		deskietest.WithRateLimit(budget, 200*time.Millisecond),
		deskietest.WithSlowDelay(20*time.Millisecond),
	)
	t.Cleanup(srv.Close)
	ch := srv.AddChannel("App", deskietest.ChannelSync, "")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	inj := &faultInjector{next: tr, srv: srv, rate: 0.12, rnd: rand.New(rand.NewPCG(seed, seed)),
		kinds: deskietest.FaultKinds(), added: map[deskietest.Fault]int{}}
	client, err := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(),
		deskie.WithBaseURL(srv.URL),
		deskie.WithHTTPClient(&http.Client{Transport: inj, Timeout: 10 * time.Second}),
		deskie.WithRetryWait(time.Millisecond, 5*time.Millisecond),
		deskie.WithMaxRetryAfter(50*time.Millisecond),
		deskie.WithRateBudget(budget),
	)
	require.NoError(t, err)

	text := func(c, i int) string {
		if c%10 == 0 {
			return "ok"
		}
		return fmt.Sprintf("customer %d message %d", c, i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	start := time.Now()
	var retries atomic.Int64
	var errMu sync.Mutex
	errKinds := map[string]int{}
	results := make([][]*deskie.SendResult, customers)
	var wg sync.WaitGroup
	for c := range customers {
		results[c] = make([]*deskie.SendResult, burst)
		for i := range burst {
			wg.Go(func() {
				m := &deskie.CustomerMessage{Channel: ch, UserCustomID: fmt.Sprint("soak-", c), Content: text(c, i),
					IdempotencyKey: fmt.Sprintf("msg-%d-%d", c, i)}
				for attempt := 1; ; attempt++ {
					again := *m
					res, err := client.Chats.Send(ctx, &again)
					if err == nil {
						results[c][i] = res
						return
					}
					if ctx.Err() != nil || attempt == maxAttempt {
						t.Errorf("customer %d message %d: gave up after %d attempts: %v", c, i, attempt, err)
						return
					}
					retries.Add(1)
					errMu.Lock()
					errKinds[soakCause(err)]++
					errMu.Unlock()
					time.Sleep(time.Duration(attempt) * time.Millisecond) // a caller's backoff, not synchronization
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	require.False(t, t.Failed())

	// Every message exactly once, one case per customer, one Send of each burst
	// created it, and each result points at a message of its own.
	cases := srv.Cases()
	perUser := map[int64][]int64{}
	for _, c := range cases {
		perUser[c.UserID] = append(perUser[c.UserID], c.ID)
	}
	msgs := srv.AllMessages()
	byUser := map[int64]map[string]int{}
	caseOfMsg := map[int64]int64{}
	for _, m := range msgs {
		if byUser[m.UserID] == nil {
			byUser[m.UserID] = map[string]int{}
		}
		byUser[m.UserID][m.Content]++
		caseOfMsg[m.ID] = m.CaseID
	}
	dups, lost := 0, 0
	for c := range customers {
		u, ok := srv.UserByCustomID(ch, fmt.Sprint("soak-", c))
		require.True(t, ok)
		require.Len(t, perUser[u.ID], 1, "customer %d: one case", c)
		caseID := perUser[u.ID][0]
		want := map[string]int{}
		for i := range burst {
			want[text(c, i)]++
		}
		got := byUser[u.ID]
		for txt, n := range want {
			switch {
			case got[txt] < n:
				lost += n - got[txt]
				t.Errorf("customer %d: %q stored %d times, want %d (lost)", c, txt, got[txt], n)
			case got[txt] > n:
				dups += got[txt] - n
				t.Errorf("customer %d: %q stored %d times, want %d (duplicated)", c, txt, got[txt], n)
			}
			if got[txt] != n {
				soakExplain(t, srv, inj, u, caseID, results[c])
			}
		}
		assert.Len(t, got, len(want), "customer %d: no other messages", c)
		created, claimed := 0, map[int64]bool{}
		for i, res := range results[c] {
			assert.Equal(t, caseID, res.CaseID, "customer %d message %d: result names its case", c, i)
			assert.Equal(t, u.ID, res.UserID)
			switch res.Action {
			case deskie.ActionCreatedCase:
				created++
			case deskie.ActionReplied:
				if assert.NotNil(t, res.Message) {
					assert.False(t, claimed[res.Message.ID], "customer %d message %d: a message claimed twice", c, i)
					claimed[res.Message.ID] = true
					assert.Equal(t, caseID, caseOfMsg[res.Message.ID])
					assert.Equal(t, text(c, i), res.Message.Content)
				}
			default:
				t.Errorf("customer %d message %d: %s", c, i, res.Action)
			}
		}
		assert.Equal(t, 1, created, "customer %d: one Send created the case", c)
	}
	assert.Len(t, cases, customers)
	assert.Len(t, msgs, customers*burst, "no other messages")

	reqs := srv.Requests()
	byStatus := map[int]int{}
	for _, r := range reqs {
		byStatus[r.Status]++
	}
	inj.mu.Lock()
	added := inj.added
	injected := 0
	for _, n := range added {
		injected += n
	}
	inj.mu.Unlock()
	left := 0
	for _, f := range srv.PendingFaults() {
		left += f.Left
	}
	t.Logf("soak: %d customers × %d messages in %v: %d messages stored (%d duplicated, %d lost), %d cases",
		customers, burst, elapsed.Round(time.Millisecond), len(msgs), dups, lost, len(cases))
	t.Logf("soak: %d requests, by status %v (0: dropped); faults injected %d (%d never hit), by kind %v",
		len(reqs), byStatus, injected, left, added)
	t.Logf("soak: callers repeated a Send %d times, by cause %v; 429s seen %d",
		retries.Load(), errKinds, byStatus[http.StatusTooManyRequests])
}

// soakCause names what made a Send fail, for the soak's numbers.
func soakCause(err error) string {
	var (
		de *deskie.DecodeError
		ae *deskie.APIError
		re *deskie.RequestError
		se *deskie.StoreError
	)
	kind := "other"
	switch {
	case errors.As(err, &de):
		kind = "decode " + de.Method
	case errors.As(err, &ae):
		kind = fmt.Sprintf("api %s %d", ae.Method, ae.StatusCode)
	case errors.As(err, &re):
		kind = "request " + re.Method
	case errors.As(err, &se):
		kind = "store"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		kind = "context"
	}
	if errors.Is(err, deskie.ErrAmbiguous) {
		kind += " (ambiguous)"
	}
	return kind
}

// soakExplain logs what the fake saw of one customer: their messages, the requests
// about them (with the answer's status; 0 is a dropped connection) and the faults
// injected on their case's paths, for a report of how an invariant broke.
func soakExplain(t *testing.T, srv *deskietest.Server, inj *faultInjector, u deskietest.User, caseID int64, results []*deskie.SendResult) {
	t.Helper()
	for _, m := range srv.Messages(caseID) {
		t.Logf("  message %d %q created %s", m.ID, m.Content, m.CreatedAt.Format(time.RFC3339))
	}
	for i, res := range results {
		if res != nil {
			id := int64(0)
			if res.Message != nil {
				id = res.Message.ID
			}
			t.Logf("  result %d: %s case %d message %d", i, res.Action, res.CaseID, id)
		}
	}
	casePath := fmt.Sprintf("/api/cases/%d", caseID)
	for _, r := range srv.Requests() {
		if strings.Contains(r.Query, fmt.Sprint(u.ID)) || strings.Contains(r.Query, u.CustomID) ||
			strings.HasPrefix(r.Path, casePath) || strings.Contains(string(r.Body), `"`+u.CustomID+`"`) {
			t.Logf("  %s %s?%s -> %d %s", r.Method, r.Path, r.Query, r.Status, r.Body)
		}
	}
	inj.mu.Lock()
	defer inj.mu.Unlock()
	for _, f := range inj.log {
		if strings.Contains(f, casePath) {
			t.Logf("  fault %s", f)
		}
	}
}
