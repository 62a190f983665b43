package deskie

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewClientValidation(t *testing.T) {
	tests := []struct {
		name            string
		sub, email, key string
		opts            []Option
		field           string
	}{
		{"empty subdomain", "", testEmail, testKey, nil, "subdomain"},
		{"host as subdomain", "acme.deskie.io", testEmail, testKey, nil, "subdomain"},
		{"empty email", "acme", "", testKey, nil, "staffEmail"},
		{"not an email", "acme", "agent", testKey, nil, "staffEmail"},
		{"empty key", "acme", testEmail, "  ", nil, "apiKey"},
		{"bad base url", "", testEmail, testKey, []Option{WithBaseURL("ftp://x")}, "WithBaseURL"},
		{"base url with creds", "", testEmail, testKey, []Option{WithBaseURL("https://u:p@x.io")}, "WithBaseURL"},
		{"negative retries", "acme", testEmail, testKey, []Option{WithMaxRetries(-1)}, "WithMaxRetries"},
		{"nil http client", "acme", testEmail, testKey, []Option{WithHTTPClient(nil)}, "WithHTTPClient"},
		{"nil logger", "acme", testEmail, testKey, []Option{WithLogger(nil)}, "WithLogger"},
		{"bad user agent", "acme", testEmail, testKey, []Option{WithUserAgent("a\nb")}, "WithUserAgent"},
		{"bad retry wait", "acme", testEmail, testKey, []Option{WithRetryWait(2*time.Second, time.Second)}, "WithRetryWait"},
		{"bad retry-after cap", "acme", testEmail, testKey, []Option{WithMaxRetryAfter(0)}, "WithMaxRetryAfter"},
		{"tiny budget", "acme", testEmail, testKey, []Option{WithRateBudget(1)}, "WithRateBudget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.sub, tt.email, tt.key, tt.opts...)
			require.Error(t, err)
			assert.Nil(t, c)
			var ae *ArgumentError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.field, ae.Field)
			assert.ErrorIs(t, err, ErrInvalidArgument)
			assert.NotContains(t, err.Error(), testKey)
		})
	}
}

func TestNewClientBaseURL(t *testing.T) {
	c, err := NewClient("acme", testEmail, testKey)
	require.NoError(t, err)
	assert.Equal(t, "https://acme.deskie.io/api/", c.BaseURL())
	assert.Equal(t, 60*time.Second, c.hc.Transport.(*budgetTransport).timeout, "an attempt never hangs forever by default")
	assert.Zero(t, c.hc.Timeout, "the wait for the rate budget is not part of an attempt's timeout")

	_, err = NewClient("acme", testEmail, testKey, WithBaseURL("https://acme.omnidesk.ru"))
	var ae *ArgumentError
	require.ErrorAs(t, err, &ae, "a subdomain and WithBaseURL together are ambiguous")
	assert.Contains(t, err.Error(), `"acme"`)
	assert.Contains(t, err.Error(), "https://acme.omnidesk.ru")

	for origin, want := range map[string]string{
		"https://acme.omnidesk.ru":      "https://acme.omnidesk.ru/api/",
		"https://acme.omnidesk.ru/":     "https://acme.omnidesk.ru/api/",
		"http://127.0.0.1:8080/api":     "http://127.0.0.1:8080/api/",
		"http://127.0.0.1:8080/prefix/": "http://127.0.0.1:8080/prefix/api/",
	} {
		c, err := NewClient("", testEmail, testKey, WithBaseURL(origin))
		require.NoError(t, err, origin)
		assert.Equal(t, want, c.BaseURL(), origin)
	}
}

func TestClientNeverPrintsAPIKey(t *testing.T) {
	c, _ := setup(t)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out := fmt.Sprintf(verb, c)
		assert.NotContains(t, out, testKey, verb)
		assert.Contains(t, out, "redacted", verb)
	}
	assert.NotContains(t, fmt.Sprintf("%+v", c.auth), testKey)
	assert.NotContains(t, fmt.Sprintf("%#v", c.auth), testKey)
	assert.NotContains(t, fmt.Sprintf("%#v", c.auth.apiKey), testKey)
}

