package deskietest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flakyHook answers the first failures deliveries 503, then 200.
type flakyHook struct {
	*httptest.Server
	mu       sync.Mutex
	failures int
	got      []string // message ids received
}

func newFlakyHook(t *testing.T, failures int) *flakyHook {
	h := &flakyHook{failures: failures}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		h.mu.Lock()
		defer h.mu.Unlock()
		h.got = append(h.got, r.PostForm.Get("object[message_id]"))
		if h.failures > 0 {
			h.failures--
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *flakyHook) received() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got)
}

func statuses(ds []Delivery) []int {
	out := make([]int, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Status)
	}
	return out
}

func TestNoRedeliveryByDefault(t *testing.T) {
	hook := newFlakyHook(t, 1)
	clock := NewClock(time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC))
	s := Start(t, WithClock(clock.Now))
	s.AddChannel("App", ChannelAsync, hook.URL)
	ids, _ := s.SeedCases("cch1", "u", 1)
	_, err := s.AgentReply(ids[0], 1, "x")
	require.Error(t, err)
	clock.Advance(24 * time.Hour)
	assert.Zero(t, s.FlushRedeliveries())
	assert.Empty(t, s.PendingRedeliveries())
	assert.Equal(t, []int{503}, statuses(s.Deliveries()), "a failed delivery is not sent again")
}

func TestRedeliveryFollowsTheClock(t *testing.T) {
	hook := newFlakyHook(t, 3)
	start := time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC)
	clock := NewClock(start)
	s := Start(t, WithClock(clock.Now), WithRedelivery(time.Minute, 5*time.Minute, time.Hour))
	s.AddChannel("App", ChannelAsync, hook.URL)
	ids, _ := s.SeedCases("cch1", "u", 1)
	msgID, err := s.AgentReply(ids[0], 1, "x")
	require.Error(t, err)

	pending := s.PendingRedeliveries()
	require.Len(t, pending, 1)
	assert.Equal(t, PendingRedelivery{MessageID: msgID, CaseID: ids[0], URL: hook.URL, Due: start.Add(time.Minute)}, pending[0])

	clock.Advance(59 * time.Second)
	assert.Zero(t, s.FlushRedeliveries(), "not due yet")
	clock.Advance(time.Second)
	assert.Equal(t, 1, s.FlushRedeliveries())
	assert.Equal(t, []int{503, 503}, statuses(s.Deliveries()))
	assert.Equal(t, start.Add(6*time.Minute), s.PendingRedeliveries()[0].Due, "the next step counts from the failed attempt")

	clock.Advance(5 * time.Minute)
	assert.Equal(t, 1, s.FlushRedeliveries())
	clock.Advance(time.Hour)
	assert.Equal(t, 1, s.FlushRedeliveries())
	ds := s.Deliveries()
	assert.Equal(t, []int{503, 503, 503, 200}, statuses(ds))
	for i, d := range ds {
		assert.Equal(t, i+1, d.Attempt)
		assert.Equal(t, msgID, d.MessageID)
		assert.Equal(t, ds[0].Form, d.Form, "the same payload")
	}
	assert.Equal(t, []time.Time{start, start.Add(time.Minute), start.Add(6 * time.Minute), start.Add(66 * time.Minute)},
		[]time.Time{ds[0].At, ds[1].At, ds[2].At, ds[3].At})
	assert.Empty(t, s.PendingRedeliveries(), "a success ends it")
	assert.Equal(t, 4, hook.received())
}

func TestRedeliveryScheduleRunsOut(t *testing.T) {
	hook := newFlakyHook(t, 100)
	clock := NewClock(time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC))
	s := Start(t, WithClock(clock.Now))
	s.SetRedelivery(time.Second, -time.Second) // a negative step is taken as 0
	assert.Equal(t, []time.Duration{time.Second, 0}, s.Redelivery())
	s.AddChannel("App", ChannelAsync, hook.URL)
	ids, _ := s.SeedCases("cch1", "u", 1)
	// an agent answer through the API is delivered in the background, and redelivered too
	call(t, s, "POST", "/api/cases/"+itoa(ids[0])+"/messages.json", `{"message":{"staff_id":1,"content":"x"}}`)
	s.WaitDeliveries()
	clock.Advance(time.Second)
	assert.Equal(t, 1, s.FlushRedeliveries())
	assert.Len(t, s.PendingRedeliveries(), 1, "a step due at once waits for the next flush")
	assert.Equal(t, 1, s.FlushRedeliveries())
	assert.Zero(t, s.FlushRedeliveries())
	assert.Equal(t, []int{503, 503, 503}, statuses(s.Deliveries()))
	assert.Empty(t, s.PendingRedeliveries())

	// a manual Redeliver is one attempt; it does not start the schedule
	msg := s.Deliveries()[0].MessageID
	require.Error(t, s.Redeliver(msg))
	assert.Empty(t, s.PendingRedeliveries())
	assert.Equal(t, 4, s.Deliveries()[3].Attempt)
}

func TestRedeliveryTurnedOffDropsPending(t *testing.T) {
	hook := newFlakyHook(t, 100)
	clock := NewClock(time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC))
	s := Start(t, WithClock(clock.Now), WithRedelivery(time.Minute))
	s.AddChannel("App", ChannelAsync, hook.URL)
	ids, _ := s.SeedCases("cch1", "u", 1)
	_, _ = s.AgentReply(ids[0], 1, "x")
	require.Len(t, s.PendingRedeliveries(), 1)
	s.SetRedelivery()
	assert.Empty(t, s.PendingRedeliveries())
	clock.Advance(time.Hour)
	assert.Zero(t, s.FlushRedeliveries())
}

func TestRedeliveryOnRealTime(t *testing.T) {
	hook := newFlakyHook(t, 2)
	s := Start(t, WithRedelivery(time.Millisecond, time.Millisecond))
	s.AddChannel("App", ChannelAsync, hook.URL)
	ids, _ := s.SeedCases("cch1", "u", 1)
	_, err := s.AgentReply(ids[0], 1, "x")
	require.Error(t, err)
	s.WaitDeliveries() // on real time it waits for the schedule too
	assert.Equal(t, []int{503, 503, 200}, statuses(s.Deliveries()))
	assert.Empty(t, s.PendingRedeliveries())
}

func TestCloseDropsPendingRedeliveries(t *testing.T) {
	var hits atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(500)
	}))
	defer hook.Close()
	s := NewServer(WithRedelivery(time.Hour))
	s.AddChannel("App", ChannelAsync, hook.URL)
	ids, _ := s.SeedCases("cch1", "u", 1)
	_, _ = s.AgentReply(ids[0], 1, "x")
	require.Len(t, s.PendingRedeliveries(), 1)
	s.Close() // does not wait an hour
	assert.Empty(t, s.PendingRedeliveries())
	assert.Equal(t, int32(1), hits.Load())
}
