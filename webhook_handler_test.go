package deskie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// handlerHarness mounts a handler and records what reached fn.
type handlerHarness struct {
	mu      sync.Mutex
	got     []*AgentReply
	fnErr   error
	handler http.Handler
	logs    syncBuffer
}

func newHarness(opts ...WebhookOption) *handlerHarness {
	h := &handlerHarness{}
	logger := slog.New(slog.NewTextHandler(&h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.handler = NewWebhookHandler(func(_ context.Context, r *AgentReply) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.got = append(h.got, r)
		return h.fnErr
	}, append([]WebhookOption{WithWebhookLogger(logger)}, opts...)...)
	return h
}

func (h *handlerHarness) calls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got)
}

func (h *handlerHarness) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return w
}

func TestWebhookHandlerStatuses(t *testing.T) {
	good := formOf(&AgentReply{MessageID: 1, CaseID: 2, Content: "hi"})
	tests := []struct {
		name   string
		opts   []WebhookOption
		req    *http.Request
		status int
		calls  int
	}{
		{"token in path", nil, delivery("/deskie/"+hookToken, formType, good), 200, 1},
		{"token in path with slash", nil, delivery("/deskie/"+hookToken+"/", formType, good), 200, 1},
		{"token in query", nil, delivery("/deskie/?token="+hookToken, formType, good), 200, 1},
		{"wrong token", nil, delivery("/deskie/nope", formType, good), 404, 0},
		{"missing token", nil, delivery("/deskie/", formType, good), 404, 0},
		{"token prefix", nil, delivery("/deskie/"+hookToken[:5], formType, good), 404, 0},
		{"GET", nil, httptest.NewRequest("GET", "/deskie/"+hookToken, nil), 405, 0},
		{"GET with a wrong token", nil, httptest.NewRequest("GET", "/deskie/nope", nil), 404, 0},
		{"PUT without a token", nil, httptest.NewRequest("PUT", "/deskie/", nil), 404, 0},
		{"no type, but a message", nil, delivery("/deskie/"+hookToken, formType, []byte("object[message_id]=3")), 200, 1},
		{"malformed", nil, delivery("/deskie/"+hookToken, formType, []byte("object[message_id]=x")), 400, 0},
		{"no message id", nil, delivery("/deskie/"+hookToken, formType, []byte("type=message_new&object[content]=x")), 400, 0},
		{"other event", nil, delivery("/deskie/"+hookToken, formType, []byte("type=case_closed&object[case_id]=3")), 200, 0},
		{"unsupported type", nil, delivery("/deskie/"+hookToken, "application/xml", []byte("<x/>")), 415, 0},
		{"oversized", []WebhookOption{WithMaxBodyBytes(64)}, delivery("/deskie/"+hookToken, formType, bytes.Repeat([]byte("a"), 65)), 413, 0},
		{"oversized multipart", []WebhookOption{WithMaxBodyBytes(64)}, multipartDelivery(t, "/deskie/"+hookToken, map[string]string{"object[content]": strings.Repeat("a", 200)}), 413, 0},
		{"note dropped", nil, delivery("/deskie/"+hookToken, formType, formOf(&AgentReply{MessageID: 1, Note: true})), 200, 0},
		{"note delivered WithNotes", []WebhookOption{WithNotes()}, delivery("/deskie/"+hookToken, formType, formOf(&AgentReply{MessageID: 1, Note: true})), 200, 1},
		{"api reply dropped", nil, delivery("/deskie/"+hookToken, formType, formOf(&AgentReply{MessageID: 1, FromAPI: true})), 200, 0},
		{"api reply delivered WithAPIReplies", []WebhookOption{WithAPIReplies()}, delivery("/deskie/"+hookToken, formType, formOf(&AgentReply{MessageID: 1, FromAPI: true})), 200, 1},
		{"rule message delivered", nil, delivery("/deskie/"+hookToken, formType, formOf(&AgentReply{MessageID: 1, SentViaRule: true})), 200, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(append([]WebhookOption{WithWebhookToken(hookToken)}, tt.opts...)...)
			w := h.serve(tt.req)
			assert.Equal(t, tt.status, w.Code, w.Body.String())
			assert.Equal(t, tt.calls, h.calls())
			if tt.status == 405 {
				assert.Equal(t, "POST", w.Header().Get("Allow"))
			}
			if tt.status == 404 {
				assert.NotContains(t, w.Body.String(), "token")
			}
			assert.NotContains(t, h.logs.String(), hookToken, "the token never reaches the logs")
			assert.NotContains(t, h.logs.String(), "hi", "nor the message text")
		})
	}
}

