package deskie

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Send puts a customer's message into the right case (see [ChatsService] for the
// rule) and returns where it went:
//   - first contact (UserID 0): the user is looked up by (Channel, UserCustomID) so a
//     lost mapping does not split the customer's history; with no user, a case is
//     created with user_custom_id, channel, the name/e-mail/phone given and a
//     subject (by default the start of the content);
//   - otherwise: the UserID is checked once to belong to (Channel, UserCustomID)
//     (a mixed-up id is an error naming both, and nothing is written), then the
//     last chat is read (one small read) and the message added (one write).
//
// Send never writes twice for one message. When a write fails ambiguously
// ([ErrAmbiguous]: a 5xx, a connection lost after sending, an unreadable 2xx), it
// looks before it writes again: it reads the user's recently updated cases and
// their newest customer messages, and counts the message as landed when one with
// the same content and attachments appeared since the write began that no other
// Send of this customer wrote — wherever it lives now (a merge moves it). When
// the chat was closed or merged between the look and the write, Send decides
// again once and writes to the right place.
//
// Sends for one customer take turns (through the Client's [Store], so across
// replicas too): a burst opens one case, not one per message, and a Send given the
// same UserID and LastCaseID as the previous one continues from where that one
// went. A Send waiting for its turn gives up when ctx is done.
//
// With an IdempotencyKey, a repeat of a Send returns the first outcome without
// writing, and a repeat of one whose write ended unknown looks before it writes;
// every error Send returns is safe to retry with the same key. Errors that need
// the Store wrap a [*StoreError].
func (s *ChatsService) Send(ctx context.Context, m *CustomerMessage) (*SendResult, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	c := s.client
	t, err := c.takeTurn(ctx, m.Channel, m.UserCustomID)
	if err != nil {
		return nil, err
	}
	defer t.done()

	r := &router{chats: s, m: m, turn: t, userID: m.UserID, saved: m.LastCaseID, start: time.Now()}
	if prev := t.state.Prev; prev != nil && t.state.From == [2]int64{m.UserID, m.LastCaseID} {
		// The caller sent this with what the previous message of the burst knew:
		// continue from where that one went, as if the caller had waited for it.
		r.userID, r.saved = prev.UserID, prev.CaseID
	}
	r.after = t.state.lastMessageID()
	var rec *sendRecord
	if m.IdempotencyKey != "" {
		if rec, err = r.readRecord(ctx); err != nil {
			return nil, err
		}
		if rec != nil && rec.Print != "" && rec.Print != r.print() {
			return nil, &ArgumentError{Field: "CustomerMessage.IdempotencyKey", Reason: fmt.Sprintf(
				"%q was used for a different message of this customer; nothing was sent", m.IdempotencyKey)}
		}
		if rec != nil && rec.State == recordDone {
			return rec.result(), nil
		}
		if rec != nil { // pending: the first attempt's write ended unknown (or it crashed)
			r.start, r.after, r.lookFirst = rec.Start, rec.After, true
		} else if err := r.writeRecord(ctx, &sendRecord{State: recordPending, Start: r.start, Print: r.print(), After: r.after}); err != nil {
			return nil, err
		}
	}
	res, err := r.run(ctx)
	if err != nil {
		return nil, err
	}
	t.state.From, t.state.Prev = [2]int64{m.UserID, m.LastCaseID}, res.trace()
	if m.IdempotencyKey != "" {
		if err := r.writeRecord(context.WithoutCancel(ctx), doneRecord(r.start, r.print(), res)); err != nil {
			// Written to Deskie; only the record failed. A repeat will look first.
			c.logger.Warn("deskie: message sent but its idempotency record was not saved", "case_id", res.CaseID, "error", err)
		}
	}
	return res, nil
}

func (res *SendResult) trace() *sendTrace {
	t := &sendTrace{Action: res.Action, CaseID: res.CaseID, UserID: res.UserID}
	if res.Message != nil {
		t.MessageID = res.Message.ID
	}
	return t
}

// An idempotency record: pending from before the first write until the outcome
// is known, then done with the outcome.
type sendRecord struct {
	State   string    `json:"state"`
	Start   time.Time `json:"start"`
	Print   string    `json:"fp,omitempty"`    // the message's fingerprint: a key reused for another message is refused
	After   int64     `json:"after,omitempty"` // the newest message id known when the first attempt began
	Action  Action    `json:"action,omitempty"`
	CaseID  int64     `json:"case_id,omitempty"`
	UserID  int64     `json:"user_id,omitempty"`
	Message *Message  `json:"message,omitempty"`
	Case    *Case     `json:"case,omitempty"`
}

