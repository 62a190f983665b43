package deskie_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
)

func ExampleRepliesService_Watch() {
	// A fake Deskie on which an agent answered a minute ago, and no webhook
	// reached the app (a forum bridge with no public URL; or an endpoint that was
	// down: the service does not send a failed delivery again).
	clock := deskietest.NewClock(time.Now().Add(-time.Minute))
	srv := deskietest.NewServer(deskietest.WithClock(clock.Now))
	defer srv.Close()
	channel := srv.AddChannel("Forum", deskietest.ChannelAsync, "")
	client, err := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.Chats.Send(context.Background(), &deskie.CustomerMessage{
		Channel: channel, UserCustomID: "forum-user-42", Content: "Are you open on Sunday?"})
	if err != nil {
		log.Fatal(err)
	}
	_, _ = srv.AgentReply(res.CaseID, 7, "Yes, from 10 to 4.")
	clock.Advance(time.Minute) // the fake's time moves on: the reply is a minute old

	// Watch polls the channel until ctx ends; beside Client.NewWebhookHandler it
	// delivers what the webhook missed, each reply once. Its first poll looks an
	// hour back here; by default it starts from now.
	ctx, cancel := context.WithCancel(context.Background())
	err = client.Replies.Watch(ctx, channel, func(_ context.Context, r *deskie.AgentReply) error {
		fmt.Printf("to %s (case %d): %s\n", r.UserCustomID, r.CaseID, r.Content)
		cancel()   // one reply is enough here; a bridge watches until it shuts down
		return nil // an error leaves the reply for a later poll
	}, deskie.WithLookback(time.Hour))
	fmt.Println(err)
	// Output:
	// to forum-user-42 (case 2001): Yes, from 10 to 4.
	// context canceled
}