func TestNewRequestAndDoEscapeHatch(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/staff.json", ok(`{"0":{"staff":{"staff_id":7}},"total_count":1}`))

	req, err := c.NewRequest(context.Background(), "GET", "staff.json", &struct {
		Page int `url:"page"`
	}{Page: 2}, nil)
	require.NoError(t, err)
	var out map[string]any
	resp, err := c.Do(req, &out)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, float64(1), out["total_count"])
	s := rec.last(t)
	assert.Equal(t, "2", s.Query.Get("page"))
	assertAuth(t, s)

	// an absolute /api/ path works too; a foreign host is refused before sending
	_, err = c.NewRequest(context.Background(), "GET", "/api/staff.json", nil, nil)
	require.NoError(t, err)
	_, err = c.NewRequest(context.Background(), "GET", "https://evil.example/api/x.json", nil, nil)
	require.ErrorIs(t, err, ErrInvalidArgument)
}

func TestDoJSONBodyWrappedAndHeaders(t *testing.T) {
	c, mt := setup(t, WithUserAgent("bridge/2"))
	rec := &recorder{}
	rec.on(mt, "PUT", "/api/cases/5.json", ok(`{"case":{"case_id":5,"status":"closed"}}`))
	got, err := c.Cases.Update(context.Background(), 5, &CaseUpdate{Status: StatusClosed})
	require.NoError(t, err)
	assert.Equal(t, StatusClosed, got.Status)
	s := rec.last(t)
	assert.Equal(t, "application/json", s.Header.Get("Content-Type"))
	assert.Equal(t, "bridge/2", s.Header.Get("User-Agent"))
	assert.JSONEq(t, `{"case":{"status":"closed"}}`, string(s.Body))
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name      string
		reply     reply
		status    int
		code      string
		notFound  bool
		rateLimit bool
	}{
		{"404 case_not_found", reply{status: 404, body: `{"error":"case_not_found"}`}, 404, "case_not_found", true, false},
		{"400 with not_found code", reply{status: 400, body: `{"error":"user_not_found"}`}, 400, "user_not_found", true, false},
		{"401 wrong key", reply{status: 401, body: `Unauthorized`}, 401, "", false, false},
		{"403 no access", reply{status: 403, body: `{"error":"staff_has_not_access"}`}, 403, "staff_has_not_access", false, false},
		{"403 old rate limit", reply{status: 403, body: `{"error":"Rate limit exceeded, 500 per hour"}`}, 403, "Rate limit exceeded, 500 per hour", false, true},
		{"429", reply{status: 429, body: `{"error":"too_many_requests"}`, header: map[string]string{"retry_after": "0"}}, 429, "too_many_requests", false, true},
		{"422 email", reply{status: 422, body: `{"error":"incorrect_user_email"}`}, 422, "incorrect_user_email", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := setup(t, WithMaxRetries(1))
			rec := &recorder{}
			rec.on(mt, "GET", "/api/cases/9.json", tt.reply)
			_, err := c.Cases.Get(context.Background(), 9)
			require.Error(t, err)
			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tt.status, apiErr.StatusCode)
			assert.Equal(t, tt.code, apiErr.Code)
			assert.Equal(t, "GET", apiErr.Method)
			assert.Equal(t, "/api/cases/9.json", apiErr.Path)
			assert.Equal(t, tt.notFound, IsNotFound(err))
			var rl *RateLimitError
			assert.Equal(t, tt.rateLimit, errors.As(err, &rl))
			if tt.rateLimit {
				assert.Len(t, rec.all(), 2, "rate-limited GET is retried")
			}
			assert.NotErrorIs(t, err, ErrAmbiguous, "a GET is never ambiguous")
			assert.NotContains(t, err.Error(), testKey)
		})
	}
}

func TestMalformedJSONInSuccess(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/cases/3.json", ok(`{"case":{"case_id":`))
	_, err := c.Cases.Get(context.Background(), 3)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Contains(t, err.Error(), "GET /api/cases/3.json")

	rec.on(mt, "GET", "/api/cases/4.json", ok(`{"nothing":1}`))
	_, err = c.Cases.Get(context.Background(), 4)
	require.ErrorAs(t, err, &de)
	assert.Contains(t, err.Error(), `no "case" object`)
}