const (
	recordPending = "pending"
	recordDone    = "done"
)

func doneRecord(start time.Time, print string, res *SendResult) *sendRecord {
	return &sendRecord{State: recordDone, Start: start, Print: print, Action: res.Action, CaseID: res.CaseID,
		UserID: res.UserID, Message: res.Message, Case: res.Case}
}

func (rec *sendRecord) result() *SendResult {
	return &SendResult{Action: rec.Action, CaseID: rec.CaseID, UserID: rec.UserID, Message: rec.Message, Case: rec.Case}
}

func (r *router) recordKey() string {
	return idemKey(r.m.Channel, r.m.UserCustomID, r.m.IdempotencyKey)
}

func (r *router) readRecord(ctx context.Context) (*sendRecord, error) {
	data, err := r.chats.client.store.GetRecord(ctx, r.recordKey())
	if err != nil {
		return nil, storeErr("read idempotency record", err)
	}
	if len(data) == 0 {
		return nil, nil
	}
	var rec recordWire
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, storeErr("read idempotency record", fmt.Errorf("unreadable record: %w", err))
	}
	return rec.record(), nil
}

func (r *router) writeRecord(ctx context.Context, rec *sendRecord) error {
	data, err := json.Marshal(newRecordWire(rec))
	if err == nil {
		err = r.chats.client.store.PutRecord(ctx, r.recordKey(), data, defaultIdempotencyTTL)
	}
	return storeErr("write idempotency record", err)
}

// recordWire is a sendRecord as stored: Message and Case in plain Go field names
// (their JSON methods read the API's wire form, not this).
type recordWire struct {
	sendRecord
	Message *messageRecord `json:"message,omitempty"`
	Case    *caseRecord    `json:"case,omitempty"`
}

type messageRecord Message

