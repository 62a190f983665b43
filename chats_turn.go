package deskie

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// A customer's turn: Chats.Send for one (channel, user_custom_id) runs one at a
// time, across every replica that shares the Client's Store. A chat app sends a
// burst when a user types fast, often before it has saved the ids the first
// message returns; run at once, every message of such a burst would find no chat
// (or the closed one) and open a case of its own. In turns, the first creates the
// case and the next ones write into it.
//
// A turn is a lease in the Store ([TurnStore]): renewed while the Send runs, so a
// long Send keeps it; freed on return; and, if the replica dies, free again when
// the lease runs out. It carries burstState from one Send to the next.

// burstState is what one Send of a customer leaves for the next (in any replica).
type burstState struct {
	// From is the UserID and LastCaseID the previous Send was given, Prev what it
	// returned: a Send given the same ids continues from where that one went.
	From [2]int64   `json:"from,omitempty"`
	Prev *sendTrace `json:"prev,omitempty"`
	// Verified is the UserID checked to belong to this customer (11.6): checked
	// once, then trusted.
	Verified int64 `json:"verified,omitempty"`
	// Written are the latest messages Sends of this customer wrote, so a look after
	// an ambiguous write never takes another Send's message for its own.
	Written []writeTrace `json:"written,omitempty"`
}

// sendTrace is the part of a SendResult a later Send needs.
type sendTrace struct {
	Action    Action `json:"action"`
	CaseID    int64  `json:"case_id"`
	UserID    int64  `json:"user_id"`
	MessageID int64  `json:"message_id,omitempty"`
}

// writeTrace is one write a Send made: the message id (0 when it created a case:
// the case's opening message id is not in the answer), its fingerprint and the
// server's time of it.
type writeTrace struct {
	CaseID    int64     `json:"case_id"`
	MessageID int64     `json:"message_id,omitempty"`
	Print     string    `json:"fp"`
	At        time.Time `json:"at"`
}

// burstState.Written keeps the writes of the last writtenSpan (a look never
// reaches further back), and at most maxWritten of them.
const (
	writtenSpan = 2 * freshness
	maxWritten  = 256
)

func (st *burstState) wrote(w writeTrace) {
	st.Written = append(st.Written, w)
	keep := st.Written[:0]
	for _, old := range st.Written {
		if !old.At.Before(w.At.Add(-writtenSpan)) {
			keep = append(keep, old)
		}
	}
	if n := len(keep); n > maxWritten {
		keep = keep[n-maxWritten:]
	}
	st.Written = keep
}

// lastMessageID is the newest message id a Send of this customer wrote: message
// ids only grow, so no message at or below it can be a later Send's.
func (st *burstState) lastMessageID() int64 {
	var id int64
	for _, w := range st.Written {
		id = max(id, w.MessageID)
	}
	return id
}

// turn is a held customer turn.
type turn struct {
	client *Client
	key    string
	token  string
	state  burstState
	stop   chan struct{}
	wg     sync.WaitGroup
	// valid is when the turn stops being surely ours (unix ns): two thirds of a
	// lease after the last successful acquire or renewal, so it is known lost
	// before another replica can take it.
	valid atomic.Int64
	// lost is canceled when the turn may no longer be ours; writes run under it,
	// so no request leaves after another replica could have taken the turn.
	lost       context.Context
	cancelLost context.CancelFunc
}

// Turn waits, backing off from 2 ms to 100 ms, while another Send holds it.
const (
	turnPollMin = 2 * time.Millisecond
	turnPollMax = 100 * time.Millisecond
)

// takeTurn waits for the customer's turn, or until ctx is done.
func (c *Client) takeTurn(ctx context.Context, channel, customID string) (*turn, error) {
	t := &turn{client: c, key: turnKey(channel, customID), token: newToken(), stop: make(chan struct{})}
	t.lost, t.cancelLost = context.WithCancel(context.Background())
	wait := turnPollMin
	for {
		ok, state, err := c.store.AcquireTurn(ctx, t.key, t.token, c.turnLease)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, storeErr("acquire customer turn", err)
		}
		if ok {
			t.extend()
			if len(state) > 0 {
				if err := json.Unmarshal(state, &t.state); err != nil {
					c.logger.Warn("deskie: unreadable customer state in the store; starting afresh", "error", err)
					t.state = burstState{}
				}
			}
			t.wg.Add(1)
			// The renewal outlives no Send: done stops it before returning. It must not
			// use ctx, which may end while the Send finishes its write.
			go t.renew() //nolint:gosec // G118: see above
			return t, nil
		}
		timer := time.NewTimer(wait/2 + mrand.N(wait/2+1)) //nolint:gosec // G404: jitter needs no cryptographic randomness
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
		wait = min(wait*2, turnPollMax)
	}
}

func (t *turn) extend() {
	t.valid.Store(time.Now().Add(t.client.turnLease * 2 / 3).UnixNano())
}

// check returns an error when the turn may no longer be ours: nothing more may be
// written in this Send (a repeat with the same IdempotencyKey is safe).
func (t *turn) check() error {
	if t.lost.Err() != nil || time.Now().UnixNano() > t.valid.Load() {
		t.cancelLost()
		return &StoreError{Op: "hold customer turn", Err: fmt.Errorf("%w; nothing more was written (repeat with the same IdempotencyKey)", ErrTurnLost)}
	}
	return nil
}

// guard returns ctx canceled also when the turn is lost.
func (t *turn) guard(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(t.lost, cancel)
	return wctx, func() { stop(); cancel() }
}

// renew extends the lease every third of it while the Send runs; when it cannot
// (the store is unreachable, or the lease ran out), the turn is lost once its
// validity passes.
func (t *turn) renew() {
	defer t.wg.Done()
	lease := t.client.turnLease
	tick := time.NewTicker(lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), lease/3)
			ok, err := t.client.store.RenewTurn(ctx, t.key, t.token, lease)
			cancel()
			switch {
			case err == nil && ok:
				t.extend()
			case err == nil:
				t.cancelLost() // another holder has it
				return
			default:
				t.client.logger.Warn("deskie: could not renew a customer turn", "error", storeErr("renew customer turn", err))
			}
			if time.Now().UnixNano() > t.valid.Load() {
				t.cancelLost()
				return
			}
		}
	}
}

// done saves the state for the next Send (fenced: only while the turn is still
// ours) and frees the turn.
func (t *turn) done() {
	close(t.stop)
	t.wg.Wait()
	data, _ := json.Marshal(&t.state) // plain data: cannot fail
	defer t.cancelLost()
	ctx, cancel := context.WithTimeout(context.Background(), t.client.turnLease)
	defer cancel()
	var err error
	for attempt := range 3 { // a failed release costs the customer a lease's wait
		if err = t.client.store.ReleaseTurn(ctx, t.key, t.token, data, defaultTurnStateTTL); err == nil || errors.Is(err, ErrTurnLost) {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 20 * time.Millisecond)
	}
	switch {
	case errors.Is(err, ErrTurnLost):
		t.client.logger.Warn("deskie: a customer turn's lease ran out during Send; its state was not saved")
	case err != nil:
		t.client.logger.Warn("deskie: could not free a customer turn; it frees itself when its lease runs out", "error", storeErr("release customer turn", err))
	}
}

// newToken returns a random token naming one holder of a turn or claim.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
