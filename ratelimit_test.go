package deskie

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskie-go/deskie/deskietest"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func answer(status int, h map[string]string) *http.Response {
	resp := &http.Response{StatusCode: status, Header: http.Header{}}
	for k, v := range h {
		resp.Header.Set(k, v)
	}
	return resp
}

func TestBudgetSpendsTwoPerWriteAndWaitsForTheWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	st := BudgetObserve(BudgetState{}, BudgetObservation{Now: t0, Window: time.Minute, Limit: 5, Left: -1, RetryAfter: -1})
	spend := func(cost int, at time.Time) BudgetGrant {
		var g BudgetGrant
		st, g = BudgetSpend(st, BudgetRequest{Cost: cost, Now: at, Window: time.Minute})
		return g
	}
	assert.True(t, spend(2, t0).OK) // 5 → 3
	assert.True(t, spend(1, t0).OK) // 3 → 2
	assert.True(t, spend(2, t0).OK) // 2 → 0
	g := spend(1, t0.Add(10*time.Second))
	assert.False(t, g.OK)
	assert.Equal(t, 50*time.Second, g.Wait, "waits for the window's end")

	g = spend(2, t0.Add(time.Minute))
	assert.True(t, g.OK, "a new window refills the budget")
	assert.Equal(t, 3, g.Left)
	gen := g.Gen

	// a late answer from the old window neither moves the new window nor lowers it
	st = BudgetObserve(st, BudgetObservation{Now: t0.Add(time.Minute), Window: time.Minute, Limit: 5, Left: 0, RetryAfter: time.Millisecond, Gen: gen - 1})
	assert.Equal(t, 3, st.Left)
	assert.Equal(t, t0.Add(2*time.Minute), st.End)
	// an answer of this window lowers left, never raises it
	st = BudgetObserve(st, BudgetObservation{Now: t0.Add(time.Minute), Window: time.Minute, Limit: 5, Left: 1, RetryAfter: -1, Gen: gen})
	assert.Equal(t, 1, st.Left)
	st = BudgetObserve(st, BudgetObservation{Now: t0.Add(time.Minute), Window: time.Minute, Limit: 5, Left: 4, RetryAfter: -1, Gen: gen})
	assert.Equal(t, 1, st.Left)
	// the server's retry_after replaces the estimated end; then the end only moves forward
	st = BudgetObserve(st, BudgetObservation{Now: t0.Add(time.Minute), Window: time.Minute, Limit: 5, Left: -1, RetryAfter: 30 * time.Second, Gen: gen})
	assert.Equal(t, t0.Add(90*time.Second+budgetMargin), st.End)
	st = BudgetObserve(st, BudgetObservation{Now: t0.Add(time.Minute), Window: time.Minute, Limit: 5, Left: -1, RetryAfter: time.Second, Gen: gen})
	assert.Equal(t, t0.Add(90*time.Second+budgetMargin), st.End, "an earlier end from an answer out of order is not taken")
}

// A short 429 parks the budget for min(retry_after, the cap), not a minute, and
// the next window starts full.
func TestBudgetAfterA429(t *testing.T) {
	t0 := time.Unix(1000, 0)
	st := BudgetState{Limit: 100, Left: 50, End: t0.Add(time.Minute), Gen: 3}
	st = BudgetObserve(st, BudgetObservation{Now: t0, Window: time.Minute, Limit: -1, Left: -1, RetryAfter: 2 * time.Second, Limited: true, Gen: 3, MaxWait: time.Minute})
	assert.Equal(t, 0, st.Left)
	assert.Equal(t, t0.Add(2*time.Second+budgetMargin), st.End)
	_, g := BudgetSpend(st, BudgetRequest{Cost: 2, Now: t0.Add(3 * time.Second), Window: time.Minute})
	assert.True(t, g.OK)
	assert.Equal(t, 98, g.Left, "a fresh window after the 429")

	// retry_after above the cap (WithMaxRetryAfter) is capped; none at all waits the window, capped too
	st = BudgetObserve(st, BudgetObservation{Now: t0, Window: time.Minute, Limit: -1, Left: -1, RetryAfter: time.Hour, Limited: true, MaxWait: 5 * time.Second})
	assert.Equal(t, t0.Add(5*time.Second), st.End)
	st = BudgetObserve(st, BudgetObservation{Now: t0, Window: time.Minute, Limit: -1, Left: -1, RetryAfter: -1, Limited: true, MaxWait: 5 * time.Second})
	assert.Equal(t, t0.Add(5*time.Second), st.End)
}

