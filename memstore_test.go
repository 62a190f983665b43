package deskie

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The store's bookkeeping does not grow with the number of Sends: released turns,
// released claims and expired records leave nothing behind.
func TestMemoryStoreStaysBounded(t *testing.T) {
	s := newMemoryStore(10)
	ctx := context.Background()
	for i := range 1000 {
		key := fmt.Sprint("turn:", i%3)
		ok, _, err := s.AcquireTurn(ctx, key, "t", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, s.ReleaseTurn(ctx, key, "t", nil, time.Minute))
		st, err := s.Claim(ctx, "reply:1", fmt.Sprint(i), time.Minute)
		require.NoError(t, err)
		require.Equal(t, ClaimAcquired, st)
		require.NoError(t, s.ReleaseClaim(ctx, "reply:1", fmt.Sprint(i)))
		require.NoError(t, s.PutRecord(ctx, fmt.Sprint("rec:", i), []byte("x"), time.Hour))
	}
	assert.LessOrEqual(t, len(s.entries), 10)
	assert.Equal(t, len(s.entries), s.order.Len(), "one order element per live key")
}

// When full, the oldest record is forgotten, never a held turn.
func TestMemoryStoreNeverEvictsAHeldTurn(t *testing.T) {
	s := newMemoryStore(3)
	ctx := context.Background()
	ok, _, err := s.AcquireTurn(ctx, "turn:a", "holder", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	for i := range 10 {
		require.NoError(t, s.PutRecord(ctx, fmt.Sprint("rec:", i), []byte("x"), time.Hour))
	}
	ok, _, err = s.AcquireTurn(ctx, "turn:a", "other", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "the held turn survived eviction")
	v, err := s.GetRecord(ctx, "rec:9")
	require.NoError(t, err)
	assert.Equal(t, []byte("x"), v, "the newest record is kept")
	v, err = s.GetRecord(ctx, "rec:0")
	require.NoError(t, err)
	assert.Nil(t, v, "the oldest record was forgotten")
}

// Expired keys are swept before live ones are evicted.
func TestMemoryStoreExpiry(t *testing.T) {
	s := newMemoryStore(2)
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	require.NoError(t, s.PutRecord(ctx, "short", []byte("1"), time.Second))
	require.NoError(t, s.PutRecord(ctx, "long", []byte("2"), time.Hour))
	now = now.Add(2 * time.Second)
	require.NoError(t, s.PutRecord(ctx, "new", []byte("3"), time.Hour))
	v, _ := s.GetRecord(ctx, "long")
	assert.Equal(t, []byte("2"), v, "the expired key made room, not the live one")
	v, _ = s.GetRecord(ctx, "short")
	assert.Nil(t, v)
}
