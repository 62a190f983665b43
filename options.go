package deskie

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

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
			c.budget.disabled = true
			return nil
		}
		if perMinute < 2 {
			return &ArgumentError{Field: "WithRateBudget", Reason: fmt.Sprintf("%d per minute cannot pay for a write (cost 2)", perMinute)}
		}
		c.budget.disabled = false
		c.presetLimit = perMinute
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
