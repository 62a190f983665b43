package deskie_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
)

func ExampleNewClient() {
	// Deskie: https://acme.deskie.io/api/…, Basic auth as an agent with an API key.
	client, err := deskie.NewClient("acme", "agent@acme.example", "api-key")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.BaseURL())

	// Omnidesk runs the same API on another host.
	omni, err := deskie.NewClient("", "agent@acme.example", "api-key", deskie.WithBaseURL("https://acme.omnidesk.ru"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(omni.BaseURL())

	// The key never shows.
	fmt.Println(client)
	// Output:
	// https://acme.deskie.io/api/
	// https://acme.omnidesk.ru/api/
	// deskie.Client{BaseURL: "https://acme.deskie.io/api/", StaffEmail: "agent@acme.example", APIKey: [redacted]}
}

func ExampleCasesService_Create() {
	srv := deskietest.NewServer() // a fake Deskie; use your subdomain in production
	defer srv.Close()
	channel := srv.AddChannel("Mobile app", deskietest.ChannelAsync, "")
	client, err := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}

	c, err := client.Cases.Create(context.Background(), &deskie.CaseCreate{
		Channel:      channel, // "cch1"
		UserCustomID: "app-user-42",
		UserFullName: "Alice",
		Subject:      "Order #1042",
		Content:      "My order is late",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.ID, c.Status, c.Channel, c.UserID) // save UserID with app-user-42
	// Output: 2001 open cch1 5654846849
}

func ExampleCasesService_All() {
	srv := deskietest.NewServer()
	defer srv.Close()
	channel := srv.AddChannel("Forum", deskietest.ChannelAsync, "")
	client, err := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for i := range 5 {
		_, err := client.Cases.Create(ctx, &deskie.CaseCreate{Channel: channel, UserCustomID: fmt.Sprint("forum-", i), Content: "help"})
		if err != nil {
			log.Fatal(err)
		}
	}

	// Pages of 2 are fetched one at a time, as the loop asks for them.
	n := 0
	for c, err := range client.Cases.All(ctx, &deskie.CaseListOptions{Channel: []string{channel}, Limit: 2, Sort: "created_at_asc"}) {
		if err != nil {
			log.Fatal(err)
		}
		n++
		fmt.Println(c.ID)
	}
	fmt.Println(n, "cases")
	// Output:
	// 2001
	// 2002
	// 2003
	// 2004
	// 2005
	// 5 cases
}

func ExampleChatsService_Send() {
	srv := deskietest.NewServer()
	defer srv.Close()
	channel := srv.AddChannel("Mobile app", deskietest.ChannelSync, "")
	client, err := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// What your app keeps per customer: the two ids Send returns.
	var saved struct{ userID, caseID int64 }
	send := func(text string) {
		res, err := client.Chats.Send(ctx, &deskie.CustomerMessage{
			Channel:      channel,
			UserCustomID: "app-user-42",
			UserID:       saved.userID, // 0 on first contact
			LastCaseID:   saved.caseID, // 0 if none
			Content:      text,
		})
		if err != nil {
			log.Fatal(err)
		}
		saved.userID, saved.caseID = res.UserID, res.CaseID // save for the next message
		fmt.Println(res.Action, res.CaseID)
	}

	send("Hi, my order is late") // first contact: a case is created
	send("It was order #1042")   // same chat
	_ = srv.CloseCase(saved.caseID)
	send("Still not here") // the chat was closed: a new case
	// Output:
	// created_case 2001
	// replied 2001
	// created_case 2002
}

func ExampleNewWebhookHandler() {
	// Mount the handler at the channel's Webhook URL, e.g.
	// https://app.example/deskie/<token>. Here: a test server and the fake.
	mux := http.NewServeMux()
	mux.Handle("/deskie/", deskie.NewWebhookHandler(func(ctx context.Context, r *deskie.AgentReply) error {
		// show the reply to customer r.UserCustomID in your app
		fmt.Printf("to %s (case %d): %s\n", r.UserCustomID, r.CaseID, r.Content)
		return nil // an error answers 500; Replies.Watch (or a redelivery) tries it again
	}, deskie.WithWebhookToken("s3cret-token")))
	app := httptest.NewServer(mux)
	defer app.Close()

	srv := deskietest.NewServer()
	defer srv.Close()
	channel := srv.AddChannel("Mobile app", deskietest.ChannelAsync, app.URL+"/deskie/s3cret-token")
	client, err := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.Chats.Send(context.Background(), &deskie.CustomerMessage{Channel: channel, UserCustomID: "app-user-42", Content: "Hello?"})
	if err != nil {
		log.Fatal(err)
	}
	msgID, _ := srv.AgentReply(res.CaseID, 7, "Hi! How can we help?")
	_ = srv.Redeliver(msgID) // a duplicate delivery reaches the function once
	// Output:
	// to app-user-42 (case 2001): Hi! How can we help?
}

func ExampleParseWebhook() {
	req, _ := deskie.NewWebhookRequest(context.Background(), "http://localhost/deskie/token", &deskie.AgentReply{
		MessageID: 42577887, CaseID: 985687, StaffID: 7235, UserID: 5654846848,
		UserCustomID: "tg-100500", Content: "Help is coming!",
	})
	r, err := deskie.ParseWebhook(req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Type, r.MessageID, r.UserCustomID, r.Content, r.Note, r.FromAPI)
	// Output: message_new 42577887 tg-100500 Help is coming! false false
}

func ExampleIsNotFound() {
	srv := deskietest.NewServer()
	defer srv.Close()
	client, _ := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL))
	_, err := client.Cases.Get(context.Background(), 999)
	var apiErr *deskie.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Code, deskie.IsNotFound(err))
	}
	// Output: 404 case_not_found true
}

