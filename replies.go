package deskie

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// RepliesService finds agent replies in a custom channel's cases by polling the
// API: the receive path that catches what the webhook missed
// ([RepliesService.Watch]), and the only one for a bridge with no public URL.
type RepliesService service

const (
	defaultPollInterval = 30 * time.Second
	defaultBudgetShare  = 0.1
	// watchOverlap is how far behind its position each poll looks again, for
	// clock skew between the service's nodes and answers that show a change late.
	watchOverlap = time.Minute
	// settleMargin: a case read at least this long (server time) after its
	// updated_at holds every message of that second.
	settleMargin = 2 * time.Second
	// watchPageLimit is the page size of Watch's reads (the API's maximum).
	watchPageLimit = 100
	// maxWatchPages bounds the pages one poll reads of the case list and of one
	// case's messages.
	maxWatchPages = 10
	// maxWatchBackoff is how many poll intervals a failing Watch waits at most.
	maxWatchBackoff = 10
	// userRecordTTL is how long a user's custom id is cached in the Store.
	userRecordTTL = 30 * 24 * time.Hour
	// apiReplyGrace: an agent message younger than this (by the service's
	// clock) is left for a later poll unless the Store already knows it as the
	// integration's own: Messages.Create records its reply only once the API has
	// answered, and Watch must not take it for an agent's meanwhile.
	apiReplyGrace = 5 * time.Second
	// yieldBelow: when the account has less than this share of its window left,
	// Watch waits for the next window and leaves the rest to Send.
	yieldBelow = 4 // 1/4
)

// WithPollInterval sets how often Watch polls (default 30 s); d must be positive.
// An idle poll costs one request. Ignored by the webhook handler.
func WithPollInterval(d time.Duration) WebhookOption {
	return func(c *webhookConfig) {
		if d <= 0 {
			c.problem("WithPollInterval(%v): the interval must be positive (the default is %v)", d, defaultPollInterval)
			return
		}
		c.pollInterval = d
	}
}

// WithLookback sets how far back Watch's first poll looks for replies not yet
// delivered: replies created up to d before it started are handed to fn unless
// they were delivered already (by the webhook handler or another Watch on the same
// Store). Without it, a Watch with no saved position starts from now, and one with
// a saved position (a durable Store) resumes from it. d must be between 0 and
// 7 days (the Store remembers delivered replies for 7 days). Ignored by the
// webhook handler.
func WithLookback(d time.Duration) WebhookOption {
	return func(c *webhookConfig) {
		switch {
		case d < 0:
			c.problem("WithLookback(%v): must not be negative", d)
		case d > defaultReplyDoneTTL:
			c.problem("WithLookback(%v): at most %v (delivered replies are remembered that long)", d, defaultReplyDoneTTL)
		default:
			c.lookback = d
		}
	}
}

// WithBudgetShare sets the largest share of the account's rate limit Watch may
// use (default 0.1, a tenth): its requests are spaced so that it never spends
// more, and it waits for the next window when the account is close to its limit,
// leaving the rest to Send. f must be above 0 and at most 1. Ignored by the
// webhook handler.
func WithBudgetShare(f float64) WebhookOption {
	return func(c *webhookConfig) {
		if !(f > 0 && f <= 1) {
			c.problem("WithBudgetShare(%v): the share must be above 0 and at most 1 (the default is %v)", f, defaultBudgetShare)
			return
		}
		c.budgetShare = f
	}
}

