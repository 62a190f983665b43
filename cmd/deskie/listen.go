package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/deskie-go/deskie"
)

const listenHelp = `
Usage: deskie listen --channel cch1 --forward URL [flags]

Polls the channel's recently updated cases for new agent replies
(Replies.Watch) and POSTs each one to URL exactly as the service's webhook would
(form-encoded object[...] fields), like 'stripe listen': point it at the webhook
handler of the bridge you are developing, with its token in the URL, and reply
in Deskie (or in the console of 'deskie fake').

It prints one line per reply with the status the handler answered. A reply the
handler did not take (an answer other than 2xx, or no answer) is tried again at
a later poll. Internal notes and the replies added through the API are skipped
unless --notes / --api-replies. Runs until interrupted (Ctrl-C), then exits 0.
`

// listenOut is one forwarded reply in --json output (one JSON object per line).
type listenOut struct {
	MessageID    int64  `json:"message_id"`
	CaseID       int64  `json:"case_id"`
	UserID       int64  `json:"user_id"`
	UserCustomID string `json:"user_custom_id"`
	Status       int    `json:"status,omitempty"`
	OK           bool   `json:"ok"`
	Error        string `json:"error,omitempty"`
	// Retry says the reply will be tried again at the next poll.
	Retry bool `json:"retry"`
}

func runListen(ctx context.Context, e *env, args []string) error {
	fs := newFlags("listen")
	var acct account
	acct.register(fs)
	channel := fs.String("channel", "", "the custom channel's `code` (cch<N>; required)")
	forward := fs.String("forward", "", "the webhook `URL` to POST each reply to (required), e.g. http://localhost:8080/deskie/TOKEN")
	poll := fs.Duration("poll", 30*time.Second, "how often to poll")
	lookback := fs.Duration("lookback", 0, "also forward the replies of this long before the start (e.g. 1h; at most 168h)")
	notes := fs.Bool("notes", false, "also forward internal notes")
	apiReplies := fs.Bool("api-replies", false, "also forward replies added through the API (b_from_api=1)")
	forwardTimeout := fs.Duration("forward-timeout", 30*time.Second, "how long the handler may take to answer")
	asJSON := fs.Bool("json", false, "print each reply as one JSON object per line")
	rest, err := e.parse(fs, listenHelp, args)
	if err != nil {
		return err
	}
	target, err := url.Parse(*forward)
	switch {
	case len(rest) > 0:
		return usagef("unexpected argument %q", rest[0])
	case *channel == "":
		return usagef("--channel is required (a custom channel code like cch1; see 'deskie channels')")
	case !deskie.IsCustomChannel(*channel):
		return usagef("--channel %q is not a custom channel code like cch1", *channel)
	case *forward == "":
		return usagef("--forward is required (the webhook URL of your handler)")
	case err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "":
		return usagef("--forward %q is not an http(s) URL", *forward)
	case *poll <= 0:
		return usagef("--poll must be positive")
	case *lookback < 0 || *lookback > 7*24*time.Hour:
		return usagef("--lookback must be between 0 and 168h")
	case *forwardTimeout <= 0:
		return usagef("--forward-timeout must be positive")
	}
	client, err := acct.client(e)
	if err != nil {
		return err
	}
	fw := &forwarder{
		e:      e,
		target: target.String(),
		json:   *asJSON,
		hc: &http.Client{
			Timeout: *forwardTimeout,
			// A webhook sender does not follow redirects: a 3xx is not a delivery.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	opts := []deskie.WebhookOption{deskie.WithPollInterval(*poll), deskie.WithLookback(*lookback)}
	if *notes {
		opts = append(opts, deskie.WithNotes())
	}
	if *apiReplies {
		opts = append(opts, deskie.WithAPIReplies())
	}
	_, _ = fmt.Fprintf(e.stderr, "deskie listen: polling %s every %v, forwarding agent replies to %s (Ctrl-C to stop)\n", *channel, *poll, fw.target)
	err = client.Replies.Watch(ctx, *channel, fw.forward, opts...)
	var ae *deskie.ArgumentError
	switch {
	case err == nil, ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return nil // interrupted: a normal stop
	case errors.As(err, &ae):
		return usagef("%s", strings.TrimPrefix(ae.Error(), "deskie: "))
	}
	return explain(err)
}

// forwarder POSTs replies to the local handler.
type forwarder struct {
	e      *env
	target string
	json   bool
	hc     *http.Client
}

func (f *forwarder) forward(ctx context.Context, r *deskie.AgentReply) error {
	out := listenOut{MessageID: r.MessageID, CaseID: r.CaseID, UserID: r.UserID, UserCustomID: r.UserCustomID}
	err := f.post(ctx, r, &out)
	if err != nil {
		out.Error, out.Retry = f.e.clean(err.Error()), ctx.Err() == nil
	}
	out.OK = err == nil
	f.print(out)
	return err
}

func (f *forwarder) post(ctx context.Context, r *deskie.AgentReply, out *listenOut) error {
	req, err := deskie.NewWebhookRequest(ctx, f.target, r)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "deskie-cli/"+sdkVersion()+" (listen)")
	resp, err := f.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is on the line already
		}
		return fmt.Errorf("no answer: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	out.Status = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the handler answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}

func (f *forwarder) print(out listenOut) {
	if f.json {
		_ = writeJSON(f.e.stdout, out)
		return
	}
	line := fmt.Sprintf("%s  message %d, case %d, user %s → ", time.Now().Format("15:04:05"), out.MessageID, out.CaseID, cmpOr(out.UserCustomID, fmt.Sprint(out.UserID)))
	switch {
	case out.OK:
		line += fmt.Sprintf("%d %s", out.Status, http.StatusText(out.Status))
	case out.Status != 0:
		line += fmt.Sprintf("%d %s", out.Status, http.StatusText(out.Status))
	default:
		line += out.Error
	}
	if out.Retry {
		line += " (will try again at a later poll)"
	}
	_, _ = fmt.Fprintln(f.e.stdout, line)
}