func TestRetryPolicy(t *testing.T) {
	caseCreate := &CaseCreate{Channel: "cch1", UserCustomID: "u1", Content: "hi"}
	const caseJSON = `{"case":{"case_id":10,"user_id":5}}`

	t.Run("POST 500 is sent once and ambiguous", func(t *testing.T) {
		c, mt := setup(t)
		rec := &recorder{}
		rec.on(mt, "POST", "/api/cases.json", reply{status: 500, body: `{"error":"internal"}`})
		_, err := c.Cases.Create(context.Background(), caseCreate)
		require.Error(t, err)
		assert.Len(t, rec.all(), 1)
		assert.ErrorIs(t, err, ErrAmbiguous)
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, 500, apiErr.StatusCode)
		assert.Contains(t, err.Error(), "may or may not have been applied")
	})

	t.Run("POST reset after sending is sent once and ambiguous", func(t *testing.T) {
		c, mt := setup(t)
		rec := &recorder{}
		rec.on(mt, "POST", "/api/cases.json", reply{err: errors.New("read: connection reset by peer")})
		_, err := c.Cases.Create(context.Background(), caseCreate)
		assert.Len(t, rec.all(), 1)
		assert.ErrorIs(t, err, ErrAmbiguous)
		var re *RequestError
		require.ErrorAs(t, err, &re)
		assert.True(t, re.Ambiguous)
	})

	t.Run("POST dial error is retried", func(t *testing.T) {
		c, mt := setup(t)
		rec := &recorder{}
		dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
		rec.on(mt, "POST", "/api/cases.json", reply{err: dial}, created(caseJSON))
		got, err := c.Cases.Create(context.Background(), caseCreate)
		require.NoError(t, err)
		assert.Equal(t, int64(10), got.ID)
		all := rec.all()
		require.Len(t, all, 2)
		assert.Equal(t, all[0].Body, all[1].Body, "the retry re-sends the same bytes")
	})

	t.Run("POST 429 with retry_after 1 is sent again and succeeds", func(t *testing.T) {
		c, mt := setup(t)
		rec := &recorder{}
		rec.on(mt, "POST", "/api/cases.json",
			reply{status: 429, body: `{"error":"rate_limit"}`, header: map[string]string{"retry_after": "1", "api_calls_left": "0", "rate_limit_per_minute": "50"}},
			created(caseJSON))
		start := time.Now()
		got, err := c.Cases.Create(context.Background(), caseCreate)
		require.NoError(t, err)
		assert.Equal(t, int64(10), got.ID)
		all := rec.all()
		require.Len(t, all, 2)
		assert.Equal(t, all[0].Body, all[1].Body)
		assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "retry_after was honored")
	})

	t.Run("huge retry_after is capped", func(t *testing.T) {
		c, mt := setup(t, WithMaxRetryAfter(20*time.Millisecond))
		rec := &recorder{}
		rec.on(mt, "GET", "/api/cases/1.json",
			reply{status: 429, body: `{}`, header: map[string]string{"retry_after": "3600"}},
			ok(`{"case":{"case_id":1}}`))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.Cases.Get(ctx, 1)
		require.NoError(t, err, "a capped wait finishes long before the hour the header asked for")
	})

	t.Run("GET 503 twice then 200 succeeds", func(t *testing.T) {
		c, mt := setup(t)
		rec := &recorder{}
		rec.on(mt, "GET", "/api/cases/1.json", reply{status: 503, body: `{}`}, reply{status: 503, body: `{}`}, ok(`{"case":{"case_id":1}}`))
		got, err := c.Cases.Get(context.Background(), 1)
		require.NoError(t, err)
		assert.Equal(t, int64(1), got.ID)
		assert.Len(t, rec.all(), 3)
	})

	t.Run("GET connection error is retried", func(t *testing.T) {
		c, mt := setup(t)
		rec := &recorder{}
		rec.on(mt, "GET", "/api/cases/1.json", reply{err: errors.New("connection reset by peer")}, ok(`{"case":{"case_id":1}}`))
		_, err := c.Cases.Get(context.Background(), 1)
		require.NoError(t, err)
		assert.Len(t, rec.all(), 2)
	})

	t.Run("spent retries keep the last status and code", func(t *testing.T) {
		c, mt := setup(t, WithMaxRetries(2))
		rec := &recorder{}
		rec.on(mt, "GET", "/api/cases/1.json", reply{status: 502, body: `{"error":"bad_gateway"}`})
		_, err := c.Cases.Get(context.Background(), 1)
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, 502, apiErr.StatusCode)
		assert.Equal(t, "bad_gateway", apiErr.Code)
		assert.Equal(t, 3, apiErr.Attempts)
		assert.Len(t, rec.all(), 3)
	})

	t.Run("spent 429 retries are a RateLimitError", func(t *testing.T) {
		c, mt := setup(t, WithMaxRetries(1))
		rec := &recorder{}
		rec.on(mt, "POST", "/api/cases.json", reply{status: 429, body: `{"error":"rate_limit"}`, header: map[string]string{"retry_after": "0.01"}})
		_, err := c.Cases.Create(context.Background(), caseCreate)
		var rl *RateLimitError
		require.ErrorAs(t, err, &rl)
		assert.Equal(t, 10*time.Millisecond, rl.RetryAfter)
		assert.NotErrorIs(t, err, ErrAmbiguous, "a 429 was surely not applied")
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, 429, apiErr.StatusCode)
		assert.Len(t, rec.all(), 2)
	})

	t.Run("WithMaxRetries(0) disables retries", func(t *testing.T) {
		c, mt := setup(t, WithMaxRetries(0))
		rec := &recorder{}
		rec.on(mt, "GET", "/api/cases/1.json", reply{status: 503, body: `{}`})
		_, err := c.Cases.Get(context.Background(), 1)
		require.Error(t, err)
		assert.Len(t, rec.all(), 1)
	})

	t.Run("cancel stops the wait at once", func(t *testing.T) {
		c, mt := setup(t, WithRetryWait(time.Hour, time.Hour))
		rec := &recorder{}
		rec.on(mt, "GET", "/api/cases/1.json", reply{status: 503, body: `{}`})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { // once the first attempt is answered: the client is then waiting
			for len(rec.all()) == 0 {
				runtime.Gosched()
			}
			cancel()
		}()
		_, err := c.Cases.Get(ctx, 1)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Len(t, rec.all(), 1)
	})
}

