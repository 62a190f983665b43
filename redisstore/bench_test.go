package redisstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
	"github.com/deskie-go/deskie/redisstore"
	"github.com/redis/go-redis/v9"
)

// countingTransport counts the API requests a client sends.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(req)
}

// benchStores runs bench once per store, side by side in one invocation: the
// in-process MemoryStore (the baseline) and a Store on the test Redis over
// loopback, whose commands a hook counts.
func benchStores(b *testing.B, bench func(b *testing.B, store deskie.Store, hook *countHook)) {
	b.Run("store=memory", func(b *testing.B) { bench(b, deskie.NewMemoryStore(), nil) })
	b.Run("store=redis", func(b *testing.B) {
		addr := redisstore.RedisAddr(b)
		admin := redisstore.DialRedis(b, addr)
		prefix := redisstore.UniquePrefix(b)
		b.Cleanup(func() { redisstore.DeletePrefix(b, admin, prefix) })
		rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		b.Cleanup(func() { _ = rdb.Close() })
		hook := &countHook{}
		rdb.AddHook(hook)
		bench(b, redisstore.New(rdb, redisstore.WithPrefix(prefix)), hook)
	})
}

func reportTrips(b *testing.B, hook *countHook, n int) {
	if hook != nil && n > 0 {
		b.ReportMetric(float64(hook.trips.Load())/float64(n), "redis-trips/op")
		b.ReportMetric(float64(hook.cmds.Load())/float64(n), "redis-cmds/op")
	}
}

// BenchmarkSend: Chats.Send of a steady conversation (the customer's ids passed
// back, the case open) against the in-process fake, with the store in memory
// and on Redis. redis-trips/op is what the shared store costs per message.
func BenchmarkSend(b *testing.B) {
	benchStores(b, func(b *testing.B, store deskie.Store, hook *countHook) {
		srv := deskietest.NewServer(deskietest.WithRateLimit(1_000_000_000, time.Minute), deskietest.WithRequestLog(0))
		b.Cleanup(srv.Close)
		ch := srv.AddChannel("App", deskietest.ChannelAsync, "")
		api := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
		client, err := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL),
			deskie.WithStore(store), deskie.WithHTTPClient(&http.Client{Transport: api}))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		msg := &deskie.CustomerMessage{Channel: ch, UserCustomID: "bench-user", Content: "hello"}
		res, err := client.Chats.Send(ctx, msg) // first contact: the case exists from here on
		if err != nil {
			b.Fatal(err)
		}
		msg.UserID, msg.LastCaseID = res.UserID, res.CaseID
		if hook != nil {
			hook.trips.Store(0)
			hook.cmds.Store(0)
		}
		api.n.Store(0)
		n := 0
		for b.Loop() {
			if _, err := client.Chats.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
			n++
		}
		reportTrips(b, hook, n)
		b.ReportMetric(float64(api.n.Load())/float64(n), "api-calls/op")
	})
}

// BenchmarkWebhookClaim: one delivery of a new reply through
// Client.NewWebhookHandler (parse, claim, fn, complete), with the claims in
// memory and on Redis.
func BenchmarkWebhookClaim(b *testing.B) {
	benchStores(b, func(b *testing.B, store deskie.Store, hook *countHook) {
		client, err := deskie.NewClient("bench", "agent@example.com", "key", deskie.WithStore(store))
		if err != nil {
			b.Fatal(err)
		}
		h := client.NewWebhookHandler(func(context.Context, *deskie.AgentReply) error { return nil },
			deskie.WithWebhookToken(webhookToken))
		reply := &deskie.AgentReply{Type: deskie.EventMessageNew, CaseID: 2001, StaffID: 7, UserID: 5654846848,
			UserCustomID: "bench-user", Content: "Hello!"}
		ctx := context.Background()
		base := time.Now().UnixNano() // fresh message ids on every run
		n := 0
		for b.Loop() {
			reply.MessageID = base + int64(n)
			req, err := deskie.NewWebhookRequest(ctx, "http://bridge.example/deskie/"+webhookToken, reply)
			if err != nil {
				b.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("delivery %s: %d %s", strconv.FormatInt(reply.MessageID, 10), rec.Code, rec.Body)
			}
			n++
		}
		reportTrips(b, hook, n)
	})
}