type caseRecord struct {
	ID        int64      `json:"id"`
	Number    string     `json:"number,omitempty"`
	Subject   string     `json:"subject,omitempty"`
	UserID    int64      `json:"user_id,omitempty"`
	Status    CaseStatus `json:"status,omitempty"`
	Channel   string     `json:"channel,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

func newRecordWire(rec *sendRecord) *recordWire {
	w := &recordWire{sendRecord: *rec}
	w.sendRecord.Message, w.sendRecord.Case = nil, nil
	if rec.Message != nil {
		w.Message = (*messageRecord)(rec.Message)
	}
	if c := rec.Case; c != nil {
		w.Case = &caseRecord{ID: c.ID, Number: c.Number, Subject: c.Subject, UserID: c.UserID, Status: c.Status, Channel: c.Channel, CreatedAt: c.CreatedAt}
	}
	return w
}

func (w *recordWire) record() *sendRecord {
	rec := w.sendRecord
	if w.Message != nil {
		rec.Message = (*Message)(w.Message)
	}
	if c := w.Case; c != nil {
		rec.Case = &Case{ID: c.ID, Number: c.Number, Subject: c.Subject, UserID: c.UserID, Status: c.Status, Channel: c.Channel, CreatedAt: c.CreatedAt}
	}
	return &rec
}

// maxResends bounds how often Send writes again after a write that ended unknown
// and a look that did not find it.
const maxResends = 2

// router carries one Send through its look / decide / write steps.
type router struct {
	chats  *ChatsService
	m      *CustomerMessage
	turn   *turn
	userID int64
	saved  int64
	start  time.Time
	// after is the newest message id an earlier Send of this customer wrote when
	// this message's first attempt began: ids only grow, so ours is above it.
	after     int64
	lookFirst bool
}

func (r *router) run(ctx context.Context) (*SendResult, error) {
	if r.lookFirst {
		if err := r.turn.check(); err != nil {
			return nil, err
		}
		found, err := r.look(ctx, "")
		if err != nil {
			return nil, fmt.Errorf("deskie: looking whether an earlier attempt of this message landed: %w", err)
		}
		if found != nil {
			return found, nil
		}
	}
	resends, redecided := 0, false
	for {
		action, target, err := r.decide(ctx)
		if err != nil {
			return nil, err
		}
		if err := r.turn.check(); err != nil {
			return nil, err
		}
		res, err := r.write(ctx, action, target)
		if err == nil {
			return res, nil
		}
		if lost := r.turn.check(); lost != nil {
			// Another replica may hold the customer now: no look, no second write.
			return nil, errors.Join(err, lost)
		}
		switch {
		case errors.Is(err, ErrAmbiguous):
			found, lookErr := r.look(ctx, action)
			if lookErr != nil {
				return nil, fmt.Errorf("%w; looking whether it landed also failed: %w", err, lookErr)
			}
			if found != nil {
				r.chats.client.logger.Info("deskie: ambiguous write had landed; not sending again", "action", found.Action, "case_id", found.CaseID)
				return found, nil
			}
			if resends == maxResends {
				return nil, err // still unknown: the caller decides (a repeat with the key looks first)
			}
			resends++
		case target != nil && isGone(err) && !redecided:
			r.saved = target.ID
			redecided = true
		default:
			return nil, err
		}
	}
}

// knownUser makes sure r.userID is set and belongs to the customer: looked up by
// (channel, custom id) when the caller did not know it (false: no such user yet),
// checked once per customer when the caller gave it.
func (r *router) knownUser(ctx context.Context) (bool, error) {
	st := &r.turn.state
	if r.userID == 0 && st.Verified != 0 {
		r.userID = st.Verified // an earlier Send of this customer found or made the user
	}
	if r.userID != 0 && r.userID == st.Verified {
		return true, nil
	}
	u, err := r.chats.client.Users.FindByCustomID(ctx, r.m.Channel, r.m.UserCustomID)
	if err != nil {
		return false, err
	}
	if r.userID != 0 && (u == nil || u.ID != r.userID) {
		owner := "no user"
		if u != nil {
			owner = fmt.Sprintf("user %d", u.ID)
		}
		return false, &ArgumentError{Field: "CustomerMessage.UserID", Reason: fmt.Sprintf(
			"user %d does not belong to channel %q, user_custom_id %q (%s does); nothing was sent",
			r.userID, r.m.Channel, r.m.UserCustomID, owner)}
	}
	if u == nil {
		return false, nil
	}
	r.userID, st.Verified = u.ID, u.ID
	return true, nil
}

// decide finds the user (first contact) and the last chat, and applies Decide.
func (r *router) decide(ctx context.Context) (Action, *Case, error) {
	known, err := r.knownUser(ctx)
	if err != nil || !known {
		return ActionCreatedCase, nil, err
	}
	last, err := r.chats.lastChat(ctx, r.userID, r.m.Channel)
	if err != nil {
		return "", nil, err
	}
	action := Decide(r.saved, last)
	if action == ActionFollowedMerge {
		// Followed a merge only if the saved case is gone; one merely closed, with
		// a newer chat open, is an ordinary reply in the last chat.
		saved, err := r.chats.client.Cases.Get(ctx, r.saved)
		switch {
		case err == nil && !saved.Deleted && saved.UserID == r.userID:
			action = ActionReplied
		case err != nil && !IsNotFound(err):
			return "", nil, err
		}
	}
	return action, last, nil
}

// write makes the one write of a Send. It runs under the turn: if the turn is
// lost (its lease could not be renewed), the request is canceled, so nothing is
// written after another replica could have taken the customer.
func (r *router) write(ctx context.Context, action Action, last *Case) (*SendResult, error) {
	ctx, cancel := r.turn.guard(ctx)
	defer cancel()
	m := r.m
	st := &r.turn.state
	if action == ActionCreatedCase {
		c, err := r.chats.client.Cases.Create(ctx, &CaseCreate{
			Channel: m.Channel, UserCustomID: m.UserCustomID, UserFullName: m.UserFullName,
			UserEmail: m.UserEmail, UserPhone: m.UserPhone, Subject: r.subject(),
			Content: r.content(), ContentHTML: m.ContentHTML, AttachmentURLs: m.AttachmentURLs,
		})
		if err != nil {
			return nil, err
		}
		if c.UserID != 0 {
			r.userID, st.Verified = c.UserID, c.UserID
		}
		st.wrote(writeTrace{CaseID: c.ID, Print: r.print(), At: orNow(c.CreatedAt)})
		return &SendResult{Action: action, CaseID: c.ID, UserID: r.userID, Case: c}, nil
	}
	msg, err := r.chats.client.Messages.Create(ctx, last.ID, &MessageCreate{
		UserID: r.userID, Content: m.Content, ContentHTML: m.ContentHTML, AttachmentURLs: m.AttachmentURLs,
	})
	if err != nil {
		return nil, err
	}
	st.wrote(writeTrace{CaseID: last.ID, MessageID: msg.ID, Print: r.print(), At: orNow(msg.CreatedAt)})
	return &SendResult{Action: action, CaseID: last.ID, UserID: r.userID, Message: msg, Case: last}, nil
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
