package redisstore_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/redisstore"
	"github.com/redis/go-redis/v9"
)

// Every replica of a bridge runs this: its own Client and Redis connection, one
// shared Redis. A customer's burst spread over the replicas opens one case, the
// replicas together stay under the account's rate limit, and a reply whose
// webhook copies reach several replicas is handed to the app once.
func Example() {
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{os.Getenv("REDIS_ADDR")}, // several addresses: Cluster; with MasterName: Sentinel
		ContextTimeoutEnabled: true,                              // a call's context bounds its socket reads
	})
	defer func() { _ = rdb.Close() }()
	store := redisstore.New(rdb, redisstore.WithPrefix("support-bridge:"), redisstore.WithTimeout(2*time.Second))

	client, err := deskie.NewClient(os.Getenv("DESKIE_SUBDOMAIN"), os.Getenv("DESKIE_EMAIL"), os.Getenv("DESKIE_API_KEY"),
		deskie.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}

	// Helpdesk → customer: each reply once, whichever replica its copies reach.
	http.Handle("/deskie/", client.NewWebhookHandler(func(ctx context.Context, r *deskie.AgentReply) error {
		log.Printf("reply %d for %s: %s", r.MessageID, r.UserCustomID, r.Content)
		return nil // deliver it to the customer's app here
	}, deskie.WithWebhookToken(os.Getenv("DESKIE_WEBHOOK_TOKEN"))))

	// Customer → helpdesk: Sends for one customer take turns across replicas.
	res, err := client.Chats.Send(context.Background(), &deskie.CustomerMessage{
		Channel:      "cch1",
		UserCustomID: "app-user-42",
		Content:      "Hello, my order has not arrived",
	})
	var se *deskie.StoreError
	switch {
	case errors.As(err, &se):
		log.Printf("Redis unreachable (%v): nothing was written; try again later", se)
	case err != nil:
		log.Print(err)
	default:
		log.Printf("%s case %d", res.Action, res.CaseID)
	}
}
