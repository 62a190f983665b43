package deskie

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// defaultMemoryStoreSize is how many keys a [MemoryStore] keeps at most.
const defaultMemoryStoreSize = 100_000

// MemoryStore is the default [Store]: everything in this process, in bounded
// memory. It serves one process; replicas share a Store on a database instead
// (package redisstore). It also implements [DedupStore], so it can be given to
// [WithDedupStore]. Safe for concurrent use.
//
// It keeps at most 100,000 keys. Expired keys are dropped as they are met and
// swept when the store is full; when it still holds its maximum of live keys, the
// oldest written key is forgotten first — never a customer's turn while it is held.
type MemoryStore struct {
	mu      sync.Mutex
	max     int
	entries map[string]*memEntry
	order   *list.List // of keys, oldest written first; one element per live entry
	budgets map[string]BudgetState
	now     func() time.Time
}

type memEntry struct {
	value   []byte
	token   string // a turn's or a claim's holder
	turn    bool   // a held turn: never evicted while live
	done    bool   // a completed claim
	expires time.Time
	elem    *list.Element
}

// NewMemoryStore returns an empty in-process store that keeps at most 100,000 keys.
func NewMemoryStore() *MemoryStore { return newMemoryStore(defaultMemoryStoreSize) }

func newMemoryStore(size int) *MemoryStore {
	return &MemoryStore{max: size, entries: map[string]*memEntry{}, order: list.New(), budgets: map[string]BudgetState{}, now: time.Now}
}

func (s *MemoryStore) expired(e *memEntry, now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

// get returns the live entry at key. Callers hold s.mu.
func (s *MemoryStore) get(key string) *memEntry {
	e := s.entries[key]
	if e != nil && s.expired(e, s.now()) {
		s.remove(key)
		return nil
	}
	return e
}

// remove forgets key. Callers hold s.mu.
func (s *MemoryStore) remove(key string) {
	if e := s.entries[key]; e != nil {
		s.order.Remove(e.elem)
		delete(s.entries, key)
	}
}

// put stores e at key as its newest write, evicting when full. Callers hold s.mu.
func (s *MemoryStore) put(key string, e *memEntry) {
	s.remove(key)
	if len(s.entries) >= s.max {
		s.evict()
	}
	e.elem = s.order.PushBack(key)
	s.entries[key] = e
}

// evict makes room for one key: expired keys first (one sweep), then the oldest
// written ones, skipping held turns.
func (s *MemoryStore) evict() {
	now := s.now()
	for el := s.order.Front(); el != nil; {
		next := el.Next()
		if k := el.Value.(string); s.expired(s.entries[k], now) {
			s.remove(k)
		}
		el = next
	}
	for el := s.order.Front(); el != nil && len(s.entries) >= s.max; {
		next := el.Next()
		if k := el.Value.(string); !s.entries[k].turn {
			s.remove(k)
		}
		el = next
	}
}

func (s *MemoryStore) expiry(ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return s.now().Add(ttl)
}

func stateKey(key string) string { return key + ":state" }

// AcquireTurn implements [TurnStore].
func (s *MemoryStore) AcquireTurn(_ context.Context, key, token string, lease time.Duration) (bool, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.get(key); e != nil && e.token != token {
		return false, nil, nil
	}
	s.put(key, &memEntry{token: token, turn: true, expires: s.expiry(lease)})
	var state []byte
	if e := s.get(stateKey(key)); e != nil {
		state = e.value
	}
	return true, state, nil
}

// RenewTurn implements [TurnStore].
func (s *MemoryStore) RenewTurn(_ context.Context, key, token string, lease time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.get(key)
	if e == nil || e.token != token {
		return false, nil
	}
	e.expires = s.expiry(lease)
	return true, nil
}

// ReleaseTurn implements [TurnStore].
func (s *MemoryStore) ReleaseTurn(_ context.Context, key, token string, state []byte, stateTTL time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.get(key)
	if e == nil || e.token != token {
		return ErrTurnLost
	}
	s.remove(key)
	if state != nil {
		s.put(stateKey(key), &memEntry{value: state, expires: s.expiry(stateTTL)})
	}
	return nil
}

// GetRecord implements [RecordStore].
func (s *MemoryStore) GetRecord(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.get(key); e != nil {
		return e.value, nil
	}
	return nil, nil
}

// PutRecord implements [RecordStore].
func (s *MemoryStore) PutRecord(_ context.Context, key string, value []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(key, &memEntry{value: value, expires: s.expiry(ttl)})
	return nil
}

// Claim implements [ClaimStore].
func (s *MemoryStore) Claim(_ context.Context, key, token string, ttl time.Duration) (ClaimState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.get(key); e != nil {
		if e.done {
			return ClaimDone, nil
		}
		if e.token != token {
			return ClaimBusy, nil
		}
	}
	s.put(key, &memEntry{token: token, expires: s.expiry(ttl)})
	return ClaimAcquired, nil
}

// ReleaseClaim implements [ClaimStore].
func (s *MemoryStore) ReleaseClaim(_ context.Context, key, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.get(key); e != nil && !e.done && e.token == token {
		s.remove(key)
	}
	return nil
}

// CompleteClaim implements [ClaimStore].
func (s *MemoryStore) CompleteClaim(_ context.Context, key, _ string, doneTTL time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(key, &memEntry{done: true, expires: s.expiry(doneTTL)})
	return nil
}

// SpendBudget implements [BudgetStore] with [BudgetSpend].
func (s *MemoryStore) SpendBudget(_ context.Context, key string, req BudgetRequest) (BudgetGrant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, g := BudgetSpend(s.budgets[key], req)
	s.budgets[key] = st
	return g, nil
}

// ObserveBudget implements [BudgetStore] with [BudgetObserve].
func (s *MemoryStore) ObserveBudget(_ context.Context, key string, obs BudgetObservation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.budgets[key] = BudgetObserve(s.budgets[key], obs)
	return nil
}

// Seen implements [DedupStore]: whether key was completed.
func (s *MemoryStore) Seen(_ context.Context, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.get(key)
	return e != nil && e.done, nil
}

// Done implements [DedupStore]: key is completed (kept 7 days).
func (s *MemoryStore) Done(ctx context.Context, key string) error {
	return s.CompleteClaim(ctx, key, "", defaultReplyDoneTTL)
}

// Interface checks.
var (
	_ Store      = (*MemoryStore)(nil)
	_ DedupStore = (*MemoryStore)(nil)
)
