package deskie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-querystring/query"
	"github.com/hashicorp/go-retryablehttp"
)

// Version is the SDK version sent in the default User-Agent.
const Version = "0.1.0"

const (
	defaultUserAgent     = "deskie-go/" + Version
	defaultMaxRetries    = 3
	defaultRetryWaitMin  = 1 * time.Second
	defaultRetryWaitMax  = 30 * time.Second
	defaultMaxRetryAfter = 60 * time.Second
	// defaultTimeout bounds one attempt when the caller brings no *http.Client.
	defaultTimeout = 60 * time.Second
	// maxErrorBody caps how much of a non-2xx answer is read.
	maxErrorBody = 1 << 20
	// maxResponseBody caps how much of a 2xx answer is read (a page of 100 cases is
	// far below it); a larger answer is an error rather than an unbounded allocation.
	maxResponseBody = 64 << 20
)

// service is the one struct every resource service shares (go-github's pattern):
// a service is nothing but a handle on the client and its single request path.
type service struct{ client *Client }

// Client talks to one Deskie (or Omnidesk) account. It is safe for concurrent use;
// make one per account and share it.
//
// Every call goes through one path: [Client.NewRequest] builds the request (Basic
// auth, JSON or multipart body, headers) and [Client.Do] sends it through the
// client-side rate budget and the retry policy, then maps any non-2xx answer to an
// [*APIError].
type Client struct {
	// Cases creates, reads, lists and updates cases.
	Cases *CasesService
	// Messages adds responses to cases and lists them.
	Messages *MessagesService
	// Channels lists the account's custom channels.
	Channels *ChannelsService
	// Users finds, creates and links users.
	Users *UsersService
	// Chats routes a customer's message to the right case (the custom-channel rule).
	Chats *ChatsService
	// Replies finds agent replies the webhook missed (Watch).
	Replies *RepliesService

	common service

	baseURL   *url.URL     // origin + "/api/"
	auth      *credentials // behind a pointer: even a printed copy of Client shows no key
	userAgent string
	hc        *http.Client // the caller's client with our rate-limiting transport
	logger    *slog.Logger

	maxRetries    int
	retryWaitMin  time.Duration
	retryWaitMax  time.Duration
	maxRetryAfter time.Duration

	limiter *limiter
	// customers serializes Chats.Send per customer (see customerLocks).
	customers customerLocks
	// store holds turns, idempotency records, reply claims and the rate budget.
	store Store

	rateMu sync.Mutex
	rate   Rate
}

// credentials are the Basic-auth pair.
type credentials struct {
	staffEmail string
	apiKey     secret
}

// Format prints the pair with the key redacted.
func (c *credentials) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "credentials{staffEmail: %q, apiKey: [redacted]}", c.staffEmail)
}

// secret holds a credential; every fmt verb prints it redacted.
type secret string

func (secret) String() string                 { return "[redacted]" }
func (secret) GoString() string               { return `"[redacted]"` }
func (s secret) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, s.String()) }
func (s secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Format prints the client without its credentials for every verb (%v, %+v, %#v, %s).
func (c *Client) Format(f fmt.State, _ rune) {
	if c == nil {
		_, _ = io.WriteString(f, "deskie.Client(nil)")
		return
	}
	_, _ = fmt.Fprintf(f, "deskie.Client{BaseURL: %q, StaffEmail: %q, APIKey: [redacted]}", c.baseURL.String(), c.auth.staffEmail)
}

// String returns the client's description without its credentials.
func (c *Client) String() string { return fmt.Sprint(c) }

// Option configures a [Client] in [NewClient].
type Option func(*Client) error

// WithBaseURL replaces the default origin https://{subdomain}.deskie.io, e.g. with
// "https://acme.omnidesk.ru" for Omnidesk (same API) or an httptest / deskietest URL.
// Only scheme and host (and an optional path prefix) are used; "/api/" is appended.
func WithBaseURL(origin string) Option {
	return func(c *Client) error {
		u, err := url.Parse(strings.TrimSpace(origin))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &ArgumentError{Field: "WithBaseURL", Reason: fmt.Sprintf("%q is not an http(s) origin", origin)}
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return &ArgumentError{Field: "WithBaseURL", Reason: "origin must not carry credentials, a query or a fragment"}
		}
		u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api") + "/api/"
		c.baseURL = u
		return nil
	}
}

// WithHTTPClient sends requests through hc (its Transport, Timeout, Jar and
// CheckRedirect). Without it the client uses http.DefaultTransport with a 60 s
// timeout per attempt. The SDK wraps hc's transport with its rate budget; hc itself is
// not modified, and a transport swapped into hc later (as httpmock does) is used.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return &ArgumentError{Field: "WithHTTPClient", Reason: "nil *http.Client"}
		}
		c.hc = hc
		return nil
	}
}

