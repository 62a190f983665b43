package deskie

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryDedupStoreIsBounded(t *testing.T) {
	s := NewMemoryDedupStore(2)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "a", "c"} {
		require.NoError(t, s.Done(ctx, k))
	}
	for k, want := range map[string]bool{"a": false, "b": true, "c": true} {
		got, err := s.Seen(ctx, k)
		require.NoError(t, err)
		assert.Equal(t, want, got, k)
	}
}

// claimStore is a shared-store stand-in that records claims.
type claimStore struct {
	*MemoryDedupStore
	mu       sync.Mutex
	claimed  map[string]bool
	released []string
}

func (c *claimStore) Claim(_ context.Context, key string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.claimed[key] {
		return false, nil
	}
	c.claimed[key] = true
	return true, nil
}

func (c *claimStore) Release(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.claimed, key)
	c.released = append(c.released, key)
	return nil
}

func TestWebhookHandlerSharedStoreClaims(t *testing.T) {
	store := &claimStore{MemoryDedupStore: NewMemoryDedupStore(10), claimed: map[string]bool{"held": true}}
	fail := true
	handler := NewWebhookHandler(func(context.Context, *AgentReply) error {
		if fail {
			return errors.New("down")
		}
		return nil
	}, WithoutWebhookToken(), WithDedupStore(store))
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, delivery("/", formType, formOf(&AgentReply{MessageID: 4})))
	assert.Equal(t, 500, w.Code)
	assert.Equal(t, []string{"4"}, store.released, "a failed claim is released for the redelivery")
	fail = false
	w = httptest.NewRecorder()
	handler.ServeHTTP(w, delivery("/", formType, formOf(&AgentReply{MessageID: 4})))
	assert.Equal(t, 200, w.Code)
	seen, _ := store.Seen(context.Background(), "4")
	assert.True(t, seen)
}

// legacyStore is a pre-Store shared store: Seen/Done plus DedupClaimer.
type legacyStore struct {
	*MemoryDedupStore
	mu      sync.Mutex
	held    map[string]bool
	claims  int
	seenErr error
}

func (s *legacyStore) Seen(ctx context.Context, key string) (bool, error) {
	if s.seenErr != nil {
		return false, s.seenErr
	}
	return s.MemoryDedupStore.Seen(ctx, key)
}

func (s *legacyStore) Claim(_ context.Context, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims++
	if s.held[key] {
		return false, nil
	}
	s.held[key] = true
	return true, nil
}

func (s *legacyStore) Release(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.held, key)
	return nil
}

func (s *legacyStore) claimCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claims
}

func TestWebhookHandlerLegacyClaimerHeldElsewhere(t *testing.T) {
	store := &legacyStore{MemoryDedupStore: NewMemoryDedupStore(10), held: map[string]bool{"21": true}}
	h := newHarness(WithoutWebhookToken(), WithDedupStore(store))
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- h.serve(delivery("/", formType, formOf(&AgentReply{MessageID: 21}))) }()
	require.Eventually(t, func() bool { return store.claimCount() >= 2 }, 10*time.Second, time.Millisecond, "asks again")
	require.NoError(t, store.Done(context.Background(), "21")) // the other replica finished it
	w := <-done
	assert.Equal(t, 200, w.Code)
	assert.JSONEq(t, `{"status":"duplicate"}`, w.Body.String())
	assert.Zero(t, h.calls())

	store.seenErr = errors.New("sql: connection refused")
	w = h.serve(delivery("/", formType, formOf(&AgentReply{MessageID: 22})))
	assert.Equal(t, 500, w.Code)
	assert.Contains(t, h.logs.String(), "deskie: store: claim reply: sql: connection refused")
}

// renewCounter counts the claims renewed with the holder's own token.
type renewCounter struct {
	*MemoryStore
	mu      sync.Mutex
	tokens  map[string]int
	renewed chan struct{}
}

func (s *renewCounter) Claim(ctx context.Context, key, token string, ttl time.Duration) (ClaimState, error) {
	s.mu.Lock()
	s.tokens[token]++
	again := s.tokens[token] > 1
	s.mu.Unlock()
	if again {
		select {
		case s.renewed <- struct{}{}:
		default:
		}
	}
	return s.MemoryStore.Claim(ctx, key, token, ttl)
}

func TestReplyClaimIsRenewedWhileFnRuns(t *testing.T) {
	defer func(d time.Duration) { claimRenewEvery = d }(claimRenewEvery)
	claimRenewEvery = time.Millisecond
	store := &renewCounter{MemoryStore: NewMemoryStore(), tokens: map[string]int{}, renewed: make(chan struct{}, 1)}
	rc := newReplyClaims(store, true, slog.New(slog.DiscardHandler))
	outcome, err := rc.run(context.Background(), replyClaimKey(1), false, func(context.Context) error {
		for range 3 {
			<-store.renewed // the claim is renewed while fn runs
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, claimHandled, outcome)
	st, err := store.MemoryStore.Claim(context.Background(), replyClaimKey(1), "other", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, ClaimDone, st)
}
