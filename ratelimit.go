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
//     never early), bounded by the client's max retry-after and by its context.
type limiter struct {
	mu        sync.Mutex
	disabled  bool
	known     bool // an answer told us whether there is a limit
	probing   bool
	limit     int // <= 0: no limit reported
	left      int
	inflight  int
	windowEnd time.Time
	wake      chan struct{}
	maxWait   time.Duration
	logger    *slog.Logger
	now       func() time.Time
}

const rateWindow = time.Minute

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

// acquire waits until the budget can pay cost, then spends it.
func (l *limiter) acquire(ctx context.Context, cost int) error {
	for {
		l.mu.Lock()
		if l.disabled || (l.known && l.limit <= 0) {
			l.inflight += cost
			l.mu.Unlock()
			return nil
		}
		var wait time.Duration = -1
		if !l.known {
			if !l.probing {
				l.probing = true
				l.inflight += cost
				l.mu.Unlock()
				return nil
			}
		} else {
			now := l.now()
			if !now.Before(l.windowEnd) {
				l.left = l.limit - l.inflight
				l.windowEnd = now.Add(rateWindow)
			}
			if l.left >= cost {
				l.left -= cost
				l.inflight += cost
				l.mu.Unlock()
				return nil
			}
			wait = min(l.windowEnd.Sub(now), l.maxWait)
		}
		wake := l.wake
		l.mu.Unlock()
		if err := l.sleep(ctx, wake, wait); err != nil {
			return err
		}
	}
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
// answer (nil when the attempt failed without one).
func (l *limiter) release(cost int, resp *http.Response) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight -= cost
	if !l.known {
		l.probing = false
	}
	if resp == nil {
		l.signal()
		return
	}
	now := l.now()
	r, ok := parseRate(resp.Header, now)
	switch {
	case ok && r.Limit > 0:
		l.known, l.limit = true, r.Limit
	case !l.known:
		l.known = true // the server reports no limit: nothing to pace
	}
	if l.limit > 0 {
		if _, has := headerInt(resp.Header, "api_calls_left"); has {
			l.left = r.Remaining - l.inflight
		}
		switch {
		case r.RetryAfter > 0:
			l.windowEnd = now.Add(min(r.RetryAfter, l.maxWait))
		case l.windowEnd.IsZero():
			l.windowEnd = now.Add(rateWindow)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			l.left = 0
			if r.RetryAfter <= 0 {
				l.windowEnd = now.Add(min(rateWindow, l.maxWait))
			}
		}
	}
	l.signal()
}

func (l *limiter) signal() {
	close(l.wake)
	l.wake = make(chan struct{})
}

// budgetTransport takes each attempt's cost from the limiter, sends it through the
// caller's client's transport (looked up per request, so a transport swapped in
// later is honoured) and records the rate headers of every answer.
type budgetTransport struct {
	client  *http.Client
	limiter *limiter
	owner   *Client
}

func (t *budgetTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := cost(req.Method)
	if err := t.limiter.acquire(req.Context(), c); err != nil {
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
	t.limiter.release(c, resp)
	if resp != nil {
		t.owner.observeRate(resp.Header)
	}
	return resp, err
}
