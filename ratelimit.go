package deskie

import (
	"context"
	"errors"
	"io"
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
// budget is the client-side mirror of that window. Its state lives in the Client's
// [BudgetStore] (shared by replicas), spent and fed with [BudgetSpend] and
// [BudgetObserve]; this file adds what is local to one process:
//   - until the limit is known, one request at a time goes out (the probe) and the
//     rest wait for its answer's headers;
//   - each answer's rate headers are parsed once, kept for Client.Rate, and sent to
//     the store only when they say something the store does not know (a new limit,
//     fewer calls left than it counted, a retry_after, a 429), so a steady call
//     costs one store round trip;
//   - a caller that must wait for the window waits here, bounded by its context;
//     that wait is never part of the attempt's timeout (see budgetTransport).
type budget struct {
	store    Store
	key      string
	disabled bool
	window   time.Duration
	maxWait  time.Duration
	logger   *slog.Logger
	now      func() time.Time
	probe    chan struct{} // one slot: the request sent while the limit is unknown

	mu    sync.Mutex
	wake  chan struct{} // closed and replaced when an answer may have moved the window
	limit int           // the limit as last told to the store; 0 while unknown
	// unlimited: the probe's answer carried no limit, so nothing is paced (until
	// an answer brings one).
	unlimited bool
	// end is the window end last told to the store, for window generation endGen.
	end    time.Time
	endGen int64
	// offset is the server's clock minus ours, from the last answer's Date header.
	offset    time.Duration
	hasOffset bool
	rate      Rate // the last answer's headers, merged (Client.Rate)
}

const (
	rateWindow = time.Minute
	// maxBudgetSleep bounds one wait for the budget before asking the store again.
	maxBudgetSleep = time.Second
)

func newBudget() *budget {
	return &budget{window: rateWindow, maxWait: defaultMaxRetryAfter, now: time.Now,
		logger: slog.New(slog.DiscardHandler), probe: make(chan struct{}, 1), wake: make(chan struct{})}
}

func cost(method string) int {
	if isWrite(method) {
		return 2
	}
	return 1
}

// spent is what one attempt took from the budget, handed back to observe.
type spent struct {
	grant      BudgetGrant
	probed     bool
	probeToken string // the store's probe lock, held while the probe is out
}

// probeLease bounds how long one replica's probe holds the others; probePoll is
// how often they look whether it told the limit.
const (
	probeLease = 10 * time.Second
	probePoll  = 20 * time.Millisecond
)

// take waits until the budget pays cost, then spends it. Errors are a
// *notSentError (ctx ended while waiting) or a *StoreError.
func (b *budget) take(ctx context.Context, cost int) (spent, error) {
	if b.disabled {
		return spent{}, nil
	}
	for {
		b.mu.Lock()
		wake := b.wake
		b.mu.Unlock()
		g, err := b.store.SpendBudget(ctx, b.key, BudgetRequest{Cost: cost, Now: b.now(), Window: b.window})
		if err != nil {
			if ctx.Err() != nil {
				return spent{}, &notSentError{err: ctx.Err()}
			}
			return spent{}, &notSentError{err: storeErr("spend rate budget", err)}
		}
		if g.OK && g.Left < 0 {
			if known := b.knownLimit(); known > 0 {
				// This process knows the limit but the store does not (it forgot it,
				// or telling it failed): tell it again, then spend for real.
				if err := b.tell(ctx, known); err != nil {
					return spent{}, &notSentError{err: err}
				}
				continue
			}
			if !b.isUnlimited() {
				// limit unknown: one probe at a time until an answer tells it
				select {
				case b.probe <- struct{}{}:
					if b.knownLimit() > 0 || b.isUnlimited() {
						<-b.probe
						continue // learned while we waited
					}
				case <-ctx.Done():
					return spent{}, &notSentError{err: ctx.Err()}
				}
				// One probe across the replicas too: another's probe answer will
				// tell the store the limit, so this one waits for it.
				token := newToken()
				ok, _, err := b.store.AcquireTurn(ctx, b.key+":probe", token, probeLease)
				if err == nil && ok {
					return spent{grant: g, probed: true, probeToken: token}, nil
				}
				<-b.probe
				if err != nil {
					return spent{}, &notSentError{err: storeErr("take the rate probe", err)}
				}
				if err := sleepCtx(ctx, probePoll); err != nil {
					return spent{}, &notSentError{err: err}
				}
				continue
			}
		}
		if g.OK {
			return spent{grant: g}, nil
		}
		// Wait for the window's end, or until an answer here moved it (a server's
		// retry_after replaces the estimated end), or for a second at most: another
		// replica's answer may have moved it too.
		wait := min(max(g.Wait, time.Millisecond), maxBudgetSleep)
		b.logger.Debug("deskie: waiting for rate budget", "wait", g.Wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return spent{}, &notSentError{err: ctx.Err()}
		case <-wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// tell gives the store a limit it does not know (Gen -1: it starts a window).
func (b *budget) tell(ctx context.Context, limit int) error {
	err := b.store.ObserveBudget(ctx, b.key, BudgetObservation{Now: b.now(), Window: b.window, Limit: limit,
		Left: -1, RetryAfter: -1, Gen: -1, MaxWait: b.maxWait})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return storeErr("preset rate budget", err)
	}
	return nil
}

// noteDate learns the server's clock from an answer's Date header (whole
// seconds, so the offset may be up to a second early).
func (b *budget) noteDate(h http.Header, now time.Time) {
	d, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return
	}
	b.mu.Lock()
	b.offset, b.hasOffset = d.Sub(now), true
	b.mu.Unlock()
}

// serverOffset is the server's clock minus ours, when an answer told it.
func (b *budget) serverOffset() (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.offset, b.hasOffset
}

func (b *budget) isUnlimited() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.unlimited
}

// toldEnd reports whether this process already told the store a window end for
// gen within a few milliseconds of end (the server's retry_after points every
// answer of a window at the same end): telling it again changes nothing. It
// records end as told otherwise.
func (b *budget) toldEnd(gen int64, end time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen == b.endGen && !b.end.IsZero() && end.Sub(b.end).Abs() <= endSlack {
		return true
	}
	b.end, b.endGen = end, gen
	return false
}

// endSlack is how far apart two told window ends may be and still be the same.
const endSlack = 50 * time.Millisecond

func (b *budget) knownLimit() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.limit
}

