// Command bridge connects a small "app" (customers post messages over HTTP) to
// Deskie through a custom channel, with the deskie SDK doing the whole loop:
//
//	customer → POST /messages {"user":"alice","text":"…"} → Chats.Send → the right case
//	agent reply → Deskie POSTs the channel's Webhook URL → the handler → GET /messages?user=alice
//	            → or, when that delivery failed, Replies.Watch finds it by polling
//
// With no configuration it starts the in-memory fake (deskietest), plays a short
// scripted conversation through it — first contact, an agent's reply arriving by
// webhook, a reply recovered after an outage of the app, a follow-up, a closed
// case, a merge — prints each step and exits 0:
//
//	go run ./examples/bridge
//
// Against a real account, set DESKIE_SUBDOMAIN (or DESKIE_BASE_URL for Omnidesk),
// DESKIE_EMAIL, DESKIE_API_KEY and DESKIE_CHANNEL (the custom channel's code,
// "cch12"); the bridge then listens on BRIDGE_ADDR (default :8080) until
// interrupted, and polls for the replies its webhook missed (Replies.Watch, every
// 30 s). Set the channel's Webhook URL to https://<your host>/deskie/<token>, with
// the secret from DESKIE_WEBHOOK_TOKEN (without it the bridge makes one for the
// run and prints the URL to set).
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bridge:", err)
		os.Exit(1)
	}
}

// run starts the bridge against a real account when configured, else the demo.
func run(ctx context.Context, getenv func(string) string, out io.Writer) error {
	if getenv("DESKIE_API_KEY") == "" {
		return demo(ctx, out)
	}
	return serve(ctx, getenv, out)
}

// conversation is what the app keeps per customer: the two ids Chats.Send returns,
// and the agent replies delivered to the customer.
type conversation struct {
	userID, caseID int64
	inbox          []string
}

// app is the integrator's backend: its customer-facing API and its webhook.
type app struct {
	client  *deskie.Client
	channel string
	logger  *slog.Logger

	mu        sync.Mutex
	users     map[string]*conversation // by the app's own user id (user_custom_id)
	down      bool                     // the app's storage is failing (the demo's outage)
	delivered chan struct{}            // a reply reached an inbox
}

func newApp(client *deskie.Client, channel string, logger *slog.Logger) *app {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &app{client: client, channel: channel, logger: logger, users: map[string]*conversation{}, delivered: make(chan struct{}, 1)}
}

// routes mounts the customer API and the webhook (secret token in the path).
func (a *app) routes(webhookToken string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /messages", a.postMessage)
	mux.HandleFunc("GET /messages", a.getMessages)
	mux.Handle("/deskie/", a.client.NewWebhookHandler(a.deliver, deskie.WithWebhookToken(webhookToken)))
	return mux
}

type incoming struct {
	User string `json:"user"`
	Text string `json:"text"`
}

type sent struct {
	Action deskie.Action `json:"action"`
	CaseID int64         `json:"case_id"`
}

func (a *app) conversation(user string) conversation {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.users[user]; c != nil {
		return *c
	}
	return conversation{}
}

// postMessage takes a customer's message and puts it in the right case.
func (a *app) postMessage(w http.ResponseWriter, r *http.Request) {
	var in incoming
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || in.User == "" || strings.TrimSpace(in.Text) == "" {
		http.Error(w, `want {"user":"…","text":"…"}`, http.StatusBadRequest)
		return
	}
	saved := a.conversation(in.User)
	res, err := a.client.Chats.Send(r.Context(), &deskie.CustomerMessage{
		Channel:      a.channel,
		UserCustomID: in.User,
		UserFullName: in.User,
		UserID:       saved.userID,
		LastCaseID:   saved.caseID,
		Content:      in.Text,
	})
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, deskie.ErrInvalidArgument) {
			status = http.StatusBadRequest
		}
		a.logger.Error("send failed", "user", in.User, "error", err)
		http.Error(w, err.Error(), status)
		return
	}
	a.mu.Lock()
	c := a.users[in.User]
	if c == nil {
		c = &conversation{}
		a.users[in.User] = c
	}
	c.userID, c.caseID = res.UserID, res.CaseID // saved for the next message
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(sent{Action: res.Action, CaseID: res.CaseID})
}

// getMessages returns the agent replies delivered to a customer.
func (a *app) getMessages(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(append([]string{}, a.conversation(r.URL.Query().Get("user")).inbox...))
}

// errStorageDown is the demo's outage: the app cannot save a reply.
var errStorageDown = errors.New("the app's storage is down")

