package deskie

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskie-go/deskie/deskietest"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultyStore is a MemoryStore with switchable faults.
type faultyStore struct {
	*MemoryStore
	failRenew   atomic.Bool
	failRelease atomic.Int32 // fail the next n releases
	failObserve atomic.Int32 // fail the next n observes
	spends      atomic.Int64
}

var errBlip = errors.New("store blip")

func (s *faultyStore) RenewTurn(ctx context.Context, key, token string, lease time.Duration) (bool, error) {
	if s.failRenew.Load() {
		return false, errBlip
	}
	return s.MemoryStore.RenewTurn(ctx, key, token, lease)
}

func (s *faultyStore) ReleaseTurn(ctx context.Context, key, token string, state []byte, ttl time.Duration) error {
	if s.failRelease.Add(-1) >= 0 {
		return errBlip
	}
	return s.MemoryStore.ReleaseTurn(ctx, key, token, state, ttl)
}

func (s *faultyStore) ObserveBudget(ctx context.Context, key string, o BudgetObservation) error {
	if s.failObserve.Add(-1) >= 0 {
		return errBlip
	}
	return s.MemoryStore.ObserveBudget(ctx, key, o)
}

func (s *faultyStore) SpendBudget(ctx context.Context, key string, r BudgetRequest) (BudgetGrant, error) {
	s.spends.Add(1)
	return s.MemoryStore.SpendBudget(ctx, key, r)
}

func reviewClient(t *testing.T, srv *deskietest.Server, st Store, opts ...Option) *Client {
	t.Helper()
	base := []Option{WithBaseURL(srv.URL), WithStore(st), WithRetryWait(time.Millisecond, 5*time.Millisecond), WithMaxRetryAfter(50 * time.Millisecond)}
	c, err := NewClient("", srv.StaffEmail(), srv.APIKey(), append(base, opts...)...)
	require.NoError(t, err)
	return c
}

// R1: the turn's lease runs out mid-Send (renewals fail: a store blip, a pause):
// the Send must not write once another replica may hold the customer; it
// returns an error that is safe to repeat, and the other replica's Send is the
// only one that writes.
func TestRegressionLeaseLostMidSend(t *testing.T) {
	srv := deskietest.NewServer()
	t.Cleanup(srv.Close)
	ch := srv.AddChannel("App", deskietest.ChannelSync, "")
	shared := NewMemoryStore()
	stA := &faultyStore{MemoryStore: shared}
	stA.failRenew.Store(true)
	// A's first look-up is held until B's Send is over: it outlives A's lease
	// (which A cannot renew), whatever the machine's load.
	lookupSent, bDone := make(chan struct{}), make(chan struct{})
	var once sync.Once
	a := reviewClient(t, srv, stA, WithRateBudget(-1), WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodGet {
			first := false
			once.Do(func() { close(lookupSent); first = true })
			if first {
				select {
				case <-bDone:
				case <-r.Context().Done():
				}
			}
		}
		return http.DefaultTransport.RoundTrip(r)
	})}))
	b := reviewClient(t, srv, shared, WithRateBudget(-1))
	a.turnLease = 150 * time.Millisecond

	msg := func(text string) *CustomerMessage {
		return &CustomerMessage{Channel: ch, UserCustomID: "u-1", Content: text}
	}
	errA := make(chan error, 1)
	go func() {
		_, err := a.Chats.Send(context.Background(), msg("first"))
		errA <- err
	}()
	<-lookupSent // A holds the turn and waits for its held look-up
	resB, errB := b.Chats.Send(context.Background(), msg("second"))
	close(bDone)
	require.NoError(t, errB, "B takes the customer once A's lease ran out")
	err := <-errA
	var se *StoreError
	require.ErrorAs(t, err, &se, "A learns it lost its turn")
	assert.ErrorIs(t, err, ErrTurnLost)
	assert.Len(t, srv.Cases(), 1, "only B wrote")
	assert.Equal(t, ActionCreatedCase, resB.Action)
	msgs := srv.Messages(resB.CaseID)
	require.Len(t, msgs, 1, "A's message was not written")
	assert.Equal(t, "second", msgs[0].Content)
}