// A server-reported limit below a write's cost lets one write through per window.
func TestBudgetLimitBelowCost(t *testing.T) {
	t0 := time.Unix(1000, 0)
	st := BudgetObserve(BudgetState{}, BudgetObservation{Now: t0, Window: time.Minute, Limit: 1, Left: -1, RetryAfter: -1})
	st, g := BudgetSpend(st, BudgetRequest{Cost: 2, Now: t0, Window: time.Minute})
	assert.True(t, g.OK)
	_, g = BudgetSpend(st, BudgetRequest{Cost: 2, Now: t0.Add(time.Second), Window: time.Minute})
	assert.False(t, g.OK)
	assert.Equal(t, 59*time.Second, g.Wait)
}

func TestRateHeadersHostileValues(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, v := range []string{"5 junk", "NaN", "Inf", "-Inf", "-1", "1e", "0x10", ""} {
		r := parseRate(http.Header{"Rate_limit_per_minute": {v}, "Api_calls_left": {v}, "Retry_after": {v}}, now)
		assert.False(t, r.hasLimit || r.hasLeft || r.hasRetryAfter, "%q is ignored", v)
	}
	r := parseRate(http.Header{"Rate_limit_per_minute": {"9999999999999"}, "Retry_after": {"1e300"}}, now)
	assert.Equal(t, maxHeaderCount, r.Limit)
	assert.Equal(t, maxHeaderWait, r.RetryAfter)
	r = parseRate(http.Header{"Retry-After": {time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)}}, now)
	assert.True(t, r.hasRetryAfter)
	assert.Equal(t, maxHeaderWait, r.RetryAfter)
	r = parseRate(http.Header{"Retry_after": {"9999999999"}}, now)
	assert.Equal(t, maxHeaderWait, r.RetryAfter)
	// and the wait a client takes from them is bounded by WithMaxRetryAfter
	st := BudgetObserve(BudgetState{Limit: 10, Left: 5, End: now.Add(time.Minute)}, BudgetObservation{Now: now, Window: time.Minute,
		Limit: -1, Left: -1, RetryAfter: r.RetryAfter, Limited: true, MaxWait: time.Minute})
	assert.Equal(t, now.Add(time.Minute), st.End)
}

// failingStore is a Store whose budget cannot be reached.
type failingStore struct{ *MemoryStore }

func (failingStore) SpendBudget(context.Context, string, BudgetRequest) (BudgetGrant, error) {
	return BudgetGrant{}, errors.New("connection refused")
}

func TestBudgetStoreDownFailsClearlyAndSendsNothing(t *testing.T) {
	c, mt := setup(t, WithStore(failingStore{NewMemoryStore()}), WithMaxRetries(3), WithRateBudget(100))
	mt.RegisterResponder("GET", testBase+"/api/cases/1.json", httpmock.NewStringResponder(200, `{"case":{"case_id":1}}`))
	_, err := c.Cases.Get(context.Background(), 1)
	var se *StoreError
	require.ErrorAs(t, err, &se)
	assert.Contains(t, err.Error(), "spend rate budget")
	assert.Zero(t, mt.GetTotalCallCount(), "no request was sent")
	assert.NotErrorIs(t, err, ErrAmbiguous)
}

