package deskie

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WebhookOption configures [NewWebhookHandler] and [RepliesService.Watch]. Options
// that concern only one of them are ignored by the other (each says so), so one
// list can configure both; an invalid value is refused by both.
type WebhookOption func(*webhookConfig)

// webhookConfig is what the options set; problems collects invalid values, each
// naming the option and the fix.
type webhookConfig struct {
	tokenSum   *[sha256.Size]byte
	tokenGiven bool
	noToken    bool
	apiReplies bool
	notes      bool
	events     map[string]bool // event types delivered besides message_new
	maxBody    int64
	logger     *slog.Logger
	dedup      DedupStore

	// Watch only
	pollInterval time.Duration
	lookback     time.Duration
	budgetShare  float64

	problems []string
}

// replyClaims is the claim engine over WithDedupStore's store, else over
// fallback, else over a new MemoryStore.
func (c *webhookConfig) replyClaims(fallback ClaimStore) *replyClaims {
	switch {
	case c.dedup != nil:
		store, renew := claimStoreFor(c.dedup)
		return newReplyClaims(store, renew, c.logger)
	case fallback != nil:
		return newReplyClaims(fallback, true, c.logger)
	}
	return newReplyClaims(NewMemoryStore(), true, c.logger)
}

func (c *webhookConfig) problem(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func newWebhookConfig(opts []WebhookOption) *webhookConfig {
	c := &webhookConfig{
		maxBody:      defaultMaxWebhookBytes,
		logger:       slog.New(slog.DiscardHandler),
		pollInterval: defaultPollInterval,
		budgetShare:  defaultBudgetShare,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(c)
		}
	}
	return c
}

// WithWebhookToken sets the secret the Webhook URL carries, as its last path
// segment (https://app.example/deskie/<token>) or as ?token=<token>. Deliveries
// without it are answered 404 whatever their method, revealing nothing. Compared
// in constant time. An empty or blank token makes [NewWebhookHandler] panic.
// Ignored by Watch.
func WithWebhookToken(token string) WebhookOption {
	return func(c *webhookConfig) {
		c.tokenGiven = true
		if strings.TrimSpace(token) == "" {
			c.tokenSum = nil
			c.problem("WithWebhookToken was given an empty or blank token: pass the secret of the channel's Webhook URL")
			return
		}
		sum := sha256.Sum256([]byte(token))
		c.tokenSum = &sum
	}
}

// WithoutWebhookToken explicitly turns the token check off, for a handler whose
// deliveries are authenticated elsewhere (a gateway, mTLS). Ignored by Watch.
func WithoutWebhookToken() WebhookOption { return func(c *webhookConfig) { c.noToken = true } }

// WithAPIReplies also delivers replies added through the API, usually by your own
// integration, which are dropped by default: the handler recognizes them by
// b_from_api=1; Watch by the record [MessagesService.Create] leaves in the
// client's Store (the REST API does not flag them). Delivered with FromAPI set.
func WithAPIReplies() WebhookOption { return func(c *webhookConfig) { c.apiReplies = true } }

// WithNotes also delivers internal notes (Note set), which are dropped by default
// because they must never reach the customer.
func WithNotes() WebhookOption { return func(c *webhookConfig) { c.notes = true } }

// WithEventTypes also delivers webhook events of these types to fn; by default
// only message_new (an agent reply) reaches it and other events are acknowledged
// with 200 and logged at debug level. An event with a message_id is handled once
// per (type, message_id); one without is handled each time it arrives. Ignored by
// Watch, which finds replies only.
func WithEventTypes(types ...string) WebhookOption {
	return func(c *webhookConfig) {
		if len(types) == 0 {
			c.problem("WithEventTypes was given no event type")
		}
		for _, t := range types {
			if strings.TrimSpace(t) == "" {
				c.problem("WithEventTypes was given an empty event type")
				continue
			}
			if c.events == nil {
				c.events = map[string]bool{}
			}
			c.events[t] = true
		}
	}
}

// WithMaxBodyBytes caps a delivery's body (default 1 MiB); larger ones get 413.
// n must be positive. Ignored by Watch.
func WithMaxBodyBytes(n int64) WebhookOption {
	return func(c *webhookConfig) {
		if n <= 0 {
			c.problem("WithMaxBodyBytes(%d): the limit must be positive (the default is 1 MiB)", n)
			return
		}
		c.maxBody = n
	}
}

// WithWebhookLogger sends the handler's (or Watch's) log lines to l: one per
// rejected, dropped or failed delivery with the reason, never the token or the
// message text. l must not be nil. [Client.NewWebhookHandler] and Watch log
// through the client's logger unless this is given.
func WithWebhookLogger(l *slog.Logger) WebhookOption {
	return func(c *webhookConfig) {
		if l == nil {
			c.problem("WithWebhookLogger was given a nil *slog.Logger")
			return
		}
		c.logger = l
	}
}

