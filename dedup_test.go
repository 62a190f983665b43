package deskie

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"

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