// The wait for the rate budget is not part of the attempt's timeout: a request
// that waited longer than the HTTP client's Timeout is still sent, and answered.
func TestBudgetWaitIsNotInTheAttemptTimeout(t *testing.T) {
	mt := httpmock.NewMockTransport()
	c, err := NewClient("acme", testEmail, testKey, WithHTTPClient(&http.Client{Transport: mt, Timeout: time.Second}), WithMaxRetries(0))
	require.NoError(t, err)
	calls := 0
	mt.RegisterResponder("POST", testBase+"/api/cases/1/messages.json", func(*http.Request) (*http.Response, error) {
		calls++
		h := map[string]string{"rate_limit_per_minute": "10", "api_calls_left": "8"}
		if calls == 1 {
			h["api_calls_left"], h["retry_after"] = "0", "1.5" // the window is spent for 1.5 s
		}
		return withBody(answer(201, h), `{"message":{"message_id":1}}`), nil
	})
	ctx := context.Background()
	_, err = c.Messages.Create(ctx, 1, &MessageCreate{UserID: 1, Content: "x"})
	require.NoError(t, err)
	start := time.Now()
	_, err = c.Messages.Create(ctx, 1, &MessageCreate{UserID: 1, Content: "y"})
	require.NoError(t, err, "waited for the budget, then sent within its own timeout")
	assert.GreaterOrEqual(t, time.Since(start), 1400*time.Millisecond, "it did wait for the window, longer than the timeout")
	assert.Equal(t, 2, calls)
}

// TestBurstDrawsNo429 fires a burst of writes at a server with a small fixed
// window: the client-side budget makes them wait instead of being refused.
func TestBurstDrawsNo429(t *testing.T) {
	const limit, window = 20, 300 * time.Millisecond
	var mu sync.Mutex
	var start time.Time
	used := 0
	var refused atomic.Int32
	c, mt := setup(t, WithRateBudget(limit), WithMaxRetries(0))
	mt.RegisterResponder("POST", testBase+"/api/cases/1/messages.json", func(req *http.Request) (*http.Response, error) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if start.IsZero() || now.Sub(start) >= window {
			start, used = now, 0
		}
		left := time.Until(start.Add(window)).Seconds()
		h := map[string]string{"rate_limit_per_minute": strconv.Itoa(limit), "retry_after": strconv.FormatFloat(math.Ceil(left*1000)/1000, 'f', 3, 64)}
		if used+2 > limit {
			refused.Add(1)
			h["api_calls_left"] = strconv.Itoa(limit - used)
			r := answer(429, h)
			return withBody(r, `{"error":"rate_limit"}`), nil
		}
		used += 2
		h["api_calls_left"] = strconv.Itoa(limit - used)
		return withBody(answer(201, h), `{"message":{"message_id":1}}`), nil
	})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 40 {
		wg.Go(func() {
			_, err := c.Messages.Create(context.Background(), 1, &MessageCreate{UserID: 1, Content: "x"})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Zero(t, refused.Load(), "no request was refused by the server")
}

// Replicas that share a Store learn the limit from one probe: the others wait
// for its answer instead of each sending an uncounted request, so a burst
// across them draws no 429 in its first window.
func TestBudgetOneProbeAcrossReplicas(t *testing.T) {
	srv := deskietest.NewServer(deskietest.WithRateLimit(30, time.Second))
	t.Cleanup(srv.Close)
	srv.AddChannel("App", deskietest.ChannelSync, "")
	shared := NewMemoryStore()
	var wg sync.WaitGroup
	for range 4 {
		c, err := NewClient("", srv.StaffEmail(), srv.APIKey(), WithBaseURL(srv.URL), WithStore(shared), WithMaxRetries(0))
		require.NoError(t, err)
		for range 9 {
			wg.Go(func() {
				_, err := c.Channels.List(context.Background())
				assert.NoError(t, err)
			})
		}
	}
	wg.Wait()
	for _, r := range srv.Requests() {
		assert.NotEqual(t, http.StatusTooManyRequests, r.Status, "no replica overdrew the first window")
	}
	assert.Len(t, srv.Requests(), 36, "every request sent once; the last ones waited for the next window")
}
