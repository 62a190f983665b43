package main

import (
	"context"
	"net/http"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/examples/internal/pagetext"
	"github.com/deskie-go/deskie/examples/internal/sse"
)

// Agent replies to the customer's open pages: deliver takes them in (from the
// webhook or Replies.Watch), events streams them as server-sent events.

// replyEvent is an agent's reply, as sent to the page.
type replyEvent struct {
	Seq       int64     `json:"seq"`
	CaseID    int64     `json:"case_id"`
	MessageID int64     `json:"message_id"`
	Text      string    `json:"text"`
	At        time.Time `json:"at"`
}

// deliver takes an agent reply (from the webhook or Replies.Watch) to the
// customer's live stream.
func (a *app) deliver(_ context.Context, r *deskie.AgentReply) error {
	if _, ok := findCustomer(r.UserCustomID); !ok {
		return nil // not one of the demo's customers
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.state(r.UserCustomID)
	for _, e := range c.events {
		if e.MessageID == r.MessageID {
			return nil
		}
	}
	if c.userID == 0 {
		c.userID = r.UserID
	}
	c.seq++
	c.events = append(c.events, replyEvent{Seq: c.seq, CaseID: r.CaseID, MessageID: r.MessageID, Text: pagetext.Shorten(pagetext.Plain(r.Content), maxShownRunes), At: time.Now()})
	if len(c.events) > maxEvents {
		c.events = append(c.events[:0:0], c.events[len(c.events)-maxEvents:]...)
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

func (a *app) lastSeq(login string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state(login).seq
}

// events streams the customer's agent replies after ?after= (or Last-Event-ID)
// as server-sent events, with a keep-alive comment every 25 s.
func (a *app) events(w http.ResponseWriter, r *http.Request, who demoCustomer) {
	sse.Serve(w, r, keepAlive, 0, func(after int64) ([]sse.Event, <-chan struct{}) {
		a.mu.Lock()
		defer a.mu.Unlock()
		c := a.state(who.Login)
		var batch []sse.Event
		for _, e := range c.events {
			if e.Seq > after {
				batch = append(batch, sse.Event{Seq: e.Seq, Data: e})
			}
		}
		return batch, c.changed
	})
}
