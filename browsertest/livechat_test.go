package browsertest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/deskie-go/deskie"
)

// TestLiveChat plays both sides of examples/livechat: a customer in the widget,
// an agent in the fake's console.
func TestLiveChat(t *testing.T) {
	b := newBrowser(t)
	ex := startExample(t, "livechat", "widget", "console")
	widget, console := b.page("widget", true), b.page("console", true)

	// The customer writes.
	const hello = "Hello from the browser test: where is my order?"
	do(t, widget, 20*time.Second, "opening the widget",
		chromedp.Navigate(ex.urls["widget"]+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#chat-status[data-state="online"]`)),
		chromedp.SendKeys(chromedp.CSS("#chat-input"), hello),
		chromedp.Click(chromedp.CSS("#chat-send")),
	)
	waitFor(t, widget, 10*time.Second, "the message to be taken (a case id on its bubble)",
		`document.querySelector('#chat-log li.msg.customer[data-case-id]:not(.pending):not(.failed)') !== null`)
	firstCase := eval[string](t, widget, "the case id", `document.querySelector('#chat-log li.msg.customer').dataset.caseId`)
	caseID, err := strconv.ParseInt(firstCase, 10, 64)
	if err != nil {
		t.Fatalf("case id %q: %v", firstCase, err)
	}

	// The API agrees: a case on the sync channel, with the message.
	client, err := deskie.NewClient("", "agent@example.com", "deskietest-api-key", deskie.WithBaseURL(consoleOrigin(ex)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Cases.Get(t.Context(), caseID)
	if err != nil || c.Status != deskie.StatusOpen {
		t.Fatalf("case %d through the API: %+v, %v", caseID, c, err)
	}

	// It appears in the agent console.
	do(t, console, 20*time.Second, "opening the console on the case",
		chromedp.Navigate(ex.urls["console"]+"#case-"+firstCase),
	)
	waitFor(t, console, 10*time.Second, "the case in the console's list",
		`document.querySelector('#cases [data-testid="case-row"][data-case-id="`+firstCase+`"]') !== null`)
	waitFor(t, console, 10*time.Second, "the customer's message in the console's thread",
		`[...document.querySelectorAll('#thread li[data-kind="customer"]')].some(li => li.textContent.includes(`+js(hello)+`))`)

	// The agent replies; the widget shows it within 2 s, without a reload.
	eval[bool](t, widget, "marking the page", `(window.__notReloaded = true)`)
	const reply = "Hi! It left our warehouse this morning."
	do(t, console, 10*time.Second, "replying in the console",
		chromedp.SendKeys(chromedp.CSS("#reply-text"), reply),
		chromedp.Click(chromedp.CSS("#reply-send")),
	)
	start := time.Now()
	waitFor(t, widget, 2*time.Second, "the agent's reply in the widget",
		`[...document.querySelectorAll('#chat-log li.msg.agent .text')].some(e => e.textContent === `+js(reply)+`)`)
	t.Logf("the reply reached the widget %v after the click", time.Since(start).Round(time.Millisecond))
	if !eval[bool](t, widget, "checking for a reload", `window.__notReloaded === true`) {
		t.Fatal("the widget reloaded to show the reply")
	}

	// The agent closes the chat; the customer's next message opens a new case.
	// The console first shows the reply it sent: adding it to the thread moves
	// the buttons down, so a click aimed before that lands on the reply box.
	waitFor(t, console, 10*time.Second, "the console to show the reply it sent",
		`document.querySelector('#status-line').textContent.startsWith('Reply ') &&
		 [...document.querySelectorAll('#thread li[data-kind="agent"]')].some(li => li.textContent.includes(`+js(reply)+`))`)
	do(t, console, 10*time.Second, "closing the case in the console", chromedp.Click(chromedp.CSS("#close-case")))
	waitFor(t, console, 10*time.Second, "the case to show closed",
		`document.querySelector('#case-status')?.dataset.status === 'closed'`)
	const again = "One more question about the invoice"
	do(t, widget, 10*time.Second, "writing again",
		chromedp.SendKeys(chromedp.CSS("#chat-input"), again),
		chromedp.Click(chromedp.CSS("#chat-send")),
	)
	waitFor(t, widget, 10*time.Second, "the second message to be taken",
		`document.querySelectorAll('#chat-log li.msg.customer[data-case-id]').length === 2`)
	secondCase := eval[string](t, widget, "the new case id", `[...document.querySelectorAll('#chat-log li.msg.customer')].at(-1).dataset.caseId`)
	if secondCase == firstCase {
		t.Fatalf("the message after the close went to the closed case %s", firstCase)
	}
	waitFor(t, widget, 2*time.Second, "the widget to say a new chat started", `document.querySelector('#chat-log li.msg.system') !== null`)
	waitFor(t, console, 10*time.Second, "the new case in the console's list",
		`document.querySelector('#cases [data-testid="case-row"][data-case-id="`+secondCase+`"]') !== null`)
}

// consoleOrigin is the fake's origin, from the console's URL.
func consoleOrigin(ex *example) string {
	u := ex.urls["console"]
	return u[:len(u)-len("/console")]
}

var _ = context.Background