// WithMaxRetries sets how many times a failed request is retried (default 3);
// 0 disables retries. Which failures are retried is described at [Client.Do].
func WithMaxRetries(n int) Option {
	return func(c *Client) error {
		if n < 0 {
			return &ArgumentError{Field: "WithMaxRetries", Reason: fmt.Sprintf("%d is negative", n)}
		}
		c.maxRetries = n
		return nil
	}
}

// WithRetryWait sets the exponential backoff between retries: it starts at min and
// doubles up to max, with jitter (defaults 1 s and 30 s).
func WithRetryWait(minWait, maxWait time.Duration) Option {
	return func(c *Client) error {
		if minWait <= 0 || maxWait < minWait {
			return &ArgumentError{Field: "WithRetryWait", Reason: fmt.Sprintf("need 0 < min <= max, got %v, %v", minWait, maxWait)}
		}
		c.retryWaitMin, c.retryWaitMax = minWait, maxWait
		return nil
	}
}

// WithMaxRetryAfter caps how long the client waits on a retry_after the API sends
// (default 60 s): a large or broken header never parks a caller for an hour.
func WithMaxRetryAfter(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return &ArgumentError{Field: "WithMaxRetryAfter", Reason: fmt.Sprintf("%v is not positive", d)}
		}
		c.maxRetryAfter = d
		return nil
	}
}

// WithRateBudget presets the account's limit in requests per minute, so the
// client-side budget paces the very first burst; without it the budget learns the
// limit from the first answer's rate_limit_per_minute header (and holds other
// requests until that answer arrives). A negative value turns the client-side
// budget off (429 answers are still retried).
func WithRateBudget(perMinute int) Option {
	return func(c *Client) error {
		if perMinute < 0 {
			c.limiter.disabled = true
			return nil
		}
		if perMinute < 2 {
			return &ArgumentError{Field: "WithRateBudget", Reason: fmt.Sprintf("%d per minute cannot pay for a write (cost 2)", perMinute)}
		}
		c.limiter.disabled = false
		c.limiter.preset(perMinute)
		return nil
	}
}

// WithStore keeps the client's shared state in st instead of a [NewMemoryStore]:
// Chats.Send's customer turns and idempotency records, the account's rate budget,
// and the de-duplication of [Client.NewWebhookHandler] and Replies.Watch. Give
// every replica of a bridge the same shared store (package redisstore) and they
// act as one client: one case per customer, one budget, each reply once.
func WithStore(st Store) Option {
	return func(c *Client) error {
		if st == nil {
			return &ArgumentError{Field: "WithStore", Reason: "nil Store"}
		}
		c.store = st
		return nil
	}
}

// WithLogger sends the client's log lines (retries, rate waits, rejected webhook
// deliveries) to l. Lines carry method and path, never credentials, query strings
// or message text. The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) error {
		if l == nil {
			return &ArgumentError{Field: "WithLogger", Reason: "nil *slog.Logger"}
		}
		c.logger = l
		return nil
	}
}

// WithUserAgent sets the User-Agent header (default "deskie-go/<Version>").
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		if strings.TrimSpace(ua) == "" || strings.ContainsAny(ua, "\r\n") {
			return &ArgumentError{Field: "WithUserAgent", Reason: "empty or multi-line"}
		}
		c.userAgent = ua
		return nil
	}
}

