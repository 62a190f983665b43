package deskie

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

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

// found is an agent message to hand to fn, read at the service's time at.
type found struct {
	caseID int64
	msg    *Message
	at     time.Time
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
		if IsNotFound(err) {
			// merged away or removed: its messages, if any, moved to a case that
			// changed and is read in its turn
			w.log.Info("deskie: watch: case gone", "channel", w.channel, "case_id", id)
			delete(w.state.Cases, id)
			continue
		}
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
				todo = append(todo, found{id, msg, cmp.Or(at, time.Now())}) // not the customer's own message, nor handled before
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
	left := map[int64]bool{} // cases with a reply left for a later poll
	for _, f := range todo {
		m := w.state.Cases[f.caseID]
		done, err := w.deliver(ctx, f, m.UserID)
		if !done {
			left[f.caseID] = true
		}
		if err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	for _, id := range read {
		m := w.state.Cases[id]
		if m.Pending = left[id]; !m.Pending {
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
	if err == nil && bytes.Equal(data, w.saved) && time.Since(w.savedAt) < defaultReplyDoneTTL/2 {
		return // an idle poll writes nothing
	}
	if err == nil {
		err = w.c.store.PutRecord(context.WithoutCancel(ctx), w.key, data, defaultReplyDoneTTL)
	}
	if err == nil {
		w.saved, w.savedAt = data, time.Now()
	}
	if err != nil {
		w.log.Error("deskie: watch: position not saved; a restart may read again what this poll read",
			"channel", w.channel, "error", storeErr("save watch position", err))
	}
}

// deliver applies the drop rules and hands one agent message to fn through its
// claim. done is false when the message is left for a later poll: with an error
// when fn, the API or the store failed, without one when another copy (the
// webhook handler, another replica) is handling it right now.
func (w *watcher) deliver(ctx context.Context, f found, userID int64) (done bool, err error) {
	msg, caseID := f.msg, f.caseID
	if msg.Note && !w.cfg.notes {
		return true, nil
	}
	rec, err := w.c.store.GetRecord(ctx, apiMessageKey(msg.ID))
	if err != nil {
		return false, storeErr("read API message record", err)
	}
	fromAPI := rec != nil
	if fromAPI && !w.cfg.apiReplies {
		return true, nil
	}
	if !fromAPI && msg.StaffID != 0 && f.at.Sub(msg.CreatedAt) < apiReplyGrace {
		// Messages.Create records its reply once the API has answered: a reply
		// this fresh may be the integration's own, not recorded yet
		return false, nil
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
		return true, nil
	case claimBusy:
		return false, nil
	case claimFailed:
		return false, fmt.Errorf("deskie: watch: reply %d not delivered: %w", msg.ID, err)
	}
	return false, err
}
