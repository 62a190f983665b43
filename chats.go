package deskie

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// ChatsService routes a customer's message from a custom channel into the right
// case, following the vendor's rule for custom channels: correspondence is always
// conducted in the user's last chat, so before adding a message look up that chat
// and check its status.
//
// | the user's last chat                 | what Send does                       | Action              |
// |--------------------------------------|--------------------------------------|---------------------|
// | none (first contact)                 | creates a case with user_custom_id   | ActionCreatedCase   |
// | closed                               | creates a new case                   | ActionCreatedCase   |
// | open / waiting, the one you saved    | adds the message to it               | ActionReplied       |
// | open / waiting, not the one you saved| adds the message to it (an agent     | ActionFollowedMerge |
// |                                      | merged your saved chat into it)      |                     |
//
// Sync (chat-like) and async (mail-like) channels follow the same rule. The
// difference a caller sees is how often the last chat is closed: agents close
// real-time chats quickly, so on a sync channel ActionCreatedCase after a pause is
// normal and the CaseID to save changes often; on an async channel a thread stays
// in one case until an agent closes it.
type ChatsService service

// CustomerMessage is one message a customer wrote in your channel.
type CustomerMessage struct {
	// Channel is the custom channel's code, "cch<N>" (required).
	Channel string
	// UserCustomID is your own id of the customer (required).
	UserCustomID string
	// UserID is the Deskie user id saved from an earlier SendResult; 0 when not
	// known yet (first contact: Send then looks the user up by custom id).
	UserID int64
	// LastCaseID is the case id saved from an earlier SendResult; 0 if none.
	LastCaseID int64
	// UserFullName, UserEmail and UserPhone are recorded when a case is created;
	// an e-mail or phone links that profile to the customer's history.
	UserFullName, UserEmail, UserPhone string
	// Subject is used when a case is created; by default the start of the content.
	Subject string
	// Content or ContentHTML is the message (one is required, unless
	// AttachmentURLs has files).
	Content, ContentHTML string
	// AttachmentURLs are files the service downloads and attaches.
	AttachmentURLs []string
}

func (m *CustomerMessage) validate() error {
	if m == nil {
		return &ArgumentError{Field: "CustomerMessage", Reason: "nil"}
	}
	if err := checkChannel("CustomerMessage.Channel", m.Channel); err != nil {
		return err
	}
	if strings.TrimSpace(m.UserCustomID) == "" {
		return &ArgumentError{Field: "CustomerMessage.UserCustomID", Reason: "empty: your id of the customer is needed to create their cases"}
	}
	if m.UserID < 0 {
		return &ArgumentError{Field: "CustomerMessage.UserID", Reason: fmt.Sprintf("%d is negative", m.UserID)}
	}
	if m.LastCaseID < 0 {
		return &ArgumentError{Field: "CustomerMessage.LastCaseID", Reason: fmt.Sprintf("%d is negative", m.LastCaseID)}
	}
	if strings.TrimSpace(m.Content) == "" && strings.TrimSpace(m.ContentHTML) == "" && len(m.AttachmentURLs) == 0 {
		return &ArgumentError{Field: "CustomerMessage.Content", Reason: "empty: a message needs Content, ContentHTML or AttachmentURLs"}
	}
	return nil
}

// Action is what [ChatsService.Send] did with a message.
type Action string

// The routing outcomes.
const (
	// ActionReplied: the message was added to the open/waiting last chat.
	ActionReplied Action = "replied"
	// ActionCreatedCase: there was no chat, or the last chat was closed; a case
	// was created.
	ActionCreatedCase Action = "created_case"
	// ActionFollowedMerge: the saved chat is no longer the last one (an agent
	// merged it); the message was added to the last chat.
	ActionFollowedMerge Action = "followed_merge"
)

// SendResult says where a message went. Save UserID and CaseID on your side and
// pass them back as CustomerMessage.UserID and LastCaseID with the next message.
type SendResult struct {
	Action Action
	// CaseID is the case the message is in now.
	CaseID int64
	// UserID is the customer's Deskie user id.
	UserID int64
	// Message is the added message (nil when a case was created: the message is
	// the case's first one).
	Message *Message
	// Case is the case written into or created.
	Case *Case
}

// Decide is the routing rule as a pure function: given the case id you saved (0
// if none) and the user's last chat (nil if none), it says what to do.
//   - no chat, or the last chat closed → ActionCreatedCase;
//   - last chat open or waiting (the article's "pending" is accepted too), and it
//     is the saved one or nothing is saved → ActionReplied;
//   - last chat open or waiting but not the saved one → ActionFollowedMerge.
//
// A status the SDK does not know is treated as open: the write then tells.
func Decide(lastCaseID int64, last *Case) Action {
	if last == nil || strings.EqualFold(string(last.Status), string(StatusClosed)) {
		return ActionCreatedCase
	}
	if lastCaseID == 0 || lastCaseID == last.ID {
		return ActionReplied
	}
	return ActionFollowedMerge
}

