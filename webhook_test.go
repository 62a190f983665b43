package deskie

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const hookToken = "wh-T0ken-s3cret"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/webhook/" + name)
	require.NoError(t, err)
	return data
}

func delivery(target, contentType string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func multipartDelivery(t testing.TB, target string, fields map[string]string) *http.Request {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		require.NoError(t, w.WriteField(k, v))
	}
	require.NoError(t, w.Close())
	return delivery(target, w.FormDataContentType(), buf.Bytes())
}

var wantReply = &AgentReply{
	Type: "message_new", MessageID: 42577887, CaseID: 985687, StaffID: 7235, UserID: 5654846848,
	UserCustomID: "tg-100500", Content: "Help is coming!",
	Attachments: []File{{URL: "https://acme.deskie.io/f/1"}},
	Extra:       map[string]string{"brand_new": "kept"},
}

func TestParseWebhookEncodings(t *testing.T) {
	jsonWant := *wantReply
	jsonWant.Attachments = []File{{URL: "https://acme.deskie.io/f/1", ID: 3, Name: "a.pdf", Size: 10, MimeType: "application/pdf"}}
	jsonWant.Extra = map[string]string{"brand_new": "kept", "nested[a]": "1"}

	form := readFixture(t, "reply.form")
	values, err := url.ParseQuery(string(form))
	require.NoError(t, err)
	fields := map[string]string{}
	for k, v := range values {
		fields[k] = v[0]
	}

	tests := []struct {
		name string
		req  *http.Request
		want *AgentReply
	}{
		{"form", delivery("/hook", "application/x-www-form-urlencoded", form), wantReply},
		{"form with charset and odd case", delivery("/hook", "Application/X-WWW-Form-URLEncoded; charset=UTF-8", form), wantReply},
		{"form without content type", delivery("/hook", "", form), wantReply},
		{"multipart", multipartDelivery(t, "/hook", fields), wantReply},
		{"json", delivery("/hook", "application/json; charset=utf-8", readFixture(t, "reply.json")), &jsonWant},
		{"bare fields", delivery("/hook", "application/x-www-form-urlencoded", readFixture(t, "bare.form")), &AgentReply{
			Type: "message_new", MessageID: 7, CaseID: 8, StaffID: 9, UserID: 10, UserCustomID: "u-1",
			Content: "bare", SentViaRule: true, FromAPI: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWebhook(tt.req)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseWebhookErrors(t *testing.T) {
	tests := []struct {
		name string
		req  *http.Request
		want error
		says string
	}{
		{"bad id", delivery("/", "application/x-www-form-urlencoded", []byte("object[message_id]=abc")), ErrMalformedWebhook, "message_id"},
		{"negative id", delivery("/", "application/x-www-form-urlencoded", []byte("object[case_id]=-4")), ErrMalformedWebhook, "case_id"},
		{"bad bool", delivery("/", "application/x-www-form-urlencoded", []byte("object[message_id]=1&object[note]=perhaps")), ErrMalformedWebhook, "note"},
		{"bad escape", delivery("/", "application/x-www-form-urlencoded", []byte("object[content]=%zz")), ErrMalformedWebhook, ""},
		{"broken json", delivery("/", "application/json", []byte(`{"type":`)), ErrMalformedWebhook, ""},
		{"empty", delivery("/", "application/x-www-form-urlencoded", nil), ErrMalformedWebhook, "no fields"},
		{"huge attachment index", delivery("/", "application/x-www-form-urlencoded", []byte("object[attachments][99999999][url]=x")), ErrMalformedWebhook, "attachment index"},
		{"xml", delivery("/", "application/xml", []byte("<a/>")), ErrUnsupportedMediaType, "xml"},
		{"multipart without boundary", delivery("/", "multipart/form-data", []byte("x")), ErrMalformedWebhook, "boundary"},
		{"too large", delivery("/", "application/x-www-form-urlencoded", bytes.Repeat([]byte("a"), defaultMaxWebhookBytes+1)), ErrWebhookTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWebhook(tt.req)
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), tt.says)
		})
	}
}

// TestParseWebhookRepeatedKeys pins that a repeated field keeps its last value in
// every encoding (multipart kept the first before).
func TestParseWebhookRepeatedKeys(t *testing.T) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	require.NoError(t, mw.WriteField("object[message_id]", "1"))
	require.NoError(t, mw.WriteField("object[content]", "first"))
	require.NoError(t, mw.WriteField("object[content]", "last"))
	require.NoError(t, mw.Close())
	for name, req := range map[string]*http.Request{
		"form":      delivery("/", formType, []byte("object[message_id]=1&object[content]=first&object[content]=last")),
		"multipart": delivery("/", mw.FormDataContentType(), buf.Bytes()),
		"json":      delivery("/", "application/json", []byte(`{"object":{"message_id":1,"content":"first","content":"last"}}`)),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseWebhook(req)
			require.NoError(t, err)
			assert.Equal(t, "last", got.Content)
		})
	}
}