// WithDedupStore sets where the handler records which replies it handled (the
// package-level [NewWebhookHandler] otherwise keeps them in a [NewMemoryStore] of
// its own; [Client.NewWebhookHandler] and Watch in the client's Store). A store
// that implements [ClaimStore] (a [MemoryStore], any [Store]) is used through its
// claims; any other [DedupStore] through Seen, Done and, when implemented,
// [DedupClaimer]. Give every replica the same shared store. s must not be nil.
func WithDedupStore(s DedupStore) WebhookOption {
	return func(c *webhookConfig) {
		if s == nil {
			c.problem("WithDedupStore was given a nil store")
			return
		}
		c.dedup = s
	}
}

// NewWebhookHandler returns the http.Handler to mount at the channel's Webhook URL:
//
//	http.Handle("/deskie/", deskie.NewWebhookHandler(fn, deskie.WithWebhookToken(secret)))
//
// It panics, naming the fix, when fn is nil, when neither [WithWebhookToken] nor
// [WithoutWebhookToken] is given (or both are), and when an option has an invalid
// value (an empty or blank token, WithMaxBodyBytes(0), a nil logger or store, …):
// a misconfigured handler is a programming error caught at start-up, as net/http
// does for bad patterns, not a 500 on every delivery found in production.
//
// It answers:
//   - 404 when the token is wrong or missing, whatever the method;
//   - 405 (with Allow: POST) to anything but POST;
//   - 413 to a body over the limit, 400 to a malformed one (or a message_new
//     without message_id), 415 to an unknown content type;
//   - 200 without calling fn for events other than message_new (unless
//     [WithEventTypes]), for notes and for replies added through the API
//     (b_from_api=1), unless [WithNotes] / [WithAPIReplies]; and for a message_id
//     already handled;
//   - 200 when fn returned nil; 500 when fn returned an error or panicked (the
//     reply is left unhandled: a redelivery, or [RepliesService.Watch], hands it
//     to fn again), and 500 when the de-duplication store failed;
//   - 503 when another copy of the same reply was still being handled (here or on
//     another replica) when the request ended: it is never acknowledged unless
//     somebody handled it.
//
// Whether the service delivers a failed webhook again is unknown (plan for no):
// run [RepliesService.Watch] beside the handler so that a reply whose delivery
// failed still reaches fn.
//
// fn runs with the request's context, once per message_id (see [WithDedupStore]):
// a copy that arrives while another is in fn waits for its outcome, 200 if it
// succeeded, otherwise it runs fn itself. The handler is safe for concurrent
// deliveries.
func NewWebhookHandler(fn func(ctx context.Context, r *AgentReply) error, opts ...WebhookOption) http.Handler {
	return newWebhookHandler("NewWebhookHandler", fn, newWebhookConfig(opts), nil)
}

// NewWebhookHandler is [NewWebhookHandler] logging through the client's logger and
// de-duplicating through the client's [Store] (unless [WithWebhookLogger] /
// [WithDedupStore] say otherwise): replies it handled are not handed to fn again
// by [RepliesService.Watch] of a client on the same Store, and the other way round.
func (c *Client) NewWebhookHandler(fn func(ctx context.Context, r *AgentReply) error, opts ...WebhookOption) http.Handler {
	cfg := newWebhookConfig(append([]WebhookOption{WithWebhookLogger(c.logger)}, opts...))
	return newWebhookHandler("Client.NewWebhookHandler", fn, cfg, c.store)
}

// newWebhookHandler checks the configuration (panicking, see NewWebhookHandler)
// and builds the handler; it de-duplicates through WithDedupStore's store, else
// through store, else through a MemoryStore of its own.
func newWebhookHandler(name string, fn func(ctx context.Context, r *AgentReply) error, cfg *webhookConfig, store ClaimStore) *webhookHandler {
	const fix = "add WithWebhookToken(secret), or WithoutWebhookToken() when deliveries are authenticated elsewhere"
	switch {
	case fn == nil:
		panic("deskie: " + name + ": nil function: pass the func that hands each reply to your app")
	case len(cfg.problems) > 0:
		panic("deskie: " + name + ": " + strings.Join(cfg.problems, "; "))
	case !cfg.tokenGiven && !cfg.noToken:
		panic("deskie: " + name + ": no token option: " + fix)
	case cfg.tokenGiven && cfg.noToken:
		panic("deskie: " + name + ": both WithWebhookToken and WithoutWebhookToken were given: keep one")
	}
	return &webhookHandler{fn: fn, cfg: cfg, claims: cfg.replyClaims(store)}
}