// LastChat returns the user's last chat, or nil, nil when the user has none. It
// lists the user's cases (user_id and show_active_chats=true, newest first) and
// picks the newest by created_at (ties: the higher id), skipping deleted and spam
// cases, which are not chats to write into. Should the API ignore the sort and
// answer oldest first, the last page is read too.
func (s *ChatsService) LastChat(ctx context.Context, userID int64) (*Case, error) {
	return s.lastChat(ctx, userID, "")
}

// LastChatIn is [ChatsService.LastChat] limited to one channel's cases.
func (s *ChatsService) LastChatIn(ctx context.Context, userID int64, channel string) (*Case, error) {
	if err := checkChannel("channel", channel); err != nil {
		return nil, err
	}
	return s.lastChat(ctx, userID, channel)
}

func (s *ChatsService) lastChat(ctx context.Context, userID int64, channel string) (*Case, error) {
	if err := checkID("userID", userID); err != nil {
		return nil, err
	}
	opt := &CaseListOptions{UserID: []int64{userID}, ShowActiveChats: true, Sort: "created_at_desc", Limit: maxLimit}
	if channel != "" {
		opt.Channel = []string{channel}
	}
	l, err := (*CasesService)(s).List(ctx, opt)
	if err != nil {
		return nil, err
	}
	cases := l.Cases
	if n := len(cases); l.TotalCount > n && n > 1 && cases[0].CreatedAt.Before(cases[n-1].CreatedAt) {
		// The API's default order is undocumented: a first page that runs oldest
		// first means the sort was ignored, and the newest cases are on the last page.
		opt.Page = min((l.TotalCount+maxLimit-1)/maxLimit, maxPage)
		tail, err := (*CasesService)(s).List(ctx, opt)
		if err != nil {
			return nil, err
		}
		cases = append(cases, tail.Cases...)
	}
	var last *Case
	for _, c := range cases {
		// The filters are checked again here: how the API reads list filters is not
		// documented, and writing into another user's case must never happen.
		if c.Deleted || c.Spam || c.UserID != userID || (channel != "" && c.Channel != "" && c.Channel != channel) {
			continue
		}
		if last == nil || c.CreatedAt.After(last.CreatedAt) || (c.CreatedAt.Equal(last.CreatedAt) && c.ID > last.ID) {
			last = c
		}
	}
	return last, nil
}

// Send puts a customer's message into the right case (see [ChatsService] for the
// rule) and returns where it went:
//   - first contact (UserID 0): the user is looked up by (Channel, UserCustomID) so a
//     lost mapping does not split the customer's history; with no user, a case is
//     created with user_custom_id, channel, the name/e-mail/phone given and a
//     subject (by default the start of the content);
//   - otherwise: LastChat, [Decide], then the message is added as the customer
//     (user_id) or a case is created.
//
// Send never writes twice for one message: when a write fails ambiguously
// ([ErrAmbiguous]) it looks before it writes again — it re-reads the last chat and
// its newest customer message, and re-sends only when the message is not there
// (a message counts as there when the newest customer message of the last chat has
// the same content, was created within the last few minutes, and is not the one
// the previous Send of a burst added). When the chat was closed or merged between
// the look and the write (case_not_found), Send decides again once and writes to
// the right place.
//
// Sends for one customer (Channel, UserCustomID) take turns within a Client, so a
// burst of their messages opens one case, not one per message; a Send given the
// same UserID and LastCaseID as the previous one in the burst continues from where
// that one went. A Send waiting for its turn gives up when ctx is done. Across
// processes, route a customer's messages to one of them.
func (s *ChatsService) Send(ctx context.Context, m *CustomerMessage) (*SendResult, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	turn, err := s.client.customers.wait(ctx, m.Channel+"\x00"+m.UserCustomID)
	if err != nil {
		return nil, err
	}
	defer turn.done()
	userID, saved := m.UserID, m.LastCaseID
	if turn.prev != nil && turn.from == [2]int64{userID, saved} {
		// The caller sent this with what the previous message of the burst knew:
		// continue from where that one went, as if the caller had waited for it.
		userID, saved = turn.prev.UserID, turn.prev.CaseID
	}
	r := &router{chats: s, m: m, userID: userID, saved: saved, start: time.Now()}
	if turn.prev != nil && turn.prev.Message != nil {
		r.notMine = turn.prev.Message.ID // "ok", "ok": the first is not the second
	}
	res, err := r.run(ctx)
	if err == nil {
		turn.from, turn.prev = [2]int64{m.UserID, m.LastCaseID}, res
	}
	return res, err
}

