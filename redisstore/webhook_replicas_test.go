package redisstore_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
	"github.com/deskie-go/deskie/redisstore"
)

const webhookToken = "replicas-s3cret"

// replyLedger is the application behind every replica's webhook handler: it
// counts fn's calls per message id, can fail a reply's first call, and can hold
// fn until every copy of the reply has reached some replica.
type replyLedger struct {
	mu       sync.Mutex
	calls    map[int64]int // fn calls, failed ones included
	ok       map[int64]int // fn calls that returned nil
	arrived  map[int64]int // copies received by any replica's handler
	failOnce map[int64]bool
	holdFor  map[int64]int      // hold fn until this many copies arrived
	changed  chan struct{}      // closed and replaced when arrived changes
	received map[int64][]string // which replicas ran fn
}

func newLedger() *replyLedger {
	return &replyLedger{calls: map[int64]int{}, ok: map[int64]int{}, arrived: map[int64]int{},
		failOnce: map[int64]bool{}, holdFor: map[int64]int{}, changed: make(chan struct{}), received: map[int64][]string{}}
}

// handler is replica rep's webhook endpoint.
func (l *replyLedger) handler(rep *replica) http.Handler {
	h := rep.client.NewWebhookHandler(func(ctx context.Context, r *deskie.AgentReply) error {
		l.mu.Lock()
		l.calls[r.MessageID]++
		l.received[r.MessageID] = append(l.received[r.MessageID], rep.name)
		fail := l.failOnce[r.MessageID]
		l.failOnce[r.MessageID] = false
		l.mu.Unlock()
		if err := l.hold(ctx, r.MessageID); err != nil {
			return err
		}
		if fail {
			return errors.New("the app could not deliver the reply this time")
		}
		l.mu.Lock()
		l.ok[r.MessageID]++
		l.mu.Unlock()
		return nil
	}, deskie.WithWebhookToken(webhookToken))
	// count arrivals before the SDK sees the delivery
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, err := strconv.ParseInt(r.URL.Query().Get("copy_of"), 10, 64); err == nil {
			l.mu.Lock()
			l.arrived[id]++
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

// hold blocks until every copy of id has arrived, when the test asked for that:
// the other copies then surely overlap this call of fn.
func (l *replyLedger) hold(ctx context.Context, id int64) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		l.mu.Lock()
		done, changed := l.arrived[id] >= l.holdFor[id], l.changed
		l.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return errors.New("the other copies never arrived")
		}
	}
}

// webhookTargets starts an HTTP server for each replica's handler.
func webhookTargets(t *testing.T, reps []*replica, l *replyLedger) []string {
	targets := make([]string, len(reps))
	for i, rep := range reps {
		hs := httptest.NewServer(l.handler(rep))
		t.Cleanup(hs.Close)
		targets[i] = hs.URL + "/deskie/" + webhookToken
	}
	return targets
}

// deliver POSTs a copy of reply id to target, as the service would, and returns
// the status.
func deliver(ctx context.Context, t *testing.T, target string, id int64) int {
	reply := &deskie.AgentReply{Type: deskie.EventMessageNew, MessageID: id, CaseID: 2001, StaffID: 7,
		UserID: 5654846848, UserCustomID: "cust-01", Content: "Reply " + strconv.FormatInt(id, 10)}
	req, err := deskie.NewWebhookRequest(ctx, target+"?copy_of="+strconv.FormatInt(id, 10), reply)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("delivering %d: %v", id, err)
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestReplicasHandleEachReplyOnce: webhook copies of one reply POSTed to random
// replicas — one after another, or all at the same instant — reach fn once; a
// reply whose fn failed is handled by a later copy, once.
func TestReplicasHandleEachReplyOnce(t *testing.T) {
	srv := deskietest.NewServer()
	t.Cleanup(srv.Close)
	reps := sharedReplicas(t, 4, srv)
	l := newLedger()
	targets := webhookTargets(t, reps, l)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	r := rand.New(rand.NewPCG(7, 7))

	// one copy after another, to random replicas
	for id := int64(1); id <= 20; id++ {
		for range 3 {
			if st := deliver(ctx, t, targets[r.IntN(len(targets))], id); st != http.StatusOK {
				t.Errorf("sequential copy of %d: status %d", id, st)
			}
		}
	}
	// every copy at once, one per replica; fn holds until all have arrived, so
	// they overlap it
	var wg sync.WaitGroup
	for id := int64(101); id <= 130; id++ {
		l.mu.Lock()
		l.holdFor[id] = len(targets)
		l.mu.Unlock()
		for _, target := range targets {
			wg.Go(func() {
				if st := deliver(ctx, t, target, id); st != http.StatusOK {
					t.Errorf("simultaneous copy of %d: status %d", id, st)
				}
			})
		}
	}
	wg.Wait()
	// fn fails on the first copy: 500, so the service delivers again; the next
	// copy, on any replica, runs fn again, and the ones after are duplicates
	for id := int64(201); id <= 210; id++ {
		l.mu.Lock()
		l.failOnce[id] = true
		l.mu.Unlock()
		want := []int{http.StatusInternalServerError, http.StatusOK, http.StatusOK}
		for i, w := range want {
			if st := deliver(ctx, t, targets[r.IntN(len(targets))], id); st != w {
				t.Errorf("copy %d of failing %d: status %d, want %d", i, id, st, w)
			}
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	for id := int64(1); id <= 210; id++ {
		if id > 20 && id < 101 || id > 130 && id < 201 {
			continue
		}
		wantCalls := 1
		if id > 200 {
			wantCalls = 2
		}
		if l.ok[id] != 1 || l.calls[id] != wantCalls {
			t.Errorf("reply %d: fn called %d times (%d succeeded) by %v; want %d call(s), one success", id, l.calls[id], l.ok[id], l.received[id], wantCalls)
		}
	}
}

// TestDedupStoreAcrossHandlers: the package-level handler given a Store with
// deskie.WithDedupStore (two replicas, each its own Store on the same Redis)
// hands each reply to fn once, copies at the same instant included.
func TestDedupStoreAcrossHandlers(t *testing.T) {
	addr := redisstore.RedisAddr(t)
	admin := redisstore.DialRedis(t, addr)
	prefix := redisstore.UniquePrefix(t)
	t.Cleanup(func() { redisstore.DeletePrefix(t, admin, prefix) })
	var mu sync.Mutex
	calls := map[int64]int{}
	var targets []string
	for range 3 {
		store := redisstore.New(redisstore.DialRedis(t, addr), redisstore.WithPrefix(prefix))
		h := deskie.NewWebhookHandler(func(_ context.Context, r *deskie.AgentReply) error {
			mu.Lock()
			calls[r.MessageID]++
			mu.Unlock()
			return nil
		}, deskie.WithWebhookToken(webhookToken), deskie.WithDedupStore(store))
		hs := httptest.NewServer(h)
		t.Cleanup(hs.Close)
		targets = append(targets, hs.URL+"/deskie/"+webhookToken)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for id := int64(1); id <= 20; id++ {
		for _, target := range targets {
			wg.Go(func() {
				if st := deliver(ctx, t, target, id); st != http.StatusOK {
					t.Errorf("copy of %d: %d", id, st)
				}
			})
		}
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for id := int64(1); id <= 20; id++ {
		if calls[id] != 1 {
			t.Errorf("reply %d: fn called %d times, want 1", id, calls[id])
		}
	}
}
