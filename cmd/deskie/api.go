package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/deskie-go/deskie"
)

const channelsHelp = `
Usage: deskie channels [--json] [credentials]

Lists the account's custom channels: code (cch<N>, what Chats.Send and the other
commands take), type (sync: chat-like, async: mail-like), whether it is active,
its title and Webhook URL.
`

// channelOut is a channel in --json output.
type channelOut struct {
	ID         int64  `json:"id"`
	Code       string `json:"code"`
	Title      string `json:"title"`
	Type       string `json:"type"`
	Active     bool   `json:"active"`
	WebhookURL string `json:"webhook_url"`
}

func runChannels(ctx context.Context, e *env, args []string) error {
	fs := newFlags("channels")
	var acct account
	acct.register(fs)
	asJSON := fs.Bool("json", false, "print a JSON array")
	timeout := timeoutFlag(fs)
	rest, err := e.parse(fs, channelsHelp, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	client, err := acct.client(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	channels, err := client.Channels.List(ctx)
	if err != nil {
		return explain(err)
	}
	out := make([]channelOut, 0, len(channels))
	for _, ch := range channels {
		out = append(out, channelOut{ID: ch.ID, Code: ch.Code, Title: ch.Title, Type: string(ch.Type), Active: ch.Active, WebhookURL: ch.WebhookURL})
	}
	if *asJSON {
		return writeJSON(e.stdout, out)
	}
	if len(out) == 0 {
		_, err := fmt.Fprintln(e.stdout, "no custom channels (add one in Deskie: Channels → Custom channels)")
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "CODE\tTYPE\tACTIVE\tTITLE\tWEBHOOK URL")
	for _, ch := range out {
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ch.Code, ch.Type, yesNo(ch.Active), oneLine(ch.Title, 40), cmpOr(ch.WebhookURL, "-"))
	}
	return tw.Flush()
}

const sendHelp = `
Usage: deskie send --channel cch1 --user ID [flags] TEXT

Sends one customer message through Chats.Send, which puts it in the right case:
the customer's last chat when it is open or waiting, a new case when there is
none or it is closed, the chat it was merged into when an agent merged it.
Prints what it did (created_case, replied, followed_merge) and the ids.

--user is your own id of the customer (user_custom_id). Pass --user-id and
--case from the previous send's answer to route as an app would; without them
the customer is looked up by --user.
`

// sendOut is a send's --json output.
type sendOut struct {
	Action       string `json:"action"`
	CaseID       int64  `json:"case_id"`
	CaseNumber   string `json:"case_number,omitempty"`
	UserID       int64  `json:"user_id"`
	MessageID    int64  `json:"message_id,omitempty"`
	Channel      string `json:"channel"`
	UserCustomID string `json:"user_custom_id"`
}

func runSend(ctx context.Context, e *env, args []string) error {
	fs := newFlags("send")
	var acct account
	acct.register(fs)
	var m deskie.CustomerMessage
	fs.StringVar(&m.Channel, "channel", "", "the custom channel's `code` (cch<N>; required)")
	fs.StringVar(&m.UserCustomID, "user", "", "your `id` of the customer, their user_custom_id (required)")
	fs.Int64Var(&m.UserID, "user-id", 0, "the customer's Deskie user `id` from an earlier send (0: look it up by --user)")
	fs.Int64Var(&m.LastCaseID, "case", 0, "the case `id` an earlier send returned (0: none saved)")
	fs.StringVar(&m.UserFullName, "user-name", "", "the customer's name, recorded when a case is created")
	fs.StringVar(&m.UserEmail, "user-email", "", "the customer's e-mail, linked to their profile when a case is created")
	fs.StringVar(&m.UserPhone, "user-phone", "", "the customer's phone, linked to their profile when a case is created")
	fs.StringVar(&m.Subject, "subject", "", "the subject when a case is created (default: the start of TEXT)")
	html := fs.Bool("html", false, "TEXT is HTML (sent as content_html)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	timeout := timeoutFlag(fs)
	rest, err := e.parse(fs, sendHelp, args)
	if err != nil {
		return err
	}
	text := strings.Join(rest, " ")
	switch {
	case m.Channel == "":
		return usagef("--channel is required (a custom channel code like cch1; see 'deskie channels')")
	case !deskie.IsCustomChannel(m.Channel):
		return usagef("--channel %q is not a custom channel code like cch1", m.Channel)
	case strings.TrimSpace(m.UserCustomID) == "":
		return usagef("--user is required (your id of the customer)")
	case strings.TrimSpace(text) == "":
		return usagef("the message TEXT is missing")
	case m.UserID < 0 || m.LastCaseID < 0:
		return usagef("--user-id and --case must be positive")
	}
	if *html {
		m.ContentHTML = text
	} else {
		m.Content = text
	}
	client, err := acct.client(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res, err := client.Chats.Send(ctx, &m)
	if err != nil {
		return explain(err)
	}
	out := sendOut{Action: string(res.Action), CaseID: res.CaseID, UserID: res.UserID, Channel: m.Channel, UserCustomID: m.UserCustomID}
	if res.Case != nil {
		out.CaseNumber = res.Case.Number
	}
	if res.Message != nil {
		out.MessageID = res.Message.ID
	}
	if *asJSON {
		return writeJSON(e.stdout, out)
	}
	line := fmt.Sprintf("%s: case %d", out.Action, out.CaseID)
	if out.CaseNumber != "" {
		line += " (" + out.CaseNumber + ")"
	}
	line += fmt.Sprintf(", user %d", out.UserID)
	if out.MessageID != 0 {
		line += fmt.Sprintf(", message %d", out.MessageID)
	}
	_, err = fmt.Fprintln(e.stdout, line)
	return err
}

const casesHelp = `
Usage: deskie cases [--channel cch1] [--user ID] [flags]

Lists cases, newest first, one page at a time (--page, --limit). Active chats of
sync channels are included (show_active_chats=true) unless --active-chats=false.
`

// caseOut is a case in --json output.
type caseOut struct {
	ID        int64  `json:"id"`
	Number    string `json:"number"`
	Subject   string `json:"subject"`
	Status    string `json:"status"`
	Channel   string `json:"channel"`
	UserID    int64  `json:"user_id"`
	StaffID   int64  `json:"staff_id"`
	CreatedAt string `json:"created_at,omitempty"`
	UpdatedAt string `json:"updated_at,omitempty"`
	ClosedAt  string `json:"closed_at,omitempty"`
}

// casesOut is the cases command's --json output.
type casesOut struct {
	Page       int       `json:"page"`
	Limit      int       `json:"limit"`
	TotalCount int       `json:"total_count"`
	Cases      []caseOut `json:"cases"`
}

func runCases(ctx context.Context, e *env, args []string) error {
	fs := newFlags("cases")
	var acct account
	acct.register(fs)
	channel := fs.String("channel", "", "only this channel's cases (a `code` like cch1, or several, comma-separated)")
	user := fs.String("user", "", "only this customer's cases, by your `id` of them (user_custom_id)")
	userID := fs.Int64("user-id", 0, "only this customer's cases, by Deskie user `id`")
	status := fs.String("status", "", "only cases in these `statuses` (comma-separated: open, waiting, closed)")
	page := fs.Int("page", 1, "the page to show, from 1")
	limit := fs.Int("limit", 20, "cases per page (1–100)")
	sortBy := fs.String("sort", "created_at_desc", "the order: created_at_desc, created_at_asc, updated_at_desc, updated_at_asc")
	active := fs.Bool("active-chats", true, "include the active chats of sync channels")
	asJSON := fs.Bool("json", false, "print the page as a JSON object")
	timeout := timeoutFlag(fs)
	rest, err := e.parse(fs, casesHelp, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usagef("unexpected argument %q", rest[0])
	case *page < 1 || *page > 500:
		return usagef("--page must be 1–500")
	case *limit < 1 || *limit > 100:
		return usagef("--limit must be 1–100")
	case *userID < 0:
		return usagef("--user-id must be positive")
	}
	opt := &deskie.CaseListOptions{Page: *page, Limit: *limit, Sort: *sortBy, ShowActiveChats: *active}
	opt.Channel = splitList(*channel)
	if *user != "" {
		opt.UserCustomID = []string{*user}
	}
	if *userID != 0 {
		opt.UserID = []int64{*userID}
	}
	for _, s := range splitList(*status) {
		opt.Status = append(opt.Status, deskie.CaseStatus(s))
	}
	client, err := acct.client(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	list, err := client.Cases.List(ctx, opt)
	if err != nil {
		return explain(err)
	}
	out := casesOut{Page: *page, Limit: *limit, TotalCount: list.TotalCount, Cases: make([]caseOut, 0, len(list.Cases))}
	for _, c := range list.Cases {
		out.Cases = append(out.Cases, caseOut{
			ID: c.ID, Number: c.Number, Subject: c.Subject, Status: string(c.Status), Channel: c.Channel,
			UserID: c.UserID, StaffID: c.StaffID,
			CreatedAt: timeText(c.CreatedAt), UpdatedAt: timeText(c.UpdatedAt), ClosedAt: timeText(c.ClosedAt),
		})
	}
	if *asJSON {
		return writeJSON(e.stdout, out)
	}
	if len(out.Cases) == 0 {
		_, err := fmt.Fprintln(e.stdout, "no cases")
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "CASE\tNUMBER\tSTATUS\tCHANNEL\tUSER\tCREATED\tSUBJECT")
	for _, c := range list.Cases {
		created := "-"
		if !c.CreatedAt.IsZero() {
			created = c.CreatedAt.Local().Format("2006-01-02 15:04")
		}
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", c.ID, c.Number, c.Status, c.Channel, c.UserID, created, oneLine(c.Subject, 50))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	first := (*page-1)*(*limit) + 1
	footer := fmt.Sprintf("cases %d–%d of %d", first, first+len(out.Cases)-1, out.TotalCount)
	if first+len(out.Cases)-1 < out.TotalCount {
		footer += "; next: --page " + strconv.Itoa(*page+1)
	}
	_, err = fmt.Fprintln(e.stdout, footer)
	return err
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// oneLine folds s onto one line and cuts it to n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