// observe learns from an attempt's answer (nil when it failed without one).
func (b *budget) observe(ctx context.Context, s spent, status int, r parsedRate) {
	if s.probed {
		defer func() {
			if err := b.store.ReleaseTurn(context.WithoutCancel(ctx), b.key+":probe", s.probeToken, nil, 0); err != nil && !errors.Is(err, ErrTurnLost) {
				b.logger.Warn("deskie: could not free the rate probe; it frees itself", "error", storeErr("release the rate probe", err))
			}
			<-b.probe
		}()
		if status != 0 && (!r.hasLimit || r.Limit == 0) {
			// An answer without a limit: the server reports none, so requests are
			// not held one at a time (until an answer brings a limit).
			b.mu.Lock()
			b.unlimited = b.limit <= 0
			b.mu.Unlock()
		}
	}
	if !r.any() {
		return
	}
	b.mu.Lock()
	b.rate = b.rate.merge(r)
	newLimit := r.hasLimit && r.Limit > 0 && r.Limit != b.limit
	b.mu.Unlock()
	if b.disabled {
		return
	}
	limited := status == http.StatusTooManyRequests
	lower := r.hasLeft && s.grant.Left >= 0 && r.Remaining < s.grant.Left
	now := b.now()
	newEnd := r.hasRetryAfter && !b.toldEnd(s.grant.Gen, now.Add(min(r.RetryAfter, b.window)))
	if !newLimit && !limited && !lower && !newEnd {
		return
	}
	obs := BudgetObservation{Now: now, Window: b.window, Limit: -1, Left: -1, RetryAfter: -1,
		Limited: limited, Gen: s.grant.Gen, MaxWait: b.maxWait}
	if r.hasLimit {
		obs.Limit = r.Limit
	}
	if r.hasLeft {
		obs.Left = r.Remaining
	}
	if r.hasRetryAfter {
		obs.RetryAfter = r.RetryAfter
	}
	if err := b.store.ObserveBudget(context.WithoutCancel(ctx), b.key, obs); err != nil {
		b.logger.Warn("deskie: could not record the rate budget", "error", storeErr("observe rate budget", err))
	} else if newLimit {
		b.mu.Lock()
		b.limit, b.unlimited = r.Limit, false // known here only once the store knows it
		b.mu.Unlock()
	}
	b.mu.Lock()
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}

// budgetTransport runs each attempt: it takes the attempt's cost from the budget
// (a wait that is not part of the attempt's timeout), then sends it through the
// caller's transport (looked up per request, so a transport swapped in later, as
// httpmock does, is honored) bounded by the per-attempt timeout, which starts when
// the request is sent; it parses the answer's rate headers once for the budget,
// Client.Rate and the Response.
type budgetTransport struct {
	client  *http.Client // the caller's: its Transport and Timeout
	budget  *budget
	timeout time.Duration
}

func (t *budgetTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	s, err := t.budget.take(ctx, cost(req.Method))
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	cancel := context.CancelFunc(func() {})
	if t.timeout > 0 {
		var attemptCtx context.Context
		attemptCtx, cancel = context.WithTimeout(ctx, t.timeout)
		req = req.WithContext(attemptCtx)
	}
	base := t.client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil || resp == nil {
		cancel()
		t.budget.observe(ctx, s, 0, parsedRate{})
		return resp, err
	}
	now := t.budget.now()
	r := parseRate(resp.Header, now)
	t.budget.noteDate(resp.Header, now)
	t.budget.observe(ctx, s, resp.StatusCode, r)
	resp.Body = &answerBody{ReadCloser: resp.Body, cancel: cancel, rate: r}
	return resp, nil
}

// answerBody carries an answer's parsed rate to Client.Do and ends the attempt's
// timeout when the body is closed.
type answerBody struct {
	io.ReadCloser
	cancel context.CancelFunc
	rate   parsedRate
}

func (b *answerBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// rateOf returns the rate parsed for resp by budgetTransport (or parses it).
func rateOf(resp *http.Response) Rate {
	if b, ok := resp.Body.(*answerBody); ok {
		return b.rate.Rate
	}
	return parseRate(resp.Header, time.Now()).Rate
}
