package deskie

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Each agent reply reaches the application's function once, whether it arrives as
// a webhook delivery (several copies, on several replicas) or is found by
// [RepliesService.Watch]: both go through one claim on the reply's message id in
// a [ClaimStore] (the Client's [Store], or the store given to [WithDedupStore]).
//
//   - Claim acquired: the function runs. When it returns nil the claim is
//     completed (remembered 7 days) and no copy runs it again; when it fails or
//     panics the claim is released, so the next copy (a redelivery, the next poll
//     of Watch) runs it again.
//   - Claim done: the reply was handled already; nothing runs.
//   - Claim busy: another copy is running the function right now, here or on
//     another replica. The handler waits for that outcome (a copy in this process
//     is waited for directly, one elsewhere by asking the store again with a
//     bounded backoff): done → acknowledged, released → it runs the function
//     itself. If its request ends first it answers 503, never 200: a reply is
//     acknowledged only once somebody handled it. Watch does not wait; it looks
//     again at its next poll.
//
// A claim is held for a minute and renewed while the function runs, so a replica
// that dies mid-call frees the reply within a minute.

const (
	// claimTTL is how long a claim is held before it must be renewed.
	claimTTL = time.Minute
	// busyPollMin and busyPollMax bound the backoff of a copy asking the store
	// again whether a claim held elsewhere was completed or released.
	busyPollMin = 20 * time.Millisecond
	busyPollMax = time.Second
	// maxBusyWait bounds how long a webhook copy waits for a copy held elsewhere
	// (past the longest a claim can be held without renewal).
	maxBusyWait = 2 * claimTTL
)

// claimRenewEvery renews a running call's claim well before it expires (a
// variable for the tests).
var claimRenewEvery = claimTTL / 3

// DedupStore remembers which deliveries were handled, so a redelivered reply
// reaches the handler's function once.
//
// Deprecated: a [ClaimStore] (every [Store], such as [NewMemoryStore] or package
// redisstore's) does this with atomic claims that expire when a replica dies;
// pass a Store to [WithStore] and use [Client.NewWebhookHandler], or give it to
// [WithDedupStore]. A DedupStore that is not a ClaimStore still works: Seen and
// Done record handled replies (keyed by the message id, e.g. "42577887"), and
// [DedupClaimer], when implemented, keeps two replicas from running one reply at
// the same time.
type DedupStore interface {
	// Seen reports whether key was recorded as handled.
	Seen(ctx context.Context, key string) (bool, error)
	// Done records key as handled.
	Done(ctx context.Context, key string) error
}

// DedupClaimer is an optional extension of [DedupStore] for shared stores: Claim
// atomically reserves key for this replica (false when another replica holds or
// finished it); Release drops a reservation whose handling failed.
//
// Deprecated: implement [ClaimStore] instead (its claims carry a holder token
// and a lifetime).
type DedupClaimer interface {
	Claim(ctx context.Context, key string) (bool, error)
	Release(ctx context.Context, key string) error
}

// MemoryDedupStore is a bounded in-memory [DedupStore]: it keeps the most recent
// capacity keys and forgets the oldest first. Safe for concurrent use.
//
// Deprecated: use [NewMemoryStore], the default of every handler.
type MemoryDedupStore struct {
	mu   sync.Mutex
	keys map[string]struct{}
	ring []string
	next int
}

// NewMemoryDedupStore returns a store that remembers up to capacity keys
// (10,000 when capacity <= 0).
//
// Deprecated: use [NewMemoryStore].
func NewMemoryDedupStore(capacity int) *MemoryDedupStore {
	if capacity <= 0 {
		capacity = 10000
	}
	return &MemoryDedupStore{keys: make(map[string]struct{}, capacity), ring: make([]string, capacity)}
}

// Seen reports whether key is remembered.
func (s *MemoryDedupStore) Seen(_ context.Context, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.keys[key]
	return ok, nil
}

// Done remembers key, forgetting the oldest key when full.
func (s *MemoryDedupStore) Done(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[key]; ok {
		return nil
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.keys, old)
	}
	s.ring[s.next] = key
	s.keys[key] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
	return nil
}

// dedupAdapter serves a legacy [DedupStore] (and its optional [DedupClaimer]) as
// a [ClaimStore]. Its keys are the bare message ids the legacy stores always
// held. Without a DedupClaimer, only the in-process fast path of replyClaims
// keeps two copies from running at once (as before).
type dedupAdapter struct {
	store   DedupStore
	claimer DedupClaimer // nil when store has no claims
}

func newDedupAdapter(s DedupStore) *dedupAdapter {
	c, _ := s.(DedupClaimer)
	return &dedupAdapter{store: s, claimer: c}
}

func legacyKey(key string) string { return strings.TrimPrefix(key, "reply:") }

func (d *dedupAdapter) Claim(ctx context.Context, key, _ string, _ time.Duration) (ClaimState, error) {
	key = legacyKey(key)
	seen, err := d.store.Seen(ctx, key)
	if err != nil {
		return 0, err
	}
	if seen {
		return ClaimDone, nil
	}
	if d.claimer == nil {
		return ClaimAcquired, nil
	}
	ok, err := d.claimer.Claim(ctx, key)
	if err != nil {
		return 0, err
	}
	if !ok {
		return ClaimBusy, nil // held elsewhere, or finished: Seen tells at the next try
	}
	return ClaimAcquired, nil
}

func (d *dedupAdapter) ReleaseClaim(ctx context.Context, key, _ string) error {
	if d.claimer == nil {
		return nil
	}
	return d.claimer.Release(ctx, legacyKey(key))
}

func (d *dedupAdapter) CompleteClaim(ctx context.Context, key, _ string, _ time.Duration) error {
	return d.store.Done(ctx, legacyKey(key))
}

