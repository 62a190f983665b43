package deskie

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock for the limiter.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func mustAcquire(t *testing.T, l *limiter, cost int) int {
	t.Helper()
	gen, err := l.acquire(context.Background(), cost)
	require.NoError(t, err)
	return gen
}

func answer(status int, h map[string]string) *http.Response {
	resp := &http.Response{StatusCode: status, Header: http.Header{}}
	for k, v := range h {
		resp.Header.Set(k, v)
	}
	return resp
}

func TestLimiterSpendsTwoPerWriteAndWaitsForTheWindow(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	l := newLimiter()
	l.now = clock.Now
	l.preset(5)
	ctx := context.Background()

	mustAcquire(t, l, cost("POST")) // 5 → 3
	mustAcquire(t, l, cost("GET"))  // 3 → 2
	mustAcquire(t, l, cost("PUT"))  // 2 → 0
	assert.Equal(t, 0, l.left)
	assert.Equal(t, 5, l.inflight)

	// the budget is spent: a read waits; a short deadline proves it blocks
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := l.acquire(short, 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, notSent(err), "a wait that ended was never sent")

	// answers come back; the window ends; the budget refills to the limit
	l.release(2, 0, nil)
	l.release(1, 0, nil)
	l.release(2, 0, nil)
	clock.Add(time.Minute)
	assert.Equal(t, 1, mustAcquire(t, l, 2), "a new window generation")
	assert.Equal(t, 3, l.left)

	// a late answer from the old window neither moves the new window nor refills it
	l.release(0, 0, answer(200, map[string]string{"rate_limit_per_minute": "5", "api_calls_left": "4", "retry_after": "0.001"}))
	assert.Equal(t, 3, l.left)
	assert.Equal(t, clock.Now().Add(time.Minute), l.windowEnd)
}

func TestLimiterLearnsFromHeaders(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	l := newLimiter()
	l.now = clock.Now
	ctx := context.Background()

	// unknown limit: the first request probes, the second waits for its answer
	mustAcquire(t, l, 1)
	second := make(chan error, 1)
	go func() {
		_, err := l.acquire(ctx, 2)
		second <- err
	}()
	select {
	case <-second:
		t.Fatal("second request went out before the probe's answer")
	case <-time.After(20 * time.Millisecond):
	}
	l.release(1, 0, answer(200, map[string]string{"rate_limit_per_minute": "50", "api_calls_left": "10", "retry_after": "30"}))
	require.NoError(t, <-second)
	assert.Equal(t, 8, l.left, "10 left, minus the write now in flight")
	assert.Equal(t, clock.Now().Add(30*time.Second+windowMargin), l.windowEnd)

	// an answer that arrived out of order (a higher count) does not refill the budget
	l.release(0, 0, answer(200, map[string]string{"rate_limit_per_minute": "50", "api_calls_left": "40"}))
	assert.Equal(t, 8, l.left)

	// a 429 empties the budget until retry_after
	l.release(2, 0, answer(429, map[string]string{"retry_after": "2"}))
	assert.Equal(t, 0, l.left)
	assert.Equal(t, clock.Now().Add(2*time.Second+windowMargin), l.windowEnd)
}

func TestLimiterWithoutHeadersTurnsOff(t *testing.T) {
	l := newLimiter()
	mustAcquire(t, l, 1)
	l.release(1, 0, answer(200, nil))
	for range 100 {
		mustAcquire(t, l, 2)
	}
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