func TestNewWebhookHandlerPanicsNamingTheFix(t *testing.T) {
	fn := func(context.Context, *AgentReply) error { return nil }
	const prefix = "deskie: NewWebhookHandler: "
	tests := []struct {
		name string
		fn   func(context.Context, *AgentReply) error
		opts []WebhookOption
		want string
	}{
		{"no token option", fn, nil, prefix + "no token option: add WithWebhookToken(secret), or WithoutWebhookToken() when deliveries are authenticated elsewhere"},
		{"both options", fn, []WebhookOption{WithWebhookToken("x"), WithoutWebhookToken()}, prefix + "both WithWebhookToken and WithoutWebhookToken were given: keep one"},
		{"empty token", fn, []WebhookOption{WithWebhookToken("")}, prefix + "WithWebhookToken was given an empty or blank token: pass the secret of the channel's Webhook URL"},
		{"blank token", fn, []WebhookOption{WithWebhookToken(" \t ")}, prefix + "WithWebhookToken was given an empty or blank token: pass the secret of the channel's Webhook URL"},
		{"nil fn", nil, []WebhookOption{WithWebhookToken("x")}, prefix + "nil function: pass the func that hands each reply to your app"},
		{"zero body limit", fn, []WebhookOption{WithoutWebhookToken(), WithMaxBodyBytes(0)}, prefix + "WithMaxBodyBytes(0): the limit must be positive (the default is 1 MiB)"},
		{"negative body limit", fn, []WebhookOption{WithoutWebhookToken(), WithMaxBodyBytes(-1)}, prefix + "WithMaxBodyBytes(-1): the limit must be positive (the default is 1 MiB)"},
		{"nil store", fn, []WebhookOption{WithoutWebhookToken(), WithDedupStore(nil)}, prefix + "WithDedupStore was given a nil store"},
		{"nil logger", fn, []WebhookOption{WithoutWebhookToken(), WithWebhookLogger(nil)}, prefix + "WithWebhookLogger was given a nil *slog.Logger"},
		{"zero poll interval", fn, []WebhookOption{WithoutWebhookToken(), WithPollInterval(0)}, prefix + "WithPollInterval(0s): the interval must be positive (the default is 30s)"},
		{"negative lookback", fn, []WebhookOption{WithoutWebhookToken(), WithLookback(-time.Second)}, prefix + "WithLookback(-1s): must not be negative"},
		{"no event type", fn, []WebhookOption{WithoutWebhookToken(), WithEventTypes()}, prefix + "WithEventTypes was given no event type"},
		{"two problems", fn, []WebhookOption{WithoutWebhookToken(), WithMaxBodyBytes(0), WithWebhookLogger(nil)},
			prefix + "WithMaxBodyBytes(0): the limit must be positive (the default is 1 MiB); WithWebhookLogger was given a nil *slog.Logger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.PanicsWithValue(t, tt.want, func() { NewWebhookHandler(tt.fn, tt.opts...) })
		})
	}
	c, _ := setup(t)
	assert.PanicsWithValue(t, "deskie: Client.NewWebhookHandler: no token option: add WithWebhookToken(secret), or WithoutWebhookToken() when deliveries are authenticated elsewhere",
		func() { c.NewWebhookHandler(fn) })
	assert.NotPanics(t, func() { NewWebhookHandler(fn, WithoutWebhookToken()) })
	assert.NotPanics(t, func() { NewWebhookHandler(fn, WithWebhookToken(hookToken), nil) })
	var msg string
	func() {
		defer func() { msg = fmt.Sprint(recover()) }()
		NewWebhookHandler(fn, WithWebhookToken(hookToken), WithoutWebhookToken())
	}()
	assert.NotContains(t, msg, hookToken, "a panic never shows the token")
}

func TestWebhookHandlerWithoutToken(t *testing.T) {
	h := newHarness(WithoutWebhookToken())
	w := h.serve(delivery("/anything", formType, formOf(&AgentReply{MessageID: 1})))
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, 1, h.calls())
}

func TestWebhookHandlerDedup(t *testing.T) {
	h := newHarness(WithoutWebhookToken())
	body := formOf(&AgentReply{MessageID: 77, CaseID: 1, Content: "once"})
	for range 3 {
		assert.Equal(t, 200, h.serve(delivery("/", formType, body)).Code)
	}
	assert.Equal(t, 1, h.calls(), "the same message_id reaches fn once")
	assert.Equal(t, 200, h.serve(delivery("/", formType, formOf(&AgentReply{MessageID: 78}))).Code)
	assert.Equal(t, 2, h.calls())
}