func TestRateHeadersObserved(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/cases/1.json", reply{status: 200, body: `{"case":{"case_id":1}}`,
		header: map[string]string{"rate_limit_per_minute": "50", "api_calls_left": "41", "retry_after": "12"}})
	rec.on(mt, "GET", "/api/cases/2.json", reply{status: 200, body: `{"case":{"case_id":2}}`,
		header: map[string]string{"api_calls_left": "40"}})
	assert.Zero(t, c.Rate())
	_, err := c.Cases.Get(context.Background(), 1)
	require.NoError(t, err)
	r := c.Rate()
	assert.Equal(t, 50, r.Limit)
	assert.Equal(t, 41, r.Remaining)
	assert.Equal(t, 12*time.Second, r.RetryAfter)
	assert.False(t, r.Observed.IsZero())

	_, err = c.Cases.Get(context.Background(), 2)
	require.NoError(t, err)
	r = c.Rate()
	assert.Equal(t, 50, r.Limit, "a header not sent keeps its last value")
	assert.Equal(t, 40, r.Remaining)
	assert.Zero(t, r.RetryAfter)
}

// syncBuffer is a concurrency-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsAreRedacted(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, mt := setup(t, WithLogger(logger))
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", reply{status: 503, body: `{}`}, ok(`{"total_count":0}`))
	_, err := c.Users.List(context.Background(), &UserListOptions{Email: "private@example.com"})
	require.NoError(t, err)
	out := logs.String()
	assert.Contains(t, out, "retrying")
	assert.Contains(t, out, "/api/users.json")
	assert.NotContains(t, out, "private@example.com", "query strings stay out of logs")
	assert.NotContains(t, out, testKey)
	assert.NotContains(t, out, testEmail)
}

