// Command portal is the "Support" section of a customer's account on your
// service, connected to Deskie through an async (mail-like) custom channel — the
// knowledge base's use case 2: customers write to support, see their earlier
// cases and read the agents' replies there, not in their e-mail.
//
//	sign in (a demo customer) → GET /cases          the customer's cases (Cases.List by user_id), 20 a page
//	                            GET /cases/{id}     a case's thread (Messages.List), its replies live (SSE)
//	                            POST /messages      write: Chats.Send, which follows the last-chat rule
//	agent replies in Deskie → the webhook (and Replies.Watch) → GET /events → the open thread
//
// A customer's login is their user_custom_id. No customer can see another's
// cases: every case endpoint checks, on the server, that the case belongs to the
// signed-in customer (its user_id) and to the portal's channel, and answers 404
// otherwise, exactly as for a case that does not exist.
//
// With no configuration it runs on an embedded fake Deskie and prints two URLs:
// the portal, and the fake's agent console:
//
//	go run ./examples/portal
//
// Against a real account, set DESKIE_SUBDOMAIN (or DESKIE_BASE_URL), DESKIE_EMAIL,
// DESKIE_API_KEY and DESKIE_CHANNEL (an async custom channel's code), and
// optionally DESKIE_WEBHOOK_TOKEN with the channel's Webhook URL set to
// https://<your host>/deskie/<token>; without it, replies arrive by polling.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "portal:", err)
		os.Exit(1)
	}
}

// run serves the portal until ctx ends: on the embedded fake when DESKIE_API_KEY
// is not set, else on the account the environment names.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("portal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "the address to serve the portal on")
	fakeAddr := fs.String("fake-addr", "127.0.0.1:0", "the address of the embedded fake Deskie and its agent console (demo mode)")
	publicURL := fs.String("public-url", "", "the portal's public origin, to print the Webhook URL to set in Deskie (real account)")
	poll := fs.Duration("poll", 30*time.Second, "how often Replies.Watch polls for the replies the webhook missed")
	seed := fs.Bool("seed", true, "demo mode: give alice an earlier, answered and closed case")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *poll <= 0 {
		return errors.New("--poll must be positive")
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer func() { _ = ln.Close() }()
	appURL := "http://" + ln.Addr().String()
	printf := func(format string, args ...any) { _, _ = fmt.Fprintf(stdout, format, args...) }

	var (
		client         *deskie.Client
		fake           *deskietest.Server
		channel, token string
		banner         []string
	)
	if getenv("DESKIE_API_KEY") == "" {
		fln, err := net.Listen("tcp", *fakeAddr)
		if err != nil {
			return fmt.Errorf("the embedded fake: %w", err)
		}
		fake = deskietest.NewServerOn(fln)
		defer fake.Close()
		token = rand.Text()
		channel = fake.AddChannel("Customer account", deskietest.ChannelAsync, appURL+"/deskie/"+token)
		if client, err = deskie.NewClient("", fake.StaffEmail(), fake.APIKey(), deskie.WithBaseURL(fake.URL), deskie.WithLogger(logger)); err != nil {
			return err
		}
		banner = []string{
			fmt.Sprintf("portal: the Support section of a customer account, on the async custom channel %s of an embedded fake Deskie", channel),
			"  portal:  " + appURL + "/",
			"  console: " + fake.URL + "/console",
			"Sign in to the portal as a customer and answer in the console as the agent. Ctrl-C to stop.",
		}
	} else {
		if client, err = clientFromEnv(getenv, logger); err != nil {
			return err
		}
		channel, token = getenv("DESKIE_CHANNEL"), getenv("DESKIE_WEBHOOK_TOKEN")
		if !deskie.IsCustomChannel(channel) {
			return fmt.Errorf("DESKIE_CHANNEL=%q is not a custom channel code like cch12", channel)
		}
		advice := "the channel's Webhook URL must be " + strings.TrimSuffix(cmp.Or(*publicURL, appURL), "/") + "/deskie/<DESKIE_WEBHOOK_TOKEN>"
		switch {
		case token == "":
			advice = fmt.Sprintf("no DESKIE_WEBHOOK_TOKEN: replies arrive by polling every %v (set a token and the channel's Webhook URL for real time)", *poll)
		case len(token) < 16:
			return errors.New("DESKIE_WEBHOOK_TOKEN must be a secret of at least 16 characters")
		}
		banner = []string{
			fmt.Sprintf("portal: the Support section of a customer account, on the custom channel %s of %s", channel, client.BaseURL()),
			"  portal:  " + appURL + "/",
			"  " + advice,
			"Ctrl-C to stop.",
		}
	}

	a := newApp(client, channel, []byte(rand.Text()), logger)
	srv := &http.Server{
		Handler:           a.routes(token),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()
	defer func() {
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if fake != nil && *seed {
		if err := seedDemo(ctx, client, fake, channel); err != nil {
			return fmt.Errorf("seeding the demo: %w", err)
		}
	}
	for _, line := range banner {
		printf("%s\n", line)
	}
	watchDone := make(chan error, 1)
	go func() { watchDone <- a.watch(ctx, *poll) }()

	select {
	case err = <-serveDone:
	case err = <-watchDone:
		if err != nil {
			err = fmt.Errorf("watching for replies: %w", err)
		}
	case <-ctx.Done():
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// seedDemo gives alice an earlier case, answered and closed, so her list is not
// empty.
func seedDemo(ctx context.Context, client *deskie.Client, fake *deskietest.Server, channel string) error {
	alice := demoCustomers[0]
	res, err := client.Chats.Send(ctx, &deskie.CustomerMessage{
		Channel: channel, UserCustomID: alice.Login, UserFullName: alice.Name, UserEmail: alice.Email,
		Subject: "How do I change my e-mail?", Content: "Hello, how do I change the e-mail address on my account?",
	})
	if err != nil {
		return err
	}
	if _, err := fake.AgentReply(res.CaseID, 7, "Hi Alice! Go to Settings → Profile → E-mail and confirm the new address from the link we send."); err != nil {
		return err
	}
	return fake.CloseCase(res.CaseID)
}

// watch polls for the agent replies the webhook missed until ctx ends; replies
// the webhook handler delivered are skipped (both go through the client's Store).
func (a *app) watch(ctx context.Context, poll time.Duration) error {
	err := a.client.Replies.Watch(ctx, a.channel, a.deliver, deskie.WithPollInterval(poll), deskie.WithLookback(time.Hour))
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// clientFromEnv builds a client from DESKIE_SUBDOMAIN or DESKIE_BASE_URL,
// DESKIE_EMAIL and DESKIE_API_KEY.
func clientFromEnv(getenv func(string) string, logger *slog.Logger) (*deskie.Client, error) {
	opts := []deskie.Option{deskie.WithLogger(logger)}
	sub := getenv("DESKIE_SUBDOMAIN")
	if base := getenv("DESKIE_BASE_URL"); base != "" {
		opts = append(opts, deskie.WithBaseURL(base))
		sub = ""
	}
	return deskie.NewClient(sub, getenv("DESKIE_EMAIL"), getenv("DESKIE_API_KEY"), opts...)
}