// NewClient returns a client for the account at https://{subdomain}.deskie.io that
// authenticates as staffEmail with apiKey (HTTP Basic auth; requests run with that
// agent's permissions). The API key is never printed: not in errors, logs or %v.
func NewClient(subdomain, staffEmail, apiKey string, opts ...Option) (*Client, error) {
	c := &Client{
		auth:          &credentials{staffEmail: strings.TrimSpace(staffEmail), apiKey: secret(apiKey)},
		userAgent:     defaultUserAgent,
		hc:            &http.Client{Timeout: defaultTimeout},
		logger:        slog.New(slog.DiscardHandler),
		maxRetries:    defaultMaxRetries,
		retryWaitMin:  defaultRetryWaitMin,
		retryWaitMax:  defaultRetryWaitMax,
		maxRetryAfter: defaultMaxRetryAfter,
		limiter:       newLimiter(),
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	if c.store == nil {
		c.store = NewMemoryStore()
	}
	if c.baseURL == nil {
		sub := strings.TrimSpace(subdomain)
		if sub == "" {
			return nil, &ArgumentError{Field: "subdomain", Reason: "empty (use WithBaseURL for a custom origin)"}
		}
		if !validSubdomain(sub) {
			return nil, &ArgumentError{Field: "subdomain", Reason: fmt.Sprintf("%q is not a bare subdomain like \"acme\"", sub)}
		}
		c.baseURL = &url.URL{Scheme: "https", Host: sub + ".deskie.io", Path: "/api/"}
	}
	if c.auth.staffEmail == "" || !strings.Contains(c.auth.staffEmail, "@") {
		return nil, &ArgumentError{Field: "staffEmail", Reason: "empty or not an e-mail address"}
	}
	if strings.TrimSpace(apiKey) == "" {
		return nil, &ArgumentError{Field: "apiKey", Reason: "empty"}
	}
	c.limiter.maxWait = c.maxRetryAfter
	c.limiter.logger = c.logger
	user := c.hc
	c.hc = &http.Client{
		Transport:     &budgetTransport{client: user, limiter: c.limiter, owner: c},
		Timeout:       user.Timeout,
		Jar:           user.Jar,
		CheckRedirect: user.CheckRedirect,
	}
	c.common.client = c
	c.Cases = (*CasesService)(&c.common)
	c.Messages = (*MessagesService)(&c.common)
	c.Channels = (*ChannelsService)(&c.common)
	c.Users = (*UsersService)(&c.common)
	c.Chats = (*ChatsService)(&c.common)
	c.Replies = (*RepliesService)(&c.common)
	return c, nil
}

func validSubdomain(s string) bool {
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

// BaseURL returns the API root every relative path is resolved against,
// e.g. https://acme.deskie.io/api/.
func (c *Client) BaseURL() string { return c.baseURL.String() }

// Rate returns the rate-limit state from the most recent answer: the account's
// limit per minute, the calls left in the window and, near the limit, how long until
// it refreshes. Zero until the first answer.
func (c *Client) Rate() Rate {
	c.rateMu.Lock()
	defer c.rateMu.Unlock()
	return c.rate
}

// Rate is the API's rate-limit state as reported by the lower-case headers
// rate_limit_per_minute, api_calls_left and retry_after (seconds).
type Rate struct {
	// Limit is the account's requests per minute (rate_limit_per_minute).
	Limit int
	// Remaining is the calls left in the current window (api_calls_left); a write
	// costs 2, a read 1.
	Remaining int
	// RetryAfter is how long until the window refreshes (retry_after), when sent.
	RetryAfter time.Duration
	// Observed is when the answer carrying these values arrived.
	Observed time.Time
}

// parseRate reads the rate headers; ok reports whether any was present.
// The API sends them lower-case with underscores (not Retry-After); Go canonicalizes
// them to Rate_limit_per_minute etc., which Header.Get finds either way. Retry-After
// is accepted as a fallback.
func parseRate(h http.Header, now time.Time) (r Rate, ok bool) {
	r.Observed = now
	if v, found := headerInt(h, hdrLimit); found {
		r.Limit, ok = v, true
	}
	if v, found := headerInt(h, hdrLeft); found {
		r.Remaining, ok = v, true
	}
	if d, found := retryAfter(h); found {
		r.RetryAfter, ok = d, true
	}
	return r, ok
}

// rateHeader is one of the API's rate headers. The wire name is lower case with
// underscores; Go stores it canonicalized ("Rate_limit_per_minute") when it reads
// an answer. Looking both up directly avoids canonicalizing on every call.
type rateHeader struct{ wire, canonical string }

func newRateHeader(wire string) rateHeader {
	return rateHeader{wire: wire, canonical: textproto.CanonicalMIMEHeaderKey(wire)}
}

var (
	hdrLimit      = newRateHeader("rate_limit_per_minute")
	hdrLeft       = newRateHeader("api_calls_left")
	hdrRetryAfter = newRateHeader("retry_after")
)

func (r rateHeader) get(h http.Header) string {
	if v := h[r.canonical]; len(v) > 0 {
		return v[0]
	}
	if v := h[r.wire]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func headerInt(h http.Header, key rateHeader) (int, bool) {
	v := strings.TrimSpace(key.get(h))
	if v == "" {
		return 0, false
	}
	n, err := parseIntText(v)
	if err != nil {
		return 0, false
	}
	return int(n), true
}

// retryAfter reads retry_after (seconds, possibly fractional) or Retry-After.
func retryAfter(h http.Header) (time.Duration, bool) {
	v := strings.TrimSpace(hdrRetryAfter.get(h))
	if v == "" {
		v = strings.TrimSpace(h.Get("Retry-After"))
	}
	if v == "" {
		return 0, false
	}
	var secs float64
	if _, err := fmt.Sscanf(v, "%g", &secs); err != nil || secs < 0 {
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), 0), true
		}
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}

// observeRate merges an answer's rate headers into Client.Rate: a header the answer
// did not carry keeps its last value, except retry_after, which only means something
// on the answer that sent it.
func (c *Client) observeRate(h http.Header) {
	r, ok := parseRate(h, time.Now())
	if !ok {
		return
	}
	c.rateMu.Lock()
	defer c.rateMu.Unlock()
	if _, has := headerInt(h, hdrLimit); !has {
		r.Limit = c.rate.Limit
	}
	if _, has := headerInt(h, hdrLeft); !has {
		r.Remaining = c.rate.Remaining
	}
	c.rate = r
}

// Response wraps the HTTP answer of a call made with [Client.Do]. Its body has
// already been read and closed.
type Response struct {
	*http.Response
	// Rate is the rate-limit state this answer reported.
	Rate Rate
}

// NewRequest builds an authenticated request for an API path such as
// "cases.json" or "/api/cases/2000.json" (relative paths are resolved against
// [Client.BaseURL]). q, when non-nil, is a struct with `url` tags encoded by
// go-querystring. body is sent as JSON, except an io.Reader (sent as is) and the
// multipart bodies the SDK builds for attachments. It is the escape hatch for
// endpoints the SDK does not wrap yet; [Client.Do] sends the result.
func (c *Client) NewRequest(ctx context.Context, method, path string, q, body any) (*http.Request, error) {
	if ctx == nil {
		return nil, &ArgumentError{Field: "ctx", Reason: "nil context"}
	}
	rel, err := url.Parse(path)
	if err != nil || rel.IsAbs() || rel.Host != "" {
		return nil, &ArgumentError{Field: "path", Reason: fmt.Sprintf("%q is not an API path", path)}
	}
	u := c.baseURL.ResolveReference(rel)
	if q != nil {
		v, err := query.Values(q)
		if err != nil {
			return nil, fmt.Errorf("deskie: encoding query for %s: %w", u.Path, err)
		}
		if extra := v.Encode(); extra != "" {
			if u.RawQuery != "" {
				u.RawQuery += "&"
			}
			u.RawQuery += extra
		}
	}
	var (
		reader      io.Reader
		contentType string
	)
	switch b := body.(type) {
	case nil:
	case *formBody:
		reader, contentType = bytes.NewReader(b.data), b.contentType
	case json.RawMessage:
		reader, contentType = bytes.NewReader(b), "application/json"
	case io.Reader:
		reader = b
	default:
		data, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("deskie: encoding body for %s %s: %w", method, u.Path, err)
		}
		reader, contentType = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reader)
	if err != nil {
		return nil, fmt.Errorf("deskie: building %s %s: %w", method, u.Path, err)
	}
	req.SetBasicAuth(c.auth.staffEmail, string(c.auth.apiKey))
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// Do sends req and decodes a 2xx JSON answer into v (nil discards it; an
// io.Writer receives the raw body). Any other status is an [*APIError] (a 429, or an
// old-style 403 "rate limit exceeded", is a [*RateLimitError]).
//
// Retries (at most WithMaxRetries, backoff from WithRetryWait):
//   - GET, PUT, DELETE, HEAD: on connection errors, 5xx and 429.
//   - POST, PATCH: only where the server surely did not act — on 429 and on a
//     connection that failed before the request was sent (dial error). A POST that
//     may have been applied (5xx, or a timeout or reset after sending) is returned at
//     once with an error for which errors.Is(err, [ErrAmbiguous]) holds, so a retry
//     never creates a second case or message.
//
// A 429 waits for retry_after (capped by WithMaxRetryAfter) before the retry. Every
// attempt first takes its cost (write 2, read 1) from the client-side rate budget.
// Canceling req's context stops waits and retries at once.
func (c *Client) Do(req *http.Request, v any) (*Response, error) {
	ctx := req.Context()
	call := &callState{client: c, method: req.Method, path: req.URL.Path}
	rreq, err := retryablehttp.FromRequest(req)
	if err != nil {
		return nil, fmt.Errorf("deskie: %s %s: reading request body: %w", req.Method, call.path, err)
	}
	rc := &retryablehttp.Client{
		HTTPClient:   c.hc,
		RetryMax:     c.maxRetries,
		RetryWaitMin: c.retryWaitMin,
		RetryWaitMax: c.retryWaitMax,
		CheckRetry:   call.checkRetry,
		Backoff:      call.backoff,
		ErrorHandler: call.giveUp,
		// Logger stays nil: retryablehttp would log full URLs (query strings included);
		// callState logs each retry itself with method and path only.
	}
	resp, err := rc.Do(rreq)
	if err != nil {
		return nil, call.requestError(ctx, err)
	}
	defer func() { _ = resp.Body.Close() }()
	rate, _ := parseRate(resp.Header, time.Now())
	response := &Response{Response: resp, Rate: rate}
	if err := call.checkResponse(resp); err != nil {
		return response, err
	}
	switch dst := v.(type) {
	case nil:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	case io.Writer:
		if _, err := io.Copy(dst, io.LimitReader(resp.Body, maxResponseBody)); err != nil {
			return response, fmt.Errorf("deskie: %s %s: reading answer: %w", req.Method, call.path, err)
		}
	default:
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
		if err != nil {
			return response, fmt.Errorf("deskie: %s %s: reading answer: %w", req.Method, call.path, err)
		}
		if len(data) > maxResponseBody {
			return response, fmt.Errorf("deskie: %s %s: answer larger than %d bytes", req.Method, call.path, maxResponseBody)
		}
		if err := json.Unmarshal(data, v); err != nil {
			return response, &DecodeError{Method: req.Method, Path: call.path, Err: err}
		}
	}
	return response, nil
}

// call is the one helper every service method uses: build, send, decode.
func (c *Client) call(ctx context.Context, method, path string, q, body, v any) error {
	req, err := c.NewRequest(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	_, err = c.Do(req, v)
	return err
}

// idempotent reports whether a method may be retried after the server might have
// acted on it.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// isWrite reports whether the API charges a method as a write (2 units).
func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// callState is the per-call view the retry hooks share: the method (which
// retryablehttp's CheckRetry does not see), and what the last attempt returned.
type callState struct {
	client    *Client
	method    string
	path      string
	attempts  int
	ambiguous bool
	lastErr   error
}

func (s *callState) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	s.attempts++
	s.lastErr = err
	if ctxErr := ctx.Err(); ctxErr != nil {
		if err == nil {
			s.lastErr = ctxErr
		}
		s.ambiguous = !idempotent(s.method) && !notSent(err)
		return false, ctxErr
	}
	if err != nil {
		if notSent(err) {
			return true, nil
		}
		if idempotent(s.method) {
			return retryableTransportError(err), nil
		}
		s.ambiguous = true
		return false, nil
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, isOldRateLimit(resp):
		return true, nil // the server refused: it did not act, whatever the method
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		if idempotent(s.method) {
			return true, nil
		}
		s.ambiguous = true
	}
	return false, nil
}

// retryableTransportError excludes errors that a retry cannot fix.
func retryableTransportError(err error) bool {
	var ue *url.Error
	if errors.As(err, &ue) {
		msg := ue.Err.Error()
		for _, permanent := range []string{"unsupported protocol scheme", "certificate", "stopped after", "invalid header"} {
			if strings.Contains(msg, permanent) {
				return false
			}
		}
	}
	return true
}

func (s *callState) backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	wait := expBackoff(minWait, maxWait, attempt)
	status := 0
	if resp != nil {
		status = resp.StatusCode
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusForbidden {
			if d, ok := retryAfter(resp.Header); ok {
				wait = min(d, s.client.maxRetryAfter)
			}
		}
	}
	s.client.logger.Info("deskie: retrying request", "method", s.method, "path", s.path,
		"status", status, "attempt", attempt+1, "wait", wait)
	return wait
}