// A write that may or may not have been applied (a 5xx, a connection lost after
// sending, an unreadable 2xx) is ErrAmbiguous: look before writing again.
// Chats.Send does that itself; with an IdempotencyKey a caller may also simply
// repeat the Send.
func ExampleErrAmbiguous() {
	srv := deskietest.NewServer()
	defer srv.Close()
	channel := srv.AddChannel("Mobile app", deskietest.ChannelSync, "")
	client, err := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	res, err := client.Chats.Send(ctx, &deskie.CustomerMessage{Channel: channel, UserCustomID: "u-1", Content: "Hello"})
	if err != nil {
		log.Fatal(err)
	}

	// The message is stored, but its answer is lost.
	srv.Fail("POST /api/cases/*", 1, deskietest.FaultServerErrorAfter)
	_, err = client.Messages.Create(ctx, res.CaseID, &deskie.MessageCreate{UserID: res.UserID, Content: "Are you there?"})
	fmt.Println("ambiguous:", errors.Is(err, deskie.ErrAmbiguous))

	// Look before writing again: the case's newest message is ours.
	msgs, err := client.Messages.List(ctx, res.CaseID, &deskie.MessageListOptions{Order: "desc", Limit: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("landed:", len(msgs.Messages) == 1 && msgs.Messages[0].Content == "Are you there?")

	// Send does the same look itself, and with a key a repeat is always safe.
	srv.Fail("POST /api/cases/*", 1, deskietest.FaultServerErrorAfter)
	m := &deskie.CustomerMessage{Channel: channel, UserCustomID: "u-1", UserID: res.UserID, LastCaseID: res.CaseID,
		Content: "Still there?", IdempotencyKey: "msg-3"}
	first, err := client.Chats.Send(ctx, m)
	if err != nil {
		log.Fatal(err)
	}
	again, err := client.Chats.Send(ctx, m) // a retry by the caller: returns the first outcome
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(first.Action, again.Action, first.Message.ID == again.Message.ID, len(srv.Messages(res.CaseID)))
	// Output:
	// ambiguous: true
	// landed: true
	// replied replied true 3
}

// NewRequest and Do are the escape hatch for endpoints the SDK does not wrap: the
// same auth, retries, rate budget and errors as every other call.
func ExampleClient_Do() {
	srv := deskietest.NewServer()
	defer srv.Close()
	srv.AddChannel("Mobile app", deskietest.ChannelSync, "")
	client, err := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	req, err := client.NewRequest(context.Background(), "GET", "custom_channels.json", nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	var raw map[string]any
	resp, err := client.Do(req, &raw)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, raw["total_count"], resp.Rate.Limit)

	// A path the fake does not serve is an *APIError like any other.
	req, _ = client.NewRequest(context.Background(), "GET", "groups.json", nil, nil)
	_, err = client.Do(req, nil)
	var apiErr *deskie.APIError
	fmt.Println(errors.As(err, &apiErr), apiErr.StatusCode, apiErr.Code)
	// Output:
	// 200 1 1500
	// true 501 not_implemented_in_fake
}