type webhookHandler struct {
	fn     func(ctx context.Context, r *AgentReply) error
	cfg    *webhookConfig
	claims *replyClaims
}

func (h *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.cfg.logger
	// the token first: a stranger learns nothing, not even which methods exist
	if !h.tokenOK(r) {
		log.Warn("deskie: webhook delivery rejected", "reason", "wrong or missing token", "path_segments", strings.Count(r.URL.Path, "/"))
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.maxBody)
	reply, err := parseWebhook(r, h.cfg.maxBody)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrWebhookTooLarge) {
			status = http.StatusRequestEntityTooLarge
		} else if errors.Is(err, ErrUnsupportedMediaType) {
			status = http.StatusUnsupportedMediaType
		}
		h.reject(w, r, status, err.Error())
		return
	}
	if reply.Type == "" && reply.MessageID != 0 {
		// The type field is known from one public source only ([GUESS] in the
		// wire notes): a delivery that carries a message but no type is taken
		// for the one event anybody has seen, a new message.
		reply.Type = EventMessageNew
	}
	if reply.Type != EventMessageNew && !h.cfg.events[reply.Type] {
		log.Debug("deskie: webhook event ignored", "type", reply.Type)
		h.ack(w, "ignored")
		return
	}
	if reply.Type == EventMessageNew && reply.MessageID == 0 {
		h.reject(w, r, http.StatusBadRequest, "deskie: malformed webhook delivery: missing message_id")
		return
	}
	if reply.Note && !h.cfg.notes {
		log.Info("deskie: webhook note dropped", "message_id", reply.MessageID, "case_id", reply.CaseID)
		h.ack(w, "dropped")
		return
	}
	if reply.FromAPI && !h.cfg.apiReplies {
		log.Info("deskie: webhook reply added through the API dropped", "message_id", reply.MessageID, "case_id", reply.CaseID)
		h.ack(w, "dropped")
		return
	}
	h.handle(w, r, reply)
}

// handle runs fn for the reply once (see dedup.go) and answers with the outcome.
func (h *webhookHandler) handle(w http.ResponseWriter, r *http.Request, reply *AgentReply) {
	call := func(ctx context.Context) error { return h.fn(ctx, reply) }
	if reply.MessageID == 0 {
		// an event of another type without a message id: nothing to de-duplicate on
		if err := safeCall(r.Context(), call); err != nil {
			h.fail(w, "handler", err, reply)
			return
		}
		h.ack(w, "ok")
		return
	}
	key := replyClaimKey(reply.MessageID)
	if reply.Type != EventMessageNew {
		key = storeKey("event", reply.Type, strconv.FormatInt(reply.MessageID, 10))
	}
	outcome, err := h.claims.run(r.Context(), key, true, call)
	switch outcome {
	case claimHandled:
		h.ack(w, "ok")
	case claimDuplicate:
		h.cfg.logger.Info("deskie: webhook duplicate acknowledged", "message_id", reply.MessageID)
		h.ack(w, "duplicate")
	case claimBusy:
		h.cfg.logger.Warn("deskie: webhook copy not handled: another copy was still in progress; answering 503 so it is delivered again",
			"message_id", reply.MessageID, "error", err)
		http.Error(w, "another copy of this delivery is being handled", http.StatusServiceUnavailable)
	case claimStoreFailed:
		h.fail(w, "dedup store", err, reply)
	default:
		h.fail(w, "handler", err, reply)
	}
}

func (h *webhookHandler) tokenOK(r *http.Request) bool {
	if h.cfg.tokenSum == nil {
		return true
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	candidates := []string{path[strings.LastIndexByte(path, '/')+1:], r.URL.Query().Get("token")}
	ok := 0
	for _, c := range candidates {
		sum := sha256.Sum256([]byte(c))
		ok |= subtle.ConstantTimeCompare(sum[:], h.cfg.tokenSum[:])
	}
	return ok == 1
}

func (h *webhookHandler) fail(w http.ResponseWriter, what string, err error, reply *AgentReply) {
	h.cfg.logger.Error("deskie: webhook delivery failed; answering 500 so it can be delivered again", "stage", what,
		"message_id", reply.MessageID, "case_id", reply.CaseID, "error", err)
	http.Error(w, "delivery not handled", http.StatusInternalServerError)
}

func (h *webhookHandler) reject(w http.ResponseWriter, r *http.Request, status int, reason string) {
	h.cfg.logger.Warn("deskie: webhook delivery rejected", "status", status, "reason", reason, "method", r.Method)
	http.Error(w, reason, status)
}

func (h *webhookHandler) ack(w http.ResponseWriter, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"status":"`+status+`"}`)
}