// Watch polls the channel's recently updated cases for agent replies and calls fn
// with each one not yet delivered, until ctx ends; it then returns ctx.Err(). It
// is the webhook's safety net: run it beside [Client.NewWebhookHandler] and a
// reply whose delivery failed (the endpoint was down, a deployment, a webhook the
// service never sent again) still reaches fn. Alone, it is the receive path of a
// bridge with no public URL.
//
// Each reply is an [AgentReply] with the fields a webhook delivery has (Type
// "message_new", MessageID, CaseID, StaffID, UserID, UserCustomID, Content,
// Attachments, Note, SentViaRule). The handler's drop rules apply: internal notes
// are skipped unless [WithNotes]; replies your integration added with
// [MessagesService.Create] (recognized by the record Create leaves in the Store,
// since the REST API does not flag them) unless [WithAPIReplies], and then they
// come with FromAPI set. Since Create records its reply only once the API has
// answered, an agent reply younger than a few seconds is left for a later poll.
// Every agent message counts, in open, waiting and closed cases alike, so a reply
// followed at once by a closure still arrives; customer messages never do.
//
// De-duplication is the handler's: a claim on the message id in the client's
// [Store] (or [WithDedupStore]'s), so a reply is handed to fn once whether the
// webhook or Watch found it, across replicas sharing the Store. When fn returns
// an error or panics the reply stays undelivered and is tried again at a later
// poll, with backoff; so are the replies of a poll whose API calls failed (the
// errors are logged, and never end Watch). fn runs in Watch's goroutine, one
// reply at a time, in the order the replies were written.
//
// Where it starts: Watch saves its position (the newest case update it has read)
// in the Store. A Watch whose Store holds a position for the channel (a durable,
// shared Store such as package redisstore, after a restart) resumes from it, so
// the replies that arrived while no Watch ran are delivered, none twice. One with
// a fresh [MemoryStore] starts from now: it does not replay the channel's
// history, unless [WithLookback] asks it to look back (and a lookback longer than
// the downtime also covers what a position would have). Its clock is the
// service's (the answers' Date header), so a skewed local clock does not matter.
//
// Cost: a poll lists the channel's cases by update time, newest first
// (from_updated_time bounds the list when the API honors it, and Watch stops at
// its position either way), then reads the newest messages of each case that
// changed: an idle poll costs one request, a poll after k cases changed about
// 1 + k, and a case's user is looked up once (then cached in the Store). Watch
// spaces its requests to use at most a tenth of the account's rate limit
// ([WithBudgetShare]).
//
// Invalid arguments (a channel that is not a custom channel's "cch<N>" code, a
// nil fn, an option with an invalid value) are an [*ArgumentError], returned
// before any request. Options only the handler uses (the token, the body limit,
// event types) are ignored.
func (s *RepliesService) Watch(ctx context.Context, channel string, fn func(context.Context, *AgentReply) error, opts ...WebhookOption) error {
	if err := checkChannel("channel", channel); err != nil {
		return err
	}
	if fn == nil {
		return &ArgumentError{Field: "fn", Reason: "nil: pass the func that hands each reply to your app"}
	}
	cfg := newWebhookConfig(append([]WebhookOption{WithWebhookLogger(s.client.logger)}, opts...))
	if len(cfg.problems) > 0 {
		return &ArgumentError{Field: "Watch options", Reason: strings.Join(cfg.problems, "; ")}
	}
	w := &watcher{
		c: s.client, channel: channel, fn: fn, cfg: cfg, log: cfg.logger,
		claims: cfg.replyClaims(s.client.store),
		key:    storeKey("watch", s.client.baseURL.Host+s.client.baseURL.Path, channel),
	}
	return w.run(ctx)
}

// watcher is one running Watch.
type watcher struct {
	c       *Client
	channel string
	fn      func(context.Context, *AgentReply) error
	cfg     *webhookConfig
	log     *slog.Logger
	claims  *replyClaims
	key     string // the Store record of the position

	started  bool
	state    watchState
	lastReq  time.Time // when Watch last sent a request (local clock), for pacing
	failures int       // polls in a row that left something undone
	saved    []byte    // the position as last written to the Store
	savedAt  time.Time
}

// watchState is Watch's position, saved in the Store after each poll that moved it.
type watchState struct {
	// Mark is the newest updated_at read (the service's clock). Each poll lists
	// the cases updated since max(Floor, Mark - watchOverlap).
	Mark time.Time `json:"mark"`
	// Floor: replies created before it are not Watch's (history, at a fresh start).
	Floor time.Time `json:"floor"`
	// Cases are the cases read within the overlap, and those with replies still
	// to deliver.
	Cases map[int64]*caseMark `json:"cases,omitempty"`
}

// caseMark is what Watch knows of one case.
type caseMark struct {
	UserID  int64     `json:"user"`
	Updated time.Time `json:"updated"` // updated_at at the last read
	// Since: the case's messages created before it were handled.
	Since time.Time `json:"since"`
	// Settled: the last read came after updated_at's second had passed, so an
	// unchanged updated_at means no new message.
	Settled bool `json:"settled,omitempty"`
	// Pending: a reply was left undelivered (fn failed, another copy held it, an
	// API call failed); the case is read again.
	Pending bool `json:"pending,omitempty"`

	readAt time.Time // local clock of the last read, when the answer had no Date
}
