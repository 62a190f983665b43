package deskietest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ErrNotFound is returned by the test controls for an unknown case, channel or
// message.
var ErrNotFound = errors.New("deskietest: not found")

// AddChannel creates a custom channel and returns its code ("cch1", "cch2", …).
// Agent replies in its cases are POSTed to webhookURL (none when empty).
func (s *Server) AddChannel(title string, typ ChannelType, webhookURL string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := int64(len(s.channels) + 1)
	code := "cch" + strconv.FormatInt(id, 10)
	s.channels = append(s.channels, &Channel{ID: id, Code: code, Title: title, Type: cmp.Or(typ, ChannelAsync), WebhookURL: webhookURL, Active: true})
	return code
}

// SetWebhookURL changes a channel's webhook URL.
func (s *Server) SetWebhookURL(code, webhookURL string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.channelByCode(code)
	if ch == nil {
		return fmt.Errorf("%w: channel %q", ErrNotFound, code)
	}
	ch.WebhookURL = webhookURL
	return nil
}

// Channels returns the custom channels.
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Channel, len(s.channels))
	for i, c := range s.channels {
		out[i] = *c
	}
	return out
}

// Cases returns every case (merged-away ones excluded), oldest first.
func (s *Server) Cases() []Case {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Case, 0, len(s.cases))
	for _, c := range s.cases {
		out = append(out, c.clone())
	}
	slices.SortFunc(out, func(a, b Case) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Case returns one case.
func (s *Server) Case(id int64) (Case, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cases[id]
	if c == nil {
		return Case{}, false
	}
	return c.clone(), true
}

// Messages returns a case's messages in order.
func (s *Server) Messages(caseID int64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.messages[caseID]))
	for _, m := range s.messages[caseID] {
		out = append(out, m.clone())
	}
	return out
}

// AllMessages returns the messages of every case, in case order.
func (s *Server) AllMessages() []Message {
	var out []Message
	for _, c := range s.Cases() {
		out = append(out, s.Messages(c.ID)...)
	}
	return out
}

