package deskietest

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// AgentReply adds an agent's reply to a case (the case becomes waiting) and POSTs
// it to the channel's webhook, waiting for the answer. It returns the message id;
// the error is the delivery's (a transport error or a non-2xx answer), the message
// is stored either way. Use [Server.Redeliver] to send it again, or turn
// redelivery on ([WithRedelivery]). The webhook says b_from_api=0: an agent wrote
// it in the helpdesk, not through the API.
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
	_, err := s.addAgentMessage(m)
	return m.ID, err // 0 when the case is unknown
}

// addAgentMessage stores an agent's message and delivers it, returning the
// delivery made (nil when the channel has no webhook).
func (s *Server) addAgentMessage(m *Message) (*Delivery, error) {
	s.mu.Lock()
	c := s.cases[m.CaseID]
	if c == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: case %d", ErrNotFound, m.CaseID)
	}
	if !m.Note {
		s.setStatus(c, StatusWaiting)
	}
	s.appendMessage(m)
	job := s.deliveryFor(m)
	s.mu.Unlock()
	return s.deliverTracked(job)
}

// Redeliver POSTs an agent message's webhook again, as a service retrying a
// delivery would, with the same payload. It is a single attempt: when it fails,
// the redelivery schedule is not started for it.
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
	job.step = -1
	_, err := s.deliverTracked(job)
	return err
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
	// Attempt counts the POSTs of this message's webhook: 1 for the first,
	// 2, 3, … for redeliveries (scheduled or through Redeliver).
	Attempt int
	// At is when it was sent, by the server's clock.
	At time.Time
}

// Deliveries returns every webhook delivery made so far, in order.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// WaitDeliveries blocks until the webhook deliveries being sent have finished
// (those started in the background, for agent answers added through the API, in
// particular). On real time (no [WithClock]) it also waits for the scheduled
// redeliveries to run out — with a long schedule that takes as long; with
// WithClock, scheduled redeliveries wait for [Server.FlushRedeliveries] and are
// not waited for. Do not call it from a webhook receiver the server is
// delivering to: it would wait for itself.
func (s *Server) WaitDeliveries() { _ = s.waitDeliveries(context.Background()) }

// waitDeliveries waits as WaitDeliveries does, until ctx is done.
func (s *Server) waitDeliveries(ctx context.Context) error {
	return s.waitUntil(ctx, func() bool { return s.inflight == 0 && (s.cfg.clockSet || len(s.pending) == 0) })
}

type delivery struct {
	url  string
	form url.Values
	msg  int64
	kase int64
	// step is the schedule's entry that follows a failure of this attempt; -1
	// for a single attempt that never starts the schedule.
	step       int
	generation int
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
	return &delivery{url: ch.WebhookURL, form: f, msg: m.ID, kase: c.ID, generation: s.generation}
}

// deliverAsync sends a delivery in the background; callers hold s.mu, so that
// WaitDeliveries called after the API's answer sees it.
func (s *Server) deliverAsync(job *delivery) {
	if job == nil {
		return
	}
	s.inflight++
	go func() {
		_, _ = s.deliver(job)
		s.mu.Lock()
		s.inflight--
		s.changed()
		s.mu.Unlock()
	}()
}

// deliverTracked sends a delivery now, counted among those in flight.
func (s *Server) deliverTracked(job *delivery) (*Delivery, error) {
	if job == nil {
		return nil, nil
	}
	s.mu.Lock()
	s.inflight++
	s.mu.Unlock()
	d, err := s.deliver(job)
	s.mu.Lock()
	s.inflight--
	s.changed()
	s.mu.Unlock()
	return d, err
}

// deliver POSTs one delivery (form-encoded, as the real service does), records
// it and, when it failed, schedules the next redelivery.
func (s *Server) deliver(job *delivery) (*Delivery, error) {
	s.mu.Lock()
	s.attempts[job.msg]++
	d := Delivery{MessageID: job.msg, CaseID: job.kase, URL: job.url, Form: job.form, Attempt: s.attempts[job.msg], At: s.cfg.clock()}
	s.mu.Unlock()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, job.url, strings.NewReader(job.form.Encode()))
	if err == nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		var resp *http.Response
		if resp, err = s.cfg.webhook.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			_ = resp.Body.Close()
			d.Status = resp.StatusCode
			if resp.StatusCode/100 != 2 {
				err = fmt.Errorf("deskietest: webhook answered %d", resp.StatusCode)
			}
		}
	}
	d.Err = err
	s.mu.Lock()
	defer s.mu.Unlock()
	if job.generation != s.generation {
		return &d, err // begun before a Reset
	}
	s.deliveries = append(s.deliveries, d)
	if err != nil {
		s.scheduleRedelivery(job)
	}
	s.changed()
	return &d, err
}