func TestRequestErrorHidesQuery(t *testing.T) {
	c, mt := setup(t, WithMaxRetries(0))
	mt.RegisterNoResponder(httpmock.NewErrorResponder(errors.New("boom")))
	_, err := c.Users.List(context.Background(), &UserListOptions{Email: "private@example.com"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "private@example.com")
	assert.NotContains(t, err.Error(), testKey)
	assert.Contains(t, err.Error(), "GET /api/users.json")
}

func TestHTTPClientTransportSwappedLater(t *testing.T) {
	hc := &http.Client{}
	c, err := NewClient("acme", testEmail, testKey, WithHTTPClient(hc), WithRateBudget(-1))
	require.NoError(t, err)
	httpmock.ActivateNonDefault(hc)
	defer httpmock.DeactivateAndReset()
	httpmock.RegisterResponder("GET", testBase+"/api/cases/1.json", httpmock.NewStringResponder(200, `{"case":{"case_id":1}}`))
	got, err := c.Cases.Get(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, int64(1), got.ID)
	assert.Nil(t, hc.CheckRedirect, "the caller's client is not modified")
	assert.False(t, strings.Contains(fmt.Sprintf("%T", hc.Transport), "budget"))
}

func TestSecretAndErrorStrings(t *testing.T) {
	s := secret(testKey)
	assert.Equal(t, "[redacted]", s.String())
	assert.Equal(t, `"[redacted]"`, s.GoString())
	text, err := s.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "[redacted]", string(text))
	out, _ := json.Marshal(struct{ K secret }{s})
	assert.NotContains(t, string(out), testKey)

	de := &DecodeError{Method: "GET", Path: "/api/x.json", Err: io.ErrUnexpectedEOF}
	assert.ErrorIs(t, de, io.ErrUnexpectedEOF)
	ns := &notSentError{err: context.Canceled}
	assert.Equal(t, "not sent: context canceled", ns.Error())
	assert.True(t, notSent(fmt.Errorf("wrapped: %w", ns)))
	assert.True(t, notSent(&net.DNSError{Err: "no such host"}))
	assert.False(t, notSent(nil))
	assert.False(t, IsNotFound(errors.New("plain")))

	re := &RequestError{Method: "POST", Path: "/api/cases.json", Attempts: 2, Ambiguous: true, Err: io.EOF}
	assert.Equal(t, "deskie: POST /api/cases.json: EOF (after 2 attempts) (may or may not have been applied)", re.Error())
	ae := &APIError{StatusCode: 500, Method: "GET", Path: "/p", Attempts: 4}
	assert.Equal(t, "deskie: GET /p: 500 Internal Server Error (after 4 attempts)", ae.Error())
	rl := &RateLimitError{APIError: APIError{StatusCode: 429, Method: "GET", Path: "/p"}, RetryAfter: time.Second}
	assert.Equal(t, "deskie: GET /p: 429 Too Many Requests: rate limited; retry after 1s", rl.Error())
	var target *url.Error
	assert.False(t, rl.As(&target))
}

func TestRetryAfterForms(t *testing.T) {
	for value, want := range map[string]time.Duration{"2": 2 * time.Second, "0.25": 250 * time.Millisecond, " 3 ": 3 * time.Second} {
		d, ok := retryAfterAt(http.Header{"Retry_after": {value}})
		assert.True(t, ok)
		assert.Equal(t, want, d, value)
	}
	d, ok := retryAfterAt(http.Header{"Retry-After": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}})
	assert.True(t, ok)
	assert.InDelta(t, time.Hour.Seconds(), d.Seconds(), 5)
	_, ok = retryAfterAt(http.Header{"Retry_after": {"soon"}})
	assert.False(t, ok)
	_, ok = retryAfterAt(http.Header{"retry_after": {"-1"}})
	assert.False(t, ok)
	d, ok = retryAfterAt(http.Header{"retry_after": {"4"}}) // set by direct assignment, not canonicalized
	assert.True(t, ok)
	assert.Equal(t, 4*time.Second, d)
}

func retryAfterAt(h http.Header) (time.Duration, bool) { return retryAfter(h, time.Now()) }

// A redirect off the API's origin (another host or port, or https → http) is
// refused: neither the credentials nor a POST body leave the origin.
func TestRedirectsOffTheOriginAreRefused(t *testing.T) {
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer other.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/cases/1.json" {
			http.Redirect(w, r, "/api/cases/2.json", http.StatusFound) // same origin: followed
			return
		}
		if r.URL.Path == "/api/cases/2.json" {
			_, _ = io.WriteString(w, `{"case":{"case_id":2}}`)
			return
		}
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer api.Close()
	c, err := NewClient("", testEmail, testKey, WithBaseURL(api.URL), WithRateBudget(-1), WithRetryWait(time.Millisecond, time.Millisecond))
	require.NoError(t, err)
	ctx := context.Background()

	got, err := c.Cases.Get(ctx, 1)
	require.NoError(t, err, "a redirect within the origin is followed")
	assert.Equal(t, int64(2), got.ID)

	_, err = c.Cases.Create(ctx, &CaseCreate{Channel: "cch1", UserCustomID: "u", Subject: "s", Content: "secret text"})
	require.Error(t, err)
	assert.ErrorIs(t, err, errRedirect)
	assert.Contains(t, err.Error(), "refusing a redirect")
	_, err = c.Cases.List(ctx, nil)
	require.ErrorIs(t, err, errRedirect)
	assert.Zero(t, leaked.Load(), "nothing reached the other origin")
}