// TestParseWebhookOddKeys pins keys with unbalanced brackets; "object[" once
// sliced out of range (found by FuzzParseWebhook).
func TestParseWebhookOddKeys(t *testing.T) {
	tests := []struct {
		body  string
		extra map[string]string
	}{
		{"object[message_id]=1&object[=", map[string]string{"object[": ""}},
		{"object[message_id]=1&object[=x", map[string]string{"object[": "x"}},
		{"object[message_id]=1&object[]=x", map[string]string{"object[]": "x"}},
		{"object[message_id]=1&object[abc=x", map[string]string{"object[abc": "x"}},
		{"object[message_id]=1&object[a][=x", map[string]string{"a[": "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			got, err := ParseWebhook(delivery("/", formType, []byte(tt.body)))
			require.NoError(t, err)
			assert.Equal(t, int64(1), got.MessageID)
			assert.Equal(t, tt.extra, got.Extra)
		})
	}
}

func TestWebhookFormRoundTrip(t *testing.T) {
	in := &AgentReply{Type: "message_new", MessageID: 1 << 40, CaseID: 2, StaffID: 3, UserID: 4, UserCustomID: "ü-5",
		Content: "a&b=c\n", Note: true, SentViaRule: true, FromAPI: true,
		Attachments: []File{{URL: "u1", ID: 9, Name: "n", Size: 8, MimeType: "m"}, {URL: "u2"}},
		Extra:       map[string]string{"x": "1", "y[z]": "2"}}
	req, err := NewWebhookRequest(context.Background(), "http://localhost/hook", in)
	require.NoError(t, err)
	got, err := ParseWebhook(req)
	require.NoError(t, err)
	assert.Equal(t, in, got)
}

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

func formOf(r *AgentReply) []byte { return []byte(WebhookForm(r).Encode()) }

const formType = "application/x-www-form-urlencoded"

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

func TestWebhookHandlerSecureByDefault(t *testing.T) {
	for name, opts := range map[string][]WebhookOption{
		"no token option": nil,
		"empty token":     {WithWebhookToken("")},
		"both options":    {WithWebhookToken("x"), WithoutWebhookToken()},
	} {
		h := newHarness(opts...)
		w := h.serve(delivery("/deskie/x", formType, formOf(&AgentReply{MessageID: 1})))
		assert.Equal(t, 500, w.Code, name)
		assert.Zero(t, h.calls(), name)
		assert.Contains(t, h.logs.String(), "refuses deliveries", name)
	}
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
		srv := httptest.NewServer(handler)
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
		time.Sleep(50 * time.Millisecond) // let the copies pile up behind the first
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

func TestClientWebhookHandlerUsesClientLogger(t *testing.T) {
	var logs syncBuffer
	c, _ := setup(t, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	h := c.NewWebhookHandler(func(context.Context, *AgentReply) error { return nil }, WithWebhookToken(hookToken))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, delivery("/deskie/wrong", formType, formOf(&AgentReply{MessageID: 1})))
	assert.Equal(t, 404, w.Code)
	assert.Contains(t, logs.String(), "wrong or missing token")
}

func FuzzParseWebhook(f *testing.F) {
	for _, name := range []string{"reply.form", "bare.form"} {
		f.Add(readFixture(f, name), formType)
	}
	f.Add(readFixture(f, "reply.json"), "application/json")
	f.Add([]byte(`{"object":{"message_id":"1","attachments":[{"url":1}]}}`), "application/json")
	f.Add([]byte("object[attachments][0]=x&object[attachments][1][file_size]=2"), formType)
	f.Add([]byte("object[message_id]=%zz"), formType)
	f.Add([]byte("object[[]]=&object]=1&[=2"), "")
	f.Add([]byte("object[=&object[]=x&object[a][=y"), formType)
	f.Add([]byte("--x\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nmessage_new\r\n--x--\r\n"), "multipart/form-data; boundary=x")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		got, err := ParseWebhook(delivery("/", contentType, body))
		if err != nil {
			return
		}
		// what was accepted survives the trip through the delivery encoding
		again, err := ParseWebhook(delivery("/", formType, formOf(got)))
		if err != nil {
			t.Fatalf("re-encoded reply does not parse: %v", err)
		}
		if again.MessageID != got.MessageID || again.CaseID != got.CaseID || again.StaffID != got.StaffID || again.UserID != got.UserID {
			t.Fatalf("ids changed: %+v -> %+v", got, again)
		}
	})
}

func BenchmarkParseWebhookForm(b *testing.B) {
	body := readFixture(b, "reply.form")
	req := delivery("/", formType, body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req.Body = io.NopCloser(bytes.NewReader(body))
		if _, err := ParseWebhook(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkURLParseQuery is the baseline for BenchmarkParseWebhookForm: the same
// body read from a request and parsed by the standard library, untyped.
func BenchmarkURLParseQuery(b *testing.B) {
	body := readFixture(b, "reply.form")
	req := delivery("/", formType, body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req.Body = io.NopCloser(bytes.NewReader(body))
		data, err := io.ReadAll(req.Body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := url.ParseQuery(string(data)); err != nil {
			b.Fatal(err)
		}
	}
}