// R2: the Store fails once at ReleaseTurn after a successful Send: the trace of
// the written message is lost, so a later ambiguous write of the same text that
// never landed takes the earlier message for its own — the message is lost.
func TestRegressionStateLostTakesEarlierMessage(t *testing.T) {
	srv := deskietest.NewServer()
	t.Cleanup(srv.Close)
	ch := srv.AddChannel("App", deskietest.ChannelSync, "")
	st := &faultyStore{MemoryStore: NewMemoryStore()}
	c := reviewClient(t, srv, st, WithRateBudget(-1))
	ctx := context.Background()

	st.failRelease.Store(1)
	r1, err := c.Chats.Send(ctx, &CustomerMessage{Channel: ch, UserCustomID: "u-1", Content: "ok"})
	require.NoError(t, err)

	srv.Fail("POST /api/cases/*", 1, deskietest.FaultServerError) // 500, nothing written
	r2, err := c.Chats.Send(ctx, &CustomerMessage{Channel: ch, UserCustomID: "u-1", UserID: r1.UserID, LastCaseID: r1.CaseID, Content: "ok"})
	t.Logf("second send: %+v err=%v", r2, err)
	assert.Len(t, srv.Messages(r1.CaseID), 2, "two 'ok' sent (the second reported as sent), one stored")
}

// R3: the store misses the probe's observation (one blip): the process knows the
// limit, the store does not, and take() spins without ever sending.
func TestRegressionBudgetSpinsWhenStoreDoesNotKnowTheLimit(t *testing.T) {
	srv := deskietest.NewServer(deskietest.WithRateLimit(100, time.Minute))
	t.Cleanup(srv.Close)
	st := &faultyStore{MemoryStore: NewMemoryStore()}
	c := reviewClient(t, srv, st)
	st.failObserve.Store(1)
	_, err := c.Channels.List(context.Background()) // the probe: its observation is lost
	require.NoError(t, err)
	before := st.spends.Load()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.Channels.List(ctx)
	t.Logf("spend calls for one request: %d", st.spends.Load()-before)
	require.NoError(t, err, "the second request never left the process")
}

// R3b: the same after the store loses the budget key (Redis restart, key TTL of a
// day after an idle weekend, eviction).
func TestRegressionBudgetSpinsAfterStoreForgets(t *testing.T) {
	srv := deskietest.NewServer(deskietest.WithRateLimit(100, time.Minute))
	t.Cleanup(srv.Close)
	st := &faultyStore{MemoryStore: NewMemoryStore()}
	c := reviewClient(t, srv, st)
	_, err := c.Channels.List(context.Background())
	require.NoError(t, err)
	st.mu.Lock()
	clear(st.budgets) // the store restarted
	st.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	before := st.spends.Load()
	_, err = c.Channels.List(ctx)
	t.Logf("spend calls for one request: %d", st.spends.Load()-before)
	require.NoError(t, err)
}

// R4: MemoryStore.order grows by one entry per Send (turn keys are deleted on
// release and appended again on the next acquire): not bounded memory.
func TestRegressionMemoryStoreOrderGrows(t *testing.T) {
	s := newMemoryStore(1000)
	ctx := context.Background()
	for range 100_000 {
		ok, _, _ := s.AcquireTurn(ctx, "turn:{a:b}", "tok", time.Minute)
		require.True(t, ok)
		require.NoError(t, s.ReleaseTurn(ctx, "turn:{a:b}", "tok", []byte("x"), time.Hour))
	}
	t.Logf("live keys %d, order entries %d", len(s.entries), s.order.Len())
	assert.Less(t, s.order.Len(), 2*s.max)
}

// R5: a POST answered 2xx just as the caller's context ends was reported as a
// plain context error, not ErrAmbiguous, and its body was never closed.
func TestRegressionCanceledAfter2xxIsAmbiguous(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	closed := atomic.Bool{}
	// A transport that answers synchronously (httpmock races the answer against
	// the context and may drop it itself).
	answer := roundTripFunc(func(*http.Request) (*http.Response, error) {
		cancel() // the caller gives up just as the answer arrives
		resp := httpmock.NewStringResponse(201, `{"case":{"case_id":77,"user_id":5}}`)
		resp.Body = &closeSpy{ReadCloser: resp.Body, closed: &closed}
		return resp, nil
	})
	c, err := NewClient("acme", testEmail, testKey, WithHTTPClient(&http.Client{Transport: answer}), WithRateBudget(-1))
	require.NoError(t, err)
	_, err = c.Cases.Create(ctx, &CaseCreate{Channel: "cch1", UserCustomID: "u", Content: "hi"})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, ErrAmbiguous, "the case was created (201): the error must say it may have been applied")
	assert.True(t, closed.Load(), "the 2xx body is closed")
}