// Users returns every user profile, by id.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u.clone())
	}
	slices.SortFunc(out, func(a, b User) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// UserByCustomID returns the custom-channel user with that id on channel.
func (s *Server) UserByCustomID(channel, customID string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.customUser(channel, customID)
	if u == nil {
		return User{}, false
	}
	return u.clone(), true
}

// CloseCase closes a case. The fake refuses a customer's message to a closed
// case with 400 {"error":"case_closed"} — the real service's answer is not
// documented; a client should then create a new case (the vendor's rule).
func (s *Server) CloseCase(id int64) error { return s.SetStatus(id, StatusClosed) }

// SetStatus sets a case's status (open, waiting, closed).
func (s *Server) SetStatus(id int64, status string) error {
	if status != StatusOpen && status != StatusWaiting && status != StatusClosed {
		return fmt.Errorf("deskietest: unknown status %q", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cases[id]
	if c == nil {
		return fmt.Errorf("%w: case %d", ErrNotFound, id)
	}
	s.setStatus(c, status)
	return nil
}

// SetDeleted moves a case to (or out of) the trash.
func (s *Server) SetDeleted(id int64, deleted bool) error {
	return s.editCase(id, func(c *Case) { c.Deleted = deleted })
}

// SetSpam marks a case as spam (or not).
func (s *Server) SetSpam(id int64, spam bool) error {
	return s.editCase(id, func(c *Case) { c.Spam = spam })
}

func (s *Server) editCase(id int64, edit func(*Case)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cases[id]
	if c == nil {
		return fmt.Errorf("%w: case %d", ErrNotFound, id)
	}
	edit(c)
	c.UpdatedAt = s.now()
	return nil
}

// MergeCases merges case from into case into, as an agent does: from's messages
// move into into (kept in date order) and from disappears — GET /api/cases/{from}.json
// and posting to it answer 404 {"error":"case_not_found"} afterwards. (The real
// service's behavior for merged ids is not documented; this is what the vendor's
// article implies: "there is no chat whose ID is saved on your side".)
func (s *Server) MergeCases(from, into int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, dst := s.cases[from], s.cases[into]
	if src == nil || dst == nil || from == into {
		return fmt.Errorf("%w: cases %d → %d", ErrNotFound, from, into)
	}
	moved := s.messages[from]
	for _, m := range moved {
		m.CaseID = into
	}
	all := append(s.messages[into], moved...)
	slices.SortStableFunc(all, func(a, b *Message) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	s.messages[into] = all
	delete(s.messages, from)
	s.removeCase(from)
	s.merged[from] = into
	dst.UpdatedAt = s.now()
	return nil
}

// MergedInto reports the case a merged-away case went into.
func (s *Server) MergedInto(from int64) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	into, ok := s.merged[from]
	return into, ok
}

// AgentReply adds an agent's reply to a case (the case becomes waiting) and POSTs
// it to the channel's webhook, waiting for the answer. It returns the message id;
// the error is the delivery's (a transport error or a non-2xx answer), the message
// is stored either way. Use [Server.Redeliver] to send it again.
func (s *Server) AgentReply(caseID, staffID int64, text string) (int64, error) {
	return s.agentMessage(&Message{CaseID: caseID, StaffID: staffID, Content: text})
}

// RuleReply adds a message produced by an automation rule (sent_via_rule=1) and
// delivers it like [Server.AgentReply].
func (s *Server) RuleReply(caseID int64, text string) (int64, error) {
	return s.agentMessage(&Message{CaseID: caseID, SentViaRule: true, Content: text})
}

// AgentNote adds an internal note (note=1) and delivers it like
// [Server.AgentReply]. Whether the real service delivers notes at all is not
// documented; a receiver must drop them either way.
func (s *Server) AgentNote(caseID, staffID int64, text string) (int64, error) {
	return s.agentMessage(&Message{CaseID: caseID, StaffID: staffID, Note: true, Content: text})
}

func (s *Server) agentMessage(m *Message) (int64, error) {
	s.mu.Lock()
	c := s.cases[m.CaseID]
	if c == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("%w: case %d", ErrNotFound, m.CaseID)
	}
	if !m.Note {
		s.setStatus(c, StatusWaiting)
	}
	s.appendMessage(m)
	job := s.deliveryFor(m)
	s.mu.Unlock()
	return m.ID, s.deliver(job)
}

// Redeliver POSTs an agent message's webhook again, as a service retrying a
// delivery would, with the same payload.
func (s *Server) Redeliver(messageID int64) error {
	s.mu.Lock()
	var job *delivery
	for _, msgs := range s.messages {
		for _, m := range msgs {
			if m.ID == messageID {
				job = s.deliveryFor(m)
			}
		}
	}
	s.mu.Unlock()
	if job == nil {
		return fmt.Errorf("%w: message %d", ErrNotFound, messageID)
	}
	return s.deliver(job)
}

// Delivery is one webhook POST the server made.
type Delivery struct {
	MessageID int64
	CaseID    int64
	URL       string
	Form      url.Values
	// Status is the receiver's answer; 0 when it could not be reached.
	Status int
	Err    error
}

// Deliveries returns every webhook delivery made so far, in order.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// WaitDeliveries blocks until webhook deliveries started in the background (for
// agent answers added through the API) have finished.
func (s *Server) WaitDeliveries() { s.background.Wait() }

type delivery struct {
	url  string
	form url.Values
	msg  int64
	kase int64
}

// deliveryFor builds the form the real service POSTs; callers hold s.mu.
func (s *Server) deliveryFor(m *Message) *delivery {
	c := s.cases[m.CaseID]
	if c == nil {
		return nil
	}
	ch := s.channelByCode(c.Channel)
	if ch == nil || ch.WebhookURL == "" {
		return nil
	}
	customID := ""
	if u := s.users[c.UserID]; u != nil {
		customID = u.CustomID
	}
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	f := url.Values{}
	f.Set("type", "message_new")
	f.Set("object[message_id]", strconv.FormatInt(m.ID, 10))
	f.Set("object[case_id]", strconv.FormatInt(c.ID, 10))
	f.Set("object[staff_id]", strconv.FormatInt(m.StaffID, 10))
	f.Set("object[user_id]", strconv.FormatInt(c.UserID, 10))
	f.Set("object[custom_user_id]", customID)
	f.Set("object[content]", cmp.Or(m.Content, m.ContentHTML))
	f.Set("object[note]", flag(m.Note))
	f.Set("object[sent_via_rule]", flag(m.SentViaRule))
	f.Set("object[b_from_api]", flag(m.FromAPI))
	for i, file := range m.Attachments {
		f.Set(fmt.Sprintf("object[attachments][%d][url]", i), file.URL)
		f.Set(fmt.Sprintf("object[attachments][%d][file_name]", i), file.Name)
	}
	return &delivery{url: ch.WebhookURL, form: f, msg: m.ID, kase: c.ID}
}

func (s *Server) deliverAsync(job *delivery) {
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		_ = s.deliver(job)
	}()
}

// deliver POSTs one delivery (form-encoded, as the real service does).
func (s *Server) deliver(job *delivery) error {
	if job == nil {
		return nil
	}
	d := Delivery{MessageID: job.msg, CaseID: job.kase, URL: job.url, Form: job.form}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, job.url, strings.NewReader(job.form.Encode()))
	if err == nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		var resp *http.Response
		if resp, err = s.cfg.webhook.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			d.Status = resp.StatusCode
			if resp.StatusCode/100 != 2 {
				err = fmt.Errorf("deskietest: webhook answered %d", resp.StatusCode)
			}
		}
	}
	d.Err = err
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	s.mu.Unlock()
	return err
}

// SeedCases creates n cases (each with one customer message) for the user with
// customID on channel, without going through HTTP: volume data for list and
// pagination tests. It returns the new case ids, oldest first.
func (s *Server) SeedCases(channel, customID string, n int) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.channelByCode(channel) == nil {
		return nil, fmt.Errorf("%w: channel %q", ErrNotFound, channel)
	}
	u := s.customUser(channel, customID)
	if u == nil {
		u = s.newUser(&User{CustomID: customID, Channel: channel})
	}
	ids := make([]int64, 0, n)
	for i := range n {
		s.nextCase++
		c := &Case{ID: s.nextCase, Number: caseNumber(s.nextCase), Subject: fmt.Sprintf("Seeded case %d", i+1),
			UserID: u.ID, Status: StatusOpen, Priority: "normal", Channel: channel, CreatedAt: s.now(), UpdatedAt: s.now()}
		s.addCase(c)
		s.appendMessage(&Message{CaseID: c.ID, UserID: u.ID, Content: c.Subject})
		ids = append(ids, c.ID)
	}
	return ids, nil
}