// claimStoreFor is the ClaimStore behind a store given to WithDedupStore, and
// whether its claims can be renewed.
func claimStoreFor(s DedupStore) (ClaimStore, bool) {
	if cs, ok := s.(ClaimStore); ok {
		return cs, true
	}
	return newDedupAdapter(s), false
}

// claimOutcome is what became of one attempt to hand a reply to fn.
type claimOutcome int

const (
	// claimHandled: fn ran and returned nil; the claim is completed.
	claimHandled claimOutcome = iota + 1
	// claimDuplicate: the reply was handled before; fn did not run.
	claimDuplicate
	// claimBusy: another copy holds the claim (and, when waiting, the wait ended
	// first); fn did not run.
	claimBusy
	// claimFailed: fn returned an error or panicked; the claim is released.
	claimFailed
	// claimStoreFailed: the store could not be asked; fn did not run.
	claimStoreFailed
)

// replyClaims hands each reply to a function once, through a ClaimStore (see the
// top of this file). The in-process map of calls in flight lets a copy wait for
// another copy in the same process without asking the store again and again.
type replyClaims struct {
	store  ClaimStore
	renew  bool // the store's claims expire and are renewed while fn runs
	logger *slog.Logger

	mu       sync.Mutex
	inflight map[string]chan struct{}
}

func newReplyClaims(store ClaimStore, renew bool, logger *slog.Logger) *replyClaims {
	return &replyClaims{store: store, renew: renew, logger: logger, inflight: map[string]chan struct{}{}}
}

// run claims key and calls fn when the claim is acquired. With wait, a claim busy
// elsewhere is waited for until ctx ends or maxBusyWait passes (then claimBusy
// with ctx's error, if any); without it, claimBusy is returned at once. The error
// is fn's (claimFailed) or a *StoreError (claimStoreFailed).
func (rc *replyClaims) run(ctx context.Context, key string, wait bool, fn func(context.Context) error) (claimOutcome, error) {
	token := rand.Text()
	delay := busyPollMin
	var deadline <-chan time.Time
	for {
		rc.mu.Lock()
		local, busy := rc.inflight[key]
		if !busy {
			local = make(chan struct{})
			rc.inflight[key] = local
		}
		rc.mu.Unlock()
		if busy {
			// a copy in this process runs it: its outcome is known the moment it ends
			if !wait {
				return claimBusy, nil
			}
			if deadline == nil {
				deadline = time.After(maxBusyWait)
			}
			select {
			case <-local:
				continue
			case <-deadline:
				return claimBusy, nil
			case <-ctx.Done():
				return claimBusy, ctx.Err()
			}
		}
		outcome, err := rc.attempt(ctx, key, token, local, fn)
		if outcome != claimBusy || !wait {
			return outcome, err
		}
		// held elsewhere (another replica, or Watch in another process): ask again
		if deadline == nil {
			deadline = time.After(maxBusyWait)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-deadline:
			t.Stop()
			return claimBusy, nil
		case <-ctx.Done():
			t.Stop()
			return claimBusy, ctx.Err()
		}
		delay = min(2*delay, busyPollMax)
	}
}

// attempt makes one claim on key for token and, when acquired, runs fn; local is
// this call's entry in the in-flight map, removed and closed when it returns.
func (rc *replyClaims) attempt(ctx context.Context, key, token string, local chan struct{}, fn func(context.Context) error) (claimOutcome, error) {
	defer func() {
		rc.mu.Lock()
		delete(rc.inflight, key)
		rc.mu.Unlock()
		close(local)
	}()
	state, err := rc.store.Claim(ctx, key, token, claimTTL)
	if err != nil {
		return claimStoreFailed, storeErr("claim reply", err)
	}
	switch state {
	case ClaimDone:
		return claimDuplicate, nil
	case ClaimBusy:
		return claimBusy, nil
	case ClaimAcquired:
	default:
		return claimStoreFailed, storeErr("claim reply", fmt.Errorf("unknown claim state %v", state))
	}
	if err := rc.call(ctx, key, token, fn); err != nil {
		if rerr := rc.store.ReleaseClaim(context.WithoutCancel(ctx), key, token); rerr != nil {
			rc.logger.Error("deskie: reply claim not released; the reply is retried once the claim expires",
				"key", key, "error", storeErr("release reply claim", rerr))
		}
		return claimFailed, err
	}
	if err := rc.store.CompleteClaim(context.WithoutCancel(ctx), key, token, defaultReplyDoneTTL); err != nil {
		rc.logger.Error("deskie: reply handled but not recorded; another copy may run it again",
			"key", key, "error", storeErr("complete reply claim", err))
	}
	return claimHandled, nil
}

// call runs fn (a panic is an error) and renews the claim while fn runs.
func (rc *replyClaims) call(ctx context.Context, key, token string, fn func(context.Context) error) error {
	if rc.renew {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { rc.keepClaim(ctx, key, token, stop) })
		defer func() {
			close(stop)
			wg.Wait()
		}()
	}
	return safeCall(ctx, fn)
}

// safeCall runs fn, turning a panic into an error.
func safeCall(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(ctx)
}

// keepClaim renews token's claim on key until stop is closed. Claiming again with
// the same token extends the claim ([ClaimStore.Claim]).
func (rc *replyClaims) keepClaim(ctx context.Context, key, token string, stop <-chan struct{}) {
	t := time.NewTicker(claimRenewEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		state, err := rc.store.Claim(context.WithoutCancel(ctx), key, token, claimTTL)
		if err != nil || state != ClaimAcquired {
			rc.logger.Warn("deskie: reply claim not renewed; another copy may run the reply too",
				"key", key, "state", state, "error", storeErr("renew reply claim", err))
		}
	}
}