func TestWebhookHandlerFailureIsRedelivered(t *testing.T) {
	h := newHarness(WithoutWebhookToken())
	h.fnErr = errors.New("app down")
	body := formOf(&AgentReply{MessageID: 5})
	assert.Equal(t, 500, h.serve(delivery("/", formType, body)).Code)
	h.fnErr = nil
	assert.Equal(t, 200, h.serve(delivery("/", formType, body)).Code)
	assert.Equal(t, 200, h.serve(delivery("/", formType, body)).Code)
	assert.Equal(t, 2, h.calls(), "failed once, handled once, then a duplicate")
}

func TestWebhookHandlerRecoversPanic(t *testing.T) {
	var n atomic.Int32
	handler := NewWebhookHandler(func(context.Context, *AgentReply) error {
		if n.Add(1) == 1 {
			panic("boom")
		}
		return nil
	}, WithoutWebhookToken())
	body := formOf(&AgentReply{MessageID: 9})
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, delivery("/", formType, body))
	assert.Equal(t, 500, w.Code)
	w = httptest.NewRecorder()
	handler.ServeHTTP(w, delivery("/", formType, body))
	assert.Equal(t, 200, w.Code, "the handler keeps serving, and the redelivery is handled")
	assert.Equal(t, int32(2), n.Load())
}

func TestWebhookHandlerConcurrentDuplicates(t *testing.T) {
	for _, firstFails := range []bool{false, true} {
		release := make(chan struct{})
		var calls atomic.Int32
		handler := NewWebhookHandler(func(context.Context, *AgentReply) error {
			n := calls.Add(1)
			if n == 1 {
				<-release
				if firstFails {
					return errors.New("first copy failed")
				}
			}
			return nil
		}, WithoutWebhookToken())
		var arrived atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived.Add(1)
			handler.ServeHTTP(w, r)
		}))
		body := formOf(&AgentReply{MessageID: 123})
		const copies = 8
		statuses := make(chan int, copies)
		var wg sync.WaitGroup
		for range copies {
			wg.Go(func() {
				resp, err := http.Post(srv.URL+"/", formType, bytes.NewReader(body))
				if !assert.NoError(t, err) {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				statuses <- resp.StatusCode
			})
		}
		// every copy has reached the handler while the first is held in fn
		require.Eventually(t, func() bool { return arrived.Load() == copies }, 10*time.Second, time.Millisecond)
		close(release)
		wg.Wait()
		close(statuses)
		srv.Close()
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		if firstFails {
			assert.Equal(t, int32(2), calls.Load(), "the failed copy, then exactly one more")
			assert.Equal(t, map[int]int{500: 1, 200: copies - 1}, count)
		} else {
			assert.Equal(t, int32(1), calls.Load(), "exactly one call for concurrent copies")
			assert.Equal(t, map[int]int{200: copies}, count)
		}
	}
}

func TestClientWebhookHandlerUsesClientLogger(t *testing.T) {
	var logs syncBuffer
	c, _ := setup(t, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	h := c.NewWebhookHandler(func(context.Context, *AgentReply) error { return nil }, WithWebhookToken(hookToken))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, delivery("/deskie/wrong", formType, formOf(&AgentReply{MessageID: 1})))
	assert.Equal(t, 404, w.Code)
	assert.Contains(t, logs.String(), "wrong or missing token")
}

func TestWebhookHandlerEventTypes(t *testing.T) {
	h := newHarness(WithoutWebhookToken())
	assert.Equal(t, 200, h.serve(delivery("/", formType, []byte("type=case_closed&object[case_id]=3&object[message_id]=9"))).Code)
	assert.Equal(t, 200, h.serve(delivery("/", formType, []byte("type=typing&object[case_id]=3"))).Code)
	assert.Zero(t, h.calls(), "only message_new reaches fn")
	assert.Contains(t, h.logs.String(), "level=DEBUG msg=\"deskie: webhook event ignored\" type=case_closed")

	assert.Equal(t, 200, h.serve(delivery("/", formType, []byte("object[message_id]=9&object[content]=x"))).Code)
	require.Equal(t, 1, h.calls())
	assert.Equal(t, EventMessageNew, h.got[0].Type, "a delivery with a message but no type is a new message")

	h = newHarness(WithoutWebhookToken(), WithEventTypes("case_closed"))
	for range 2 {
		assert.Equal(t, 200, h.serve(delivery("/", formType, []byte("type=case_closed&object[case_id]=3"))).Code)
	}
	assert.Equal(t, 2, h.calls(), "an event without a message id is handed over each time")
	for range 2 {
		assert.Equal(t, 200, h.serve(delivery("/", formType, []byte("type=case_closed&object[message_id]=9"))).Code)
	}
	assert.Equal(t, 3, h.calls(), "one with a message id once")
	assert.Equal(t, 200, h.serve(delivery("/", formType, []byte("type=message_new&object[message_id]=9"))).Code)
	assert.Equal(t, 4, h.calls(), "the reply with the same id is another key")
	assert.Equal(t, 200, h.serve(delivery("/", formType, []byte("type=typing&object[case_id]=3"))).Code)
	assert.Equal(t, 4, h.calls(), "types not asked for are still ignored")
}