// After a dial failure, a caller's cancellation still reads as context.Canceled.
func TestCanceledAfterDialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens: every dial fails
	var attempts atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := NewClient("", testEmail, testKey, WithBaseURL("http://"+addr), WithRateBudget(-1), WithLogger(logger),
		WithRetryWait(time.Hour, time.Hour), WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if attempts.Add(1) == 1 {
				defer cancel() // the caller gives up while the client backs off
			}
			return http.DefaultTransport.RoundTrip(r)
		})}))
	require.NoError(t, err)
	_, err = c.Cases.Get(ctx, 1)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "connect")
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.False(t, re.Ambiguous)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A proxy that echoes the request's headers into its error body does not leak
// the key into the APIError (and so into logs).
func TestAPIErrorNeverCarriesTheAuthorization(t *testing.T) {
	c, mt := setup(t)
	mt.RegisterResponder("GET", testBase+"/api/cases/1.json", func(r *http.Request) (*http.Response, error) {
		body := "bad gateway; request headers: Authorization: " + r.Header.Get("Authorization") + "; key=" + testKey
		return httpmock.NewStringResponse(502, body), nil
	})
	mt.RegisterResponder("GET", testBase+"/api/cases/2.json", func(r *http.Request) (*http.Response, error) {
		return httpmock.NewStringResponse(400, `{"error":"x","message":"echo `+r.Header.Get("Authorization")+`"}`), nil
	})
	for _, id := range []int64{1, 2} {
		_, err := c.Cases.Get(context.Background(), id)
		require.Error(t, err)
		token := base64.StdEncoding.EncodeToString([]byte(testEmail + ":" + testKey))
		for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			assert.NotContains(t, text, testKey)
			assert.NotContains(t, text, token)
		}
		assert.Contains(t, err.Error(), "[redacted]")
	}
}

// DecodeError reports the path APIError reports (under a WithBaseURL prefix too),
// and an unreadable 2xx answer to a write is ambiguous: the write happened.
func TestDecodeErrorPathAndAmbiguity(t *testing.T) {
	mt := httpmock.NewMockTransport()
	c, err := NewClient("", testEmail, testKey, WithBaseURL("https://proxy.example/helpdesk"), WithRateBudget(-1),
		WithHTTPClient(&http.Client{Transport: mt}))
	require.NoError(t, err)
	mt.RegisterResponder("GET", "https://proxy.example/helpdesk/api/users/5.json", httpmock.NewStringResponder(200, `{"nothing":1}`))
	mt.RegisterResponder("GET", "https://proxy.example/helpdesk/api/users/6.json", httpmock.NewStringResponder(404, `{"error":"user_not_found"}`))
	mt.RegisterResponder("POST", "https://proxy.example/helpdesk/api/cases/7/messages.json", httpmock.NewStringResponder(201, `{"message":`))
	ctx := context.Background()

	_, err = c.Users.Get(ctx, 5)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	_, apiErr := c.Users.Get(ctx, 6)
	var ae *APIError
	require.ErrorAs(t, apiErr, &ae)
	assert.Equal(t, "/helpdesk/api/users/5.json", de.Path)
	assert.Equal(t, "/helpdesk/api/users/6.json", ae.Path, "both report the path the same way")
	assert.NotErrorIs(t, err, ErrAmbiguous, "an unreadable answer to a read is not ambiguous")

	_, err = c.Messages.Create(ctx, 7, &MessageCreate{UserID: 1, Content: "x"})
	require.ErrorAs(t, err, &de)
	assert.ErrorIs(t, err, ErrAmbiguous, "the server said it wrote; what it made is unknown")
	assert.Equal(t, 1, mt.GetCallCountInfo()["POST https://proxy.example/helpdesk/api/cases/7/messages.json"], "never sent twice")
}

// CaseUpdate: an empty, non-nil Labels clears the labels; nil leaves them.
func TestCaseUpdateClearsLabels(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "PUT", "/api/cases/7.json", ok(`{"case":{"case_id":7}}`), ok(`{"case":{"case_id":7}}`))
	_, err := c.Cases.Update(context.Background(), 7, &CaseUpdate{Labels: []int64{}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"case":{"labels":[]}}`, string(rec.last(t).Body))
	_, err = c.Cases.Update(context.Background(), 7, &CaseUpdate{Subject: "s"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"case":{"subject":"s"}}`, string(rec.last(t).Body), "nil labels are not sent")
}
