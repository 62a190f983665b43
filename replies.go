package deskie

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
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
// [MessagesService.Create] (recognised by the record Create leaves in the Store,
// since the REST API does not flag them) unless [WithAPIReplies], and then they
// come with FromAPI set. Every agent message counts, in open, waiting and closed
// cases alike, so a reply followed at once by a closure still arrives; customer
// messages never do.
//
// De-duplication is the handler's: a claim on the message id in the client's
// [Store] (or [WithDedupStore]'s), so a reply is handed to fn once whether the
// webhook or Watch found it, across replicas sharing the Store. When fn returns
// an error or panics the reply stays undelivered and is tried again at a later
// poll, with backoff; so are the replies of a poll whose API calls failed (the
// errors are logged, and never end Watch). fn runs in Watch's goroutine, one
// reply at a time, oldest case first.
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
// (from_updated_time bounds the list when the API honours it, and Watch stops at
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

// run polls until ctx ends.
func (w *watcher) run(ctx context.Context) error {
	for {
		start := time.Now()
		err := w.poll(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := w.cfg.pollInterval
		if err != nil {
			w.failures++
			wait = w.cfg.pollInterval << min(w.failures, 10)
			wait = min(wait, maxWatchBackoff*w.cfg.pollInterval)
			w.log.Warn("deskie: watch: poll left replies undelivered; trying again", "channel", w.channel,
				"failures", w.failures, "wait", wait, "error", err)
		} else {
			w.failures = 0
		}
		if err := sleepCtx(ctx, wait-time.Since(start)); err != nil {
			return err
		}
	}
}

// poll lists the changed cases and delivers their new replies. An error means
// something was left for a later poll.
func (w *watcher) poll(ctx context.Context) error {
	var fresh func(now time.Time) time.Time
	if !w.started {
		saved, err := w.load(ctx)
		if err != nil {
			return err
		}
		fresh = func(now time.Time) time.Time { return w.begin(saved, now) }
	}
	from := w.from()
	listed, err := w.listChanged(ctx, from, fresh)
	if err != nil {
		return err
	}
	if fresh != nil {
		w.started = true
		from = w.from()
	}
	// the cases to read: those that changed, and those with replies left over
	var toRead []int64
	for _, c := range listed {
		if c.UpdatedAt.After(w.state.Mark) {
			w.state.Mark = c.UpdatedAt
		}
		m := w.state.Cases[c.ID]
		if m == nil {
			m = &caseMark{Since: from}
			w.state.Cases[c.ID] = m
		} else if m.Settled && !m.Pending && m.Updated.Equal(c.UpdatedAt) {
			continue // nothing new
		}
		m.UserID = c.UserID
		if !m.Updated.Equal(c.UpdatedAt) {
			m.Updated, m.Settled, m.readAt = c.UpdatedAt, false, time.Time{}
		}
		toRead = append(toRead, c.ID)
	}
	for _, id := range slices.Sorted(maps.Keys(w.state.Cases)) {
		if w.state.Cases[id].Pending && !slices.Contains(toRead, id) {
			toRead = append(toRead, id)
		}
	}
	err = w.readAndDeliver(ctx, toRead)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	w.prune()
	w.save(ctx)
	return err
}

// found is an agent message to hand to fn.
type found struct {
	caseID int64
	msg    *Message
}

// readAndDeliver reads the cases' newest messages, then hands their new agent
// messages to fn in the order they were written, across cases.
func (w *watcher) readAndDeliver(ctx context.Context, ids []int64) error {
	var errs []error
	var todo []found
	read := make([]int64, 0, len(ids))
	for _, id := range ids {
		m := w.state.Cases[id]
		msgs, at, err := w.newestMessages(ctx, id, m.Since)
		if err != nil {
			m.Pending = true
			errs = append(errs, err)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		read = append(read, id)
		for _, msg := range msgs {
			if !msg.CreatedAt.Before(m.Since) && (msg.UserID == 0 || msg.StaffID != 0) {
				todo = append(todo, found{id, msg}) // not the customer's own message, nor handled before
			}
		}
		switch {
		case !at.IsZero():
			m.Settled = !at.Before(m.Updated.Add(settleMargin))
		case !m.readAt.IsZero():
			m.Settled = time.Since(m.readAt) >= settleMargin
		default:
			m.readAt = time.Now()
		}
	}
	slices.SortStableFunc(todo, func(a, b found) int {
		return cmp.Or(a.msg.CreatedAt.Compare(b.msg.CreatedAt), cmp.Compare(a.msg.ID, b.msg.ID))
	})
	failed := map[int64]bool{}
	for _, f := range todo {
		m := w.state.Cases[f.caseID]
		if err := w.deliver(ctx, f.caseID, m.UserID, f.msg); err != nil {
			failed[f.caseID] = true
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	for _, id := range read {
		m := w.state.Cases[id]
		if m.Pending = failed[id]; !m.Pending {
			m.Since = maxTime(m.Since, m.Updated.Add(-watchOverlap))
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// from is where the next list starts.
func (w *watcher) from() time.Time {
	return maxTime(w.state.Floor, w.state.Mark.Add(-watchOverlap))
}

// load reads the saved position (nil when there is none).
func (w *watcher) load(ctx context.Context) (*watchState, error) {
	data, err := w.c.store.GetRecord(ctx, w.key)
	if err != nil {
		return nil, storeErr("read watch position", err)
	}
	if data == nil {
		return nil, nil
	}
	var st watchState
	if err := json.Unmarshal(data, &st); err != nil {
		w.log.Error("deskie: watch: saved position unreadable; starting afresh", "channel", w.channel, "error", err)
		return nil, nil
	}
	return &st, nil
}

// begin sets the starting position once the service's time (now) is known.
func (w *watcher) begin(saved *watchState, now time.Time) time.Time {
	back := now.Add(-w.cfg.lookback)
	if saved == nil {
		w.state = watchState{Mark: back, Floor: back}
	} else {
		w.state = *saved
		if w.cfg.lookback > 0 {
			w.state.Floor = minTime(w.state.Floor, back)
			w.state.Mark = minTime(w.state.Mark, back.Add(watchOverlap))
		}
	}
	if w.state.Cases == nil {
		w.state.Cases = map[int64]*caseMark{}
	}
	w.log.Info("deskie: watch started", "channel", w.channel, "resumed", saved != nil, "from", w.from())
	return w.from()
}

// prune forgets the settled cases that left the window.
func (w *watcher) prune() {
	from := w.from()
	for id, m := range w.state.Cases {
		if !m.Pending && m.Updated.Before(from) || m.Updated.Before(from.Add(-defaultReplyDoneTTL)) {
			delete(w.state.Cases, id)
		}
	}
}

// save writes the position to the Store; a failure is logged (the position is
// kept in memory and written at the next poll).
func (w *watcher) save(ctx context.Context) {
	data, err := json.Marshal(&w.state)
	if err == nil {
		err = w.c.store.PutRecord(context.WithoutCancel(ctx), w.key, data, defaultReplyDoneTTL)
	}
	if err != nil {
		w.log.Error("deskie: watch: position not saved; a restart may read again what this poll read",
			"channel", w.channel, "error", storeErr("save watch position", err))
	}
}

// watchQuery is the case list query of a poll.
type watchQuery struct {
	CaseListOptions
	// FromUpdatedTime (unix seconds) asks for the cases updated since then; Watch
	// also checks updated_at itself, in case the API ignores it.
	FromUpdatedTime int64 `url:"from_updated_time,omitempty"`
}

// listChanged returns the channel's cases updated at or after from, oldest update
// first. On the first poll fresh computes from out of the first answer's time.
func (w *watcher) listChanged(ctx context.Context, from time.Time, fresh func(time.Time) time.Time) ([]*Case, error) {
	var out []*Case
	q := watchQuery{CaseListOptions: CaseListOptions{Limit: watchPageLimit, Channel: []string{w.channel}, Sort: "updated_at_desc", ShowActiveChats: true}}
	for page := 1; ; page++ {
		q.Page, q.FromUpdatedTime = page, 0
		if fresh == nil {
			q.FromUpdatedTime = from.Unix()
		}
		env := &listEnvelope[Case]{root: "case"}
		resp, err := w.get(ctx, "cases.json", &q, env)
		if err != nil {
			return nil, err
		}
		if fresh != nil {
			now := serverTime(resp)
			if now.IsZero() {
				now = time.Now()
			}
			from, fresh = fresh(now), nil
		}
		older, sorted := false, true
		for i, c := range env.items {
			if i > 0 && c.UpdatedAt.After(env.items[i-1].UpdatedAt) {
				sorted = false // the API ignored the sort: read every page
			}
			switch {
			case c.UpdatedAt.Before(from):
				older = true
			case c.Channel == w.channel:
				out = append(out, c)
			}
		}
		full := len(env.items) == watchPageLimit && (env.total < 0 || page*watchPageLimit < env.total)
		if !full || (older && sorted) {
			break
		}
		if page == maxWatchPages {
			w.log.Warn("deskie: watch: more changed cases than one poll reads; the rest wait for the next poll",
				"channel", w.channel, "pages", page)
			break
		}
	}
	slices.SortStableFunc(out, func(a, b *Case) int { return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.ID, b.ID)) })
	return slices.CompactFunc(out, func(a, b *Case) bool { return a.ID == b.ID }), nil
}

// deliver applies the drop rules and hands one agent message to fn through its
// claim. An error leaves it for a later poll.
func (w *watcher) deliver(ctx context.Context, caseID, userID int64, msg *Message) error {
	if msg.Note && !w.cfg.notes {
		return nil
	}
	rec, err := w.c.store.GetRecord(ctx, apiMessageKey(msg.ID))
	if err != nil {
		return storeErr("read API message record", err)
	}
	fromAPI := rec != nil
	if fromAPI && !w.cfg.apiReplies {
		return nil
	}
	reply := &AgentReply{
		Type: EventMessageNew, MessageID: msg.ID, CaseID: caseID, StaffID: msg.StaffID, UserID: userID,
		Content: cmp.Or(msg.Content, msg.ContentHTML),
		Note:    msg.Note, SentViaRule: msg.SentViaRule, FromAPI: fromAPI,
	}
	if len(msg.Attachments) > 0 {
		reply.Attachments = msg.Attachments // nil when none, as from the webhook
	}
	// the user is looked up under the claim: a reply the webhook delivered costs nothing
	outcome, err := w.claims.run(ctx, replyClaimKey(msg.ID), false, func(ctx context.Context) error {
		customID, err := w.customID(ctx, userID)
		if err != nil {
			return fmt.Errorf("looking up the user: %w", err)
		}
		reply.UserCustomID = customID
		return w.fn(ctx, reply)
	})
	switch outcome {
	case claimHandled, claimDuplicate:
		return nil
	case claimBusy:
		return fmt.Errorf("deskie: watch: reply %d is being handled by another copy", msg.ID)
	case claimFailed:
		return fmt.Errorf("deskie: watch: reply %d not delivered: %w", msg.ID, err)
	}
	return err
}

// userRecord is what the Store caches at userKey: the custom-channel identity of
// a Deskie user.
type userRecord struct {
	Channel  string `json:"channel,omitempty"`
	CustomID string `json:"custom_id"`
}

// customID returns the user's user_custom_id: from the Store, else from the API
// (then cached). A user the API no longer knows gives "".
func (w *watcher) customID(ctx context.Context, userID int64) (string, error) {
	if userID <= 0 {
		return "", nil
	}
	data, err := w.c.store.GetRecord(ctx, userKey(userID))
	if err != nil {
		return "", storeErr("read user record", err)
	}
	var rec userRecord
	if data != nil && json.Unmarshal(data, &rec) == nil {
		return rec.CustomID, nil
	}
	if err := w.pace(ctx); err != nil {
		return "", err
	}
	u, err := w.c.Users.Get(ctx, userID)
	if IsNotFound(err) {
		w.log.Warn("deskie: watch: the reply's user is gone; delivered without UserCustomID", "user_id", userID)
		return "", nil
	}
	if err != nil {
		return "", err
	}
	data, _ = json.Marshal(userRecord{Channel: u.CustomChannel, CustomID: u.CustomID})
	if err := w.c.store.PutRecord(ctx, userKey(userID), data, userRecordTTL); err != nil {
		w.log.Warn("deskie: watch: user not cached", "user_id", userID, "error", storeErr("save user record", err))
	}
	return u.CustomID, nil
}

// newestMessages returns a case's messages created at or after since (and
// perhaps some older ones), oldest first, and the service's time of the first
// answer (zero without a Date header). It asks for the newest first but does not
// rely on it: the order is not documented, so it is read from the answer.
func (w *watcher) newestMessages(ctx context.Context, caseID int64, since time.Time) ([]*Message, time.Time, error) {
	first, total, at, err := w.messagePage(ctx, caseID, 1)
	if err != nil {
		return nil, time.Time{}, err
	}
	out := first
	more := func(page int, items []*Message) bool {
		return len(items) == watchPageLimit && (total < 0 || page*watchPageLimit < total)
	}
	switch {
	case !more(1, first):
		// every message is on the first page
	case messageLess(first[len(first)-1], first[0]):
		// newest first: read on while the pages are not older than since
		for page := 2; page <= maxWatchPages && !out[len(out)-1].CreatedAt.Before(since); page++ {
			items, _, _, err := w.messagePage(ctx, caseID, page)
			if err != nil {
				return nil, time.Time{}, err
			}
			out = append(out, items...)
			if !more(page, items) {
				break
			}
		}
	case total >= 0:
		// oldest first (the API ignored order): read back from the last page
		out = nil
		for page, n := (total+watchPageLimit-1)/watchPageLimit, 0; page >= 1 && n < maxWatchPages; page, n = page-1, n+1 {
			items := first
			if page > 1 {
				if items, _, _, err = w.messagePage(ctx, caseID, page); err != nil {
					return nil, time.Time{}, err
				}
			}
			out = append(out, items...)
			if len(items) == 0 || items[0].CreatedAt.Before(since) {
				break
			}
		}
	default:
		// oldest first with no total_count: read on to the end
		for page := 2; page <= maxWatchPages; page++ {
			items, _, _, err := w.messagePage(ctx, caseID, page)
			if err != nil {
				return nil, time.Time{}, err
			}
			out = append(out, items...)
			if !more(page, items) {
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b *Message) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return slices.CompactFunc(out, func(a, b *Message) bool { return a.ID == b.ID }), at, nil
}

// messagePage reads one page of a case's messages, asking for the newest first.
func (w *watcher) messagePage(ctx context.Context, caseID int64, page int) ([]*Message, int, time.Time, error) {
	env := &listEnvelope[Message]{root: "message"}
	resp, err := w.get(ctx, messagesPath(caseID), &MessageListOptions{Page: page, Limit: watchPageLimit, Order: "desc"}, env)
	if err != nil {
		return nil, 0, time.Time{}, err
	}
	return env.items, env.total, serverTime(resp), nil
}

// messageLess orders messages by creation, then id.
func messageLess(a, b *Message) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return a.ID < b.ID
}

// get sends one of Watch's reads, paced.
func (w *watcher) get(ctx context.Context, path string, q, v any) (*Response, error) {
	if err := w.pace(ctx); err != nil {
		return nil, err
	}
	req, err := w.c.NewRequest(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return nil, err
	}
	return w.c.Do(req, v)
}

// pace waits until Watch may send: its requests are spaced so it spends at most
// its share of the account's limit, and it yields to Send while the account has
// less than a quarter of its window left.
func (w *watcher) pace(ctx context.Context) error {
	r := w.c.Rate()
	var wait time.Duration
	if r.Limit > 0 {
		gap := time.Duration(float64(time.Minute) / (w.cfg.budgetShare * float64(r.Limit)))
		wait = time.Until(w.lastReq.Add(gap))
		if r.Remaining < r.Limit/yieldBelow && time.Since(r.Observed) < time.Minute {
			refresh := time.Minute
			if r.RetryAfter > 0 {
				refresh = min(r.RetryAfter, time.Minute)
			}
			wait = max(wait, time.Until(r.Observed.Add(refresh)))
		}
	}
	if err := sleepCtx(ctx, wait); err != nil {
		return err
	}
	w.lastReq = time.Now()
	return nil
}

// serverTime is the answer's Date (the service's clock), or zero when it has none.
func serverTime(resp *Response) time.Time {
	if resp != nil && resp.Response != nil {
		if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			return t
		}
	}
	return time.Time{}
}

// sleepCtx waits for d, or until ctx ends (its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