type closeSpy struct {
	io.ReadCloser
	closed *atomic.Bool
}

func (c *closeSpy) Read(p []byte) (int, error) { return c.ReadCloser.Read(p) }
func (c *closeSpy) Close() error               { c.closed.Store(true); return c.ReadCloser.Close() }

// R6: the excerpt of a non-JSON error body is cut to 200 bytes before the key is
// redacted: a key that straddles the cut leaks its prefix.
func TestRegressionRedactAfterTruncateLeaksKeyPrefix(t *testing.T) {
	c, mt := setup(t, WithMaxRetries(0))
	body := strings.Repeat("x", 190) + " key=" + testKey + " end"
	mt.RegisterResponder("GET", "https://acme.deskie.io/api/custom_channels.json", httpmock.NewStringResponder(502, body))
	_, err := c.Channels.List(context.Background())
	require.Error(t, err)
	t.Logf("err: %v", err)
	assert.NotContains(t, err.Error(), testKey[:5])
}

// R2b: burstState.Written keeps 16 writes: a customer who writes "ok", then 16
// more lines within five minutes, then "ok" again whose write fails before
// acting (500) loses the second "ok": the look takes the first for it.
func TestRegressionWrittenWindowTooShort(t *testing.T) {
	srv := deskietest.NewServer()
	t.Cleanup(srv.Close)
	ch := srv.AddChannel("App", deskietest.ChannelSync, "")
	c := reviewClient(t, srv, NewMemoryStore(), WithRateBudget(-1))
	ctx := context.Background()
	send := func(text string) (*SendResult, error) {
		return c.Chats.Send(ctx, &CustomerMessage{Channel: ch, UserCustomID: "u-1", Content: text})
	}
	r, err := send("hello")
	require.NoError(t, err)
	_, err = send("ok")
	require.NoError(t, err)
	for i := range 16 {
		_, err := send("line " + string(rune('a'+i)))
		require.NoError(t, err)
	}
	srv.Fail("POST /api/cases/*", 1, deskietest.FaultServerError)
	_, err = send("ok")
	t.Logf("err=%v", err)
	oks := 0
	for _, m := range srv.Messages(r.CaseID) {
		if m.Content == "ok" {
			oks++
		}
	}
	assert.Equal(t, 2, oks, "the second ok was reported sent but is not stored")
}

// R7: with no rate headers, callers already queued behind the probe still go one
// at a time (each becomes a probe in turn): only later callers see "unlimited".
func TestRegressionQueuedBehindProbeIsNotSerialized(t *testing.T) {
	srv := deskietest.NewServer(deskietest.WithRateLimit(0, 0), deskietest.WithSlowDelay(200*time.Millisecond))
	t.Cleanup(srv.Close)
	srv.Fail("GET /api/custom_channels.json", 1, deskietest.FaultSlow) // the probe: the others queue behind it
	// After the probe, each read is held until all 7 others are in flight at
	// once (or 5 s pass): serialized reads never get there.
	var mu sync.Mutex
	var once sync.Once
	calls, inFlight, most := 0, 0, 0
	together := make(chan struct{})
	c := reviewClient(t, srv, NewMemoryStore(), WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		calls++
		probe := calls == 1
		inFlight++
		most = max(most, inFlight)
		if !probe && inFlight == 7 {
			once.Do(func() { close(together) })
		}
		mu.Unlock()
		defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		if !probe {
			select {
			case <-together:
			case <-time.After(5 * time.Second):
			}
		}
		return http.DefaultTransport.RoundTrip(r)
	})}))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _, _ = c.Channels.List(context.Background()) })
	}
	wg.Wait()
	assert.Equal(t, 8, calls)
	assert.Equal(t, 7, most, "the 7 reads after the probe were in flight together")
}
