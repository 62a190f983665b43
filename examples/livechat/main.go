// Command livechat is a customer chat widget for a website, connected to Deskie
// through a sync (chat-like) custom channel — the knowledge base's use case 3.
//
//	customer types in the widget → POST /api/messages → Chats.Send → the right chat
//	agent replies in Deskie → the webhook (and Replies.Watch) → GET /api/events (SSE) → the widget
//
// The page (HTML, JS and CSS embedded in the binary, no external assets) keeps no
// state: the backend remembers, per visitor (a cookie), the two ids Chats.Send
// returns and a short transcript, which it streams to the page as server-sent
// events, so an agent's reply appears without a reload.
//
// With no configuration it runs on an embedded fake Deskie and prints two URLs:
// the widget, and the fake's agent console, so you can play both sides in a
// browser:
//
//	go run ./examples/livechat
//
// Against a real account, set DESKIE_SUBDOMAIN (or DESKIE_BASE_URL), DESKIE_EMAIL,
// DESKIE_API_KEY and DESKIE_CHANNEL (a sync custom channel's code, "cch12"). Set
// DESKIE_WEBHOOK_TOKEN to a secret and the channel's Webhook URL to
// https://<your host>/deskie/<token> for replies in real time; without a reachable
// webhook, replies still arrive by polling (Replies.Watch, every --poll).
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
		fmt.Fprintln(os.Stderr, "livechat:", err)
		os.Exit(1)
	}
}

// run serves the widget until ctx ends: on the embedded fake when DESKIE_API_KEY
// is not set, else on the account the environment names.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("livechat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "the address to serve the widget on")
	fakeAddr := fs.String("fake-addr", "127.0.0.1:0", "the address of the embedded fake Deskie and its agent console (demo mode)")
	publicURL := fs.String("public-url", "", "the widget's public origin, to print the Webhook URL to set in Deskie (real account)")
	poll := fs.Duration("poll", 30*time.Second, "how often Replies.Watch polls for the replies the webhook missed")
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

	var (
		client          *deskie.Client
		channel, token  string
		printf          = func(format string, args ...any) { _, _ = fmt.Fprintf(stdout, format, args...) }
		webhookAdvisory string
	)
	if getenv("DESKIE_API_KEY") == "" {
		fln, err := net.Listen("tcp", *fakeAddr)
		if err != nil {
			return fmt.Errorf("the embedded fake: %w", err)
		}
		fake := deskietest.NewServerOn(fln)
		defer fake.Close()
		token = rand.Text()
		channel = fake.AddChannel("Live chat", deskietest.ChannelSync, appURL+"/deskie/"+token)
		if client, err = deskie.NewClient("", fake.StaffEmail(), fake.APIKey(), deskie.WithBaseURL(fake.URL), deskie.WithLogger(logger)); err != nil {
			return err
		}
		printf("livechat: a chat widget on the sync custom channel %s of an embedded fake Deskie\n", channel)
		printf("  widget:  %s/\n", appURL)
		printf("  console: %s/console\n", fake.URL)
		printf("Open the widget as the customer and the console as the agent. Ctrl-C to stop.\n")
	} else {
		if client, err = clientFromEnv(getenv, logger); err != nil {
			return err
		}
		channel, token = getenv("DESKIE_CHANNEL"), getenv("DESKIE_WEBHOOK_TOKEN")
		if !deskie.IsCustomChannel(channel) {
			return fmt.Errorf("DESKIE_CHANNEL=%q is not a custom channel code like cch12", channel)
		}
		switch {
		case token == "":
			webhookAdvisory = fmt.Sprintf("no DESKIE_WEBHOOK_TOKEN: replies arrive by polling every %v (set a token and the channel's Webhook URL for real time)", *poll)
		case len(token) < 16:
			return errors.New("DESKIE_WEBHOOK_TOKEN must be a secret of at least 16 characters")
		default:
			webhookAdvisory = "the channel's Webhook URL must be " + strings.TrimSuffix(cmp.Or(*publicURL, appURL), "/") + "/deskie/<DESKIE_WEBHOOK_TOKEN>"
		}
		printf("livechat: a chat widget on the custom channel %s of %s\n", channel, client.BaseURL())
		printf("  widget:  %s/\n", appURL)
		printf("  %s\n", webhookAdvisory)
		printf("Ctrl-C to stop.\n")
	}

	a := newApp(client, channel, logger)
	srv := &http.Server{
		Handler:           a.routes(token),
		ReadHeaderTimeout: 10 * time.Second,
		// Requests (and the event streams) end when ctx does.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	watchDone := make(chan error, 1)
	go func() { watchDone <- a.watch(ctx, *poll) }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()

	select {
	case err = <-serveDone:
	case err = <-watchDone:
		if err != nil {
			err = fmt.Errorf("watching for replies: %w", err)
		}
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// watch polls for the agent replies the webhook missed (the endpoint was down, a
// deployment, no public URL) until ctx ends. Replies the webhook handler already
// delivered are skipped: both go through the client's Store.
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