// heldStore is a MemoryStore on which another replica holds (or completes, or
// releases) claims, and which counts the claims asked of it.
type heldStore struct {
	*MemoryStore
	claims atomic.Int32
	fail   error
}

func (s *heldStore) Claim(ctx context.Context, key, token string, ttl time.Duration) (ClaimState, error) {
	s.claims.Add(1)
	if s.fail != nil {
		return 0, s.fail
	}
	return s.MemoryStore.Claim(ctx, key, token, ttl)
}

func TestWebhookHandlerWaitsForAnotherReplica(t *testing.T) {
	ctx := context.Background()
	key := replyClaimKey(11)
	body := formOf(&AgentReply{MessageID: 11})
	newStore := func(t *testing.T) *heldStore {
		s := &heldStore{MemoryStore: NewMemoryStore()}
		st, err := s.MemoryStore.Claim(ctx, key, "other-replica", time.Minute)
		require.NoError(t, err)
		require.Equal(t, ClaimAcquired, st)
		return s
	}

	t.Run("request ends first: 503, never 200", func(t *testing.T) {
		store := newStore(t)
		h := newHarness(WithoutWebhookToken(), WithDedupStore(store))
		reqCtx, cancel := context.WithCancel(ctx)
		done := make(chan int)
		go func() { done <- h.serve(delivery("/", formType, body).WithContext(reqCtx)).Code }()
		require.Eventually(t, func() bool { return store.claims.Load() >= 2 }, 10*time.Second, time.Millisecond, "asks the store again")
		cancel()
		assert.Equal(t, 503, <-done)
		assert.Zero(t, h.calls())
	})
	t.Run("the other replica completes: 200 without calling fn", func(t *testing.T) {
		store := newStore(t)
		h := newHarness(WithoutWebhookToken(), WithDedupStore(store))
		done := make(chan *httptest.ResponseRecorder)
		go func() { done <- h.serve(delivery("/", formType, body)) }()
		require.Eventually(t, func() bool { return store.claims.Load() >= 2 }, 10*time.Second, time.Millisecond)
		require.NoError(t, store.CompleteClaim(ctx, key, "other-replica", time.Hour))
		w := <-done
		assert.Equal(t, 200, w.Code)
		assert.JSONEq(t, `{"status":"duplicate"}`, w.Body.String())
		assert.Zero(t, h.calls())
	})
	t.Run("the other replica fails: this copy runs fn", func(t *testing.T) {
		store := newStore(t)
		h := newHarness(WithoutWebhookToken(), WithDedupStore(store))
		done := make(chan int)
		go func() { done <- h.serve(delivery("/", formType, body)).Code }()
		require.Eventually(t, func() bool { return store.claims.Load() >= 2 }, 10*time.Second, time.Millisecond)
		require.NoError(t, store.ReleaseClaim(ctx, key, "other-replica"))
		assert.Equal(t, 200, <-done)
		assert.Equal(t, 1, h.calls())
		st, err := store.MemoryStore.Claim(ctx, key, "later", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, ClaimDone, st, "completed in the shared store")
	})
}

func TestWebhookHandlerStoreFailure(t *testing.T) {
	store := &heldStore{MemoryStore: NewMemoryStore(), fail: errors.New("redis: connection refused")}
	h := newHarness(WithoutWebhookToken(), WithDedupStore(store))
	w := h.serve(delivery("/", formType, formOf(&AgentReply{MessageID: 12})))
	assert.Equal(t, 500, w.Code)
	assert.Zero(t, h.calls(), "fn never runs without its claim")
	assert.Contains(t, h.logs.String(), "deskie: store: claim reply: redis: connection refused")
}

func TestClientWebhookHandlerSharesTheClientStore(t *testing.T) {
	store := NewMemoryStore()
	c, _ := setup(t, WithStore(store))
	var calls atomic.Int32
	fn := func(context.Context, *AgentReply) error { calls.Add(1); return nil }
	one := c.NewWebhookHandler(fn, WithoutWebhookToken())
	two := c.NewWebhookHandler(fn, WithoutWebhookToken()) // another replica on the same Store
	body := formOf(&AgentReply{MessageID: 13})
	for _, h := range []http.Handler{one, two, one} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, delivery("/", formType, body))
		assert.Equal(t, 200, w.Code)
	}
	assert.Equal(t, int32(1), calls.Load())
	st, err := store.Claim(context.Background(), replyClaimKey(13), "x", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, ClaimDone, st)
}
