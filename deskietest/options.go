package deskietest

import (
	"net/http"
	"slices"
	"time"
)

type config struct {
	staffEmail   string
	apiKey       string
	clock        func() time.Time
	clockSet     bool // WithClock was given: time is the test's, no timer runs on its own
	zone         *time.Location
	rateLimit    int
	rateWindow   time.Duration
	slowDelay    time.Duration
	webhook      *http.Client
	requestLog   int
	redelivery   []time.Duration
	messageOrder MessageOrder
}

// Option configures [NewServer].
type Option func(*config)

// WithCredentials sets the staff e-mail and API key the server accepts (Basic
// auth). A wrong key is answered 401, a wrong e-mail 403, like the real service.
func WithCredentials(staffEmail, apiKey string) Option {
	return func(c *config) { c.staffEmail, c.apiKey = staffEmail, apiKey }
}

// WithClock sets the clock the server runs on, for deterministic tests: every
// date it records (created_at, updated_at, …), the rate-limit window and the
// redelivery schedule follow it. A [Clock] is ready-made for it:
//
//	clock := deskietest.NewClock(time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC))
//	srv := deskietest.NewServer(deskietest.WithClock(clock.Now))
//	clock.Advance(time.Minute) // the rate window refreshes, no sleep
//
// A clock that stands still never refreshes the rate window; advance it. With
// WithClock no timer runs on its own: redeliveries that fall due are sent by
// [Server.FlushRedeliveries]. Without it the server runs on real time.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.clock, c.clockSet = now, true }
}

// WithRateLimit sets the budget: limit units per window (a write costs 2, a read
// 1). The real window is a minute; a short one keeps tests fast. limit 0 turns
// rate limiting and its headers off.
func WithRateLimit(limit int, window time.Duration) Option {
	return func(c *config) {
		c.rateLimit = limit
		if window > 0 {
			c.rateWindow = window
		}
	}
}

// WithSlowDelay sets how long the [FaultSlow] fault holds an answer (default 2 s).
func WithSlowDelay(d time.Duration) Option { return func(c *config) { c.slowDelay = d } }

// WithRequestLog sets how many of the latest requests [Server.Requests] keeps
// (default 100,000; 0 keeps none), so a long soak or volume run stays in bounded
// memory.
func WithRequestLog(n int) Option { return func(c *config) { c.requestLog = max(n, 0) } }

// WithWebhookClient sets the client used to POST webhook deliveries.
func WithWebhookClient(hc *http.Client) Option { return func(c *config) { c.webhook = hc } }

// WithRedelivery turns webhook redelivery on: a delivery that fails (a transport
// error or a non-2xx answer) is sent again after schedule[0], then, if that fails
// too, after schedule[1], and so on; see [Server.SetRedelivery]. By default a
// failed delivery is not sent again — the worst case, since the real service's
// policy is unknown.
func WithRedelivery(schedule ...time.Duration) Option {
	return func(c *config) { c.redelivery = cleanSchedule(schedule) }
}

// WithMessageOrder sets the order of message lists whose request does not ask
// for one (see [MessageOrder]).
func WithMessageOrder(o MessageOrder) Option { return func(c *config) { c.messageOrder = o } }

func cleanSchedule(schedule []time.Duration) []time.Duration {
	out := slices.Clone(schedule)
	for i, d := range out {
		out[i] = max(d, 0)
	}
	return out
}
