package deskie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-querystring/query"
	"github.com/hashicorp/go-retryablehttp"
)

// Version is the SDK version sent in the default User-Agent.
const Version = "0.2.0"

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

	budget      *budget
	presetLimit int // WithRateBudget's figure, given to the store at start
	// store holds turns, idempotency records, reply claims and the rate budget.
	store Store
	// turnLease is how long a customer's turn is held without renewal.
	turnLease time.Duration
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
		budget:        newBudget(),
		turnLease:     defaultTurnLease,
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
	if c.baseURL != nil && strings.TrimSpace(subdomain) != "" {
		return nil, &ArgumentError{Field: "subdomain", Reason: fmt.Sprintf("%q given together with WithBaseURL(%q): pass \"\" as the subdomain, or drop WithBaseURL", strings.TrimSpace(subdomain), c.baseURL.Scheme+"://"+c.baseURL.Host)}
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
	c.budget.maxWait, c.budget.logger = c.maxRetryAfter, c.logger
	c.budget.store, c.budget.key = c.store, budgetKey(c)
	if c.presetLimit > 0 && !c.budget.disabled {
		if err := c.store.ObserveBudget(context.Background(), c.budget.key, BudgetObservation{
			Now: c.budget.now(), Window: c.budget.window, Limit: c.presetLimit, Left: -1, RetryAfter: -1, Gen: -1,
		}); err != nil {
			return nil, storeErr("preset rate budget", err)
		}
		c.budget.limit = c.presetLimit
	}
	user := c.hc
	// The caller's Timeout bounds each attempt from the moment it is sent (the
	// transport applies it), never the wait for the rate budget before it.
	c.hc = &http.Client{
		Transport:     &budgetTransport{client: user, budget: c.budget, timeout: user.Timeout},
		Jar:           user.Jar,
		CheckRedirect: c.sameOriginRedirects(user.CheckRedirect),
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
		// The last answer is kept when retries are spent (the default handler would
		// drop it), so the caller's error carries its status and the API's code.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		// Logger stays nil: retryablehttp would log full URLs (query strings included);
		// callState logs each retry itself with method and path only.
	}
	resp, err := rc.Do(rreq)
	if err != nil {
		if resp != nil { // an answer that came as the caller's context ended
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			_ = resp.Body.Close()
		}
		return nil, call.requestError(ctx, err)
	}
	defer func() { _ = resp.Body.Close() }()
	response := &Response{Response: resp, Rate: rateOf(resp)}
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
			// The server answered 2xx: a write happened, but what it made is unknown.
			return response, &DecodeError{Method: req.Method, Path: call.path, Err: err, Ambiguous: !idempotent(req.Method)}
		}
	}
	return response, nil
}

// call is the one helper every service method uses: build, send, decode.
//
// A read whose 2xx answer could not be decoded (a proxy's error page, a body cut
// short) is asked again, like a 5xx, up to WithMaxRetries times: the server did
// not change anything, and the next answer may be whole.
func (c *Client) call(ctx context.Context, method, path string, q, body, v any) error {
	for attempt := 0; ; attempt++ {
		req, err := c.NewRequest(ctx, method, path, q, body)
		if err != nil {
			return err
		}
		_, err = c.Do(req, v)
		var de *DecodeError
		if err == nil || !idempotent(method) || !errors.As(err, &de) || attempt >= c.maxRetries || ctx.Err() != nil {
			return err
		}
		c.logger.Info("deskie: retrying a read whose answer could not be decoded", "method", method, "path", de.Path, "attempt", attempt+2)
	}
}

// errRedirect is the reason a redirect is refused.
var errRedirect = errors.New("deskie: refusing a redirect off the API's origin or from https to http (credentials and message text never leave the origin)")

// sameOriginRedirects follows a redirect only within the API's origin (same
// scheme, host and port, so never from https to http), then applies the caller's
// own policy (or Go's default limit of 10 redirects).
func (c *Client) sameOriginRedirects(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != c.baseURL.Scheme || req.URL.Host != c.baseURL.Host {
			return fmt.Errorf("%w: %s %s → %s://%s", errRedirect, via[0].Method, via[0].URL.Path, req.URL.Scheme, req.URL.Host)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("deskie: stopped after 10 redirects")
		}
		return nil
	}
}
