package redisstore_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
	"github.com/deskie-go/deskie/redisstore"
	"github.com/redis/go-redis/v9"
)

// TestReplicasWhenRedisRestarts: with Redis down, Sends and webhook deliveries
// fail with a *deskie.StoreError (a delivery is answered 500) and nothing is
// written to Deskie; once Redis is back, empty, they work again.
func TestReplicasWhenRedisRestarts(t *testing.T) {
	rs := redisstore.StartRedisServer(t)
	srv := deskietest.NewServer()
	t.Cleanup(srv.Close)
	ch := srv.AddChannel("App", deskietest.ChannelAsync, "")
	reps := newReplicas(t, 2, srv, &redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: true,
		MaxRetries: 1, DialerRetries: 1, DialTimeout: time.Second}, "deskie:")
	l := newLedger()
	targets := webhookTargets(t, reps, l)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	send := func(rep *replica, text string) error {
		_, err := rep.client.Chats.Send(ctx, &deskie.CustomerMessage{Channel: ch, UserCustomID: "cust-r", Content: text})
		return err
	}

	if err := send(reps[0], "before"); err != nil {
		t.Fatal(err)
	}
	if st := deliver(ctx, t, targets[1], 1); st != http.StatusOK {
		t.Fatalf("delivery with Redis up: %d", st)
	}

	rs.Stop()
	requests := len(srv.Requests())
	for _, rep := range reps {
		err := send(rep, "during")
		var se *deskie.StoreError
		if !errors.As(err, &se) {
			t.Fatalf("%s: Send with Redis down = %v, want a *deskie.StoreError", rep.name, err)
		}
		if !strings.Contains(err.Error(), "redisstore: ") {
			t.Errorf("%s: %q does not name the store", rep.name, err)
		}
		t.Logf("%s: %v", rep.name, err)
	}
	for _, target := range targets {
		if st := deliver(ctx, t, target, 2); st != http.StatusInternalServerError {
			t.Errorf("delivery with Redis down: %d, want 500 (so the service delivers again)", st)
		}
	}
	if n := len(srv.Requests()) - requests; n != 0 {
		t.Errorf("%d API requests while Redis was down, want none", n)
	}

	rs.Restart()
	// go-redis re-probes a refused address about once a second: poll, bounded
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := send(reps[1], "after")
		if err == nil {
			break
		}
		var se *deskie.StoreError
		if !errors.As(err, &se) || time.Now().After(deadline) {
			t.Fatalf("Send after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // waiting for Redis to be reachable again, bounded above
	}
	if err := send(reps[0], "after, again"); err != nil {
		t.Fatalf("Send after the restart: %v", err)
	}
	for _, target := range targets {
		if st := deliver(ctx, t, target, 2); st != http.StatusOK {
			t.Errorf("delivery after the restart: %d", st)
		}
	}

	var texts []string
	for _, m := range srv.AllMessages() {
		if m.StaffID == 0 {
			texts = append(texts, m.Content)
		}
	}
	if got := strings.Join(texts, "|"); got != "before|after|after, again" {
		t.Errorf("customer messages %q, want before|after|after, again", got)
	}
	if len(srv.Cases()) != 1 {
		t.Errorf("%d cases, want 1", len(srv.Cases()))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ok[1] != 1 || l.ok[2] != 1 || l.calls[2] != 1 {
		t.Errorf("fn: reply 1 ok %d, reply 2 ok %d of %d calls; want once each (never while Redis was down)", l.ok[1], l.ok[2], l.calls[2])
	}
}
