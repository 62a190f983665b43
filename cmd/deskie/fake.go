package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"time"

	"github.com/deskie-go/deskie/deskietest"
)

const fakeHelp = `
Usage: deskie fake [--addr 127.0.0.1:8025] [--channel sync|async] [--webhook URL] [--rate N]

Runs a fake Deskie (the SDK's deskietest package) as its own process, for trying
a bridge by hand and for tests in any language. It serves:

  /api/…       the Deskie API subset the SDK uses, with the real wire shapes,
               for the staff e-mail agent@example.com and the API key
               deskietest-api-key
  /console     an agent console: cases, threads, reply as an agent, add a note,
               close, merge, inject faults
  /_fake/…     a JSON control API for scripted tests (see docs/cli.md)

with one custom channel (cch1) whose agent replies are POSTed to --webhook.
It prints the base URL, the credentials, the channel code and the console's URL
(one JSON object with --json), then runs until interrupted (Ctrl-C, SIGTERM) and
exits 0. Everything is kept in memory. The control API needs no credentials:
keep the fake on a loopback address.
`

// fakeOut is what deskie fake --json prints.
type fakeOut struct {
	BaseURL     string `json:"base_url"`
	Email       string `json:"email"`
	APIKey      string `json:"api_key"`
	Channel     string `json:"channel"`
	ChannelType string `json:"channel_type"`
	WebhookURL  string `json:"webhook_url"`
	ConsoleURL  string `json:"console_url"`
	ControlURL  string `json:"control_url"`
}

func runFake(ctx context.Context, e *env, args []string) error {
	fs := newFlags("fake")
	addr := fs.String("addr", "127.0.0.1:8025", "the `address` to listen on (port 0: a free one)")
	typ := fs.String("channel", "async", "the custom channel's `type`: sync (chat-like) or async (mail-like)")
	title := fs.String("title", "Custom channel", "the custom channel's title")
	webhook := fs.String("webhook", "", "the channel's Webhook `URL`: agent replies are POSTed there (default none)")
	rate := fs.Int("rate", deskietest.DefaultRateLimit, "the API's rate limit in `units` a minute (a write costs 2, a read 1); 0 turns it off")
	asJSON := fs.Bool("json", false, "print the connection details as one JSON object")
	rest, err := e.parse(fs, fakeHelp, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usagef("unexpected argument %q", rest[0])
	case *typ != "sync" && *typ != "async":
		return usagef("--channel must be sync or async, not %q", *typ)
	case *rate < 0:
		return usagef("--rate must be 0 (off) or more")
	}
	if *webhook != "" {
		if u, err := url.Parse(*webhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--webhook %q is not an http(s) URL", *webhook)
		}
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return usagef("--addr %q is not host:port", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%w (another fake running? --addr 127.0.0.1:0 picks a free port)", err)
		}
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		e.warnf("warning: the fake's control API needs no credentials and is now reachable on %s", ln.Addr())
	}
	srv := deskietest.NewServerOn(ln, deskietest.WithRateLimit(*rate, time.Minute))
	defer srv.Close()
	channelType := deskietest.ChannelAsync
	if *typ == "sync" {
		channelType = deskietest.ChannelSync
	}
	code := srv.AddChannel(*title, channelType, *webhook)

	out := fakeOut{
		BaseURL: srv.URL, Email: srv.StaffEmail(), APIKey: srv.APIKey(),
		Channel: code, ChannelType: *typ, WebhookURL: *webhook,
		ConsoleURL: srv.URL + "/console", ControlURL: srv.URL + "/_fake/",
	}
	if *asJSON {
		if err := writeJSON(e.stdout, out); err != nil {
			return err
		}
	} else {
		_, err := fmt.Fprintf(e.stdout, `deskie fake: a fake Deskie is running (Ctrl-C to stop)
  base URL:     %s
  staff e-mail: %s
  API key:      %s
  channel:      %s (%s), webhook: %s
  console:      %s
  control API:  %s (see docs/cli.md)
Point the other commands or your code at it:
  export DESKIE_BASE_URL=%s DESKIE_EMAIL=%s DESKIE_API_KEY=%s
`, out.BaseURL, out.Email, out.APIKey, out.Channel, out.ChannelType, cmpOr(out.WebhookURL, "none"),
			out.ConsoleURL, out.ControlURL, out.BaseURL, out.Email, out.APIKey)
		if err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

// warnf prints a line on stderr.
func (e *env) warnf(format string, args ...any) {
	_, _ = fmt.Fprintln(e.stderr, "deskie: "+e.clean(fmt.Sprintf(format, args...)))
}