// customerLocks gives one customer's Sends turns, one at a time, within a Client.
// A chat app sends a burst when a user types fast, often before it has saved the
// ids the first message returns; run at once, every message of such a burst would
// find no chat (or the closed one) and open a case of its own. In turns, the first
// creates the case and the next ones write into it. An entry lives only while a
// Send of that customer holds or waits for it.
type customerLocks struct {
	mu    sync.Mutex
	turns map[string]*customerTurn
}

// customerTurn is one customer's entry: a one-slot semaphore, how many Sends hold
// or wait for it, and what the previous Send in the burst was given and returned.
type customerTurn struct {
	slot  chan struct{}
	refs  int // guarded by customerLocks.mu
	owner *customerLocks
	key   string

	// guarded by slot: the previous Send's UserID/LastCaseID and its result.
	from [2]int64
	prev *SendResult
}

// wait blocks until it is key's turn or ctx is done.
func (l *customerLocks) wait(ctx context.Context, key string) (*customerTurn, error) {
	l.mu.Lock()
	if l.turns == nil {
		l.turns = make(map[string]*customerTurn)
	}
	t := l.turns[key]
	if t == nil {
		t = &customerTurn{slot: make(chan struct{}, 1), owner: l, key: key}
		l.turns[key] = t
	}
	t.refs++
	l.mu.Unlock()
	select {
	case t.slot <- struct{}{}:
		return t, nil
	case <-ctx.Done():
		t.release()
		return nil, ctx.Err()
	}
}

// done ends the turn and lets the next Send of the customer go.
func (t *customerTurn) done() {
	<-t.slot
	t.release()
}

func (t *customerTurn) release() {
	l := t.owner
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.refs--; t.refs == 0 {
		delete(l.turns, t.key)
	}
}

// router carries one Send through its look / decide / write steps.
type router struct {
	chats  *ChatsService
	m      *CustomerMessage
	userID int64
	saved  int64
	start  time.Time
	// notMine is the message the previous Send of a burst added: when a write is
	// ambiguous, finding that one does not mean this one landed.
	notMine int64
}

// freshness is how far back a message found after an ambiguous write may have
// been created and still count as ours (clock skew between us and the API).
const freshness = 5 * time.Minute

func (r *router) run(ctx context.Context) (*SendResult, error) {
	resent, redecided := false, false
	for {
		action, target, err := r.decide(ctx)
		if err != nil {
			return nil, err
		}
		res, err := r.write(ctx, action, target)
		if err == nil {
			return res, nil
		}
		switch {
		case errors.Is(err, ErrAmbiguous):
			found, lookErr := r.look(ctx, action, target)
			if lookErr != nil {
				return nil, fmt.Errorf("%w; looking whether it landed also failed: %w", err, lookErr)
			}
			if found != nil {
				r.chats.client.logger.Info("deskie: ambiguous write had landed; not sending again", "action", found.Action, "case_id", found.CaseID)
				return found, nil
			}
			if resent {
				return nil, err // still unknown after one re-send: the caller decides
			}
			resent = true
		case target != nil && isGone(err) && !redecided:
			r.saved = target.ID
			redecided = true
		default:
			return nil, err
		}
	}
}

// knownUser makes sure r.userID is set, looking the user up by (channel, custom
// id) when the caller did not know it; false means no such user exists yet.
func (r *router) knownUser(ctx context.Context) (bool, error) {
	if r.userID != 0 {
		return true, nil
	}
	u, err := r.chats.client.Users.FindByCustomID(ctx, r.m.Channel, r.m.UserCustomID)
	if err != nil || u == nil {
		return false, err
	}
	r.userID = u.ID
	return true, nil
}

// decide finds the user (first contact) and the last chat, and applies Decide.
func (r *router) decide(ctx context.Context) (Action, *Case, error) {
	known, err := r.knownUser(ctx)
	if err != nil {
		return "", nil, err
	}
	if !known {
		return ActionCreatedCase, nil, nil
	}
	last, err := r.chats.lastChat(ctx, r.userID, r.m.Channel)
	if err != nil {
		return "", nil, err
	}
	return Decide(r.saved, last), last, nil
}