// deliver hands an agent's reply to one of our customers. The webhook handler and
// Replies.Watch both call it, each reply once; an error leaves the reply
// undelivered (the handler answers 500, Watch tries again at a later poll).
func (a *app) deliver(_ context.Context, r *deskie.AgentReply) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down {
		return errStorageDown
	}
	c := a.users[r.UserCustomID]
	if c == nil {
		c = &conversation{userID: r.UserID, caseID: r.CaseID}
		a.users[r.UserCustomID] = c
	}
	c.inbox = append(c.inbox, r.Content)
	select {
	case a.delivered <- struct{}{}:
	default:
	}
	return nil
}

func (a *app) setDown(down bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.down = down
}

// watch runs Replies.Watch beside the webhook until ctx ends: the replies whose
// delivery failed (the app was down, a deployment, the service never sent them
// again) still reach deliver. Both go through the client's Store, so a reply the
// webhook delivered is not delivered again.
func (a *app) watch(ctx context.Context, opts ...deskie.WebhookOption) error {
	err := a.client.Replies.Watch(ctx, a.channel, a.deliver, opts...)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// serve runs the bridge against a real account until ctx ends.
func serve(ctx context.Context, getenv func(string) string, out io.Writer) error {
	var opts []deskie.Option
	if base := getenv("DESKIE_BASE_URL"); base != "" {
		opts = append(opts, deskie.WithBaseURL(base))
	}
	logger := slog.New(slog.NewTextHandler(out, nil))
	opts = append(opts, deskie.WithLogger(logger))
	client, err := deskie.NewClient(getenv("DESKIE_SUBDOMAIN"), getenv("DESKIE_EMAIL"), getenv("DESKIE_API_KEY"), opts...)
	if err != nil {
		return err
	}
	channel, token := getenv("DESKIE_CHANNEL"), getenv("DESKIE_WEBHOOK_TOKEN")
	if !deskie.IsCustomChannel(channel) {
		return fmt.Errorf("DESKIE_CHANNEL=%q is not a custom channel code like cch12", channel)
	}
	switch {
	case token == "":
		// No token configured: make one for this run and tell the operator (once, on
		// the console, never through the logger) where to point the channel.
		token = rand.Text()
		_, _ = fmt.Fprintf(out, "no DESKIE_WEBHOOK_TOKEN set: for this run, set the channel's Webhook URL to https://<this host>/deskie/%s\n", token)
	case len(token) < 16:
		return errors.New("DESKIE_WEBHOOK_TOKEN must be a secret of at least 16 characters")
	}
	addr := getenv("BRIDGE_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	a := newApp(client, channel, logger)
	srv := &http.Server{Addr: addr, Handler: a.routes(token), ReadHeaderTimeout: 10 * time.Second}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchDone := make(chan error, 1)
	go func() { watchDone <- a.watch(watchCtx) }()
	go func() { //nolint:gosec // G118: the shutdown must outlive the canceled ctx
		select {
		case <-ctx.Done():
		case <-watchCtx.Done():
		}
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	logger.Info("bridge listening", "addr", addr, "channel", channel)
	err = srv.ListenAndServe()
	stopWatch()
	if werr := <-watchDone; werr != nil {
		return fmt.Errorf("watching for replies: %w", werr)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// demo plays a scripted conversation through the in-memory fake.
func demo(ctx context.Context, out io.Writer) error {
	const token = "demo-webhook-token-0123456789" //nolint:gosec // G101: the demo's own fake token
	fake := deskietest.NewServer()
	defer fake.Close()
	client, err := deskie.NewClient("", fake.StaffEmail(), fake.APIKey(), deskie.WithBaseURL(fake.URL))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	appURL := "http://" + ln.Addr().String()
	channel := fake.AddChannel("Mobile app", deskietest.ChannelSync, appURL+"/deskie/"+token)
	a := newApp(client, channel, slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn})))
	srv := &http.Server{Handler: a.routes(token), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()
	// Replies.Watch beside the webhook, polling often for the demo (30 s by default)
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- a.watch(watchCtx, deskie.WithPollInterval(100*time.Millisecond), deskie.WithBudgetShare(1))
	}()
	defer func() {
		stopWatch()
		if err := <-watchDone; err != nil {
			_, _ = fmt.Fprintf(out, "Replies.Watch: %v\n", err)
		}
	}()

	printf := func(format string, args ...any) { _, _ = fmt.Fprintf(out, format, args...) }
	printf("deskie bridge demo: fake Deskie at %s, app at %s, custom channel %s\n\n", fake.URL, appURL, channel)
	step := 0
	say := func(format string, args ...any) {
		step++
		printf("%d. %s\n", step, fmt.Sprintf(format, args...))
	}
	customer := func(text string) (sent, error) {
		var res sent
		body, _ := json.Marshal(incoming{User: "alice", Text: text})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, appURL+"/messages", strings.NewReader(string(body)))
		if err != nil {
			return res, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return res, err
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(resp.Body)
			return res, fmt.Errorf("app answered %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
		}
		err = json.NewDecoder(resp.Body).Decode(&res)
		printf("   alice: %q → %s, case %d\n", text, res.Action, res.CaseID)
		return res, err
	}
	agent := func(caseID int64, text string) error {
		if _, err := fake.AgentReply(caseID, 7, text); err != nil {
			return err
		}
		inbox := a.conversation("alice").inbox
		printf("   agent: %q → webhook → alice's app shows %q\n", text, inbox[len(inbox)-1])
		return nil
	}
	expect := func(got sent, want deskie.Action) error {
		if got.Action != want {
			return fmt.Errorf("expected %s, got %s", want, got.Action)
		}
		return nil
	}

	say("First contact: no case yet, so one is created with alice's id as user_custom_id")
	first, err := customer("Hi! My order #1042 hasn't arrived.")
	if err = errors.Join(err, expect(first, deskie.ActionCreatedCase)); err != nil {
		return err
	}
	say("An agent answers in Deskie; the reply reaches the app through the webhook")
	if err := agent(first.CaseID, "Sorry about that! Checking with the courier."); err != nil {
		return err
	}
	say("The app's storage fails while the agent answers: the webhook gets 500, and Deskie does not send it again")
	a.setDown(true)
	missed, err := fake.AgentReply(first.CaseID, 7, "Found it: your parcel is at the depot.")
	if err == nil {
		return errors.New("expected the delivery to fail while the app is down")
	}
	printf("   agent: %q → webhook → %s\n", "Found it: your parcel is at the depot.", deliveryStatus(fake, missed))
	a.setDown(false)
	printf("   the app is back; Replies.Watch polls the channel's updated cases and finds the reply\n")
	printf("   (it leaves a reply younger than a few seconds for its next poll: it could be the app's own)\n")
	if err := waitInbox(ctx, a, "alice", 2); err != nil {
		return err
	}
	inbox := a.conversation("alice").inbox
	printf("   alice's app shows %q (recovered by Replies.Watch, once)\n", inbox[len(inbox)-1])

	say("A follow-up goes into the same chat (it is waiting for the customer)")
	res, err := customer("Thanks, I'll wait.")
	if err = errors.Join(err, expect(res, deskie.ActionReplied)); err != nil {
		return err
	}
	say("The agent closes the chat; the next message starts a new case")
	if err := fake.CloseCase(first.CaseID); err != nil {
		return err
	}
	second, err := customer("It came today, but the box is damaged.")
	if err = errors.Join(err, expect(second, deskie.ActionCreatedCase)); err != nil {
		return err
	}
	say("A second chat appears (say, from the web form) and the agent merges it into the previous one")
	other, err := client.Cases.Create(ctx, &deskie.CaseCreate{Channel: channel, UserCustomID: "alice", Subject: "Photos", Content: "Photos of the damaged box"})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.users["alice"].caseID = other.ID // the app last saw the web-form chat
	a.mu.Unlock()
	if err := fake.MergeCases(other.ID, second.CaseID); err != nil {
		return err
	}
	saved := a.conversation("alice")
	printf("   case %d merged into case %d\n", other.ID, second.CaseID)
	printf("   the app had saved for alice: user %d, last case %d (the web-form chat, now merged away)\n", saved.userID, saved.caseID)
	res, err = customer("Did you get my photos?")
	if err = errors.Join(err, expect(res, deskie.ActionFollowedMerge)); err != nil {
		return err
	}
	if res.CaseID != second.CaseID {
		return fmt.Errorf("merge followed to case %d, want %d", res.CaseID, second.CaseID)
	}
	printf("   followed_merge: saved case %d is gone, so Chats.Send added the message to alice's last chat, case %d, and the app saved that\n",
		saved.caseID, res.CaseID)
	say("The agent answers in the merged chat")
	if err := agent(res.CaseID, "Got them — a replacement is on its way."); err != nil {
		return err
	}

	printf("\nalice's app inbox: %q\n", a.conversation("alice").inbox)
	n := 0
	for _, m := range fake.AllMessages() {
		if m.UserID != 0 {
			n++
		}
	}
	printf("Deskie holds %d cases and %d customer messages, each exactly once. Done.\n", len(fake.Cases()), n)
	return nil
}

// deliveryStatus says how the fake's delivery of a message went.
func deliveryStatus(fake *deskietest.Server, msgID int64) string {
	for _, d := range fake.Deliveries() {
		if d.MessageID == msgID {
			if d.Status == 0 {
				return "unreachable"
			}
			return fmt.Sprintf("answered %d", d.Status)
		}
	}
	return "not sent"
}

// waitInbox waits until user's inbox holds n replies (Watch delivers on its own
// schedule).
func waitInbox(ctx context.Context, a *app, user string, n int) error {
	timeout := time.After(30 * time.Second)
	for len(a.conversation(user).inbox) < n {
		select {
		case <-a.delivered:
		case <-timeout:
			return fmt.Errorf("no reply recovered for %s after 30 s", user)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
