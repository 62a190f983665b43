package deskie

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// The API's limit is per account and per minute; a write (POST, PUT, DELETE) costs 2
// units, a read 1. Every answer carries two or three of the lower-case headers
// rate_limit_per_minute, api_calls_left and retry_after (seconds until the window
// refreshes; the vendor says "two or three", so retry_after is probably sent only
// near the limit — a guess we tolerate).
//
// limiter is the client-side budget that mirrors that window so one process's burst
// waits here instead of drawing 429s:
//   - until the limit is known, one request at a time goes out (the probe) and the
//     rest wait for its answer's headers; an answer without them turns the budget off
//     until a later answer brings them;
//   - each attempt takes its cost from left, the calls left in the window as the
//     server last reported them minus what is in flight;
//   - when left cannot pay, the caller waits for the window's end (known from
//     retry_after, or estimated as a minute after the window was first seen, which is
//     never early; a retry_after over a minute is read as a minute, the API's
//     window), bounded by the caller's context;
//   - an answer to a request sent before the last local reset describes the old
//     window: it is not allowed to move the new window's end or budget (otherwise a
//     late answer saying "window ends in 1 ms" would open a second budget inside
//     the server's current window).
type limiter struct {
	mu        sync.Mutex
	disabled  bool
	known     bool // an answer told us whether there is a limit
	probing   bool
	limit     int // <= 0: no limit reported
	left      int
	inflight  int
	windowEnd time.Time
	gen       int // bumped at each local window reset; answers to older requests are stale
	wake      chan struct{}
	maxWait   time.Duration
	logger    *slog.Logger
	now       func() time.Time
}

const (
	rateWindow = time.Minute
	// windowMargin is added to retry_after so a rounded figure never lets a request
	// reach the server just before its window turns.
	windowMargin = 10 * time.Millisecond
)

func newLimiter() *limiter {
	return &limiter{wake: make(chan struct{}), now: time.Now, maxWait: defaultMaxRetryAfter, logger: slog.New(slog.DiscardHandler)}
}

func (l *limiter) preset(perMinute int) {
	l.known, l.limit, l.left = true, perMinute, perMinute
	l.windowEnd = l.now().Add(rateWindow)
}

func cost(method string) int {
	if isWrite(method) {
		return 2
	}
	return 1
}

// acquire waits until the budget can pay cost, then spends it. It returns the
// window generation the request is sent in, to hand back to release.
func (l *limiter) acquire(ctx context.Context, cost int) (int, error) {
	for {
		l.mu.Lock()
		wait, ok := l.admit(cost)
		gen, wake := l.gen, l.wake
		l.mu.Unlock()
		if ok {
			return gen, nil
		}
		if err := l.sleep(ctx, wake, wait); err != nil {
			return 0, err
		}
	}
}

// admit spends cost when the budget can pay it now; otherwise it says how long to
// wait (-1: until the probe's answer arrives). Callers hold l.mu.
func (l *limiter) admit(cost int) (wait time.Duration, ok bool) {
	switch {
	case l.disabled || (l.known && l.limit <= 0):
	case !l.known:
		if l.probing {
			return -1, false
		}
		l.probing = true
	default:
		now := l.now()
		if !now.Before(l.windowEnd) {
			l.left = l.limit - l.inflight
			l.windowEnd = now.Add(rateWindow)
			l.gen++
		}
		if l.left < cost {
			return l.windowEnd.Sub(now), false
		}
		l.left -= cost
	}
	l.inflight += cost
	return 0, true
}

func (l *limiter) sleep(ctx context.Context, wake chan struct{}, wait time.Duration) error {
	var timer <-chan time.Time
	if wait >= 0 {
		l.logger.Debug("deskie: waiting for rate budget", "wait", wait)
		t := time.NewTimer(wait)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return &notSentError{err: ctx.Err()}
	case <-wake:
	case <-timer:
	}
	return nil
}

// release returns an attempt's cost from the in-flight count and learns from its
// answer (nil when the attempt failed without one), unless the answer belongs to
// an older window generation than the current one.
func (l *limiter) release(cost, gen int, resp *http.Response) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight -= cost
	if !l.known {
		l.probing = false
	}
	if resp == nil || (l.known && gen != l.gen) {
		l.signal()
		return
	}
	now := l.now()
	r, ok := parseRate(resp.Header, now)
	learned := false
	switch {
	case ok && r.Limit > 0:
		learned = !l.known || l.limit <= 0
		l.known, l.limit = true, r.Limit
	case !l.known:
		l.known = true // the server reports no limit: nothing to pace
	}
	if l.limit <= 0 {
		l.signal()
		return
	}
	if _, has := headerInt(resp.Header, hdrLeft); has {
		// Within a window the server's count only goes down, so a higher figure
		// is an answer that arrived out of order: keep the lower one.
		if fresh := r.Remaining - l.inflight; learned || fresh < l.left {
			l.left = fresh
		}
	}
	_, hasRetryAfter := retryAfter(resp.Header)
	switch {
	case hasRetryAfter:
		l.windowEnd = now.Add(min(r.RetryAfter, rateWindow) + windowMargin)
	case learned || l.windowEnd.IsZero():
		l.windowEnd = now.Add(rateWindow)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		// refused: wait as the retry will (WithMaxRetryAfter caps both)
		l.left = 0
		wait := rateWindow
		if hasRetryAfter {
			wait = r.RetryAfter + windowMargin
		}
		l.windowEnd = now.Add(min(wait, l.maxWait))
	}
	l.signal()
}

func (l *limiter) signal() {
	close(l.wake)
	l.wake = make(chan struct{})
}

// budgetTransport takes each attempt's cost from the limiter, sends it through the
// caller's client's transport (looked up per request, so a transport swapped in
// later is honored) and records the rate headers of every answer.
type budgetTransport struct {
	client  *http.Client
	limiter *limiter
	owner   *Client
}

func (t *budgetTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := cost(req.Method)
	gen, err := t.limiter.acquire(req.Context(), c)
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	base := t.client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	t.limiter.release(c, gen, resp)
	if resp != nil {
		t.owner.observeRate(resp.Header)
	}
	return resp, err
}