func (r *router) write(ctx context.Context, action Action, last *Case) (*SendResult, error) {
	m := r.m
	if action == ActionCreatedCase {
		c, err := r.chats.client.Cases.Create(ctx, &CaseCreate{
			Channel: m.Channel, UserCustomID: m.UserCustomID, UserFullName: m.UserFullName,
			UserEmail: m.UserEmail, UserPhone: m.UserPhone, Subject: r.subject(),
			Content: m.Content, ContentHTML: m.ContentHTML, AttachmentURLs: m.AttachmentURLs,
		})
		if err != nil {
			return nil, err
		}
		if c.UserID != 0 {
			r.userID = c.UserID
		}
		return &SendResult{Action: action, CaseID: c.ID, UserID: r.userID, Case: c}, nil
	}
	msg, err := r.chats.client.Messages.Create(ctx, last.ID, &MessageCreate{
		UserID: r.userID, Content: m.Content, ContentHTML: m.ContentHTML, AttachmentURLs: m.AttachmentURLs,
	})
	if err != nil {
		return nil, err
	}
	return &SendResult{Action: action, CaseID: last.ID, UserID: r.userID, Message: msg, Case: last}, nil
}

// look checks, after an ambiguous write, whether the message landed anyway: it
// re-reads the user's last chat and compares its newest customer message.
func (r *router) look(ctx context.Context, action Action, before *Case) (*SendResult, error) {
	if known, err := r.knownUser(ctx); err != nil || !known {
		return nil, err
	}
	last, err := r.chats.lastChat(ctx, r.userID, r.m.Channel)
	if err != nil || last == nil {
		return nil, err
	}
	if action == ActionCreatedCase && before != nil && last.ID == before.ID {
		return nil, nil // no new case appeared
	}
	msg, err := r.newestCustomerMessage(ctx, last.ID)
	if err != nil || msg == nil || (r.notMine != 0 && msg.ID == r.notMine) || !r.same(msg) {
		return nil, err
	}
	res := &SendResult{Action: action, CaseID: last.ID, UserID: r.userID, Case: last}
	if action != ActionCreatedCase {
		if before != nil && last.ID != before.ID {
			return nil, nil // the chat changed under us: not where we wrote
		}
		res.Message = msg
	}
	return res, nil
}

func (r *router) newestCustomerMessage(ctx context.Context, caseID int64) (*Message, error) {
	msgs := r.chats.client.Messages
	l, err := msgs.List(ctx, caseID, &MessageListOptions{Limit: maxLimit})
	if err != nil {
		return nil, err
	}
	list := l.Messages
	if l.TotalCount > len(list) && len(list) == maxLimit {
		lastPage := min((l.TotalCount+maxLimit-1)/maxLimit, maxPage)
		tail, err := msgs.List(ctx, caseID, &MessageListOptions{Page: lastPage, Limit: maxLimit})
		if err != nil {
			return nil, err
		}
		list = tail.Messages
	}
	var newest *Message
	for _, msg := range list {
		if msg.UserID != r.userID || msg.StaffID != 0 {
			continue
		}
		if newest == nil || msg.CreatedAt.After(newest.CreatedAt) || (msg.CreatedAt.Equal(newest.CreatedAt) && msg.ID > newest.ID) {
			newest = msg
		}
	}
	return newest, nil
}

func (r *router) same(msg *Message) bool {
	if !msg.CreatedAt.IsZero() && msg.CreatedAt.Before(r.start.Add(-freshness)) {
		return false
	}
	if r.m.Content != "" {
		return strings.TrimSpace(msg.Content) == strings.TrimSpace(r.m.Content)
	}
	if r.m.ContentHTML != "" {
		return strings.TrimSpace(msg.ContentHTML) == strings.TrimSpace(r.m.ContentHTML) ||
			strings.TrimSpace(msg.Content) == strings.TrimSpace(stripTags(r.m.ContentHTML))
	}
	return len(msg.Attachments) == len(r.m.AttachmentURLs)
}

// isGone reports whether a message write failed because its case is gone or
// closed (merged away, deleted, closed between the look and the write).
func isGone(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	return IsNotFound(err) || strings.Contains(e.Code, "closed")
}

const maxSubjectRunes = 80

var tagPattern = regexp.MustCompile(`<[^>]*>`)

func stripTags(html string) string { return tagPattern.ReplaceAllString(html, " ") }

// subject is the caller's subject, or the first line of the content cut to 80
// characters, or a fallback naming the customer.
func (r *router) subject() string {
	if s := strings.TrimSpace(r.m.Subject); s != "" {
		return s
	}
	text := r.m.Content
	if strings.TrimSpace(text) == "" {
		text = stripTags(r.m.ContentHTML)
	}
	for line := range strings.Lines(text) {
		line = strings.Join(strings.Fields(line), " ")
		if line == "" {
			continue
		}
		if utf8.RuneCountInString(line) > maxSubjectRunes {
			runes := []rune(line)
			line = strings.TrimSpace(string(runes[:maxSubjectRunes-1])) + "…"
		}
		return line
	}
	name := r.m.UserFullName
	if name == "" {
		name = r.m.UserCustomID
	}
	return "Message from " + name
}