// expBackoff is min·2^attempt capped at max, with jitter in [d/2, d].
func expBackoff(minWait, maxWait time.Duration, attempt int) time.Duration {
	d := minWait
	for i := 0; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	if half := d / 2; half > 0 {
		d = half + rand.N(half+1) //nolint:gosec // G404: backoff jitter needs no cryptographic randomness
	}
	return d
}

// giveUp keeps the last answer when retries are spent (retryablehttp would drop
// it), so the caller's error carries its status and the API's error code.
func (s *callState) giveUp(resp *http.Response, err error, attempts int) (*http.Response, error) {
	s.attempts = attempts
	if err != nil {
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			_ = resp.Body.Close()
		}
		return nil, err
	}
	return resp, nil
}

func (s *callState) requestError(ctx context.Context, err error) error {
	if s.lastErr != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = errors.Join(ctx.Err(), s.lastErr)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // url.Error repeats the URL, query string included
	}
	return &RequestError{Method: s.method, Path: s.path, Attempts: s.attempts, Ambiguous: s.ambiguous, Err: err}
}

func (s *callState) checkResponse(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	apiErr := APIError{
		StatusCode: resp.StatusCode,
		Method:     s.method,
		Path:       s.path,
		Attempts:   max(s.attempts, 1),
		ambiguous:  s.ambiguous,
	}
	var wire struct {
		Error   flexString `json:"error"`
		Message flexString `json:"message"`
	}
	if json.Unmarshal(body, &wire) == nil {
		apiErr.Code, apiErr.Message = string(wire.Error), string(wire.Message)
	}
	if apiErr.Code == "" && apiErr.Message == "" {
		apiErr.Message = strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	if resp.StatusCode == http.StatusTooManyRequests || bodySaysRateLimit(resp.StatusCode, body) {
		d, _ := retryAfter(resp.Header)
		return &RateLimitError{APIError: apiErr, RetryAfter: d}
	}
	return &apiErr
}

// isOldRateLimit recognizes the pre-2024 throttling answer: a 403 whose body says
// "rate limit exceeded". It peeks at the body and puts it back.
func isOldRateLimit(resp *http.Response) bool {
	if resp.StatusCode != http.StatusForbidden {
		return false
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return bodySaysRateLimit(resp.StatusCode, body)
}

func bodySaysRateLimit(status int, body []byte) bool {
	return status == http.StatusForbidden && bytes.Contains(bytes.ToLower(body), []byte("rate limit exceeded"))
}

// checkPaging validates the page/limit pair every list endpoint takes.
func checkPaging(page, limit int) error {
	if page < 0 {
		return &ArgumentError{Field: "Page", Reason: fmt.Sprintf("%d is negative", page)}
	}
	if page > maxPage {
		return &ArgumentError{Field: "Page", Reason: fmt.Sprintf("%d is past the API's last page %d", page, maxPage)}
	}
	if limit < 0 || limit > maxLimit {
		return &ArgumentError{Field: "Limit", Reason: fmt.Sprintf("%d is outside 0..%d", limit, maxLimit)}
	}
	return nil
}
